"""The losses and connectors of MMRazor's distillation zoo in mmkd, each
against a hand computation of the published formula (numpy, float64,
explicit loops), plus their use through DistillModel (labels from the data
samples, no auto connector for channel-agnostic losses, OFD's margin from the
teacher BN, MMRazor's connector argument names)."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.structures import BaseDataElement

from mmkd import DistillModel
from mmkd.models.connectors import (ConvModuleConnector, MGDConnector,
                                    NormConnector)
from mmkd.models.losses import (ABLoss, AngleWiseRKD, ATLoss, DISTLoss,
                                DistanceWiseRKD, DKDLoss, FBKDLoss,
                                KLDivergence, L1Loss, L2Loss, OFDLoss, WSLD)
from mmkd.models.losses.ofd_loss import bn_margin
from mmkd.registry import MODELS

TOL = dict(rtol=1e-5, atol=1e-6)


def randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def np_softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def np_kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def huber(x, y):
    d = abs(x - y)
    return 0.5 * d * d if d <= 1 else d - 0.5


def samples(labels):
    """mmpretrain-like data samples: ``gt_label`` a (1, ) index tensor."""
    return [BaseDataElement(gt_label=torch.tensor([int(y)])) for y in labels]


def close(value, expected):
    np.testing.assert_allclose(float(value), expected, **TOL)


# ------------------------------------------------------------ KLDivergence
@pytest.mark.parametrize('shape', [(3, 5), (2, 4, 2, 3)])
@pytest.mark.parametrize('reduction', ['batchmean', 'sum', 'mean', 'none'])
def test_kl_divergence_matches_hand_computation(shape, reduction):
    tau = 3.0
    s, t = randn(*shape, seed=1, scale=3), randn(*shape, seed=2, scale=3)
    loss = KLDivergence(tau=tau, reduction=reduction, loss_weight=0.5)(s, t)
    s_np, t_np = s.double().numpy(), t.double().numpy()
    n, c = shape[:2]
    terms = np.zeros(shape)  # pointwise tau^2 p_t (log p_t - log p_s)
    for pos in itertools.product(*[range(k) for k in shape[2:]]):
        for i in range(n):
            idx = (i, slice(None)) + pos
            p_t, p_s = np_softmax(t_np[idx] / tau), np_softmax(s_np[idx] / tau)
            terms[idx] = tau**2 * p_t * (np.log(p_t) - np.log(p_s))
    expected = dict(batchmean=terms.sum() / n, sum=terms.sum(),
                    mean=terms.mean(), none=terms)[reduction]
    np.testing.assert_allclose(loss.detach().numpy(), 0.5 * expected, **TOL)


def test_kl_divergence_batchmean_is_hinton_kd():
    s, t = randn(4, 6, seed=3), randn(4, 6, seed=4)
    expected = np.mean([
        4 * np_kl(np_softmax(t[i].double().numpy() / 2),
                  np_softmax(s[i].double().numpy() / 2)) for i in range(4)])
    close(KLDivergence(tau=2)(s, t), expected)
    with pytest.raises(ValueError, match='reduction'):
        KLDivergence(reduction='avg')


# --------------------------------------------------------------------- DKD
def hand_dkd(s, t, labels, tau, alpha, beta):
    """Per-sample TCKD, NCKD and classical KD from the paper's definitions."""
    out = []
    for i, y in enumerate(labels):
        p_s = np_softmax(s[i] / tau)
        p_t = np_softmax(t[i] / tau)
        b_s = np.array([p_s[y], 1 - p_s[y]])
        b_t = np.array([p_t[y], 1 - p_t[y]])
        others = [k for k in range(len(p_s)) if k != y]
        hat_s = p_s[others] / (1 - p_s[y])
        hat_t = p_t[others] / (1 - p_t[y])
        tckd, nckd = np_kl(b_t, b_s), np_kl(hat_t, hat_s)
        kd = np_kl(p_t, p_s)
        # the paper's eq. 1: KD = TCKD + (1 - p^T_t) NCKD
        np.testing.assert_allclose(kd, tckd + (1 - p_t[y]) * nckd, rtol=1e-9)
        out.append(tau**2 * (alpha * tckd + beta * nckd))
    return np.array(out)


