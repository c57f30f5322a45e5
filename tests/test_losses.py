"""Tests of the distillation losses against independent hand computations
(numpy, float64, explicit loops)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from mmkd.models.losses import (ChannelWiseDivergence, FGDLoss, KDLoss,
                                MGDLoss, MSELoss, PKDLoss)
from mmkd.registry import MODELS

try:
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
except Exception:  # mmdet/mmcv not importable: same interface, mmengine
    from mmengine.structures import BaseDataElement as DetDataSample

    class HorizontalBoxes:
        """Stand-in for mmdet's box type: the tensor is in ``.tensor``."""

        def __init__(self, tensor):
            self.tensor = tensor

        def __len__(self):
            return len(self.tensor)


TOL = dict(rtol=1e-5, atol=1e-6)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def np_softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def np_kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def np_conv(x, weight, bias, pad):
    """Explicit 2-D cross-correlation of x (N, Ci, H, W)."""
    n, _, h, w = x.shape
    co, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, co, h, w))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum('nchw,oc->nohw', xp[:, :, i:i + h, j:j + w],
                             weight[:, :, i, j])
    return out + bias[None, :, None, None]


def params(module):
    return [p.detach().double().numpy() for p in module.parameters()]


def det_sample(bboxes, batch_input_shape):
    sample = DetDataSample(metainfo=dict(batch_input_shape=batch_input_shape))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(bboxes, dtype=torch.float32).reshape(-1, 4))
    return sample


# --------------------------------------------------------------------- KD
@pytest.mark.parametrize('shape', [(4, 7), (2, 5, 3, 2)])
def test_kd_matches_hand_computation(shape):
    s, t = randn(*shape, seed=1) * 3, randn(*shape, seed=2) * 3
    tau = 2.5
    loss = KDLoss(tau=tau, loss_weight=0.7)(s, t)
    s_np, t_np = s.double().numpy(), t.double().numpy()
    kls = []
    for n in range(shape[0]):
        for pos in np.ndindex(*shape[2:]):
            idx = (n, slice(None)) + pos
            kls.append(
                np_kl(
                    np_softmax(t_np[idx] / tau), np_softmax(s_np[idx] / tau)))
    expected = 0.7 * tau**2 * np.mean(kls)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    np.testing.assert_allclose(loss.item(), expected, **TOL)


def test_kd_known_values():
    s, t = randn(3, 6, seed=3), randn(3, 6, seed=4)
    assert KDLoss()(t, t).item() == pytest.approx(0, abs=1e-7)
    # softmax(T z / T) = softmax(z): the loss only gains the T^2 factor
    for tau in (2.0, 4.0):
        np.testing.assert_allclose(
            KDLoss(tau=tau)(s * tau, t * tau).item(),
            tau**2 * KDLoss(tau=1.0)(s, t).item(), **TOL)


# -------------------------------------------------------------------- MSE
def test_mse_matches_hand_computation():
    s, t = randn(3, 4, 5, 2, seed=5), randn(3, 4, 5, 2, seed=6)
    diff = (s.double() - t.double()).numpy()
    np.testing.assert_allclose(
        MSELoss(loss_weight=2.0)(s, t).item(), 2.0 * np.mean(diff**2), **TOL)
    np.testing.assert_allclose(
        MSELoss(reduction='sum')(s, t).item(),
        np.sum(diff**2) / 3, **TOL)
    with pytest.raises(ValueError):
        MSELoss(reduction='none')


# -------------------------------------------------------------------- PKD
def np_pkd(s, t):
    """mean over channels of 1 - Pearson r over (N, H, W)."""
    s, t = s.double().numpy(), t.double().numpy()
    rs = [
        np.corrcoef(s[:, c].ravel(), t[:, c].ravel())[0, 1]
        for c in range(s.shape[1])
    ]
    return float(np.mean(1 - np.array(rs)))


def test_pkd_matches_hand_computation():
    s, t = randn(2, 5, 4, 3, seed=7), randn(2, 5, 4, 3, seed=8)
    t = t + 0.5 * s  # correlated
    np.testing.assert_allclose(
        PKDLoss(loss_weight=3.0)(s, t).item(), 3.0 * np_pkd(s, t), **TOL)


