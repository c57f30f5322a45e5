"""LDLoss: per-edge KL against a hand computation, the input forms the
recorders give (tensor, per-level list, GFL head's (cls, bbox) pair), the
teacher-confidence weights, mmdet's KnowledgeDistillationKLDivLoss, the main
region (the student's positives) by hand and against mmdet's LDHead through
the recipe, and the recipe through the runner."""
import math
import os.path as osp

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


def test_main_region_by_hand():
    """region='main': the student's positives only (labels in [0, C)),
    weighted by the student's top class score, summed, edges / 4."""
    reg_max, C = 2, 3
    g = torch.Generator().manual_seed(2)
    shapes = [(2, 3, 3), (2, 2, 1)]  # (N, H, W) of two levels
    s_reg = [torch.randn(n, 12, h, w, generator=g) for n, h, w in shapes]
    t_reg = [torch.randn(n, 12, h, w, generator=g) for n, h, w in shapes]
    s_cls = [torch.randn(n, C, h, w, generator=g) for n, h, w in shapes]
    labels = [torch.full((n, h * w), C) for n, h, w in shapes]  # background
    labels[0][0, 4] = 0
    labels[0][1, 8] = 2
    labels[1][1, 1] = 1
    labels[1][0, 0] = -1  # neither positive nor background: not distilled
    loss_fn = LDLoss(reg_max=reg_max, region='main', loss_weight=0.5)
    expected = 0.0
    for (n, h, w), s, t, c, lab in zip(shapes, s_reg, t_reg, s_cls, labels):
        for i in range(n):
            for k in range(h * w):
                if 0 <= lab[i, k] < C:
                    y, x = divmod(k, w)
                    weight = c[i, :, y, x].sigmoid().max().item()
                    edge = loss_fn.edge_kl(s[i, :, y, x][None],
                                           t[i, :, y, x][None])
                    expected += weight * edge.sum().item() / 4
    student = ((s_cls, [x.requires_grad_() for x in s_reg]), labels)
    loss = loss_fn(student, t_reg)
    assert math.isclose(loss.item(), 0.5 * expected, rel_tol=1e-5)
    loss.backward()  # only the positives' distributions get a gradient
    grad = s_reg[0].grad.permute(0, 2, 3, 1).reshape(2, 9, 12)
    assert grad[0, 4].abs().sum() > 0 and grad[0, 3].abs().sum() == 0
    # the teacher as the head's (cls_scores, bbox_preds) pair: same value
    t_pair = ([torch.randn(n, C, h, w) for n, h, w in shapes], t_reg)
    assert torch.allclose(loss_fn(student, t_pair), loss)
    # no positives: 0, still connected to the student
    empty = ((s_cls, s_reg), [torch.full_like(x, C) for x in labels])
    zero = loss_fn(empty, t_reg)
    assert zero.item() == 0 and zero.requires_grad
    # the all-locations form of the same distributions differs
    assert not torch.allclose(
        LDLoss(reg_max=reg_max, loss_weight=0.5)(s_reg, t_reg), loss)


def test_main_region_errors():
    loss_fn = LDLoss(reg_max=2, region='main')
    s = [torch.randn(1, 12, 2, 2)]
    cls = [torch.randn(1, 3, 2, 2)]
    with pytest.raises(TypeError, match='get_targets'):
        loss_fn(s, s)  # the student's labels are missing
    with pytest.raises(ValueError, match='one prior per location'):
        loss_fn(((cls, s), [torch.zeros(1, 8)]), s)
    with pytest.raises(ValueError, match='labels'):
        loss_fn(((cls, s), []), s)
    with pytest.raises(ValueError, match='region'):
        LDLoss(region='everywhere')