def test_dkd_matches_paper_formula():
    s, t = randn(5, 7, seed=5, scale=2), randn(5, 7, seed=6, scale=2)
    labels = [0, 3, 6, 3, 1]
    per_sample = hand_dkd(s.double().numpy(), t.double().numpy(), labels,
                          tau=4.0, alpha=1.0, beta=8.0)
    dkd = DKDLoss(tau=4.0, alpha=1.0, beta=8.0, loss_weight=0.5)
    close(dkd(s, t, gt_labels=torch.tensor(labels)), 0.5 * per_sample.mean())
    # the labels from mmpretrain-like data samples, as DistillModel passes
    close(dkd(s, t, data_samples=samples(labels)), 0.5 * per_sample.mean())
    # MMRazor's reduction='mean' (zoo config) sums over the batch
    dkd_sum = DKDLoss(tau=4.0, alpha=1.0, beta=8.0, reduction='sum')
    close(dkd_sum(s, t, gt_labels=torch.tensor(labels)), per_sample.sum())


def test_dkd_extreme_logits_finite_and_errors():
    s = torch.tensor([[60., -60., 0.], [0., 0., 0.]], requires_grad=True)
    t = torch.tensor([[80., -80., 0.], [1., 2., 3.]])
    loss = DKDLoss()(s, t, gt_labels=torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    with pytest.raises(ValueError, match='gt_label'):
        DKDLoss()(s, t, data_samples=[BaseDataElement(), BaseDataElement()])
    multi = [BaseDataElement(gt_label=torch.tensor([0, 1]))] * 2
    with pytest.raises(ValueError, match='one class index'):
        DKDLoss()(s, t, data_samples=multi)
    with pytest.raises(ValueError, match='data_samples'):
        DKDLoss()(s, t)
    with pytest.raises(ValueError, match="'sum'"):
        DKDLoss(reduction='mean')


# -------------------------------------------------------------------- DIST
def test_dist_matches_paper_formula():
    tau, beta, gamma = 2.0, 1.5, 0.5
    s, t = randn(6, 5, seed=7, scale=2), randn(6, 5, seed=8, scale=2)
    y_s = np.stack([np_softmax(r / tau) for r in s.double().numpy()])
    y_t = np.stack([np_softmax(r / tau) for r in t.double().numpy()])
    inter = np.mean([1 - np.corrcoef(y_s[i], y_t[i])[0, 1]
                     for i in range(6)])
    intra = np.mean([1 - np.corrcoef(y_s[:, j], y_t[:, j])[0, 1]
                     for j in range(5)])
    loss = DISTLoss(inter_loss_weight=beta, intra_loss_weight=gamma, tau=tau,
                    loss_weight=2.0)(s, t)
    close(loss, 2.0 * tau**2 * (beta * inter + gamma * intra))
    assert float(DISTLoss()(s, s)) == pytest.approx(0, abs=1e-6)


# -------------------------------------------------------------------- WSLD
def test_wsld_matches_paper_formula_and_weight_has_no_gradient():
    tau, n, c = 2.0, 4, 6
    s = randn(n, c, seed=9, scale=2).requires_grad_()
    t = randn(n, c, seed=10, scale=2)
    labels = [1, 0, 5, 2]
    s_np, t_np = s.detach().double().numpy(), t.double().numpy()
    weights, terms, grad = [], [], np.zeros((n, c))
    for i, y in enumerate(labels):
        ce_s = -np.log(np_softmax(s_np[i])[y])
        ce_t = -np.log(np_softmax(t_np[i])[y])
        w = 1 - np.exp(-max(ce_s / (ce_t + 1e-7), 0))
        p_t, p_s = np_softmax(t_np[i] / tau), np_softmax(s_np[i] / tau)
        weights.append(w)
        terms.append(w * -np.sum(p_t * np.log(p_s)))
        # d/dz_s of tau^2/N * w * CE(p_t, p_s) with w a constant
        grad[i] = tau / n * w * (p_s - p_t)
    loss = WSLD(tau=tau, num_classes=c, loss_weight=1.0)(
        s, t, data_samples=samples(labels))
    close(loss, tau**2 * np.mean(terms))
    loss.backward()
    np.testing.assert_allclose(s.grad.numpy(), grad, **TOL)
    assert 0 < min(weights) and max(weights) < 1
    with pytest.raises(ValueError, match='num_classes'):
        WSLD(num_classes=1000)(s, t, gt_labels=torch.tensor(labels))


# ---------------------------------------------------------------------- AT
def test_at_matches_hand_computation_with_other_channels():
    s, t = randn(2, 3, 4, 5, seed=11), randn(2, 6, 4, 5, seed=12)
    s_np, t_np = s.double().numpy(), t.double().numpy()
    total = 0.0
    for i in range(2):
        q_s = (s_np[i]**2).mean(0).ravel()
        q_t = (t_np[i]**2).mean(0).ravel()
        diff = q_s / np.linalg.norm(q_s) - q_t / np.linalg.norm(q_t)
        total += np.sum(diff**2)
    close(ATLoss(loss_weight=3.0)(s, t), 3.0 * total / (2 * 20))


# --------------------------------------------------------------------- RKD
def embeddings(x, norm):
    x = x.double().numpy().reshape(len(x), -1)
    return x / np.linalg.norm(x, axis=1, keepdims=True) if norm else x


@pytest.mark.parametrize('norm', [True, False])
def test_distance_wise_rkd_matches_paper_formula(norm):
    s, t = randn(5, 3, 2, 2, seed=13), randn(5, 7, seed=14)
    e_s, e_t = embeddings(s, norm), embeddings(t, norm)

    def psi(e):
        d = np.array([[np.linalg.norm(a - b) for b in e] for a in e])
        return d / (d.sum() / (len(e) * (len(e) - 1)))

    d_s, d_t = psi(e_s), psi(e_t)
    expected = np.mean([huber(d_s[i, j], d_t[i, j])
                        for i in range(5) for j in range(5)])
    loss = DistanceWiseRKD(loss_weight=25.0, with_l2_norm=norm)(s, t)
    close(loss, 25.0 * expected)


@pytest.mark.parametrize('norm', [True, False])
def test_angle_wise_rkd_matches_paper_formula(norm):
    s, t = randn(4, 6, seed=15), randn(4, 3, seed=16, scale=3)
    e_s, e_t = embeddings(s, norm), embeddings(t, norm)

    def psi(e, i, j, k):
        if i == j or k == j:
            return 0.0  # a vanishing difference: no angle
        u, v = e[i] - e[j], e[k] - e[j]
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    expected = np.mean([
        huber(psi(e_s, i, j, k), psi(e_t, i, j, k))
        for i, j, k in itertools.product(range(4), repeat=3)])
    loss = AngleWiseRKD(loss_weight=50.0, with_l2_norm=norm)(s, t)
    close(loss, 50.0 * expected)


# ------------------------------------------------------------------ L1, L2
def test_l1_matches_hand_computation():
    s, t = randn(2, 3, 4, seed=17), randn(2, 3, 4, seed=18)
    a = np.abs(s.double().numpy() - t.double().numpy())
    close(L1Loss(loss_weight=2.0)(s, t), 2.0 * a.mean())
    close(L1Loss(reduction='sum')(s, t), a.sum())
    close(L1Loss(reduction='batchmean')(s, t), a.sum() / 2)
    np.testing.assert_allclose(L1Loss(reduction='none')(s, t).numpy(), a,
                               **TOL)
    # torch's deprecated switches decide, as in F.l1_loss
    close(L1Loss(size_average=False)(s, t), a.sum())
    assert L1Loss(reduce=False).reduction == 'none'


@pytest.mark.parametrize('kwargs', [
    dict(), dict(normalize=False), dict(mult=3.0, div_element=True),
    dict(dist=True), dict(normalize=False, div_element=True)])
def test_l2_matches_hand_computation(kwargs):
    s, t = randn(3, 2, 3, 3, seed=19), randn(3, 2, 3, 3, seed=20)
    cfg = dict(normalize=True, mult=1.0, div_element=False, dist=False)
    cfg.update(kwargs)
    f_s = s.double().numpy().reshape(3, -1)
    f_t = t.double().numpy().reshape(3, -1)
    if cfg['normalize']:
        f_s = cfg['mult'] * f_s / np.linalg.norm(f_s, axis=1, keepdims=True)
        f_t = cfg['mult'] * f_t / np.linalg.norm(f_t, axis=1, keepdims=True)
    sq = np.sum((f_s - f_t)**2)
    expected = (np.sqrt(sq) if cfg['dist'] else
                sq / f_s.size if cfg['div_element'] else sq / 3)
    close(L2Loss(loss_weight=0.5, **kwargs)(s, t), 0.5 * expected)


# --------------------------------------------------------------------- OFD
def test_ofd_margin_is_the_truncated_normal_mean():
    from scipy.stats import truncnorm
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 0.1]))
        bn.bias.copy_(torch.tensor([0.3, -1.0, 0.0, 2.0]))
    margin = bn_margin(bn).view(-1).double().numpy()
    for c, (g, b) in enumerate([(1.0, 0.3), (2.0, -1.0), (0.5, 0.0)]):
        # E[x | x < 0], x ~ N(b, g^2) (the paper's eq. 3)
        expected = truncnorm(-np.inf, -b / g, loc=b, scale=g).mean()
        np.testing.assert_allclose(margin[c], expected, rtol=1e-5)
    # Phi(-mu/sigma) = Phi(-20) <= 0.001: -3 sigma
    np.testing.assert_allclose(margin[3], -0.3, rtol=1e-6)
    with pytest.raises(ValueError, match='BatchNorm'):
        bn_margin(nn.Conv2d(1, 1, 1))


