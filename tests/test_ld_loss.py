"""LDLoss: per-edge KL against a hand computation, the input forms the
recorders give (tensor, per-level list, GFL head's (cls, bbox) pair), the
teacher-confidence weights and mmdet's KnowledgeDistillationKLDivLoss."""
import math

import pytest
import torch

from mmkd.models.losses.ld_loss import LDLoss


def _log_softmax(xs, T):
    m = max(x / T for x in xs)
    lse = m + math.log(sum(math.exp(x / T - m) for x in xs))
    return [x / T - lse for x in xs]


def _edge_kl(t, s, T, reduction):
    lt, ls = _log_softmax(t, T), _log_softmax(s, T)
    kl = sum(math.exp(a) * (a - b) for a, b in zip(lt, ls))
    return T * T * (kl / len(t) if reduction == 'mean' else kl)


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
def test_per_edge_kl_by_hand(reduction):
    reg_max, T = 3, 10.0
    s = [[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 0.0, 0.0], [5.0, -5.0, 2.0, 1.0],
         [0.3, 0.2, 0.1, 0.0]]
    t = [[-2.0, 8.0, 1.0, 0.0], [3.0, 0.0, -3.0, 1.0], [0.0, 0.0, 0.0, 0.0],
         [0.3, 0.2, 0.1, 0.0]]
    loss_fn = LDLoss(reg_max=reg_max, temperature=T, bin_reduction=reduction,
                     loss_weight=1.0, channel_last=True)
    edge = loss_fn.edge_kl(torch.tensor(s).reshape(1, 16),
                           torch.tensor(t).reshape(1, 16))
    expected = [_edge_kl(te, se, T, reduction) for se, te in zip(s, t)]
    assert edge.shape == (1, 4)
    assert torch.allclose(edge[0], torch.tensor(expected), rtol=1e-5)
    assert edge[0, 3] == 0  # equal distributions
    # the loss: mean over edges, times loss_weight
    loss_fn.loss_weight = 0.25
    loss = loss_fn(torch.tensor(s).reshape(1, 16), torch.tensor(t).reshape(1,
                                                                          16))
    assert math.isclose(loss.item(), 0.25 * sum(expected) / 4, rel_tol=1e-5)


def test_defaults_match_mmdet_kd_kl_loss():
    mmdet_losses = pytest.importorskip('mmdet.models.losses')
    loss_fn = LDLoss()  # reg_max 16, T 10, weight 0.25, mean over bins
    assert (loss_fn.reg_max, loss_fn.temperature, loss_fn.loss_weight) == (
        16, 10.0, 0.25)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 4 * 17, generator=g) * 3
    t = torch.randn(6, 4 * 17, generator=g) * 3
    ref = mmdet_losses.KnowledgeDistillationKLDivLoss(loss_weight=0.25, T=10)
    expected = ref(s.reshape(-1, 17), t.reshape(-1, 17))  # mean over edges
    loss_fn.channel_last = True
    assert torch.allclose(loss_fn(s, t), expected, rtol=1e-5)


def test_gfl_head_outputs_levels_and_teacher_weights():
    reg_max = 2
    g = torch.Generator().manual_seed(1)
    # two FPN levels, (N, 4 * (reg_max + 1), H, W) as mmdet's GFLHead
    s_reg = [torch.randn(2, 12, 3, 3, generator=g),
             torch.randn(2, 12, 2, 1, generator=g)]
    t_reg = [torch.randn(2, 12, 3, 3, generator=g),
             torch.randn(2, 12, 2, 1, generator=g)]
    t_cls = [torch.randn(2, 5, 3, 3, generator=g),
             torch.randn(2, 5, 2, 1, generator=g)]
    s_cls = [torch.randn(2, 5, 3, 3), torch.randn(2, 5, 2, 1)]
    loss_fn = LDLoss(reg_max=reg_max, loss_weight=1.0)

    def flat(x):
        return torch.cat([v.permute(0, 2, 3, 1).reshape(-1, v.shape[1])
                          for v in x])

    edge = loss_fn.edge_kl(flat(s_reg), flat(t_reg))  # (M, 4)
    # list of levels: plain mean over locations and edges
    assert torch.allclose(loss_fn(s_reg, t_reg), edge.mean(), rtol=1e-5)
    # single tensor
    assert torch.allclose(
        loss_fn(s_reg[0], t_reg[0]),
        loss_fn.edge_kl(flat(s_reg[:1]), flat(t_reg[:1])).mean(),
        rtol=1e-5)
    # (cls_scores, bbox_preds): weights = teacher's max sigmoid score
    w = flat(t_cls).sigmoid().max(1)[0]
    expected = (edge * w[:, None]).sum() / (4 * w.sum())
    out = loss_fn((s_cls, s_reg), (t_cls, t_reg))
    assert torch.allclose(out, expected, rtol=1e-5)
    loss_fn.teacher_score_weight = False
    assert torch.allclose(
        loss_fn((s_cls, s_reg), (t_cls, t_reg)), edge.mean(), rtol=1e-5)


