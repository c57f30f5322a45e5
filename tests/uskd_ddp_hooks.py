"""A hook that test_uskd_nkd.py's DDP config imports (``custom_imports``)
into the training processes: what each rank sees of USKD's weak
classifier."""
import json
import os.path as osp

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _fc(runner) -> list:
    fc = runner.model.distill_losses['uskd'].fc
    return [float(p.double().sum()) for p in fc.parameters()]


@HOOKS.register_module()
class DumpUSKDFc(Hook):
    """Writes ``<work_dir>/uskd_rank<r>.json``: the loss's ``fc`` once DDP
    is built and after training, whether DDP and the optimizer hold it."""
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        self.start = _fc(runner)

    def after_train(self, runner) -> None:
        model = runner.model
        fc = list(model.distill_losses['uskd'].fc.parameters())
        wrapped = {id(p) for p in model.ddp.module.parameters()}
        optimised = {id(p) for g in runner.optim_wrapper.optimizer.param_groups
                     for p in g['params']}
        facts = dict(start=self.start, end=_fc(runner),
                     world_size=runner.world_size,
                     wrapped=all(id(p) in wrapped for p in fc),
                     optimised=all(id(p) in optimised for p in fc),
                     find_unused=model.ddp.find_unused_parameters)
        path = osp.join(runner.work_dir, f'uskd_rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(facts, f)