def test_ofd_matches_hand_computation():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 0.5, 2.0]))
        bn.bias.copy_(torch.tensor([-0.5, 0.2, 0.0]))
    s, t = randn(2, 3, 2, 2, seed=21), randn(2, 3, 2, 2, seed=22)
    loss_fn = OFDLoss(loss_weight=0.25)
    with pytest.raises(RuntimeError, match='margin'):
        loss_fn(s, t)
    loss_fn.init_from_teacher(bn)
    m = bn_margin(bn).double().numpy()
    s_np, t_np = s.double().numpy(), t.double().numpy()
    total = 0.0
    for idx in itertools.product(range(2), range(3), range(2), range(2)):
        t_hat = max(t_np[idx], m[0, idx[1], 0, 0])
        if s_np[idx] > t_hat or t_hat > 0:
            total += (s_np[idx] - t_hat)**2
    close(loss_fn(s, t), 0.25 * total / 2 / 1000)
    raw = OFDLoss(teacher_margin=False)(s, t)
    mask = (s_np > t_np) | (t_np > 0)
    close(raw, np.sum((s_np - t_np)**2 * mask) / 2 / 1000)


# ---------------------------------------------------------------------- AB
def test_ab_matches_paper_formula():
    s, t = randn(2, 3, 4, seed=23, scale=2), randn(2, 3, 4, seed=24)
    mu = 0.5
    total = 0.0
    for x, y in zip(s.double().numpy().ravel(), t.double().numpy().ravel()):
        # ||rho(T) relu(mu - S) + (1 - rho(T)) relu(mu + S)||^2
        total += max(mu - x, 0)**2 if y > 0 else max(mu + x, 0)**2
    close(ABLoss(loss_weight=2.0, margin=mu)(s, t),
          2.0 * total * 3 / 1000 / 2)


