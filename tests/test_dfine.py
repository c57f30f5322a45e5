"""D-FINE (FDR + GO-LSD) for mmdet's DINO / Deformable DETR.

The math helpers and losses are checked against values computed by hand
(written out below with ``math``, independent of the code under test); the
detectors run real training steps (DINO through mmengine's Runner on the
generated COCO-format data) and their test-time outputs are compared with
the plain mmdet models'.
"""
import copy
import math
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('mmcv.ops')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmkd.models.dfine import (DDFLoss, FGLLoss, bbox2distance,  # noqa: E402
                               distance2bbox, distribution_integral,
                               two_bin_targets, union_set_matching,
                               weighting_function)

CFG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs', 'dfine')


# ----------------------------------------------------------------------
# W(n), integral, boxes, two-bin targets
def test_weighting_function_small_grid_by_hand():
    # N = 8, a = 0.5, c = 4: step = (0.5*4 + 1)^(2/6) = 3^(1/3)
    s = 3**(1 / 3)
    expected = [-4, -2, 1 - s**2, 1 - s, 0, s - 1, s**2 - 1, 2, 4]
    w = weighting_function(8, up=0.5, reg_scale=4.0)
    assert w.dtype == torch.float32
    assert torch.allclose(w, torch.tensor(expected, dtype=torch.float32))
    # N = 4: step = 3, W = [-4, -2, 0, 2, 4]
    assert weighting_function(4, 0.5, 4.0).tolist() == [-4, -2, 0, 2, 4]


def test_weighting_function_default_grid():
    w = weighting_function(32, up=0.5, reg_scale=4.0)
    assert w.shape == (33, )
    step = 3**(2 / 30)
    assert w[0] == -4 and w[32] == 4 and w[16] == 0
    assert math.isclose(w[1].item(), -2, abs_tol=1e-5)   # -(ac)
    assert math.isclose(w[31].item(), 2, abs_tol=1e-5)   # +(ac)
    assert math.isclose(w[17].item(), step - 1, rel_tol=1e-5)
    assert math.isclose(w[15].item(), 1 - step, rel_tol=1e-5)
    assert torch.all(w[1:] > w[:-1])
    assert torch.allclose(w, -w.flip(0))
    # a and c are configurable: a = 1, c = 2 -> ends at +-2ac = +-4,
    # W(1) = -ac = -2 regardless of the curvature inside
    w2 = weighting_function(16, up=1.0, reg_scale=2.0)
    assert w2[0] == -4 and math.isclose(w2[1].item(), -2, abs_tol=1e-5)
    with pytest.raises(ValueError):
        weighting_function(7)


def test_integral_by_hand():
    w = weighting_function(4, 0.5, 4.0)  # [-4, -2, 0, 2, 4]
    p = [0.1, 0.2, 0.3, 0.3, 0.1]
    logits = torch.log(torch.tensor(p))
    # expectation: -0.4 - 0.4 + 0 + 0.6 + 0.4 = 0.2
    edges = torch.stack([logits, torch.zeros(5), logits.flip(0),
                         torch.tensor([0., 0., 0., 0., 30.])])  # (4, 5)
    out = distribution_integral(edges.reshape(1, 20), w)
    assert out.shape == (1, 4)
    assert torch.allclose(
        out[0], torch.tensor([0.2, 0.0, -0.2, 4.0]), atol=1e-5)
    # half precision in, fp32 out
    assert distribution_integral(edges.half()[None], w).dtype == torch.float32


def test_distance2bbox_by_hand_and_inverse():
    b0 = torch.tensor([[0.5, 0.5, 0.2, 0.4]])  # cx, cy, w, h
    c = 4.0
    # zero offsets -> the initial box
    assert torch.allclose(distance2bbox(b0, torch.zeros(1, 4), c), b0)
    # x1 = .5 - (2 + 1) * .05 = .35, y1 = .5 - 2 * .1 = .3,
    # x2 = .5 + (2 + 2) * .05 = .7, y2 = .5 + (2 - 1) * .1 = .6
    out = distance2bbox(b0, torch.tensor([[1., 0., 2., -1.]]), c)
    x1y1x2y2 = torch.tensor([0.35, 0.3, 0.7, 0.6])
    expected = torch.tensor([[0.525, 0.45, 0.35, 0.3]])
    assert torch.allclose(out, expected, atol=1e-6)
    d = bbox2distance(b0, x1y1x2y2[None], c)
    assert torch.allclose(d, torch.tensor([[1., 0., 2., -1.]]), atol=1e-5)


def test_two_bin_targets_by_hand():
    w = weighting_function(4, 0.5, 4.0)  # [-4, -2, 0, 2, 4]
    v = torch.tensor([-3.0, 1.5, -5.0, 4.0, 7.0, 0.0, -2.0, 3.5])
    left, wl, wr = two_bin_targets(v, w)
    # -3 in [-4, -2): bin 0/1 at 1/2 each; 1.5 in [0, 2): bins 2/3,
    # right weight 1.5/2; below/above the grid -> all on the end bin;
    # exactly on a bin value -> all on that bin; 3.5 in [2, 4): 0.75 right
    assert left.tolist() == [0, 2, 0, 3, 3, 2, 1, 3]
    assert torch.allclose(wl, torch.tensor([.5, .25, 1., 0., 0., 1., 1.,
                                            .25]))
    assert torch.allclose(wr, 1 - wl)
    # non-uniform grid: the weights follow the bin values, not the indices
    w8 = weighting_function(8, 0.5, 4.0)
    s = 3**(1 / 3)
    v8 = torch.tensor([0.5 * (s - 1)])  # halfway between W(4)=0, W(5)=s-1
    left, wl, wr = two_bin_targets(v8, w8)
    assert left.item() == 4 and math.isclose(wr.item(), 0.5, rel_tol=1e-5)


# ----------------------------------------------------------------------
# FGL and DDF losses
def _log_softmax(xs, T=1.0):
    m = max(x / T for x in xs)
    lse = m + math.log(sum(math.exp(x / T - m) for x in xs))
    return [x / T - lse for x in xs]