def test_pkd_known_values():
    s, t = randn(2, 4, 5, 5, seed=9), randn(2, 4, 5, 5, seed=10)
    assert PKDLoss()(s, s).item() == pytest.approx(0, abs=1e-5)
    assert PKDLoss()(s, -s).item() == pytest.approx(2, abs=1e-5)
    # invariant to a per-channel affine map of either input
    scale = torch.tensor([0.5, 2, 3, 10.]).view(1, 4, 1, 1)
    np.testing.assert_allclose(PKDLoss()(s * scale + 7, t).item(),
                               PKDLoss()(s, t).item(), **TOL)


def test_pkd_tuple_and_resize():
    s = (randn(2, 3, 4, 4, seed=11), randn(2, 3, 2, 2, seed=12))
    t = (randn(2, 3, 8, 8, seed=13), randn(2, 3, 2, 2, seed=14))
    up = F.interpolate(s[0], size=(8, 8), mode='bilinear')
    expected = np_pkd(up, t[0]) + np_pkd(s[1], t[1])
    np.testing.assert_allclose(PKDLoss()(s, t).item(), expected, **TOL)
    np.testing.assert_allclose(PKDLoss()(list(s), list(t)).item(), expected,
                               **TOL)
    down = F.interpolate(t[0], size=(4, 4), mode='bilinear')
    np.testing.assert_allclose(
        PKDLoss(resize_stu=False)(s[0], t[0]).item(), np_pkd(s[0], down),
        **TOL)
    for bad in [(s, t[:1]), (s[0], t), (s, t[0]), ((), ())]:
        with pytest.raises(ValueError):
            PKDLoss()(*bad)


# -------------------------------------------------------------------- CWD
def test_cwd_matches_hand_computation():
    s, t = randn(2, 3, 4, 5, seed=15) * 2, randn(2, 3, 4, 5, seed=16) * 2
    tau = 2.0
    s_np, t_np = s.double().numpy(), t.double().numpy()
    total = 0.
    for n in range(2):
        for c in range(3):
            total += np_kl(
                np_softmax(t_np[n, c].ravel() / tau),
                np_softmax(s_np[n, c].ravel() / tau))
    expected = 5.0 * tau**2 * total / (2 * 3)
    np.testing.assert_allclose(
        ChannelWiseDivergence(tau=tau, loss_weight=5.0)(s, t).item(), expected,
        **TOL)
    assert ChannelWiseDivergence()(t, t).item() == pytest.approx(0, abs=1e-6)


# -------------------------------------------------------------------- MGD
def test_mgd_seeded_mask_matches_hand_computation():
    s, t = randn(2, 3, 6, 5, seed=17), randn(2, 4, 6, 5, seed=18)
    loss_fn = MGDLoss(student_channels=3, teacher_channels=4, loss_weight=2.)
    torch.manual_seed(123)
    loss = loss_fn(s, t)
    torch.manual_seed(123)
    masked = (torch.rand(2, 1, 6, 5) > 1 - 0.65).double().numpy()
    assert 0.3 < masked.mean() < 0.95  # roughly the 0.65 masked ratio

    aw, ab, g1w, g1b, g2w, g2b = params(loss_fn)
    x = np_conv(s.double().numpy(), aw, ab, pad=0) * (1 - masked)
    x = np.maximum(np_conv(x, g1w, g1b, pad=1), 0)
    x = np_conv(x, g2w, g2b, pad=1)
    expected = 2. * 2e-5 * np.sum((x - t.double().numpy())**2) / 2
    np.testing.assert_allclose(loss.item(), expected, **TOL)


def test_mgd_same_channels_no_align():
    loss_fn = MGDLoss(student_channels=4, teacher_channels=4)
    assert loss_fn.align is None
    torch.manual_seed(0)
    a = loss_fn(randn(1, 4, 3, 3), randn(1, 4, 3, 3, seed=1))
    torch.manual_seed(0)
    b = loss_fn(randn(1, 4, 3, 3), randn(1, 4, 3, 3, seed=1))
    assert a.item() == b.item()