# -------------------------------------------------------------------- FBKD
@pytest.mark.parametrize('kwargs', [
    dict(), dict(reduction=4, sub_sample=True, maxpool_stride=2,
                 zeros_init=False, spatial_T=0.8)])
def test_fbkd_matches_hand_computation(kwargs):
    torch.manual_seed(0)
    loss_fn = FBKDLoss(channels=4, mask_l2_weight=0.3, channel_weight=0.2,
                       spatial_weight=0.1, nonlocal_weight=0.4,
                       loss_weight=2.0, **kwargs)
    s, t = randn(2, 4, 8, 8, seed=40), randn(2, 4, 8, 8, seed=41)
    loss = loss_fn(s, t)
    # the learned parts (adaptations, non-local blocks) in float64 ...
    m = loss_fn.double()
    s64, t64 = s.double(), t.double()
    with torch.no_grad():
        a_f = m.adaptation_layers(s64).numpy()
        a_c = m.channel_wise_adaptation(s64.mean((2, 3))).numpy()
        a_s = m.spatial_wise_adaptation(s64.mean(1, keepdim=True)).numpy()
        r_s = m.non_local_adaptation(m.student_non_local(s64)).numpy()
        r_t = m.teacher_non_local(t64).numpy()
    # ... and the attention masks and distances by hand
    s_np, t_np = s64.numpy(), t64.numpy()
    temp = kwargs.get('spatial_T', 0.5)
    mask = np.zeros((2, 1, 8, 8))
    for x in (s_np, t_np):
        for n in range(2):
            att = np.abs(x[n]).mean(0).ravel()
            mask[n, 0] += 0.5 * 64 * np_softmax(att / temp).reshape(8, 8)
    feat = np.sqrt(np.sum(mask * (t_np - a_f)**2))
    channel = np.linalg.norm(t_np.mean((2, 3)) - a_c)
    spatial = np.linalg.norm(t_np.mean(1, keepdims=True) - a_s)
    relation = np.linalg.norm(r_t - r_s)
    expected = 0.3 * feat + 0.2 * channel + 0.1 * spatial + 0.4 * relation
    close(loss, 2.0 * expected)