def test_fgl_loss_by_hand():
    w = weighting_function(4, 0.5, 4.0)  # [-4, -2, 0, 2, 4]
    logits = [[0.5, -1.0, 2.0, 0.0, 1.0], [0.0] * 5, [3.0, 1.0, 0.0, -1.0,
                                                       -2.0],
              [0.0, 0.0, 0.0, 0.0, 5.0]]
    targets = [1.5, -3.0, -4.5, 4.0]  # bins: (2,3 .25/.75), (0,1 .5/.5),
    bins = [(2, 0.25, 3, 0.75), (0, 0.5, 1, 0.5), (0, 1.0, 1, 0.0),
            (3, 0.0, 4, 1.0)]
    iou = 0.6
    expected = 0.0
    for lg, (l, wl, r, wr) in zip(logits, bins):
        ls = _log_softmax(lg)
        expected += iou * (-wl * ls[l] - wr * ls[r])
    avg = 2.0
    loss_fn = FGLLoss(loss_weight=0.15)
    loss = loss_fn(
        torch.tensor(logits)[None], torch.tensor(targets)[None], w,
        weight=torch.tensor([iou]), avg_factor=avg)
    assert math.isclose(loss.item(), 0.15 * expected / avg, rel_tol=1e-5)
    # fp16 inputs are computed in fp32
    loss16 = loss_fn(
        torch.tensor(logits).half()[None], torch.tensor(targets)[None], w,
        weight=torch.tensor([iou]), avg_factor=avg)
    assert loss16.dtype == torch.float32
    # no matched box: zero, still differentiable
    empty = torch.zeros(0, 4, 5, requires_grad=True)
    z = loss_fn(empty, torch.zeros(0, 4), w)
    assert z.item() == 0 and z.requires_grad


def _kl_by_hand(t, s, T):
    lt, ls = _log_softmax(t, T), _log_softmax(s, T)
    return sum(math.exp(a) * (a - b) for a, b in zip(lt, ls))


def test_ddf_loss_weighting_and_normalisation_by_hand():
    g = torch.Generator().manual_seed(0)
    M, bins, T = 3, 5, 5.0
    s = torch.randn(M, 4, bins, generator=g) * 3
    t = torch.randn(M, 4, bins, generator=g) * 3
    weight = torch.tensor([0.8, 0.3, 0.6])
    matched = torch.tensor([True, False, False])
    per = [[weight[k].item() * T**2 *
            _kl_by_hand(t[k, e].tolist(), s[k, e].tolist(), T)
            for e in range(4)] for k in range(M)]
    mean_m = sum(per[0]) / 4
    mean_u = (sum(per[1]) + sum(per[2])) / 8
    expected = (mean_m * 1 + mean_u * math.sqrt(2)) / (1 + math.sqrt(2))
    loss_fn = DDFLoss(temperature=T, loss_weight=1.5)
    loss = loss_fn(s, t, weight, matched)
    assert math.isclose(loss.item(), 1.5 * expected, rel_tol=1e-5)
    # reuse of another part's counts (denoising queries in D-FINE)
    loss2 = loss_fn(s, t, weight, matched, count_weights=(2.0, 1.0))
    assert math.isclose(
        loss2.item(), 1.5 * (2 * mean_m + mean_u) / 3, rel_tol=1e-5)
    # the teacher is detached; identical distributions give zero
    s.requires_grad_(True)
    t.requires_grad_(True)
    loss_fn(s, t, weight, matched).backward()
    assert t.grad is None and s.grad.abs().sum() > 0
    assert loss_fn(t.detach(), t.detach(), weight, matched).item() == 0
    # all matched / none matched
    assert math.isclose(
        loss_fn(s, t, weight, torch.ones(3, dtype=torch.bool)).item(),
        1.5 * sum(map(sum, per)) / 12, rel_tol=1e-5)


# ----------------------------------------------------------------------
# union set
def _official_go_indices(layers):
    """The official ``DFINECriterion._get_go_indices`` (Peterande/D-FINE,
    src/zoo/dfine/dfine_criterion.py) for one image, transcribed: count the
    concatenated (query, gt) pairs with ``torch.unique(dim=0)`` (sorted by
    query, then gt), order them by decreasing count and keep each query's
    first pair. The official ``argsort`` is PyTorch's default, unstable sort,
    which keeps equal counts in order only for small inputs (up to 16 pairs
    on the CPU); ``stable=True`` here is the rule it implements."""
    ind = torch.stack([torch.cat([q for q, _ in layers]),
                       torch.cat([g for _, g in layers])], 1)
    unique, counts = torch.unique(ind, return_counts=True, dim=0)
    order = torch.argsort(counts, descending=True, stable=True)
    column_to_row = {}
    for row, col in unique[order].tolist():
        if row not in column_to_row:
            column_to_row[row] = col
    return column_to_row


def test_union_set_matching_official_rule_by_hand():
    import itertools
    t = torch.tensor
    # with a tie (gt 0..3; each layer matches one-to-one)
    last = (t([1, 3, 7]), t([0, 2, 3]))
    layer0 = (t([1, 3, 5, 7]), t([0, 1, 3, 2]))
    layer1 = (t([5, 1, 3]), t([3, 1, 2]))
    # q1: g0 x2, g1 x1 -> g0;  q3: g2 x2, g1 x1 -> g2;  q5: g3 x2 -> g3;
    # q7: g3 (last) x1, g2 (layer 0) x1: a tie -> the lower gt index, g2,
    # whichever layer is listed first
    for order in itertools.permutations([last, layer0, layer1]):
        q, g = union_set_matching(list(order))
        assert q.tolist() == [1, 3, 5, 7]
        assert g.tolist() == [0, 2, 3, 2]
        assert _official_go_indices(list(order)) == {1: 0, 3: 2, 5: 3, 7: 2}
    # without a tie: q0 goes to g2 (count 2) although the first-listed layer
    # and the lowest index say g0
    a = (t([0, 2]), t([0, 1]))
    b = (t([2, 0, 4]), t([1, 2, 0]))
    c = (t([0, 4]), t([2, 0]))
    # q0: g0 x1, g2 x2 -> g2;  q2: g1 x2 -> g1;  q4: g0 x2 -> g0
    for order in itertools.permutations([a, b, c]):
        q, g = union_set_matching(list(order))
        assert q.tolist() == [0, 2, 4]
        assert g.tolist() == [2, 1, 0]
        assert _official_go_indices(list(order)) == {0: 2, 2: 1, 4: 0}
    # random cases against the transcription
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        layers = []
        for _ in range(5):
            k = int(torch.randint(0, 6, (1, ), generator=gen))
            layers.append((torch.randperm(10, generator=gen)[:k],
                           torch.randperm(6, generator=gen)[:k]))
        q, g = union_set_matching(layers)
        assert dict(zip(q.tolist(), g.tolist())) == \
            _official_go_indices(layers)
        assert q.tolist() == sorted(q.tolist())
    # empty
    e = torch.zeros(0, dtype=torch.long)
    q, g = union_set_matching([(e, e), (e, e)])
    assert q.numel() == 0 and g.numel() == 0


# ----------------------------------------------------------------------
# head-level weighting of the DDF loss (IoU for matched, confidence else)
def _small_head(per_layer=False, **kw):
    """A small DINO D-FINE head; ``per_layer``: the per-layer reference
    losses (``DFineDINOHeadPerLayer``)."""
    from mmkd.models.dfine import DFineDINOHead, DFineDINOHeadPerLayer
    init_default_scope('mmdet')
    kw.setdefault(
        'loss_cls',
        dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25))
    head_type = DFineDINOHeadPerLayer if per_layer else DFineDINOHead
    return head_type(
        num_classes=2,
        embed_dims=16,
        num_pred_layer=3,
        as_two_stage=True,
        num_bins=4,
        **kw)