# -------------------------------------------------------------------- FGD
def np_attention(f, temp=0.5):
    _, c, h, w = f.shape
    a = np.abs(f[0])
    spatial = h * w * np_softmax(a.mean(0).ravel() / temp).reshape(h, w)
    channel = c * np_softmax(a.mean((1, 2)) / temp)
    return spatial, channel


def np_gc_out(f, conv_w, conv_b, c1w, c1b, ln_w, ln_b, c2w, c2b):
    """f + GcBlock context transform, for one image (1, C, H, W)."""
    x = f[0]
    logits = np.einsum('chw,c->hw', x, conv_w[0, :, 0, 0]) + conv_b[0]
    weight = np_softmax(logits.ravel()).reshape(logits.shape)
    context = np.einsum('chw,hw->c', x, weight)
    y = c1w[:, :, 0, 0] @ context + c1b
    y = (y - y.mean()) / np.sqrt(y.var() + 1e-5) * ln_w.ravel() + ln_b.ravel()
    y = c2w[:, :, 0, 0] @ np.maximum(y, 0) + c2b
    return x + y[:, None, None]


def test_fgd_one_box_matches_hand_computation():
    torch.manual_seed(0)
    loss_fn = FGDLoss(student_channels=6, teacher_channels=8)
    with torch.no_grad():  # random GcBlock so the global term is exercised
        for p in loss_fn.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    s, t = randn(1, 6, 8, 10, seed=19), randn(1, 8, 8, 10, seed=20)
    # input 64x80 -> feature 8x10 (stride 8); box (x1, y1, x2, y2)
    box = [13.0, 17.0, 37.0, 39.0]
    sample = det_sample([box], (64, 80))
    loss = loss_fn(s, t, data_samples=[sample])

    # masks as the official code: floor/ceil, rows hmin..hmax inclusive
    H, W = 8, 10
    wmin, wmax = int(np.floor(13 / 8)), int(np.ceil(37 / 8))  # 1, 5
    hmin, hmax = int(np.floor(17 / 8)), int(np.ceil(39 / 8))  # 2, 5
    fg, bg = np.zeros((H, W)), np.zeros((H, W))
    for y in range(H):
        for x in range(W):
            if hmin <= y <= hmax and wmin <= x <= wmax:
                fg[y, x] = 1 / ((hmax + 1 - hmin) * (wmax + 1 - wmin))
            else:
                bg[y, x] = 1
    bg /= bg.sum()
    assert (fg > 0).sum() == 4 * 5

    (aw, ab, mask_s_w, mask_s_b, mask_t_w, mask_t_b, *gc) = params(loss_fn)
    gc_s, gc_t = gc[:6], gc[6:]
    fs = np_conv(s.double().numpy(), aw, ab, pad=0)
    ft = t.double().numpy()
    sp_t, ch_t = np_attention(ft)
    sp_s, ch_s = np_attention(fs)
    fg_loss = bg_loss = 0.
    for c in range(8):
        for y in range(H):
            for x in range(W):
                e = (fs[0, c, y, x] - ft[0, c, y, x])**2 * sp_t[y, x] * ch_t[c]
                fg_loss += e * fg[y, x]
                bg_loss += e * bg[y, x]
    mask_loss = np.abs(ch_s - ch_t).sum() + np.abs(sp_s - sp_t).sum()
    rela_loss = np.sum((np_gc_out(fs, mask_s_w, mask_s_b, *gc_s) -
                        np_gc_out(ft, mask_t_w, mask_t_b, *gc_t))**2)
    expected = (1e-3 * fg_loss + 5e-4 * bg_loss + 5e-4 * mask_loss +
                5e-6 * rela_loss)
    np.testing.assert_allclose(loss.item(), expected, **TOL)