def test_fbkd_trains_the_teacher_relation_module():
    loss_fn = FBKDLoss(channels=4, zeros_init=False)
    s = randn(2, 4, 6, 6, seed=42).requires_grad_()
    loss_fn(s, randn(2, 4, 6, 6, seed=43)).backward()
    assert s.grad.abs().sum() > 0
    for part in ('teacher_non_local', 'student_non_local',
                 'channel_wise_adaptation', 'adaptation_layers'):
        grads = [p.grad for p in getattr(loss_fn, part).parameters()]
        assert all(g is not None for g in grads), part
    with pytest.raises(ValueError, match='channels'):
        FBKDLoss()


# ------------------------------------------------- gradients and registry
CASES = {
    'KLDivergence': (dict(tau=2.0), (3, 5), (3, 5)),
    'DKDLoss': (dict(beta=2.0), (3, 5), (3, 5)),
    'DISTLoss': (dict(), (3, 5), (3, 5)),
    'WSLD': (dict(tau=2.0), (3, 5), (3, 5)),
    'ATLoss': (dict(), (3, 2, 4, 4), (3, 5, 4, 4)),
    'DistanceWiseRKD': (dict(), (3, 4), (3, 6)),
    'AngleWiseRKD': (dict(), (3, 4), (3, 6)),
    'L1Loss': (dict(), (3, 4, 2, 2), (3, 4, 2, 2)),
    'L2Loss': (dict(), (3, 4, 2, 2), (3, 4, 2, 2)),
    'OFDLoss': (dict(teacher_margin=False), (3, 4, 2, 2), (3, 4, 2, 2)),
    'ABLoss': (dict(), (3, 4, 2, 2), (3, 4, 2, 2)),
    'FBKDLoss': (dict(channels=4), (3, 4, 4, 4), (3, 4, 4, 4)),
}