def _stub_hungarian(head, hungarian):
    """Replace the head's matching, per set and batched, by ``hungarian``
    (``(cls_scores, bbox_preds, gts, img_metas) -> matches``)."""
    head._hungarian = hungarian
    head._hungarian_sets = lambda cls_sets, box_sets, gts, metas: [
        hungarian(c, b, gts, metas) for c, b in zip(cls_sets, box_sets)
    ]


def test_head_ddf_weights_iou_for_matched_confidence_for_others():
    head = _small_head(
        per_layer=True, loss_ddf=dict(type='mmkd.DDFLoss', loss_weight=1.0))
    bs, nq, bins, T = 1, 3, 5, 5.0
    g = torch.Generator().manual_seed(1)
    corners = torch.randn(bs, nq, 4 * bins, generator=g)
    teacher = torch.randn(bs, nq, 4 * bins, generator=g)
    teacher_logits = torch.tensor([[[0.0, 1.0], [-1.0, -2.0], [2.0, 0.5]]])
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1],
                           [0.7, 0.7, 0.2, 0.2]]])
    # query 0 matched to a box of half its width (IoU 0.5)
    m = dict(
        b=torch.tensor([0]),
        q=torch.tensor([0]),
        xyxy=torch.tensor([[0.4, 0.4, 0.5, 0.6]]),
    )
    loss = head._loss_ddf_matched(corners, teacher, teacher_logits, boxes, m)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    weights = [0.5, sig(-1.0), sig(2.0)]
    per = []
    for k in range(nq):
        kl = sum(
            _kl_by_hand(teacher[0, k, e * bins:(e + 1) * bins].tolist(),
                        corners[0, k, e * bins:(e + 1) * bins].tolist(), T)
            for e in range(4))
        per.append(weights[k] * T**2 * kl / 4)
    expected = (per[0] + (per[1] + per[2]) / 2 * math.sqrt(2)) / (
        1 + math.sqrt(2))
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_head_layout_and_zero_init():
    head = _small_head()
    head.init_weights()
    # 2 FDR branches + the 4-d encoder branch; b0 branch separate
    assert head.reg_branches[0][-1].out_features == 4 * 5
    assert head.reg_branches[1][-1].out_features == 4 * 5
    assert head.reg_branches[2][-1].out_features == 4
    assert head.pre_branch[-1].out_features == 4
    # zero-initialised logits: uniform distribution, zero offset -> b0
    h = torch.randn(2, 7, 16)
    b0 = torch.rand(2, 7, 4) * 0.5 + 0.25
    corners, boxes = head.refine(0, h, None, b0)
    assert torch.allclose(boxes, b0, atol=1e-6)
    # residual logits across layers
    c1, _ = head.refine(1, h, corners + 1.0, b0)
    assert torch.allclose(c1, corners + 1.0)
    assert head.union_matching is True
    assert _small_head(loss_ddf=None).union_matching is False


@pytest.mark.parametrize('union', [False, True])
def test_head_union_matching_option_without_ddf(union):
    """``loss_ddf=None`` alone: each layer's box losses on its own matches
    (mmkd's FDR-only mode); with ``union_matching=True`` (the official
    configuration without DDF) on the union set of all layers' matches.
    Checked against the L1 loss written out by hand."""
    from mmengine.structures import InstanceData
    kw = dict(union_matching=True) if union else {}
    head = _small_head(loss_ddf=None, **kw)
    assert head.union_matching is union and head.loss_ddf is None
    L, bs, nq, bins = 2, 1, 4, 5
    g = torch.Generator().manual_seed(0)
    all_boxes = torch.rand(L, bs, nq, 4, generator=g) * 0.4 + 0.3
    pre_boxes = torch.rand(bs, nq, 4, generator=g) * 0.4 + 0.3
    all_cls = torch.randn(L, bs, nq, 2, generator=g)
    corners = torch.randn(L, bs, nq, 4 * bins, generator=g)
    init_boxes = torch.rand(bs, nq, 4, generator=g) * 0.4 + 0.3
    gt_xyxy = torch.tensor([[10., 10., 40., 50.], [50., 20., 90., 60.],
                            [30., 60., 70., 95.]])
    gt = InstanceData(bboxes=gt_xyxy, labels=torch.tensor([0, 1, 0]))
    metas = [dict(img_shape=(100, 100))]
    t = torch.tensor
    # own matches: layer 0 {q0: g0, q1: g1}, last {q0: g0, q2: g2},
    # b0 {q0: g0, q1: g1} -> union {q0: g0, q1: g1, q2: g2}
    prescribed = [(all_boxes[0], (t([0, 1]), t([0, 1]))),
                  (all_boxes[1], (t([0, 2]), t([0, 2]))),
                  (pre_boxes, (t([0, 1]), t([0, 1])))]

    def hungarian(cls_scores, bbox_preds, gts, img_metas):
        for boxes, m in prescribed:
            if bbox_preds.shape == boxes.shape and torch.equal(
                    bbox_preds, boxes):
                return [m]
        e = torch.zeros(0, dtype=torch.long)  # encoder: no matches
        return [(e, e)]

    _stub_hungarian(head, hungarian)
    enc_cls = torch.randn(bs, nq, 2, generator=g)
    enc_boxes = torch.rand(bs, nq, 4, generator=g) * 0.4 + 0.3
    pre_cls = torch.randn(bs, nq, 2, generator=g)
    losses = head.loss_by_feat(all_cls, all_boxes, enc_cls, enc_boxes, [gt],
                               metas, None, corners, init_boxes, pre_boxes,
                               pre_cls)
    assert not any('loss_ddf' in k for k in losses)

    def l1_by_hand(boxes, pairs):
        total = 0.0
        for q, j in pairs:
            x1, y1, x2, y2 = (gt_xyxy[j] / 100).tolist()
            tgt = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
            total += sum(abs(p - c) for p, c in zip(boxes[0, q].tolist(), tgt))
        return 5.0 * total / len(pairs)  # DINOHead's L1 weight 5

    union_pairs = [(0, 0), (1, 1), (2, 2)]
    expect = {
        'd0.loss_bbox': (all_boxes[0], union_pairs if union else [(0, 0),
                                                                  (1, 1)]),
        'loss_bbox': (all_boxes[1], union_pairs if union else [(0, 0),
                                                               (2, 2)]),
        'pre.loss_bbox': (pre_boxes,
                          union_pairs if union else [(0, 0), (1, 1)]),
    }
    for key, (boxes, pairs) in expect.items():
        assert math.isclose(
            losses[key].item(), l1_by_hand(boxes, pairs), rel_tol=1e-5), key