def test_fgd_masks_overlap_and_empty_image():
    loss_fn = FGDLoss(student_channels=4, teacher_channels=4)
    samples = [
        det_sample([[0, 0, 16, 16], [8, 8, 40, 24]], (32, 48)),
        det_sample([], (32, 48))
    ]
    fg, bg = loss_fn.gt_masks(samples, 2, 4, 6, torch.device('cpu'))
    # box 1 -> rows/cols 0..2 (area 1/9); box 2 -> rows 1..3, cols 1..5
    exp = np.zeros((2, 4, 6))
    exp[0, 1:4, 1:6] = 1 / 15
    exp[0, 0:3, 0:3] = 1 / 9  # larger weight of the smaller box wins
    np.testing.assert_allclose(fg.numpy(), exp, **TOL)
    n_bg = (exp[0] == 0).sum()
    np.testing.assert_allclose(bg[0].numpy(), (exp[0] == 0) / n_bg, **TOL)
    np.testing.assert_allclose(bg[1].numpy(), np.full((4, 6), 1 / 24), **TOL)
    s, t = randn(2, 4, 4, 6, seed=21), randn(2, 4, 4, 6, seed=22)
    loss = loss_fn(s, t, data_samples=samples)
    assert torch.isfinite(loss)
    # mmdet pipelines give HorizontalBoxes: same result as a plain tensor
    for sample in samples:
        sample.gt_instances.bboxes = HorizontalBoxes(
            sample.gt_instances.bboxes)
    assert loss_fn(s, t, data_samples=samples).item() == loss.item()
    with pytest.raises(ValueError, match='data_samples'):
        loss_fn(s, t)
    with pytest.raises(ValueError):
        loss_fn(s, t, data_samples=samples[:1])


# ---------------------------------------------------------------- common
def make(name):
    return {
        'kd': (KDLoss(tau=2.), (2, 5, 3, 3), (2, 5, 3, 3)),
        'mse': (MSELoss(), (2, 5, 3, 3), (2, 5, 3, 3)),
        'pkd': (PKDLoss(), (2, 5, 3, 3), (2, 5, 3, 3)),
        'cwd': (ChannelWiseDivergence(), (2, 5, 3, 3), (2, 5, 3, 3)),
        'mgd': (MGDLoss(3, 5), (2, 3, 3, 3), (2, 5, 3, 3)),
        'fgd': (FGDLoss(3, 5), (2, 3, 3, 3), (2, 5, 3, 3)),
    }[name]


def call(loss_fn, s, t):
    samples = [det_sample([[0, 0, 10, 12]], (24, 24))] * s.shape[0]
    return loss_fn(s, t, data_samples=samples)


NAMES = ['kd', 'mse', 'pkd', 'cwd', 'mgd', 'fgd']


@pytest.mark.parametrize('name', NAMES)
def test_fp16_inputs_give_finite_fp32(name):
    loss_fn, s_shape, t_shape = make(name)
    s = (randn(*s_shape, seed=23) * 100).half()
    t = (randn(*t_shape, seed=24) * 100).half()
    loss = call(loss_fn, s, t)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert torch.isfinite(loss)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = call(loss_fn, s.float(), t.float())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize('name', NAMES)
def test_gradient_flows_to_student(name):
    loss_fn, s_shape, t_shape = make(name)
    s = randn(*s_shape, seed=25).requires_grad_()
    t = randn(*t_shape, seed=26)  # from a no_grad teacher forward
    call(loss_fn, s, t).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    assert s.grad.abs().sum() > 0
    assert t.grad is None


@pytest.mark.parametrize('name', NAMES)
def test_shape_mismatch_raises(name):
    loss_fn, s_shape, t_shape = make(name)
    t_bad = (t_shape[0], t_shape[1] + 1) + t_shape[2:]
    if name == 'pkd':  # PKD resizes spatial sizes; channels must match
        t_bad = (2, 7, 4, 4)
    s, t = randn(*s_shape), randn(*t_bad)
    with pytest.raises(ValueError) as err:
        call(loss_fn, s, t)
    assert str(tuple(s_shape)) in str(err.value)
    assert str(tuple(t_bad)) in str(err.value)


def test_registered():
    for name in ('KDLoss', 'MSELoss', 'PKDLoss', 'ChannelWiseDivergence'):
        # the mmkd scope: other tests may leave mmdet's as the default scope
        loss = MODELS.build(dict(type=name, _scope_='mmkd'))
        assert type(loss).__name__ == name
    loss = MODELS.build(
        dict(type='FGDLoss', student_channels=4, teacher_channels=8,
             _scope_='mmkd'))
    assert isinstance(loss, FGDLoss)