def _box_iou_diou(a, b):
    """IoU and DIoU of two xyxy boxes, in Python floats."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
             - inter)
    iou = inter / union
    rho2 = (((a[0] + a[2]) - (b[0] + b[2]))**2 +
            ((a[1] + a[3]) - (b[1] + b[3]))**2) / 4
    c2 = ((max(a[2], b[2]) - min(a[0], b[0]))**2 +
          (max(a[3], b[3]) - min(a[1], b[1]))**2)
    return iou, iou - rho2 / c2


def _vlr_by_hand(priors, num_level, gts, topk=9):
    """The LD authors' VLR rule, one box and one prior at a time."""
    import statistics

    def centre(b):
        return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2

    weights = [0.0] * len(priors)
    for g in gts:
        gx, gy = centre(g)
        cand, start = [], 0
        for n in num_level:
            level = sorted(range(start, start + n), key=lambda k: math.hypot(
                centre(priors[k])[0] - gx, centre(priors[k])[1] - gy))
            cand += level[:min(topk, n)]
            start += n
        ious = [_box_iou_diou(priors[k], g)[0] for k in cand]
        thr = statistics.mean(ious) + statistics.stdev(ious)
        for k, p in enumerate(priors):
            iou, diou = _box_iou_diou(p, g)
            if 0.25 * thr <= diou < thr:
                weights[k] = max(weights[k], iou)
    return weights


def _gfl_priors(sizes, strides):
    """mmdet's GFL anchors (one per location, 8 x stride wide, centred on
    the grid points), per level (H * W, 4)."""
    levels = []
    for (h, w), s in zip(sizes, strides):
        ys, xs = torch.meshgrid(torch.arange(h) * float(s),
                                torch.arange(w) * float(s), indexing='ij')
        c = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)
        levels.append(torch.cat([c - 4 * s, c + 4 * s], -1))
    return levels


def test_vlr_weights_by_hand():
    from mmkd.models.losses._vlr import iou_diou, vlr_weights
    levels = _gfl_priors([(6, 6), (3, 3)], [8, 16])
    priors = torch.cat(levels)
    gts = torch.tensor([[10.3, 11.1, 41.7, 38.2], [3.2, 20.5, 22.9, 47.1]])
    iou, diou = iou_diou(priors, gts)
    for k in (0, 7, 40):
        for g in range(2):
            ref = _box_iou_diou(priors[k].tolist(), gts[g].tolist())
            assert math.isclose(iou[k, g].item(), ref[0], abs_tol=1e-6)
            assert math.isclose(diou[k, g].item(), ref[1], abs_tol=1e-6)
    w = vlr_weights(priors, [36, 9], gts, topk=4)
    ref = _vlr_by_hand(priors.tolist(), [36, 9], gts.tolist(), topk=4)
    assert torch.allclose(w, torch.tensor(ref), atol=1e-6)
    assert 0 < (w > 0).sum() < len(w)  # a region, not everything
    assert not vlr_weights(priors, [36, 9], torch.zeros(0, 4)).any()