# ----------------------------------------------------------------------
# the losses of all layers at once == the per-layer computation
def test_layer_batched_fgl_ddf_and_union_equal_per_layer_loops():
    """``FGLLoss.forward_layers`` / ``DDFLoss.forward_layers`` (values and
    input gradients) against loops of ``forward`` over the layers, one layer
    without matches; ``union_set_matching_flat`` against the per-image
    ``union_set_matching_batch``."""
    from mmkd.models.dfine import (union_set_matching_batch,
                                   union_set_matching_flat)
    g = torch.Generator().manual_seed(3)
    L, M, bins = 3, 7, 5
    project = weighting_function(bins - 1, 0.5, 4.0)
    fgl, ddf = FGLLoss(loss_weight=0.7), DDFLoss(temperature=3.0)
    # FGL: layer 0 three rows, layer 1 none, layer 2 two
    layer = torch.tensor([0, 0, 0, 2, 2])
    logits = torch.randn(5, 4, bins, generator=g, requires_grad=True)
    target = torch.rand(5, 4, generator=g) * 3 - 0.5
    weight = torch.rand(5, generator=g)
    avg = torch.tensor([2.0, 1.0, 4.0])
    got = fgl.forward_layers(logits, target, project, layer, L, weight, avg)
    ref = torch.stack([
        fgl(logits[layer == i], target[layer == i], project,
            weight[layer == i], avg_factor=float(avg[i])) for i in range(L)
    ])
    # DDF: student layers with own matched masks, one teacher
    student = torch.randn(L, M, 4 * bins, generator=g, requires_grad=True)
    teacher = torch.randn(M, 4 * bins, generator=g)
    alpha = torch.rand(L, M, generator=g)
    matched = torch.rand(L, M, generator=g) > 0.5
    matched[1] = False
    got_d = ddf.forward_layers(student, teacher, alpha, matched)
    ref_d = torch.stack([
        ddf(student[i], teacher, alpha[i], matched[i]) for i in range(L)
    ])
    cw = DDFLoss.count_weights(matched[0])
    got_c = ddf.forward_layers(student, teacher, alpha, matched, cw)
    ref_c = torch.stack([
        ddf(student[i], teacher, alpha[i], matched[i], cw) for i in range(L)
    ])
    for a, b in ((got, ref), (got_d, ref_d), (got_c, ref_c)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    w = torch.randn(L, generator=g)
    for a, b, x in ((got, ref, logits), (got_d + got_c, ref_d + ref_c,
                                         student)):
        ga = torch.autograd.grad((a * w).sum(), x)[0]
        gb = torch.autograd.grad((b * w).sum(), x)[0]
        assert torch.allclose(ga, gb, rtol=1e-5, atol=1e-7)
    # union of 3 layers x 2 images in one call
    t = torch.tensor
    per_layer = [[(t([0, 4]), t([1, 0])), (t([2]), t([0]))],
                 [(t([0, 3]), t([0, 1])), (t([2]), t([1]))],
                 [(t([0, 4]), t([0, 0])), (t([], dtype=torch.long),
                                           t([], dtype=torch.long))]]
    b = torch.cat([t([i] * m[0].numel()) for layer in per_layer
                   for i, m in enumerate(layer)])
    q = torch.cat([m[0] for layer in per_layer for m in layer])
    gt = torch.cat([m[1] for layer in per_layer for m in layer])
    ub, uq, ug = union_set_matching_flat(b, q, gt, num_queries=5)
    expect = union_set_matching_batch(per_layer)
    assert torch.equal(ub, t([0, 0, 0, 1]))
    assert torch.equal(uq, torch.cat([e[0] for e in expect]))
    assert torch.equal(ug, torch.cat([e[1] for e in expect]))


_VFL = dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75, gamma=2.0,
            iou_weighted=True, loss_weight=1.0)


@pytest.mark.parametrize('union,cls_loss', [(True, 'focal'),
                                            (False, 'focal'), (True, 'qfl'),
                                            (True, 'vfl'), (False, 'vfl')])
def test_head_batched_losses_equal_per_layer_reference(union, cls_loss):
    """The head's loss dict and the gradients of its inputs: all layers at
    once (default) == the per-layer loop (``DFineDINOHeadPerLayer``), with the
    real Hungarian matching, denoising queries and encoder outputs."""
    from mmengine.structures import InstanceData
    kw = dict(union_matching=union)
    if cls_loss == 'qfl':
        kw['loss_cls'] = dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0)
    elif cls_loss == 'vfl':
        kw['loss_cls'] = _VFL
    heads = {b: _small_head(per_layer=not b, **kw) for b in (True, False)}
    head = heads[True]
    L, bs, nq, num_dn, bins = 3, 2, 9, 12, 5
    n = num_dn + nq
    g = torch.Generator().manual_seed(4)
    inputs = dict(
        all_cls=torch.randn(L, bs, n, 2, generator=g),
        all_boxes=torch.rand(L, bs, n, 4, generator=g) * 0.4 + 0.3,
        enc_cls=torch.randn(bs, nq, 2, generator=g),
        enc_boxes=torch.rand(bs, nq, 4, generator=g) * 0.4 + 0.3,
        corners=torch.randn(L, bs, n, 4 * bins, generator=g),
        init_boxes=torch.rand(bs, n, 4, generator=g) * 0.4 + 0.3,
        pre_boxes=torch.rand(bs, n, 4, generator=g) * 0.4 + 0.3,
        pre_cls=torch.randn(bs, n, 2, generator=g))
    gts = [
        InstanceData(
            bboxes=torch.tensor([[10., 10., 40., 50.], [50., 20., 90., 60.],
                                 [30., 60., 70., 95.]]),
            labels=torch.tensor([0, 1, 0])),
        InstanceData(
            bboxes=torch.tensor([[5., 30., 60., 80.]]),
            labels=torch.tensor([1]))
    ]
    metas = [dict(img_shape=(100, 100)), dict(img_shape=(100, 120))]
    dn_meta = dict(num_denoising_queries=num_dn, num_denoising_groups=2)

    def run(batched):
        x = {k: v.clone().requires_grad_() for k, v in inputs.items()}
        losses = heads[batched].loss_by_feat(
            x['all_cls'], x['all_boxes'], x['enc_cls'], x['enc_boxes'], gts,
            metas, dn_meta, x['corners'], x['init_boxes'], x['pre_boxes'],
            x['pre_cls'])
        w = torch.linspace(0.5, 1.5, len(losses))
        total = sum(wi * v for wi, v in zip(w, losses.values()))
        keys = list(x)
        grads = torch.autograd.grad(total, [x[k] for k in keys],
                                    allow_unused=True)
        return losses, dict(zip(keys, grads))

    ref, ref_grads = run(False)
    got, got_grads = run(True)
    assert list(got) == list(ref)  # same keys, same order
    assert 'd0.loss_ddf' in got and 'd1.dn_loss_fgl' in got
    for k in ref:
        assert torch.allclose(got[k], ref[k], rtol=1e-5, atol=1e-7), k
        assert got[k].shape == ref[k].shape, k
    for k, gr in ref_grads.items():
        ga = got_grads[k]
        assert (ga is None) == (gr is None), k
        if gr is not None:
            assert torch.allclose(ga, gr, rtol=1e-5, atol=1e-7), k
    # matching of all layers at once == per layer
    cls, boxes = inputs['all_cls'], inputs['all_boxes']
    batched = head._hungarian_sets(cls, boxes, gts, metas)
    for i in range(L):
        for (qa, ga), (qb, gb) in zip(batched[i],
                                      head._hungarian(cls[i], boxes[i], gts,
                                                      metas)):
            assert torch.equal(qa, qb) and torch.equal(ga, gb)