@pytest.mark.parametrize('name', list(CASES))
def test_built_by_name_and_gradient_reaches_student_only(name):
    kwargs, s_shape, t_shape = CASES[name]
    loss_fn = MODELS.build(dict(type=name, _scope_='mmkd', **kwargs))
    assert type(loss_fn).__name__ == name
    assert MODELS.get(f'mmkd.{name}') is type(loss_fn)
    s = randn(*s_shape, seed=25, scale=2).requires_grad_()
    t = randn(*t_shape, seed=26, scale=2)  # a no_grad teacher's output
    extra = dict(data_samples=samples([0, 4, 2])) \
        if name in ('DKDLoss', 'WSLD') else {}
    loss = loss_fn(s, t, **extra)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert t.grad is None
    # half-precision inputs give a finite fp32 loss
    half = loss_fn(s.detach().half(), t.half(), **extra)
    assert half.dtype == torch.float32 and torch.isfinite(half)


@pytest.mark.parametrize('name', ['KLDivergence', 'DISTLoss'])
def test_teacher_detach(name):
    s = randn(3, 5, seed=27).requires_grad_()
    t = randn(3, 5, seed=28).requires_grad_()
    MODELS.build(dict(type=name, _scope_='mmkd'))(s, t).backward()
    assert t.grad is None
    MODELS.build(dict(type=name, _scope_='mmkd', teacher_detach=False))(
        s, t).backward()
    assert t.grad is not None


# -------------------------------------------------------------- connectors
def test_conv_module_connector_is_conv_bn():
    x = randn(2, 3, 4, 4, seed=29)
    conn = MODELS.build(dict(type='ConvModuleConnector', _scope_='mmkd',
                             in_channel=3, out_channel=5,
                             norm_cfg=dict(type='BN'), act_cfg=None))
    conv = conn.conv_module.conv
    assert conv.bias is None  # bias='auto' with a norm
    y = F.batch_norm(F.conv2d(x, conv.weight), None, None, training=True,
                     eps=1e-5)
    torch.testing.assert_close(conn(x), y, rtol=1e-5, atol=1e-5)
    relu = ConvModuleConnector(3, 5)  # MMRazor's default act_cfg: ReLU
    assert (relu(x) >= 0).all()


def test_norm_connector_with_norm_cfg():
    x = randn(2, 3, 4, 4, seed=30, scale=3) + 1
    conn = NormConnector(in_channels=3, norm_cfg=dict(type='BN'))
    y = F.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(conn(x), y, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='in_channels'):
        NormConnector(norm_cfg=dict(type='BN'))
    # without norm_cfg: parameter-free per-sample standardisation
    assert not list(NormConnector().parameters())


def test_mgd_connector_seeded_mask():
    x = randn(2, 3, 4, 4, seed=31)
    conn = MGDConnector(student_channels=3, teacher_channels=5,
                        lambda_mgd=0.5)
    torch.manual_seed(0)
    out = conn(x)
    torch.manual_seed(0)
    keep = (torch.rand(2, 1, 4, 4) <= 0.5).float()
    expected = conn.generation(conn.align(x) * keep)
    torch.testing.assert_close(out, expected)
    assert 0 < keep.mean() < 1
    same = MGDConnector(5, 5, mask_on_channel=True)
    assert same.align is None and same(randn(2, 5, 4, 4)).shape == (2, 5, 4,
                                                                     4)


# --------------------------------------------------- through DistillModel
@ROOT_MODELS.register_module(force=True)
class MMRazorToyClassifier(BaseModel):
    """Conv-BN-ReLU backbone + linear head; mmpretrain-like data samples
    (``gt_label``)."""

    def __init__(self, width: int = 4, num_classes: int = 3, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width),
            nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logits = self.head(self.backbone(inputs).mean((2, 3)))
        if mode == 'loss':
            labels = torch.cat([d.gt_label for d in data_samples])
            return dict(loss_cls=F.cross_entropy(logits, labels))
        return logits


