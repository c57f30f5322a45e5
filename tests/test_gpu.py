"""Checks that need a CUDA GPU (skipped on machines without one).

- KD through mmengine's real Runner with ``AmpOptimWrapper`` (fp16 and
  bf16): the RTMDet PKD example config, a teacher trained for one short
  epoch on the generated mini data; the distillation losses are finite,
  computed in fp32 from half-precision features and logged as
  ``distill.loss_*``; the teacher stays frozen, in eval mode and on the GPU.
- D-FINE (FDR + GO-LSD) losses under ``torch.autocast`` (fp16 / bf16) stay
  fp32 and finite, and AMP training steps keep them finite.
- mmcv's CUDA ops used by mmkd's models (``nms``, ``batched_nms``,
  ``roi_align``, multi-scale deformable attention) agree with their CPU /
  pure-PyTorch versions.

    python -m pytest tests/test_gpu.py -v
"""
import math
import os.path as osp

import pytest
import torch

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='needs a CUDA GPU (AMP training, mmcv CUDA ops)')

pytest.importorskip('mmdet')
pytest.importorskip('mmcv.ops')

from conftest import REPO  # noqa: E402

AMP_DTYPES = ['float16', 'bfloat16']


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


# ----------------------------------------------------------------------
# (i) KD through the Runner with AmpOptimWrapper
@pytest.fixture(scope='module')
def rtmdet_teacher_gpu(mini_data, tmp_path_factory):
    """An RTMDet teacher trained for one short epoch on the GPU."""
    from test_integration import train_teacher
    return train_teacher(
        osp.join(REPO, 'configs/mini/det/rtmdet_teacher.py'),
        tmp_path_factory.mktemp('rtmdet_gpu'))


@pytest.mark.parametrize('amp_dtype', AMP_DTYPES)
def test_rtmdet_pkd_amp_runner(rtmdet_teacher_gpu, amp_dtype, tmp_path):
    from mmengine.optim import AmpOptimWrapper
    from test_integration import config
    from train import build_runner  # tools/, on sys.path via test_integration

    from mmkd import DistillModel

    if amp_dtype == 'bfloat16' and not torch.cuda.is_bf16_supported():
        pytest.skip('no bf16 on this GPU')
    example = osp.join(REPO, 'configs/examples/rtmdet_student_pkd_mini.py')
    # 1 epoch of the mini data, logged every iteration
    cfg = config(example, tmp_path / 'kd', **{
        'distill.teacher.checkpoint': rtmdet_teacher_gpu,
        'optim_wrapper.type': 'AmpOptimWrapper',
        'optim_wrapper.dtype': amp_dtype,
        'optim_wrapper.loss_scale': 'dynamic',
    })
    runner = build_runner(cfg)
    runner.train()
    model = runner.model
    assert isinstance(model, DistillModel)
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)
    assert runner.optim_wrapper.cast_dtype == _dtype(amp_dtype)
    assert runner.iter >= 1

    # logged, finite distillation losses
    scalars = runner.message_hub.log_scalars
    names = [f'pkd_fpn{i}' for i in range(3)]
    for name in names:
        value = scalars[f'train/distill.loss_{name}'].current()
        assert math.isfinite(value) and value > 0, (name, value)
    assert math.isfinite(scalars['train/loss'].current())

    # teacher: on the GPU, frozen, eval mode, weights untouched, not optimised
    teacher = model.teacher
    assert not teacher.training
    assert all(not m.training for m in teacher.modules())
    assert all(p.is_cuda and not p.requires_grad
               for p in teacher.parameters())
    assert all(b.is_cuda for b in teacher.buffers())
    ckpt = torch.load(rtmdet_teacher_gpu, map_location='cpu',
                      weights_only=True)['state_dict']
    for key, value in teacher.state_dict().items():
        assert key in ckpt and torch.equal(value.cpu(), ckpt[key]), key
    optimised = {id(p) for g in runner.optim_wrapper.optimizer.param_groups
                 for p in g['params']}
    assert not optimised & {id(p) for p in teacher.parameters()}
    assert all(p.is_cuda for p in model.module.parameters())
    assert all(p.is_cuda for p in model.connectors.parameters())

    # one more step: half-precision features in, fp32 loss out
    seen = {}

    def grab(name):

        def hook(module, args, output):
            seen[name] = (args[0].dtype, args[1].dtype, output.dtype,
                          bool(torch.isfinite(output).all()))

        return hook

    handles = [model.distill_losses[n].register_forward_hook(grab(n))
               for n in names]
    try:
        model.train()
        log_vars = model.train_step(next(iter(runner.train_dataloader)),
                                    runner.optim_wrapper)
    finally:
        for h in handles:
            h.remove()
    half = _dtype(amp_dtype)
    for name in names:
        s_dtype, t_dtype, out_dtype, finite = seen[name]
        assert s_dtype == half and t_dtype == half, (name, seen[name])
        assert out_dtype == torch.float32 and finite, (name, seen[name])
        assert math.isfinite(float(log_vars[f'distill.loss_{name}']))
    assert not teacher.training