def _linear_by_hand(layer, x):
    w, b = layer.weight.tolist(), layer.bias.tolist()
    return [sum(wi * xi for wi, xi in zip(row, x)) + bi
            for row, bi in zip(w, b)]


def _lqe_by_hand(lqe, scores, corners, bins):
    """The official ``LQE.forward`` for one query, written out."""
    stat = []
    for e in range(4):
        z = corners[e * bins:(e + 1) * bins]
        ex = [math.exp(v - max(z)) for v in z]
        p = sorted((v / sum(ex) for v in ex), reverse=True)[:lqe.k]
        stat += p + [sum(p) / lqe.k]
    hidden = [max(v, 0.0) for v in _linear_by_hand(lqe.reg_conf[0], stat)]
    q = _linear_by_hand(lqe.reg_conf[2], hidden)[0]
    return [s + q for s in scores]


def test_lqe_by_hand_and_zero_init():
    from mmkd.models.dfine import LQE
    bins = 6
    lqe = LQE(num_bins=bins - 1)  # official LQE(k=4, 64, 2 layers, reg_max)
    assert [m.out_features for m in lqe.reg_conf
            if isinstance(m, torch.nn.Linear)] == [64, 1]
    assert lqe.reg_conf[0].in_features == 4 * 5
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(2, 3, 2, generator=g)
    corners = torch.randn(2, 3, 4 * bins, generator=g)
    # last layer zero-initialised: no change at the start
    assert torch.equal(lqe(scores, corners), scores)
    with torch.no_grad():
        lqe.reg_conf[-1].weight.normal_(generator=g)
        lqe.reg_conf[-1].bias.fill_(0.3)
    out = lqe(scores, corners)
    for b in range(2):
        for q in range(3):
            expect = _lqe_by_hand(lqe, scores[b, q].tolist(),
                                  corners[b, q].tolist(), bins)
            assert torch.allclose(out[b, q], torch.tensor(expect),
                                  atol=1e-5)


def test_head_lqe_on_layer_logits_and_off_switch():
    head = _small_head()
    head.init_weights()
    assert len(head.lqe_layers) == 2  # one per decoder layer
    for lqe in head.lqe_layers:
        assert not lqe.reg_conf[-1].weight.any()
    g = torch.Generator().manual_seed(4)
    for lqe in head.lqe_layers:
        with torch.no_grad():
            lqe.reg_conf[-1].weight.normal_(generator=g)
    hidden = torch.randn(2, 1, 3, 16, generator=g)
    corners = torch.randn(2, 1, 3, 4 * 5, generator=g)
    refs = [torch.rand(1, 3, 4, generator=g) for _ in range(3)]
    cls, _ = head(hidden, refs, corners)
    for i in range(2):
        plain = head.cls_branches[i](hidden[i])
        for q in range(3):
            expect = _lqe_by_hand(head.lqe_layers[i], plain[0, q].tolist(),
                                  corners[i, 0, q].tolist(), 5)
            assert torch.allclose(cls[i, 0, q], torch.tensor(expect),
                                  atol=1e-5)
    # b0's logits: layer 0's class branch without LQE (official pre_scores)
    assert torch.equal(head.pre_cls_scores(hidden),
                       head.cls_branches[0](hidden[0]))
    off = _small_head(use_lqe=False)
    assert off.lqe_layers is None
    cls, _ = off(hidden, refs, corners)
    assert torch.equal(cls[1], off.cls_branches[1](hidden[1]))


def test_fdr_branch_input_is_output_plus_previous_output_detached():
    """Official ``bbox_head[i](output + output_detach)``: layer 0 sees its
    own output; layer l also the detached output of layer l-1, while the
    previous logits stay attached."""
    from mmkd.models.dfine.fdr_decoder import _FDRLoopMixin
    head = _small_head()  # mmdet's default init: non-zero FDR branches
    g = torch.Generator().manual_seed(5)
    h0 = torch.randn(1, 3, 16, generator=g, requires_grad=True)
    h1 = torch.randn(1, 3, 16, generator=g, requires_grad=True)
    ref = torch.rand(1, 3, 4, generator=g) * 0.4 + 0.3
    state = {}
    _FDRLoopMixin._fdr_step(head, 0, h0, ref, state)
    _FDRLoopMixin._fdr_step(head, 1, h1, ref, state)
    c0, c1 = state['all_corners']
    with torch.no_grad():
        assert torch.allclose(c0, head.reg_branches[0](h0))
        assert torch.allclose(
            c1, head.reg_branches[1](h1 + h0) + head.reg_branches[0](h0),
            atol=1e-6)
    # gradient into h0 only through the attached previous logits
    grad_h0 = torch.autograd.grad(c1.sum(), h0)[0]
    expect = torch.autograd.grad(head.reg_branches[0](h0).sum(), h0)[0]
    assert torch.allclose(grad_h0, expect, atol=1e-6)
    # refine() directly: the same sum, prev_hidden detached
    p = torch.randn(1, 3, 16, generator=g, requires_grad=True)
    c, _ = head.refine(1, h1, None, ref, prev_hidden=p)
    assert torch.allclose(c, head.reg_branches[1](h1 + p))
    c.sum().backward()
    assert p.grad is None and h1.grad is not None


def _focal_by_hand(logits, labels, num_classes, avg, alpha=0.25, gamma=2.0):
    """mmdet's sigmoid focal loss, sum over queries and classes / avg."""
    total = 0.0
    for row, lab in zip(logits, labels):
        for c, x in enumerate(row):
            p = 1 / (1 + math.exp(-x))
            t = 1.0 if lab == c else 0.0
            bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
            pt = (1 - p) * t + p * (1 - t)
            total += bce * (alpha * t + (1 - alpha) * (1 - t)) * pt**gamma
    return total / avg