def test_vlr_region_by_hand():
    """region='vlr': the VLR priors only, weighted by their IoU, summed,
    edges / 16; the boxes come from the data samples."""
    from types import SimpleNamespace

    from mmkd.models.losses._vlr import vlr_weights
    reg_max, sizes = 2, [(6, 6), (3, 3)]
    levels = _gfl_priors(sizes, [8, 16])
    priors = [lv[None].repeat(2, 1, 1) for lv in levels]  # (N, H * W, 4)
    gts = [torch.tensor([[10.3, 11.1, 41.7, 38.2]]),
           torch.tensor([[3.2, 20.5, 22.9, 47.1], [30., 2., 46., 17.]])]
    samples = [SimpleNamespace(gt_instances=SimpleNamespace(bboxes=g))
               for g in gts]
    g = torch.Generator().manual_seed(4)
    s_reg = [torch.randn(2, 12, h, w, generator=g) for h, w in sizes]
    t_reg = [torch.randn(2, 12, h, w, generator=g) for h, w in sizes]
    loss_fn = LDLoss(reg_max=reg_max, region='vlr', vlr_topk=4,
                     loss_weight=0.5)
    expected = 0.0
    for i in range(2):
        w = vlr_weights(torch.cat(levels), [36, 9], gts[i], 4).split([36, 9])
        for lvl, (h, wd) in enumerate(sizes):
            for k in range(h * wd):
                if w[lvl][k] > 0:
                    y, x = divmod(k, wd)
                    edge = loss_fn.edge_kl(s_reg[lvl][i, :, y, x][None],
                                           t_reg[lvl][i, :, y, x][None])
                    expected += w[lvl][k].item() * edge.sum().item() / 16
    loss = loss_fn((s_reg, priors), t_reg, data_samples=samples)
    assert expected > 0
    assert math.isclose(loss.item(), 0.5 * expected, rel_tol=1e-5)
    with pytest.raises(ValueError, match='data_samples'):
        loss_fn((s_reg, priors), t_reg)
    with pytest.raises(ValueError, match='for a batch of 2'):
        loss_fn((s_reg, priors), t_reg, data_samples=samples[:1])
    with pytest.raises(TypeError, match='get_targets'):
        loss_fn(s_reg[0], t_reg[0], data_samples=samples)


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
    """The recipe's recorders give LDLoss the student head's output and
    label assignment and the teacher's per-level distributions; both
    distillation losses (main region, VLR) are logged, finite and > 0."""
    pytest.importorskip('mmdet')
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
    for name, region in (('ld', 'main'), ('ld_vlr', 'vlr')):
        scalars = runner.message_hub.log_scalars
        value = scalars[f'train/distill.loss_{name}'].current()
        assert math.isfinite(value) and value > 0
        assert runner.model.distill_losses[name].region == region


GFL_SMALL = """
_base_ = ['mmdet::gfl/gfl_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, init_cfg=None,
                  norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    bbox_head=dict(num_classes=3, in_channels=32, feat_channels=32,
                   stacked_convs=1))
"""


