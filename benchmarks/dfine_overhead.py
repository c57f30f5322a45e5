"""Training-time and memory overhead of D-FINE (FDR + GO-LSD) over plain
mmdet DINO, measured side by side in one run.

Both detectors are built from the same DINO config (the second with the
``mmkd.DFineDINO`` / ``mmkd.DFineDINOHead`` types), trained on the same
synthetic batch with the same optimizer, and their iterations are
interleaved (the order rotates every round), so load changes on a shared
machine hit both alike. Reported: median seconds per training iteration
(data preprocessing + forward + losses + backward + AdamW step), the number
of aten operators one training step dispatches (counted with a
``TorchDispatchMode`` on a separate step; the head's ``loss_by_feat``
forward also on its own) and peak memory, with FDR+GO-LSD / plain ratios.
``--per-layer`` adds a third model, FDR+GO-LSD with the per-layer
reference losses (``mmkd.DFineDINOHeadPerLayer`` from
``mmkd/models/dfine/per_layer_loss.py``: the loss code before the layers
were batched, same values), to compare both in the same run.

Memory: the model's own parameters, gradients and AdamW states plus, on
CUDA, the peak allocated memory of a training step over the memory held
before it; on CPU (no allocator statistics) the bytes of the tensors
autograd saves for the backward pass (activations; storages counted once).
The activation bytes are printed on every device.

    python benchmarks/dfine_overhead.py                       # mini DINO
    python benchmarks/dfine_overhead.py --threads 1 --per-layer --no-memory
    python benchmarks/dfine_overhead.py --queries 300 --layers 6 --img 320
    python benchmarks/dfine_overhead.py --device cuda --iters 50

The paper (arXiv 2410.13842) reports about 6% more training time and 2%
more memory for FDR + GO-LSD.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE_CFG = osp.join(REPO, 'configs', 'dfine', 'mini_dino_r18.py')
VARIANTS = ('plain', 'fdr_golsd')
PER_LAYER = 'fdr_golsd_per_layer'
LABELS = {
    'plain': 'plain DINO',
    'fdr_golsd': '+FDR+GO-LSD',
    PER_LAYER: 'per-layer loss'
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--config', default=BASE_CFG,
                   help='plain mmdet DINO config (default: the mini DINO)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--img', type=int, default=160, help='image side (px)')
    p.add_argument('--gts', type=int, default=4, help='objects per image')
    p.add_argument('--queries', type=int, default=None)
    p.add_argument('--layers', type=int, default=None,
                   help='decoder layers')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=None,
                   help='measured iterations per model (10 CPU, 50 CUDA)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads')
    p.add_argument('--no-memory', action='store_true')
    p.add_argument('--no-ops', action='store_true',
                   help='do not count aten operators')
    p.add_argument('--per-layer', action='store_true',
                   help='add FDR+GO-LSD with the per-layer reference loss')
    args = p.parse_args(argv)
    if args.iters is None:
        args.iters = 50 if args.device.startswith('cuda') else 10
    return args


def build_model(args, variant: str):
    import mmkd.models.dfine  # noqa: F401  (registers the D-FINE types)
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('ERROR')
    init_default_scope('mmdet')
    cfg = Config.fromfile(args.config)
    model_cfg = cfg.model
    if args.queries:
        model_cfg.num_queries = args.queries
    if args.layers:
        model_cfg.decoder.num_layers = args.layers
    if variant != 'plain':
        model_cfg.type = 'mmkd.DFineDINO'
        model_cfg.bbox_head.type = ('mmkd.DFineDINOHeadPerLayer'
                                    if variant == PER_LAYER else
                                    'mmkd.DFineDINOHead')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(args.device).train()


def make_batch(args):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    s = args.img
    for _ in range(args.batch):
        inputs.append(torch.randint(0, 256, (3, s, s), dtype=torch.uint8,
                                    generator=g))
        xy = torch.rand(args.gts, 2, generator=g) * s * 0.7
        wh = torch.rand(args.gts, 2, generator=g) * s * 0.25 + s * 0.05
        boxes = torch.cat([xy, (xy + wh).clamp(max=s)], 1)
        sample = DetDataSample(metainfo=dict(
            img_shape=(s, s), ori_shape=(s, s), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.randint(0, 3, (args.gts, ),
                                               generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def make_optim(model):
    from mmengine.optim import OptimWrapper
    return OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def state_bytes(model) -> int:
    """Parameters + gradients + two AdamW moments of the trainable ones."""
    total = 0
    for p in model.parameters():
        n = p.numel() * p.element_size()
        total += n + (3 * n if p.requires_grad else 0)
    return total


def timed_step(model, optim, data, device):
    sync(device)
    t = time.perf_counter()
    model.train_step(data, optim)
    sync(device)
    return time.perf_counter() - t


class OpCounter(TorchDispatchMode):
    """Counts the aten operators dispatched (after autograd: the backward
    pass's too), in all and inside ``section``."""

    def __init__(self):
        super().__init__()
        self.total = 0
        self.section = 0
        self.in_section = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.total += 1
        self.section += self.in_section
        return func(*args, **(kwargs or {}))


def count_ops(model, optim, data):
    """Aten operators of one training step and of the head's
    ``loss_by_feat`` forward in it."""
    head = model.bbox_head
    loss_by_feat = head.loss_by_feat
    counter = OpCounter()

    def counted(*args, **kwargs):
        counter.in_section = True
        try:
            return loss_by_feat(*args, **kwargs)
        finally:
            counter.in_section = False

    head.loss_by_feat = counted
    try:
        with counter:
            model.train_step(data, optim)
    finally:
        del head.loss_by_feat
    return counter.total, counter.section


def saved_activation_bytes(model, optim, data) -> int:
    """Bytes of the tensors autograd saves for the backward pass of one
    training step (storages counted once, parameters excluded): the
    activation memory, on any device."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in params:
                seen[ptr] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # no plain storage
            seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train_step(data, optim)
    return sum(seen.values())


def measure(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = VARIANTS + ((PER_LAYER, ) if args.per_layer else ())
    models = {v: build_model(args, v) for v in variants}
    optims = {v: make_optim(m) for v, m in models.items()}
    data = make_batch(args)
    times = {v: [] for v in variants}
    mem = {v: [] for v in variants}
    cuda = args.device.startswith('cuda')
    for it in range(args.warmup + args.iters):
        k = it % len(variants)
        order = variants[k:] + variants[:k]
        for v in order:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            dt = timed_step(models[v], optims[v], data, args.device)
            if it >= args.warmup:
                times[v].append(dt)
                if cuda:
                    mem[v].append(torch.cuda.max_memory_allocated() - before +
                                  state_bytes(models[v]))
    result = dict(
        variants=variants,
        time={v: statistics.median(times[v]) for v in variants},
        # per round (the models back to back): robust to load drift
        pair_ratio={
            v: statistics.median(f / p
                                 for p, f in zip(times['plain'], times[v]))
            for v in variants
        },
        params={v: sum(p.numel() for p in models[v].parameters())
                for v in variants})
    if PER_LAYER in variants:
        result['batched_ratio'] = statistics.median(
            b / r for b, r in zip(times['fdr_golsd'], times[PER_LAYER]))
    if not args.no_ops:
        result['ops'] = {
            v: count_ops(models[v], optims[v], data)
            for v in variants
        }
    if args.no_memory:
        return result
    if cuda:
        result['memory'] = {v: max(mem[v]) for v in VARIANTS}
        result['memory_kind'] = ('peak allocated during a step over the '
                                 'memory before it + own params, grads, '
                                 'AdamW states')
    else:
        result['memory'] = {
            v: saved_activation_bytes(models[v], optims[v], data) +
            state_bytes(models[v])
            for v in variants
        }
        result['memory_kind'] = ('tensors saved for backward (activations) '
                                 '+ params, grads, AdamW states')
    result['activations'] = {
        v: saved_activation_bytes(models[v], optims[v], data)
        for v in variants
    }
    return result


def main(argv=None):
    args = parse_args(argv)
    torch.backends.cudnn.benchmark = False
    res = measure(args)
    gpu = (f' ({torch.cuda.get_device_name()})'
           if args.device.startswith('cuda') else '')
    print(f'device: {args.device}{gpu}'
          f', torch threads: {torch.get_num_threads()}, config: '
          f'{osp.relpath(args.config, REPO)}, batch {args.batch} x '
          f'{args.img}px, {args.gts} objects/img, queries '
          f'{args.queries or "cfg"}, decoder layers {args.layers or "cfg"}, '
          f'{args.iters} measured iterations each (after {args.warmup} '
          'warm-up), interleaved')
    vs = res['variants']

    def row(name, values, fmt, ratio=True):
        cells = ''.join(f'{values[v]:>16{fmt}}' for v in vs)
        ratios = ''.join(f'{values[v] / max(values["plain"], 1e-12):>9.3f}'
                         for v in vs[1:]) if ratio else ''
        print(f'{name:<26}{cells}{ratios}')

    print(f'{"":<26}' + ''.join(f'{LABELS[v]:>16}' for v in vs) +
          ''.join(f'{"/plain":>9}' for _ in vs[1:]))
    row('s / iter (median)', res['time'], '.4f')
    row('  median per-round ratio', res['pair_ratio'], '.3f', ratio=False)
    if 'ops' in res:
        row('aten ops / step', {v: res['ops'][v][0] for v in vs}, 'd')
        row('  in the loss forward', {v: res['ops'][v][1] for v in vs}, 'd')
    if 'batched_ratio' in res:
        o = res.get('ops')
        print(f'batched / per-layer loss: time {res["batched_ratio"]:.3f} '
              '(median per-round ratio)' +
              (f', aten ops / step {o["fdr_golsd"][0] / o[PER_LAYER][0]:.3f}'
               f', in the loss forward '
               f'{o["fdr_golsd"][1] / o[PER_LAYER][1]:.3f}' if o else ''))
    row('parameters (M)', {v: res['params'][v] / 1e6 for v in vs}, '.3f')
    if 'memory' in res:
        row('memory (MiB)', {v: res['memory'][v] / 2**20 for v in vs}, '.1f')
        print(f'  memory = {res["memory_kind"]}')
        row('  activations (MiB)',
            {v: res['activations'][v] / 2**20 for v in vs}, '.1f')
    return res


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    main()