def test_pre_head_classification_loss_by_hand():
    """b0 gets a classification loss (official ``pre_outputs`` /
    ``dn_pre_outputs``): on its own Hungarian matches, which use layer 0's
    logits without LQE; for denoising queries on the dn targets."""
    from mmengine.structures import InstanceData
    head = _small_head()
    L, bs, nq, num_dn, bins = 2, 1, 4, 4, 5
    g = torch.Generator().manual_seed(6)
    n = num_dn + nq
    all_boxes = torch.rand(L, bs, n, 4, generator=g) * 0.4 + 0.3
    pre_boxes = torch.rand(bs, n, 4, generator=g) * 0.4 + 0.3
    all_cls = torch.randn(L, bs, n, 2, generator=g)
    pre_cls = torch.randn(bs, n, 2, generator=g)
    corners = torch.randn(L, bs, n, 4 * bins, generator=g)
    init_boxes = torch.rand(bs, n, 4, generator=g) * 0.4 + 0.3
    gt = InstanceData(
        bboxes=torch.tensor([[10., 10., 40., 50.]]), labels=torch.tensor([1]))
    metas = [dict(img_shape=(100, 100))]
    seen = {}

    def hungarian(cls_scores, bbox_preds, gts, img_metas):
        if torch.equal(bbox_preds, pre_boxes[:, num_dn:]):
            seen['pre_cls'] = cls_scores
            return [(torch.tensor([2]), torch.tensor([0]))]
        return [(torch.tensor([0]), torch.tensor([0]))]

    _stub_hungarian(head, hungarian)
    dn_meta = dict(num_denoising_queries=num_dn, num_denoising_groups=2)
    losses = head.loss_by_feat(all_cls, all_boxes, None, None, [gt], metas,
                               dn_meta, corners, init_boxes, pre_boxes,
                               pre_cls)
    assert torch.equal(seen['pre_cls'], pre_cls[:, num_dn:])
    # matching queries: q2 -> class 1, others background; 1 positive
    expect = _focal_by_hand(pre_cls[0, num_dn:].tolist(), [2, 2, 1, 2], 2,
                            avg=1)
    assert math.isclose(losses['pre.loss_cls'].item(), expect, rel_tol=1e-5)
    # denoising: 2 groups of (positive, negative) -> positives 0 and 2
    expect = _focal_by_hand(pre_cls[0, :num_dn].tolist(), [1, 2, 1, 2], 2,
                            avg=2)
    assert math.isclose(
        losses['pre.dn_loss_cls'].item(), expect, rel_tol=1e-5)
    for key in ('pre.loss_bbox', 'pre.loss_iou', 'pre.dn_loss_bbox',
                'pre.dn_loss_iou', 'loss_cls', 'd0.dn_loss_cls'):
        assert key in losses, key


def _official_vfl(logits, boxes, b, q, tgt_cxcywh, tgt_labels, num_boxes,
                  alpha=0.75, gamma=2.0):
    """D-FINE's ``loss_labels_vfl`` (src/zoo/dfine/dfine_criterion.py) on
    ``(bs, nq, C)`` logits, ``(bs, nq, 4)`` cxcywh boxes and the matched
    (image ``b``, query ``q``) -> target pairs."""

    def xyxy(x):
        cx, cy, w, h = x.unbind(-1)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                           -1)

    src, tgt = xyxy(boxes[b, q]), xyxy(tgt_cxcywh)
    lt = torch.max(src[:, :2], tgt[:, :2])
    rb = torch.min(src[:, 2:], tgt[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(-1)  # noqa: E731
    ious = (inter / (area(src) + area(tgt) - inter)).detach()
    num_classes = logits.shape[-1]
    target_classes = torch.full(logits.shape[:2], num_classes)
    target_classes[b, q] = tgt_labels
    target = torch.nn.functional.one_hot(target_classes,
                                         num_classes + 1)[..., :-1]
    target_score_o = torch.zeros(logits.shape[:2])
    target_score_o[b, q] = ious
    target_score = target_score_o.unsqueeze(-1) * target
    pred_score = logits.sigmoid().detach()
    weight = alpha * pred_score.pow(gamma) * (1 - target) + target_score
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target_score, weight=weight, reduction='none')
    return loss.mean(1).sum() * logits.shape[1] / num_boxes


@pytest.mark.parametrize('batched', [True, False])
def test_head_vfl_classification_loss_equals_official_by_hand(batched):
    """``loss_cls=VarifocalLoss``: every layer's, b0's and the denoising
    queries' classification loss (value and gradient) is D-FINE's official
    ``loss_labels_vfl`` on the same matches (mmdet's dn loss would crash:
    it passes integer labels to VFL)."""
    from mmengine.structures import InstanceData
    head = _small_head(per_layer=not batched, loss_cls=_VFL)
    L, bs, nq, num_dn, bins = 2, 2, 4, 4, 5
    g = torch.Generator().manual_seed(7)
    n = num_dn + nq
    all_boxes = torch.rand(L, bs, n, 4, generator=g) * 0.3 + 0.35
    pre_boxes = torch.rand(bs, n, 4, generator=g) * 0.3 + 0.35
    all_cls = torch.randn(L, bs, n, 2, generator=g).requires_grad_()
    pre_cls = torch.randn(bs, n, 2, generator=g).requires_grad_()
    corners = torch.randn(L, bs, n, 4 * bins, generator=g)
    init_boxes = torch.rand(bs, n, 4, generator=g) * 0.4 + 0.3
    gts = [
        InstanceData(bboxes=torch.tensor([[30., 30., 60., 70.]]),
                     labels=torch.tensor([1])),
        InstanceData(bboxes=torch.tensor([[20., 40., 70., 60.],
                                          [40., 30., 80., 90.]]),
                     labels=torch.tensor([0, 1]))
    ]
    metas = [dict(img_shape=(100, 100))] * 2
    # layers: image 0 q1 -> gt 0, image 1 q3 -> gt 1, q0 -> gt 0;
    # b0: image 0 q2 -> gt 0, image 1 q1 -> gt 0, q2 -> gt 1
    layer_m = [(torch.tensor([1]), torch.tensor([0])),
               (torch.tensor([3, 0]), torch.tensor([1, 0]))]
    pre_m = [(torch.tensor([2]), torch.tensor([0])),
             (torch.tensor([1, 2]), torch.tensor([0, 1]))]

    def hungarian(cls_scores, bbox_preds, gt_instances, img_metas):
        return pre_m if torch.equal(bbox_preds, pre_boxes[:, num_dn:]) \
            else layer_m

    _stub_hungarian(head, hungarian)
    dn_meta = dict(num_denoising_queries=num_dn, num_denoising_groups=2)
    losses = head.loss_by_feat(all_cls, all_boxes, None, None, gts, metas,
                               dn_meta, corners, init_boxes, pre_boxes,
                               pre_cls)

    def targets(matches):
        b = torch.cat([torch.full_like(qi, i)
                       for i, (qi, _) in enumerate(matches)])
        q = torch.cat([qi for qi, _ in matches])
        xyxy = torch.cat([gt.bboxes[gi] / 100
                          for (_, gi), gt in zip(matches, gts)])
        cxcywh = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2,
                            xyxy[:, 2:] - xyxy[:, :2]], -1)
        labels = torch.cat([gt.labels[gi]
                            for (_, gi), gt in zip(matches, gts)])
        return b, q, cxcywh, labels

    # denoising: the positives of mmdet's dn targets, gts repeated per group
    dn_m = []
    for gt, meta in zip(gts, metas):
        pos = head._get_dn_targets_single(gt, meta, dn_meta)[4]
        dn_m.append((pos, torch.arange(len(gt.labels)).repeat(2)[:len(pos)]))
    cases = [('loss_cls', all_cls[-1, :, num_dn:], all_boxes[-1, :, num_dn:],
              layer_m, 3),
             ('d0.loss_cls', all_cls[0, :, num_dn:], all_boxes[0, :, num_dn:],
              layer_m, 3),
             ('pre.loss_cls', pre_cls[:, num_dn:], pre_boxes[:, num_dn:],
              pre_m, 3),
             ('dn_loss_cls', all_cls[-1, :, :num_dn],
              all_boxes[-1, :, :num_dn], dn_m,
              sum(len(p) for p, _ in dn_m)),
             ('pre.dn_loss_cls', pre_cls[:, :num_dn], pre_boxes[:, :num_dn],
              dn_m, sum(len(p) for p, _ in dn_m))]
    for key, logits, boxes, matches, num_boxes in cases:
        expect = _official_vfl(logits, boxes, *targets(matches), num_boxes)
        assert torch.allclose(losses[key], expect, rtol=1e-5), key
        got_grad = torch.autograd.grad(losses[key], [all_cls, pre_cls],
                                       retain_graph=True, allow_unused=True)
        exp_grad = torch.autograd.grad(expect, [all_cls, pre_cls],
                                       allow_unused=True)
        for a, e, x in zip(got_grad, exp_grad, (all_cls, pre_cls)):
            a = torch.zeros_like(x) if a is None else a
            e = torch.zeros_like(x) if e is None else e
            assert torch.allclose(a, e, rtol=1e-5, atol=1e-7), key
    assert sum(len(p) for p, _ in dn_m) > 0
    assert math.isfinite(losses['d0.dn_loss_bbox'].item())