# ----------------------------------------------------------------------
# (ii) D-FINE losses under autocast
def _dfine_model_and_batch(device='cuda'):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    import mmkd.models.dfine  # noqa: F401
    init_default_scope('mmdet')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/dfine/mini_dino_r18_fdr_golsd.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model = model.to(device).train()
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8,
                                    generator=g))
        xy = torch.rand(3, 2, generator=g) * 80
        wh = torch.rand(3, 2, generator=g) * 30 + 8
        sample = DetDataSample(metainfo=dict(
            img_shape=(128, 128), ori_shape=(128, 128),
            scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=128)], 1),
            labels=torch.randint(0, 3, (3, ), generator=g))
        samples.append(sample)
    return model, dict(inputs=inputs, data_samples=samples)


def _mmcv_ops_in_fp32(monkeypatch):
    """Run mmcv's CUDA ops that have no bf16 kernel in fp32 under autocast.

    mmcv 2.1.0's multi-scale deformable attention ("ms_deform_attn_forward_
    cuda" not implemented for 'BFloat16') and sigmoid focal loss
    ("sigmoid_focal_loss_forward_cuda_kernel" not implemented for
    'BFloat16') have no bf16 kernels: plain mmdet DINO / Deformable DETR fail
    the same way under bf16 autocast, whatever mmkd does. (Measured on an
    H100 with torch 2.11.)"""
    import mmdet.models.losses.focal_loss as focal_loss
    from mmcv.ops import multi_scale_deform_attn as msda
    fn = msda.MultiScaleDeformableAttnFunction
    msda_apply = fn.apply
    monkeypatch.setattr(fn, 'apply',
                        lambda value, *args: msda_apply(value.float(), *args))
    focal = focal_loss._sigmoid_focal_loss
    monkeypatch.setattr(focal_loss, '_sigmoid_focal_loss',
                        lambda pred, *args: focal(pred.float(), *args))


@pytest.mark.parametrize('amp_dtype', AMP_DTYPES)
def test_dfine_losses_fp32_under_autocast(amp_dtype, monkeypatch):
    from mmengine.optim import AmpOptimWrapper

    if amp_dtype == 'bfloat16':
        if not torch.cuda.is_bf16_supported():
            pytest.skip('no bf16 on this GPU')
        _mmcv_ops_in_fp32(monkeypatch)  # mmcv's limitation, not D-FINE's
    half = _dtype(amp_dtype)
    model, data = _dfine_model_and_batch()
    batch = model.data_preprocessor(data, True)
    with torch.autocast('cuda', dtype=half):
        losses = model(**batch, mode='loss')
    dfine_keys = [k for k in losses if 'ddf' in k or 'fgl' in k]
    assert any('ddf' in k for k in dfine_keys)
    assert any('fgl' in k for k in dfine_keys)
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            assert torch.isfinite(v).all(), (key, v)
            if key in dfine_keys:
                assert v.dtype == torch.float32, (key, v.dtype)
    total = sum(v if torch.is_tensor(v) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    total.backward()
    grad = model.bbox_head.pre_branch[-1].weight.grad
    assert grad is not None and torch.isfinite(grad).all()

    # AMP training steps (loss scaling for fp16): all logged losses finite
    model.zero_grad()
    optim = AmpOptimWrapper(
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-4),
        dtype=amp_dtype, loss_scale='dynamic')
    for _ in range(3):
        log_vars = model.train_step(data, optim)
        for key, value in log_vars.items():
            assert math.isfinite(float(value)), (key, value)
    assert 'loss_fgl' in log_vars and 'd0.loss_ddf' in log_vars


# ----------------------------------------------------------------------
# (iii) mmcv CUDA ops vs CPU / pure PyTorch
def _random_boxes(n, g, size=200.):
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 4 + 1
    return torch.cat([xy, xy + wh], 1)


def test_mmcv_nms_cuda_matches_cpu():
    from mmcv.ops import batched_nms, nms
    g = torch.Generator().manual_seed(0)
    boxes = _random_boxes(2000, g)
    # distinct scores: no ties, so the kept set is unique
    scores = torch.randperm(2000, generator=g).float() / 2000
    for thr in (0.3, 0.5, 0.7):
        dets_cpu, keep_cpu = nms(boxes, scores, thr)
        dets_gpu, keep_gpu = nms(boxes.cuda(), scores.cuda(), thr)
        assert keep_gpu.is_cuda
        assert torch.equal(keep_cpu, keep_gpu.cpu()), thr
        torch.testing.assert_close(dets_gpu.cpu(), dets_cpu)
    idxs = torch.randint(0, 5, (2000, ), generator=g)
    cfg = dict(type='nms', iou_threshold=0.5)
    d_cpu, k_cpu = batched_nms(boxes, scores, idxs, cfg)
    d_gpu, k_gpu = batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), cfg)
    assert torch.equal(k_cpu, k_gpu.cpu())
    torch.testing.assert_close(d_gpu.cpu(), d_cpu)