def _det_batch():
    """Two 96 x 96 images with boxes of several sizes (positives on
    several FPN levels)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(3)
    boxes = [[[10., 10., 40., 40.], [30., 20., 90., 80.]],
             [[5., 50., 30., 90.], [40., 8., 60., 20.], [0., 0., 96., 96.]]]
    labels = [[0, 2], [1, 1, 0]]
    inputs, samples = [], []
    for b, lab in zip(boxes, labels):
        inputs.append(torch.randint(0, 256, (3, 96, 96), generator=g,
                                    dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(
            img_shape=(96, 96), ori_shape=(96, 96), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(b),
                                           labels=torch.tensor(lab))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_recipe_matches_mmdet_ld_head(tmp_path):
    """The recipe's `ld` (region='main', the student's ATSS positives
    weighted by its top class score) equals mmdet 3.3's LDHead ``loss_ld``
    (summed over the levels) on the same student, teacher and batch, run
    through KnowledgeDistillationSingleStageDetector (the student's own
    losses, so its label assignment, are the same in both); its `ld_vlr`
    equals the LD authors' ``loss_ld_vlr`` formula on mmdet's anchors and
    outputs with the VLR rule computed by hand."""
    pytest.importorskip('mmdet')
    import copy

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmkd.models.distill_model import DistillModel

    from conftest import REPO
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    gfl = tmp_path / 'gfl_small.py'
    gfl.write_text(GFL_SMALL)
    model_cfg = Config.fromfile(str(gfl)).model
    torch.manual_seed(0)
    teacher = MODELS.build(model_cfg)
    teacher.init_weights()
    torch.nn.init.normal_(teacher.bbox_head.gfl_reg.weight, std=0.5)
    torch.nn.init.normal_(teacher.bbox_head.gfl_reg.bias, std=0.5)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), str(ckpt))
    student = MODELS.build(model_cfg)
    student.init_weights()
    # distinct class scores per location, so the weights matter
    torch.nn.init.normal_(student.bbox_head.gfl_cls.weight, std=0.3)

    # mmdet: LDHead in KnowledgeDistillationSingleStageDetector (its config
    # ld_r18-gflv1-r101_fpn_1x_coco.py: loss_ld weight 0.25, T 10)
    kd_cfg = copy.deepcopy(model_cfg)
    kd_cfg.update(type='KnowledgeDistillationSingleStageDetector',
                  teacher_config=str(gfl), teacher_ckpt=str(ckpt))
    kd_cfg.bbox_head.update(type='LDHead', loss_ld=dict(
        type='KnowledgeDistillationKLDivLoss', loss_weight=0.25, T=10))
    kd = MODELS.build(kd_cfg)
    missing, unexpected = kd.load_state_dict(student.state_dict(),
                                             strict=False)
    assert not unexpected and all(
        k.startswith('teacher_model.') for k in missing)
    kd.train()  # the teacher stays in eval mode (eval_teacher=True)
    batch = _det_batch()
    data = kd.data_preprocessor(copy.deepcopy(batch), True)
    ref = kd.loss(data['inputs'], data['data_samples'])

    # mmkd: the recipe on the plain GFL student
    recipe = Config.fromfile(osp.join(REPO, 'configs/distill/ld_gfl.py'))
    model = DistillModel(student=copy.deepcopy(model_cfg),
                         teacher=dict(config=str(gfl), checkpoint=str(ckpt)),
                         losses=recipe.distill.losses)
    model.module.load_state_dict(student.state_dict())
    model.setup(copy.deepcopy(batch))
    model.train()
    data = model.module.data_preprocessor(copy.deepcopy(batch), True)
    out = model.loss(data['inputs'], data['data_samples'])

    for key in ('loss_cls', 'loss_bbox', 'loss_dfl'):
        assert torch.allclose(torch.stack(out[key]), torch.stack(ref[key]))
    expected = torch.stack(ref['loss_ld']).sum()
    assert expected > 0 and (torch.stack(ref['loss_ld']) > 0).sum() >= 2
    assert torch.allclose(out['distill.loss_ld'], expected, rtol=1e-5)
    # the same gradient reaches the student's box branch
    w_kd = torch.autograd.grad(expected, kd.bbox_head.gfl_reg.weight)[0]
    w_mmkd = torch.autograd.grad(out['distill.loss_ld'],
                                 model.module.bbox_head.gfl_reg.weight,
                                 retain_graph=True)[0]
    assert torch.allclose(w_mmkd, w_kd, rtol=1e-4, atol=1e-8)

    # VLR, as the LD authors' LDHead.loss_single (loss_ld_vlr: weight the
    # VLR IoU per edge, avg_factor 16, mmdet's KD KL loss at 0.25, T 10)
    # on mmdet's own anchors, student and teacher outputs
    kd_loss = MODELS.build(dict(type='KnowledgeDistillationKLDivLoss',
                                loss_weight=0.25, T=10))
    metas = [d.metainfo for d in data['data_samples']]
    _, s_reg = kd.bbox_head(kd.extract_feat(data['inputs']))
    with torch.no_grad():
        _, t_reg = kd.teacher_model.bbox_head(
            kd.teacher_model.extract_feat(data['inputs']))
    anchors, _ = kd.bbox_head.get_anchors([x.shape[-2:] for x in s_reg],
                                          metas, device=s_reg[0].device)
    num_level = [len(a) for a in anchors[0]]
    vlr = [torch.tensor(_vlr_by_hand(
        torch.cat(anchors[i]).tolist(), num_level,
        d.gt_instances.bboxes.tolist())).split(num_level)
        for i, d in enumerate(data['data_samples'])]
    ref_vlr = 0
    for lvl, (s, t) in enumerate(zip(s_reg, t_reg)):
        s = s.permute(0, 2, 3, 1).reshape(-1, 17)  # (N * H * W * 4, 17)
        t = t.permute(0, 2, 3, 1).reshape(-1, 17)
        w = torch.cat([v[lvl] for v in vlr])[:, None].expand(-1, 4)
        keep = w.reshape(-1) > 0
        ref_vlr = ref_vlr + kd_loss(s[keep], t[keep],
                                    weight=w.reshape(-1)[keep],
                                    avg_factor=16.0)
    assert ref_vlr > 0
    assert torch.allclose(out['distill.loss_ld_vlr'], ref_vlr, rtol=1e-5)