# ----------------------------------------------------------------------
# real detectors
def _shrink_dino(cfg: Config) -> Config:
    cfg.model.num_queries = 20
    cfg.model.test_cfg.max_per_img = 20
    cfg.model.encoder.num_layers = 1
    cfg.model.decoder.num_layers = 3
    cfg.model.decoder.layer_cfg.ffn_cfg.feedforward_channels = 64
    cfg.model.encoder.layer_cfg.ffn_cfg.feedforward_channels = 64
    cfg.model.dn_cfg.group_cfg.num_dn_queries = 10
    return cfg


@pytest.fixture(scope='module')
def mini_root(tmp_path_factory):
    from mmkd.datasets.mini_data import generate_mini_data
    root = tmp_path_factory.mktemp('mini')
    generate_mini_data(
        str(root),
        seed=0,
        num_train=4,
        num_val=2,
        img_size=64,
        num_pose_train=0,
        num_pose_val=0)
    return str(root)


def _runner_cfg(cfg_file, root, work_dir):
    cfg = _shrink_dino(Config.fromfile(osp.join(CFG_DIR, cfg_file)))
    pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='PackDetInputs')
    ]
    for split in ('train', 'val'):
        dl = cfg[f'{split}_dataloader']
        dl.batch_size = 2
        dl.dataset.data_root = root + '/'
        dl.dataset.pipeline = pipe
    cfg.val_evaluator.ann_file = osp.join(root,
                                          'annotations/instances_val.json')
    cfg.test_dataloader = cfg.val_dataloader
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    return cfg


def test_dino_fdr_golsd_trains_with_runner_and_predicts_like_dino(
        mini_root, tmp_path):
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class Grab(Hook):
        outputs = []

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            Grab.outputs.append({k: float(v) for k, v in outputs.items()})

    torch.manual_seed(0)
    cfg = _runner_cfg('mini_dino_r18_fdr_golsd.py', mini_root,
                      str(tmp_path / 'fdr'))
    runner = Runner.from_cfg(cfg)
    runner.register_hook(Grab())
    runner.train()
    assert len(Grab.outputs) == 2
    logged = Grab.outputs[-1]
    for key in ('loss_fgl', 'd0.loss_ddf', 'd1.loss_ddf', 'dn_loss_fgl',
                'd0.dn_loss_ddf', 'pre.loss_iou', 'pre.loss_cls',
                'pre.dn_loss_cls', 'enc_loss_cls',
                'loss_cls', 'loss_bbox', 'loss_iou'):
        assert key in logged, key
    assert 'loss_ddf' not in logged  # the last layer is the teacher
    assert all(math.isfinite(v) for v in logged.values())
    # after one update the distributions differ: GO-LSD is active
    assert logged['d0.loss_ddf'] > 0

    # test time: same output format as mmdet's plain DINO
    model = runner.model.eval()
    batch = next(iter(runner.val_dataloader))
    with torch.no_grad():
        preds = model.val_step(batch)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS as MMDET_MODELS
    plain_cfg = _runner_cfg('mini_dino_r18.py', mini_root,
                            str(tmp_path / 'plain'))
    plain = MMDET_MODELS.build(plain_cfg.model).eval()
    assert type(plain).__name__ == 'DINO'
    with torch.no_grad():
        plain_preds = plain.val_step(copy.deepcopy(batch))
    for p, q in zip(preds, plain_preds):
        a, b = p.pred_instances, q.pred_instances
        assert set(a.keys()) == set(b.keys()) == {'bboxes', 'scores',
                                                  'labels'}
        for k in a.keys():
            assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype
        assert a.bboxes.shape == (20, 4)
        assert torch.isfinite(a.bboxes).all()