def test_fp32_detached_teacher_and_errors():
    loss_fn = LDLoss(reg_max=2)
    s = torch.randn(1, 12, 2, 2, dtype=torch.float16, requires_grad=True)
    t = torch.randn(1, 12, 2, 2, dtype=torch.float16, requires_grad=True)
    loss = loss_fn(s, t)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert s.grad is not None and t.grad is None
    with pytest.raises(ValueError, match='channels'):
        loss_fn(torch.randn(1, 10, 2, 2), torch.randn(1, 10, 2, 2))
    with pytest.raises(ValueError, match='levels'):
        loss_fn([torch.randn(1, 12, 2, 2)], [torch.randn(1, 12, 2, 2)] * 2)
    with pytest.raises(ValueError):
        LDLoss(bin_reduction='max')


GFL_MINI = """
_base_ = ['mmdet::gfl/gfl_r50_fpn_1x_coco.py',
          {mini_base!r}]
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, init_cfg=None,
                  norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    bbox_head=dict(num_classes=3, in_channels=32, feat_channels=32,
                   stacked_convs=1))
train_dataloader = dict(_delete_=True, **_base_.mini_det_train_dataloader)
train_dataloader.update(batch_size=2)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=100))
"""


def test_ld_recipe_through_distill_runner(mini_data, tmp_path):
    """The recipe's recorders give the GFL heads' per-level distributions
    to LDLoss; the five distillation losses are logged and finite."""
    pytest.importorskip('mmdet')
    import os.path as osp
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from conftest import REPO
    from mmkd import DistillRunner

    gfl = tmp_path / 'gfl_mini.py'
    gfl.write_text(
        GFL_MINI.format(
            mini_base=osp.join(REPO, 'configs/_base_/datasets/mini_det.py')))
    # a teacher checkpoint: the same small GFL, randomly initialised
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    teacher = MODELS.build(Config.fromfile(str(gfl)).model)
    teacher.init_weights()
    # A fresh head's box logits are ~0, and on a 1x1 map of the coarsest
    # level (GroupNorm of one value per group gives 0) exactly its bias, 0:
    # uniform bins for teacher and student alike, KL ~1e-8 of either sign.
    # Distinct teacher distributions make the distillation loss clearly > 0.
    torch.nn.init.normal_(teacher.bbox_head.gfl_reg.weight, std=0.5)
    torch.nn.init.normal_(teacher.bbox_head.gfl_reg.bias, std=0.5)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), str(ckpt))

    kd = tmp_path / 'kd.py'
    kd.write_text(
        f"_base_ = [{str(gfl)!r}, 'mmkd::distill/ld_gfl.py']\n"
        f"distill = dict(teacher=dict(config={str(gfl)!r}, "
        f"checkpoint={str(ckpt)!r}))\n")
    cfg = Config.fromfile(str(kd))
    cfg.work_dir = str(tmp_path / 'work')
    runner = DistillRunner.from_cfg(cfg)
    runner.train()
    for i in range(5):
        scalars = runner.message_hub.log_scalars
        value = scalars[f'train/distill.loss_ld{i}'].current()
        assert math.isfinite(value) and value > 0
        assert isinstance(runner.model.distill_losses[f'ld{i}'], LDLoss)