def distill_model(tmp_path, losses):
    torch.manual_seed(1)
    teacher = MMRazorToyClassifier(8)
    with torch.no_grad():  # a teacher BN with varied affine parameters
        teacher.backbone[1].weight.uniform_(0.5, 1.5)
        teacher.backbone[1].bias.uniform_(-1, 1)
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), ckpt)
    torch.manual_seed(0)
    model = DistillModel(
        student=dict(type='MMRazorToyClassifier', width=4),
        teacher=dict(config=dict(model=dict(type='MMRazorToyClassifier',
                                            width=8)),
                     checkpoint=ckpt),
        losses=losses)
    labels = [0, 2, 1, 2]
    data = dict(inputs=randn(4, 3, 6, 6, seed=32),
                data_samples=samples(labels))
    model.setup(data)
    return model, data, labels


def test_logit_losses_with_labels_through_distill_model(tmp_path):
    """DKD and WSLD get the classes from the batch's data samples."""
    losses = dict(
        dkd=dict(type='DKDLoss', student='head', teacher='head', beta=8.0,
                 tau=4.0),
        wsld=dict(type='WSLD', student='head', teacher='head', tau=2.0),
        kl=dict(type='KLDivergence', student='head', teacher='head', tau=6.0,
                reduction='mean'))
    model, data, labels = distill_model(tmp_path, losses)
    assert model.wants_data_samples == {'dkd', 'wsld'}
    assert len(model.connectors) == 0
    out = model.loss(data['inputs'], data['data_samples'])
    with torch.no_grad():
        s = model.module(data['inputs'])
        t = model.teacher(data['inputs'])
    y = torch.tensor(labels)
    torch.testing.assert_close(
        out['distill.loss_dkd'],
        DKDLoss(tau=4.0, beta=8.0)(s, t, gt_labels=y))
    torch.testing.assert_close(out['distill.loss_wsld'],
                               WSLD(tau=2.0)(s, t, gt_labels=y))
    torch.testing.assert_close(
        out['distill.loss_kl'],
        KLDivergence(tau=6.0, reduction='mean')(s, t))
    sum(out.values()).backward()
    assert model.module.head.weight.grad is not None


def test_feature_losses_connectors_through_distill_model(tmp_path):
    """AT and RKD get no auto connector across channel counts; OFD's margin
    comes from the recorded teacher BN; MMRazor's connector argument names
    are filled in from the probe."""
    losses = dict(
        at=dict(type='ATLoss', student='backbone.2', teacher='backbone.2'),
        rkd=dict(type='DistanceWiseRKD', student='backbone.2',
                 teacher='backbone.2'),
        ofd=dict(type='OFDLoss', student='backbone.1', teacher='backbone.1',
                 connector=dict(type='ConvModuleConnector',
                                norm_cfg=dict(type='BN'), act_cfg=None)),
        mgd=dict(type='MSELoss', reduction='sum', loss_weight=2e-5,
                 student='backbone.2', teacher='backbone.2',
                 connector=dict(type='MGDConnector')),
        norm=dict(type='L2Loss', student='backbone.1', teacher='backbone.1',
                  connector=dict(type='NormConnector',
                                 norm_cfg=dict(type='BN'))),
        fbkd=dict(type='FBKDLoss', student='backbone.2', teacher='backbone.2',
                  sub_sample=True, maxpool_stride=1),
    )
    with pytest.raises(ValueError, match='equal shapes'):
        # L2Loss is not channel-agnostic: NormConnector keeps 4 channels
        distill_model(tmp_path, losses)
    losses['norm'].update(student='backbone.1', teacher='backbone.1',
                          type='ATLoss')
    model, data, _ = distill_model(tmp_path, losses)
    assert set(model.connectors) == {'ofd', 'mgd', 'norm', 'fbkd'}
    assert model.distill_losses['fbkd'].channels == 8  # the teacher's
    conv = model.connectors['ofd'].conv_module.conv
    assert (conv.in_channels, conv.out_channels) == (4, 8)
    assert model.connectors['mgd'].align.in_channels == 4
    assert model.connectors['norm'].norm.num_features == 4
    margin = model.distill_losses['ofd'].margin
    torch.testing.assert_close(margin, bn_margin(model.teacher.backbone[1]))
    assert (margin < 0).all()
    out = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(v) for v in out.values())
    sum(out.values()).backward()
    assert model.connectors['ofd'].conv_module.conv.weight.grad is not None