def test_dino_fdr_golsd_with_official_vfl_trains_with_runner(
        mini_root, tmp_path):
    """dino_fdr_golsd.py's classification loss (D-FINE's VFL) on the mini
    DINO: two Runner iterations with finite losses."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class Grab(Hook):
        outputs = []

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            Grab.outputs.append({k: float(v) for k, v in outputs.items()})

    loss_cls = Config.fromfile(osp.join(
        CFG_DIR, 'dino_fdr_golsd.py')).model.bbox_head.loss_cls
    assert loss_cls.type == 'VarifocalLoss' and loss_cls.alpha == 0.75
    torch.manual_seed(0)
    cfg = _runner_cfg('mini_dino_r18_fdr_golsd.py', mini_root,
                      str(tmp_path / 'vfl'))
    cfg.model.bbox_head.loss_cls = loss_cls
    runner = Runner.from_cfg(cfg)
    assert type(runner.model.bbox_head.loss_cls).__name__ == 'VarifocalLoss'
    runner.register_hook(Grab())
    runner.train()
    assert len(Grab.outputs) == 2
    for logged in Grab.outputs:
        for key in ('loss_cls', 'd0.loss_cls', 'pre.loss_cls',
                    'enc_loss_cls', 'dn_loss_cls', 'pre.dn_loss_cls',
                    'loss_fgl', 'd0.loss_ddf'):
            assert key in logged, key
        assert all(math.isfinite(v) for v in logged.values())


def test_kd_doctor_diagnoses_golsd_terms_as_training_logs_them(
        mini_root, tmp_path):
    """The KD doctor on D-FINE (self-distillation, no `distill` dict): one
    row per DDF term of the loss dict, with the value the training step
    logs, measured against the sum of the other terms; a plain DINO and
    --eval-images (no teacher) are refused."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmkd.analysis import run_doctor
    from mmkd.analysis.doctor_run import DoctorHook, _Enough

    logged = []

    class Log(Hook):
        priority = 'VERY_LOW'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            logged.append({k: float(v) for k, v in outputs.items()})

    torch.manual_seed(0)
    cfg = _runner_cfg('mini_dino_r18_fdr_golsd.py', mini_root,
                      str(tmp_path / 'doctor'))
    runner = Runner.from_cfg(cfg)
    doctor = DoctorHook(iters=2)
    runner.register_hook(doctor)
    runner.register_hook(Log())
    with pytest.raises(_Enough):
        runner.train()
    assert len(doctor.history) == len(logged) == 2
    for diagnosis, log in zip(doctor.history, logged):
        ddf = {k: v for k, v in log.items() if k.endswith('loss_ddf')}
        # 3 decoder layers: the last teaches the two before it, for the
        # matching and the denoising queries
        assert set(ddf) == {'d0.loss_ddf', 'd1.loss_ddf', 'd0.dn_loss_ddf',
                            'd1.dn_loss_ddf'}
        rows = {d.key: d for d in diagnosis.losses}
        assert set(rows) == set(ddf)
        for key, d in rows.items():
            assert d.value == pytest.approx(ddf[key], rel=1e-4, abs=1e-7)
            assert d.type == 'DDFLoss' and d.weight == 1.5
            assert d.shared > 0 and math.isfinite(d.grad_ratio)
            assert -1 <= d.cosine <= 1
        # the task loss: everything the step logs but the DDF terms
        assert diagnosis.task_loss == pytest.approx(
            log['loss'] - sum(ddf.values()), rel=1e-4)
    # the FDR branches start at zero: every layer predicts the same
    # distributions, DDF is ~0 on the first batch, and the doctor says why
    from mmkd.analysis import find_warnings
    first = find_warnings(doctor.history[0])
    assert any(w.startswith('d0.loss_ddf is ') and 'still agree' in w
               for w in first), first
    report = diagnosis.report()
    assert '| d1.dn_loss_ddf ' in report and 'distill.loss_' not in report
    assert 'recorded tensors' not in report  # none: no teacher model

    plain = _runner_cfg('mini_dino_r18.py', mini_root, str(tmp_path / 'p'))
    with pytest.raises(ValueError, match='self_distill_losses'):
        run_doctor(plain, iters=1)
    with pytest.raises(ValueError, match='no teacher'):
        run_doctor(cfg, iters=1, eval_images=2)


@pytest.mark.parametrize('two_stage,vfl', [(False, False), (True, False),
                                           (True, True)])
def test_deformable_detr_fdr_train_step_and_predict(two_stage, vfl):
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    init_default_scope('mmdet')
    name = ('deformable-detr-refine-twostage_r50_16xb2-50e_coco.py'
            if two_stage else 'deformable-detr-refine_r50_16xb2-50e_coco.py')
    import mmdet
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                 'deformable_detr', name))
    m = cfg.model
    m.type = 'mmkd.DFineDeformableDETR'
    m.bbox_head.type = 'mmkd.DFineDeformableDETRHead'
    m.bbox_head.num_classes = 3
    m.num_queries = 10
    m.test_cfg.max_per_img = 10
    m.backbone.update(depth=18, init_cfg=None)
    m.neck.in_channels = [128, 256, 512]
    m.encoder.num_layers = 1
    m.decoder.num_layers = 2
    if vfl:  # deformable_detr_fdr_golsd.py's (official D-FINE) loss_cls
        m.bbox_head.loss_cls = Config.fromfile(
            osp.join(CFG_DIR, 'deformable_detr_fdr_golsd.py')
        ).model.bbox_head.loss_cls
        assert m.bbox_head.loss_cls.type == 'VarifocalLoss'
    torch.manual_seed(0)
    model = MMDET_MODELS.build(m)
    model.init_weights()
    samples = []
    for i in range(2):
        s = DetDataSample(metainfo=dict(
            img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 8., 30., 40.], [30., 30., 60.,
                                                      50.]])[:i + 1],
            labels=torch.tensor([0, 2])[:i + 1])
        samples.append(s)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
        data_samples=samples)
    model.train()
    torch.manual_seed(1)  # the same dropout for the per-layer twin below
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert 'd0.loss_ddf' in losses and 'loss_fgl' in losses
    # the per-layer reference head (DFineDeformableDETRHeadPerLayer, same
    # weights) computes the same losses as the batched one
    twin_cfg = copy.deepcopy(m)
    twin_cfg.bbox_head.type = 'mmkd.DFineDeformableDETRHeadPerLayer'
    for key in ('share_pred_layer', 'num_pred_layer', 'as_two_stage'):
        twin_cfg.bbox_head.pop(key)  # set by the detector's build above
    twin = MMDET_MODELS.build(twin_cfg)
    twin.load_state_dict(model.state_dict())
    twin.train()
    torch.manual_seed(1)
    with torch.no_grad():
        ref = twin(**twin.data_preprocessor(data, True), mode='loss')
    assert list(ref) == list(losses)
    for k, v in ref.items():
        assert torch.allclose(losses[k].detach(), v, rtol=1e-5, atol=1e-6), k
    assert 'pre.loss_cls' in losses
    assert ('enc_loss_cls' in losses) == two_stage
    assert all(torch.isfinite(v).all() for v in losses.values())
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert model.bbox_head.pre_branch[-1].weight.grad is not None
    assert model.bbox_head.lqe_layers[0].reg_conf[-1].weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(data, False), mode='predict')
    assert set(out[0].pred_instances.keys()) == {'bboxes', 'scores',
                                                 'labels'}


@pytest.mark.parametrize('recipe,det,head', [
    ('dino_fdr_golsd.py', 'DFineDINO', 'DFineDINOHead'),
    ('deformable_detr_fdr_golsd.py', 'DFineDeformableDETR',
     'DFineDeformableDETRHead'),
])
def test_full_size_recipes_build_from_mmdet_configs(recipe, det, head):
    """The recipes only retype mmdet's model dict (no copy of it)."""
    from mmdet.registry import MODELS as MMDET_MODELS
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(CFG_DIR, recipe))
    assert cfg.model.backbone.depth == 50  # the rest is mmdet's
    cfg.model.backbone.init_cfg = None  # no download
    model = MMDET_MODELS.build(cfg.model)
    assert type(model).__name__ == det
    assert type(model.bbox_head).__name__ == head
    assert model.bbox_head.project.numel() == 33
    assert type(model.decoder).__name__.startswith('FDR')