def test_mmcv_roi_align_cuda_matches_cpu():
    from mmcv.ops import roi_align
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 8, 32, 32, generator=g, requires_grad=True)
    boxes = _random_boxes(20, g, size=100.)
    rois = torch.cat([torch.randint(0, 2, (20, 1), generator=g).float(),
                      boxes], 1)
    out_cpu = roi_align(feats, rois, (7, 7), 0.25, 2, 'avg', True)
    feats_gpu = feats.detach().cuda().requires_grad_(True)
    out_gpu = roi_align(feats_gpu, rois.cuda(), (7, 7), 0.25, 2, 'avg', True)
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, rtol=1e-4,
                               atol=1e-5)
    w = torch.randn(out_cpu.shape, generator=g)
    (out_cpu * w).sum().backward()
    (out_gpu * w.cuda()).sum().backward()
    torch.testing.assert_close(feats_gpu.grad.cpu(), feats.grad, rtol=1e-4,
                               atol=1e-5)


def _msda_inputs(dtype, g):
    shapes = torch.tensor([[16, 20], [8, 10], [4, 5], [2, 3]])
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1])
                        .cumsum(0)[:-1]])
    n, heads, dim, levels, points, queries = 2, 8, 32, 4, 4, 50
    num_value = int((shapes[:, 0] * shapes[:, 1]).sum())
    value = torch.randn(n, num_value, heads, dim, generator=g)
    # some points outside [0, 1]: the zero padding is compared too
    loc = torch.rand(n, queries, heads, levels, points, 2, generator=g) \
        * 1.2 - 0.1
    attn = torch.rand(n, queries, heads, levels, points, generator=g) + 1e-5
    attn = attn / attn.sum((-1, -2), keepdim=True)
    return [t.to('cuda', dtype) for t in (value, loc, attn)], \
        shapes.cuda(), starts.cuda()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_mmcv_ms_deform_attn_cuda_matches_pytorch(dtype):
    from mmcv.ops.multi_scale_deform_attn import (
        MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch)
    g = torch.Generator().manual_seed(0)
    (value, loc, attn), shapes, starts = _msda_inputs(dtype, g)
    leaves = [t.clone().requires_grad_(True) for t in (value, loc, attn)]
    ref_leaves = [t.clone().requires_grad_(True) for t in (value, loc, attn)]
    out = MultiScaleDeformableAttnFunction.apply(
        leaves[0], shapes, starts, leaves[1], leaves[2], 64)
    ref = multi_scale_deformable_attn_pytorch(ref_leaves[0], shapes,
                                              ref_leaves[1], ref_leaves[2])
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else \
        dict(rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(out, ref, **tol)
    w = torch.randn(out.shape, generator=g).to('cuda', dtype)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    # the CUDA backward accumulates with atomics (order-dependent rounding)
    gtol = dict(rtol=1e-3, atol=1e-4) if dtype == torch.float32 else \
        dict(rtol=1e-7, atol=1e-9)
    for name, a, b in zip(('value', 'sampling_locations',
                           'attention_weights'), leaves, ref_leaves):
        torch.testing.assert_close(a.grad, b.grad, **gtol, msg=name)


def test_mmcv_ms_deform_attn_module_cuda_matches_cpu():
    """The module (what DINO / Deformable DETR run): CUDA kernel on the GPU,
    the pure-PyTorch path on the CPU, same weights and inputs."""
    from mmcv.ops import MultiScaleDeformableAttention
    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(
        embed_dims=64, num_heads=4, num_levels=2, num_points=4,
        batch_first=True).eval()
    shapes = torch.tensor([[12, 16], [6, 8]])
    starts = torch.tensor([0, 12 * 16])
    g = torch.Generator().manual_seed(1)
    value = torch.randn(2, 12 * 16 + 6 * 8, 64, generator=g)
    query = torch.randn(2, 30, 64, generator=g)
    ref_pts = torch.rand(2, 30, 2, 2, generator=g)
    kwargs = dict(spatial_shapes=shapes, level_start_index=starts,
                  reference_points=ref_pts)
    with torch.no_grad():
        out_cpu = attn(query, value=value, **kwargs)
        attn_gpu = attn.cuda()
        out_gpu = attn_gpu(query.cuda(), value=value.cuda(),
                           **{k: v.cuda() for k, v in kwargs.items()})
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, rtol=1e-4, atol=1e-5)
