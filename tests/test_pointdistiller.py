"""PointDistiller: the loss against a hand computation, the chunked kNN,
the top-N clamp, the 2D dense variant, list recorder specs, a real mmdet3d
PointPillars teacher/student pair through DistillModel, and a KD training
through the Runner on the generated KITTI-format clouds."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch
import torch.nn as nn

from conftest import REPO

# KittiMetric's rotated-IoU kernels are numba.cuda ones: simulated on a CPU
# (set before anything imports numba)
if not torch.cuda.is_available():
    os.environ.setdefault('NUMBA_ENABLE_CUDASIM', '1')
from mmkd import DistillModel, PointDistillerLoss
from mmkd.models.pointdistiller import knn_indices, select_top
from mmkd.models.recorder import ModuleRecorder, RecordSpec, SpecGroup

HAS_MMDET3D = importlib.util.find_spec('mmdet3d') is not None
needs_mmdet3d = pytest.mark.skipif(
    not HAS_MMDET3D,
    reason='mmdet3d 1.4.0 is not installed (tools/setup_env.sh installs it)')
TEACHER_CFG = f'{REPO}/configs/mini/det3d/pointpillars_teacher.py'
STUDENT_CFG = f'{REPO}/configs/mini/det3d/pointpillars_student.py'


def hand_loss(loss: PointDistillerLoss, student: torch.Tensor,
              teacher: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """The loss of (M, C) voxel features, written out item by item."""
    m = teacher.shape[0]
    n = min(loss.num_items, m)
    k = min(loss.num_neighbors, m)
    centers = sorted(range(m), key=lambda i: -score[i].item())[:n]

    def adapt(adapter, x):  # x: (N, K, 2C) -> (N, K, C'), BN on the batch
        conv, bn = adapter.conv, adapter.bn
        y = x @ conv.weight[:, :, 0, 0].T
        mean = y.mean(dim=(0, 1))
        var = y.var(dim=(0, 1), unbiased=False)
        y = (y - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
        return y.clamp(min=0)

    edges_t, edges_s = [], []
    for i in centers:
        dist = [((teacher[i] - teacher[j])**2).sum().item() for j in range(m)]
        nbrs = sorted(range(m), key=lambda j: dist[j])[:k]
        edges_t.append(torch.stack(
            [torch.cat([teacher[j], teacher[i]]) for j in nbrs]))
        edges_s.append(torch.stack(
            [torch.cat([student[j], student[i]]) for j in nbrs]))
    a_t = adapt(loss.teacher_adapter, torch.stack(edges_t))
    a_s = adapt(loss.student_adapter, torch.stack(edges_s))
    if loss.pool == 'max':
        a_t, a_s = a_t.amax(dim=1), a_s.amax(dim=1)
    sel = score[centers]
    w = torch.exp(sel / loss.tau - (sel / loss.tau).max())
    w = w / w.sum() * n
    w = w.view(n, *([1] * (a_t.dim() - 1)))
    return loss.loss_weight * (w * (a_t - a_s)**2).mean()


@pytest.mark.parametrize('pool', ['none', 'max'])
def test_loss_matches_hand_computation(pool):
    torch.manual_seed(0)
    loss = PointDistillerLoss(3, 4, num_items=5, num_neighbors=3, tau=0.5,
                              out_channels=6, pool=pool, loss_weight=2.0)
    with torch.no_grad():  # non-trivial BN affine parameters
        for adapter in (loss.teacher_adapter, loss.student_adapter):
            adapter.bn.weight.uniform_(0.5, 1.5)
            adapter.bn.bias.uniform_(-0.2, 0.2)
    student = torch.randn(9, 3, requires_grad=True)
    teacher = torch.randn(9, 4)
    num_points = torch.tensor([3., 7., 1., 5., 9., 2., 8., 4., 6.])

    value = loss(student, (teacher, num_points))
    grads = torch.autograd.grad(
        value, [student, loss.student_adapter.conv.weight,
                loss.teacher_adapter.conv.weight])
    expected = hand_loss(loss, student, teacher, num_points)
    expected_grads = torch.autograd.grad(
        expected, [student, loss.student_adapter.conv.weight,
                   loss.teacher_adapter.conv.weight])
    assert value.item() > 0
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, expected_grads):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_weights_follow_importance():
    """tau=None gives uniform weights, the limit of a large tau."""
    torch.manual_seed(1)
    student, teacher = torch.randn(12, 2), torch.randn(12, 5)
    points = torch.arange(12.)
    uniform = PointDistillerLoss(2, 5, num_items=4, num_neighbors=3,
                                 tau=None)
    hot = PointDistillerLoss(2, 5, num_items=4, num_neighbors=3, tau=1e6)
    hot.load_state_dict(uniform.state_dict())
    torch.testing.assert_close(
        uniform(student, (teacher, points)), hot(student, (teacher, points)))
    assert torch.equal(select_top(points[None], 4)[0],
                       torch.tensor([11, 10, 9, 8]))


def test_chunked_knn_equals_dense():
    torch.manual_seed(0)
    points = torch.randn(2, 300, 8)
    query = points[:, torch.randperm(300)[:50]]
    dense = knn_indices(query, points, 16, chunk_elements=2**30)
    chunked = knn_indices(query, points, 16, chunk_elements=700)  # 1 row
    assert dense.shape == (2, 50, 16)
    assert torch.equal(dense, chunked)
    # the k smallest exact distances, nearest first; the query is its own
    dist = ((query[:, :, None].double() - points[:, None].double())**2).sum(-1)
    torch.testing.assert_close(
        dist.gather(-1, dense), dist.sort(-1).values[..., :16])
    assert torch.equal(
        points.gather(1, dense[..., 0:1].expand(-1, -1, 8)), query)
    # under autocast the distances stay fp32: same neighbours
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(knn_indices(query, points, 16), dense)


def test_projected_adapter_equals_edge_conv():
    """The adapters project each item once and gather the projections:
    the same values and gradients as the 1x1 conv over the explicit
    (B, 2C, N, K) edge features [x_j, x_i]."""
    from mmkd.models.pointdistiller import edge_features, local_graph
    torch.manual_seed(0)
    loss = PointDistillerLoss(3, 5, num_items=6, num_neighbors=4)
    with torch.no_grad():
        loss.student_adapter.bn.weight.uniform_(0.5, 1.5)
        loss.student_adapter.bn.bias.uniform_(-0.5, 0.5)
    items = torch.randn(2, 20, 3, requires_grad=True)
    centers, neighbors = local_graph(torch.randn(2, 20, 5), torch.rand(2, 20),
                                     6, 4)
    fast = loss._adapt(loss.student_adapter, items, centers, neighbors)
    grads = torch.autograd.grad(fast.pow(2).sum(), [items] + list(
        loss.student_adapter.parameters()))
    dense = loss.student_adapter(edge_features(items, centers, neighbors))
    expected = torch.autograd.grad(dense.pow(2).sum(), [items] + list(
        loss.student_adapter.parameters()))
    torch.testing.assert_close(fast, dense)
    for got, want in zip(grads, expected):  # fp32 sums in another order
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_fewer_items_than_n_and_k():
    torch.manual_seed(0)
    loss = PointDistillerLoss(2, 3, num_items=6000, num_neighbors=128)
    student = torch.randn(5, 2, requires_grad=True)
    value = loss(student, (torch.randn(5, 3), torch.tensor([1, 4, 2, 3, 1])))
    value.backward()
    assert torch.isfinite(value) and student.grad.abs().sum() > 0


def test_autocast_computes_in_fp32():
    torch.manual_seed(0)
    loss = PointDistillerLoss(2, 3, num_items=4, num_neighbors=3)
    student, teacher = torch.randn(8, 2), torch.randn(8, 3)
    points = torch.arange(8)
    expected = loss(student, (teacher, points))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(student, (teacher.bfloat16(), points))
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=2e-2, atol=1e-4)


def test_dense_maps_equal_items():
    """(1, C, H, W) maps with 'teacher_max' are the (H*W, C) item case;
    the top cells are those of the largest teacher activation."""
    torch.manual_seed(0)
    s_map, t_map = torch.randn(1, 3, 4, 5), torch.randn(1, 6, 4, 5)
    loss = PointDistillerLoss(3, 6, num_items=7, num_neighbors=4,
                              importance='teacher_max', tau=0.1)
    s_items = s_map.flatten(2)[0].T
    t_items = t_map.flatten(2)[0].T
    torch.testing.assert_close(
        loss(s_map, t_map), hand_loss(loss, s_items, t_items,
                                      t_items.amax(-1)))
    # batches: one graph per sample, point features (B, C, P) alike
    s_map = torch.randn(2, 3, 4, 5, requires_grad=True)
    value = loss(s_map, torch.randn(2, 6, 4, 5))
    value.backward()
    assert s_map.grad.abs().sum() > 0
    assert torch.isfinite(loss(torch.randn(2, 3, 30), torch.randn(2, 6, 30)))


def test_errors():
    loss = PointDistillerLoss(2, 3)
    with pytest.raises(ValueError, match='voxel_encoder:input'):
        loss(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="student's voxelization"):
        loss(torch.randn(5, 2), (torch.randn(6, 3), torch.ones(6)))
    with pytest.raises(ValueError, match='importance'):
        PointDistillerLoss(2, 3, importance='density')
    with pytest.raises(ValueError, match='expects'):
        PointDistillerLoss(2, 3, importance='teacher_max')(
            torch.randn(5), torch.randn(5))


def test_list_spec_records_a_tuple():
    spec = RecordSpec.parse(['enc', 'enc:input[1]'])
    assert isinstance(spec, SpecGroup)
    assert spec.keys == (('enc', 'output'), ('enc', 'input'))
    assert str(spec) == '(enc:output, enc:input[1])'

    class Enc(nn.Module):

        def forward(self, x, counts):
            return x * 2

    net = nn.Module()
    net.enc = Enc()
    rec = ModuleRecorder(net, [spec, RecordSpec.parse('enc')])
    x, counts = torch.ones(3, 2), torch.tensor([1, 2, 3])
    rec.start()
    net.enc(x, counts)
    rec.stop()
    out, got = rec.get(spec)
    assert torch.equal(out, x * 2) and got is counts


# ----------------------------------------------------- mmdet3d PointPillars
def point_batch(seeds, points=3000):
    """Synthetic clouds in the mini range with one car box each."""
    from mmengine.structures import InstanceData
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    clouds, samples = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        xyz = torch.rand(points, 3, generator=g) * torch.tensor(
            [40., 40., 2.]) + torch.tensor([0., -20., -2.5])
        clouds.append(torch.cat([xyz, torch.rand(points, 1, generator=g)], 1))
        sample = Det3DDataSample()
        sample.set_metainfo(dict(box_type_3d=LiDARInstance3DBoxes))
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(
            torch.tensor([[10., 0., -1.7, 3.9, 1.6, 1.56, 0.3]]))
        gt.labels_3d = torch.tensor([2])
        sample.gt_instances_3d = gt
        samples.append(sample)
    return dict(inputs=dict(points=clouds), data_samples=samples)


@pytest.fixture(scope='module')
def pointpillars_kd(tmp_path_factory):
    """A mini PointPillars teacher (64 ch) and its 4x student (32 ch) in a
    DistillModel with the recipe's loss (N and K reduced)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    ckpt = str(tmp_path_factory.mktemp('pp') / 'teacher.pth')
    torch.manual_seed(0)
    recipe = Config.fromfile(
        f'{REPO}/configs/distill/pointdistiller_pointpillars.py')
    losses = recipe.distill.losses.to_dict()
    losses['pointdistiller'].update(num_items=400, num_neighbors=16)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        teacher = MODELS.build(Config.fromfile(TEACHER_CFG).model)
        torch.save(teacher.state_dict(), ckpt)
        model = DistillModel(
            Config.fromfile(STUDENT_CFG).model,
            teacher=dict(config=TEACHER_CFG, checkpoint=ckpt),
            losses=losses)
        model.setup(point_batch([0, 1]))
    return model


@needs_mmdet3d
def test_pointpillars_distill_forward(pointpillars_kd):
    model = pointpillars_kd.train()
    assert model.teacher_preprocessing == []  # the student's voxelization
    loss_module = model.distill_losses['pointdistiller']
    assert loss_module.student_adapter.conv.in_channels == 2 * 32
    assert loss_module.teacher_adapter.conv.in_channels == 2 * 64
    data = model.module.data_preprocessor(point_batch([2, 3]), True)
    num_points = data['inputs']['voxels']['num_points'].clone()
    losses = model.loss(data['inputs'], data['data_samples'])
    kd = losses['distill.loss_pointdistiller']
    assert torch.isfinite(kd) and kd.item() > 0
    assert {'loss_cls', 'loss_bbox', 'loss_dir'} <= set(losses)
    # the teacher's importance is the student's num_points
    t_feat, t_points = model.teacher_recorder.get(
        model.teacher_specs['pointdistiller'])
    assert torch.equal(t_points, num_points)
    assert t_feat.shape == (num_points.shape[0], 64)
    kd.backward()
    pfn = model.module.voxel_encoder.pfn_layers[0].linear.weight
    assert pfn.grad is not None and pfn.grad.abs().sum() > 0
    for adapter in (loss_module.student_adapter, loss_module.teacher_adapter):
        assert adapter.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    # adapters are distillation state, not student checkpoint keys
    adapter_keys = set(model.distill_modules.state_dict())
    assert 'losses.pointdistiller.student_adapter.conv.weight' in adapter_keys
    assert set(model.state_dict()) == set(model.module.state_dict())
    assert not any('adapter' in k for k in model.state_dict())


@needs_mmdet3d
def test_teacher_does_not_change_student_input(pointpillars_kd):
    """PillarFeatureNet (legacy=True) overwrites its voxels' xyz in place:
    each model must get the voxels as the preprocessor made them."""
    model = pointpillars_kd.train()
    data = model.module.data_preprocessor(point_batch([4, 5]), True)
    pristine = data['inputs']['voxels']['voxels'].clone()
    seen = {}

    def keep(name):

        def hook(module, args):
            seen.setdefault(name, args[0].clone())

        return hook

    handles = [
        model.module.voxel_encoder.register_forward_pre_hook(keep('student')),
        model.teacher.voxel_encoder.register_forward_pre_hook(keep('teacher'))
    ]
    try:
        model.loss(data['inputs'], data['data_samples'])
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(seen['teacher'], pristine)
    assert torch.equal(seen['student'], pristine)
    # and the pitfall is real: the encoder does change its input
    voxels = pristine.clone()
    with torch.no_grad():
        model.teacher.voxel_encoder(voxels,
                                    data['inputs']['voxels']['num_points'],
                                    data['inputs']['voxels']['coors'])
    assert not torch.equal(voxels, pristine)


# ------------------------------------------------------- generated KITTI set
@pytest.fixture(scope='module')
def mini_kitti(mini_data):
    """Mini KITTI-format clouds in $MMKD_DATA_ROOT/kitti (the configs')."""
    from mmkd.datasets.mini_kitti import generate_mini_kitti
    return generate_mini_kitti(osp.join(mini_data, 'kitti'), seed=0,
                               num_train=4, num_val=2)


def test_mini_kitti_drawn_once_per_setting(tmp_path):
    """A second call with the same parameters finds the frames and writes
    nothing; other parameters draw the set again (the zoo, the demo and
    parallel runs share one folder)."""
    from mmkd.datasets.mini_kitti import generate_mini_kitti
    root = str(tmp_path / 'kitti')
    generate_mini_kitti(root, num_train=2, num_val=1, num_ground=500)
    info = osp.join(root, 'kitti_infos_train.pkl')
    first = os.stat(info).st_mtime_ns
    os.utime(info, ns=(first - 10**9, first - 10**9))
    generate_mini_kitti(root, num_train=2, num_val=1, num_ground=500)
    assert os.stat(info).st_mtime_ns == first - 10**9
    generate_mini_kitti(root, num_train=3, num_val=1, num_ground=500)
    assert os.stat(info).st_mtime_ns != first - 10**9
    with open(osp.join(root, 'ImageSets', 'train.txt')) as f:
        assert f.read().split() == ['000000', '000001', '000002']


@needs_mmdet3d
def test_mini_kitti_reads_back(mini_kitti):
    """mmdet3d's KittiDataset reads the generated frames, and the boxes it
    converts from the camera-frame infos are the generator's LiDAR boxes."""
    import numpy as np
    from mmengine.registry import init_default_scope
    from mmdet3d.datasets import KittiDataset
    from mmkd.datasets.mini_kitti import _draw_frame
    init_default_scope('mmdet3d')
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4,
             use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=True,
             with_label_3d=True),
        dict(type='Pack3DDetInputs',
             keys=['points', 'gt_labels_3d', 'gt_bboxes_3d'])
    ]
    data = KittiDataset(
        data_root=mini_kitti, ann_file='kitti_infos_val.pkl',
        data_prefix=dict(pts='validation/velodyne'), pipeline=pipeline,
        metainfo=dict(classes=['Pedestrian', 'Cyclist', 'Car']),
        modality=dict(use_lidar=True, use_camera=False))
    assert len(data) == 2
    sample = data[1]
    points, objects = _draw_frame(np.random.default_rng((0, 1, 1)), 6000)
    assert torch.equal(sample['inputs']['points'], torch.from_numpy(points))
    gt = sample['data_samples'].gt_instances_3d
    names = ['Pedestrian', 'Cyclist', 'Car']
    assert [names[i] for i in gt.labels_3d.tolist()] == [
        n for n, _ in objects]
    boxes = torch.tensor(np.stack([b for _, b in objects]), dtype=torch.float)
    torch.testing.assert_close(gt.bboxes_3d.tensor[:, :6], boxes[:, :6],
                               atol=1e-4, rtol=0)
    yaw = gt.bboxes_3d.tensor[:, 6] - boxes[:, 6]
    torch.testing.assert_close(torch.sin(yaw), torch.zeros_like(yaw),
                               atol=1e-5, rtol=0)


@needs_mmdet3d
def test_pointpillars_kd_runner_round_trip(mini_kitti, tmp_path):
    """Two iterations of PointPillars KD through the Runner with the recipe;
    the checkpoint holds the plain student (adapters under distill_state),
    loads into the plain student config and is evaluated by KittiMetric."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    sys.path.insert(0, osp.join(REPO, 'tools'))
    from train import build_runner
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'teacher.pth')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        torch.save(MODELS.build(Config.fromfile(TEACHER_CFG).model)
                   .state_dict(), ckpt)
    kd_cfg = tmp_path / 'kd.py'
    kd_cfg.write_text(
        f"_base_ = [{STUDENT_CFG!r}, "
        "'mmkd::distill/pointdistiller_pointpillars.py']\n"
        f"distill = dict(teacher=dict(config={TEACHER_CFG!r}, "
        f"checkpoint={ckpt!r}), losses=dict(pointdistiller=dict("
        "num_items=1000, num_neighbors=32)))\n")

    def short(path, work_dir, **kwargs):
        cfg = Config.fromfile(str(path))
        cfg.merge_from_dict(dict(work_dir=str(work_dir), **kwargs))
        cfg.train_cfg.update(max_epochs=1, val_interval=100)
        cfg.train_dataloader.batch_size = 2
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
        return cfg

    cfg = short(kd_cfg, tmp_path / 'kd')
    cfg.update(val_dataloader=None, val_cfg=None, val_evaluator=None)
    runner = build_runner(cfg)
    assert isinstance(runner.model, DistillModel)
    runner.train()
    assert runner.iter == 2
    kd = runner.message_hub.log_scalars[
        'train/distill.loss_pointdistiller'].current()
    assert kd > 0
    saved = torch.load(str(tmp_path / 'kd' / 'epoch_1.pth'),
                       weights_only=False)
    assert not any('adapter' in k or k.startswith('teacher')
                   for k in saved['state_dict'])
    adapter = 'losses.pointdistiller.student_adapter.conv.weight'
    assert adapter in str(saved['distill_state'])

    plain = build_runner(short(STUDENT_CFG, tmp_path / 'plain',
                               load_from=str(tmp_path / 'kd' / 'epoch_1.pth')))
    assert set(saved['state_dict']) == set(plain.model.state_dict())
    metrics = plain.test()
    key = 'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP11_moderate'
    assert key in metrics and metrics[key] >= 0


@needs_mmdet3d
def test_pointpillars_kd_with_mmdet3d_own_train(mini_kitti, tmp_path):
    """mmdet3d's own tools/train.py (packaged under mmdet3d/.mim/tools)
    trains the KD config: it builds ``runner_type`` (mmkd.DistillRunner)
    through RUNNERS.build, which imports mmkd through its scope."""
    import subprocess

    import mmdet3d
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    train_py = osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools',
                        'train.py')
    assert osp.isfile(train_py), 'mmdet3d ships tools/train.py in .mim'
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'teacher.pth')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        torch.save(MODELS.build(Config.fromfile(TEACHER_CFG).model)
                   .state_dict(), ckpt)
    kd_cfg = tmp_path / 'kd.py'
    kd_cfg.write_text(
        f"_base_ = [{STUDENT_CFG!r}, "
        "'mmkd::distill/pointdistiller_pointpillars.py']\n"
        f"distill = dict(teacher=dict(config={TEACHER_CFG!r}, "
        f"checkpoint={ckpt!r}), losses=dict(pointdistiller=dict("
        "num_items=1000, num_neighbors=32)))\n")
    env = dict(os.environ, MMKD_DATA_ROOT=osp.dirname(mini_kitti.rstrip('/')),
               NUMBA_ENABLE_CUDASIM='1', OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, train_py, str(kd_cfg), '--work-dir',
         str(tmp_path / 'kd'), '--cfg-options', 'train_cfg.max_epochs=1',
         'train_cfg.val_interval=100', 'train_dataloader.batch_size=2',
         'default_hooks.logger.interval=1'],
        capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'distill.loss_pointdistiller' in log
    saved = torch.load(str(tmp_path / 'kd' / 'epoch_1.pth'),
                       weights_only=False)
    assert saved['meta']['iter'] == 2
    assert not any('adapter' in k or k.startswith('teacher')
                   for k in saved['state_dict'])


def test_neck_recipe_on_rtmdet(tmp_path):
    """The dense recipe on an mmdet RTMDet pair (student necks 64 ch,
    teacher 128 ch): adapters sized from the recorded maps, no connector."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from mmdet.structures import DetDataSample
    det = f'{REPO}/configs/mini/det'
    ckpt = str(tmp_path / 'teacher.pth')
    torch.manual_seed(0)
    losses = Config.fromfile(
        f'{REPO}/configs/distill/pointdistiller_neck.py').distill.losses
    losses = {k: dict(v, num_items=20, num_neighbors=8)
              for k, v in losses.items()}
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.save(MODELS.build(Config.fromfile(
            f'{det}/rtmdet_teacher.py').model).state_dict(), ckpt)
        model = DistillModel(
            Config.fromfile(f'{det}/rtmdet_student.py').model,
            teacher=dict(config=f'{det}/rtmdet_teacher.py', checkpoint=ckpt),
            losses=losses, student_gt_loss=False)
        samples = [DetDataSample(metainfo=dict(img_shape=(128, 128),
                                               ori_shape=(128, 128)))
                   for _ in range(2)]
        batch = dict(inputs=[torch.randint(0, 255, (3, 128, 128),
                                           dtype=torch.uint8)] * 2,
                     data_samples=samples)
        model.setup(batch)
        data = model.module.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
    assert len(model.connectors) == 0
    for i in range(3):
        loss = model.distill_losses[f'pointdistiller_neck{i}']
        assert loss.student_adapter.conv.in_channels == 2 * 64
        assert loss.teacher_adapter.conv.in_channels == 2 * 128
        value = losses[f'distill.loss_pointdistiller_neck{i}']
        assert torch.isfinite(value) and value.item() > 0


# ---------------------------------------------------------------- SECOND
@needs_mmdet3d
def test_second_recipe(tmp_path):
    """The SECOND recipe on an mmdet3d SECOND pair (teacher backbone
    [128, 256], student [64, 128]) on a mini grid: one loss per BEV level,
    importance = max over the teacher's channels, gradients to the
    student's backbone (spconv's CPU backward through mmkd's fix when
    there is no GPU, as DistillRunner applies it)."""
    pytest.importorskip('spconv.pytorch',
                        reason='SECOND needs spconv 2.x (pip install '
                        'spconv==2.3.8 cumm==0.7.11)')
    from mmkd.utils import allow_spconv_on_cpu
    assert allow_spconv_on_cpu() == (not torch.cuda.is_available())
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from mmkd.models.teacher import load_config
    pcr = [0, -20.48, -3, 40.96, 20.48, 1]
    ranges = [[0, -20.48, z, 40.96, 20.48, z] for z in (-0.6, -0.6, -1.78)]
    teacher = load_config(
        'mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py')
    teacher.merge_from_dict(dict(model=dict(
        data_preprocessor=dict(voxel_layer=dict(
            point_cloud_range=pcr, voxel_size=[0.16, 0.16, 0.1])),
        middle_encoder=dict(sparse_shape=[41, 256, 256]),
        bbox_head=dict(anchor_generator=dict(ranges=ranges)))))
    teacher_cfg = tmp_path / 'second_teacher.py'
    teacher.dump(str(teacher_cfg))
    student = Config(dict(model=teacher.model.to_dict()))
    student.merge_from_dict(dict(model=dict(
        backbone=dict(out_channels=[64, 128]),
        neck=dict(in_channels=[64, 128], out_channels=[128, 128]),
        bbox_head=dict(in_channels=256, feat_channels=256))))
    losses = Config.fromfile(
        f'{REPO}/configs/distill/pointdistiller_second.py').distill.losses
    ckpt = str(tmp_path / 'teacher.pth')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        torch.save(MODELS.build(teacher.model).state_dict(), ckpt)
        model = DistillModel(student.model, losses=losses.to_dict(),
                             teacher=dict(config=str(teacher_cfg),
                                          checkpoint=ckpt))
        model.setup(point_batch([0, 1]))
        model.train()
        data = model.module.data_preprocessor(point_batch([2, 3]), True)
        out = model.loss(data['inputs'], data['data_samples'])
    for i, (c_s, c_t) in enumerate([(64, 128), (128, 256)]):
        loss_module = model.distill_losses[f'pointdistiller_backbone{i}']
        assert loss_module.student_adapter.conv.in_channels == 2 * c_s
        assert loss_module.teacher_adapter.conv.in_channels == 2 * c_t
        value = out[f'distill.loss_pointdistiller_backbone{i}']
        assert torch.isfinite(value) and value.item() > 0
    sum(out[f'distill.loss_pointdistiller_backbone{i}']
        for i in range(2)).backward()
    conv = model.module.backbone.blocks[0][0].weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0


def test_distill_runner_lets_spconv_train_without_gpu(tmp_path):
    """Without a GPU, spconv 2.3's backward asks torch.cuda for a stream
    and fails; building a DistillRunner replaces that lookup by the null
    stream (and nothing where CUDA is available)."""
    ops = pytest.importorskip('spconv.pytorch.ops')
    from test_distill_runner import build, make_cfg, train_teacher
    cfg = make_cfg(tmp_path, train_teacher(tmp_path), epochs=1)
    cfg['default_hooks']['checkpoint'] = None
    build(cfg)
    if torch.cuda.is_available():
        assert not getattr(ops.get_current_stream, 'mmkd_cpu', False)
    else:
        assert ops.get_current_stream() == 0


def test_teacher_checkpoint_keeps_module_versions(tmp_path):
    """load_state_dict_from keeps the state dict's per-module versions
    (``_metadata``; DDP's ``module.`` prefix stripped): mmdet3d's spconv 2
    layers take a checkpoint without them for spconv 1 kernels."""
    from mmkd.models.teacher import load_state_dict_from

    class Versioned(nn.Linear):
        _version = 2

    net = nn.Sequential(nn.Linear(2, 2), Versioned(2, 2))
    state = net.state_dict()
    ddp = type(state)(('module.' + k, v) for k, v in state.items())
    ddp._metadata = type(state._metadata)(
        ('module' + ('.' + k if k else ''), v)
        for k, v in state._metadata.items())
    for name, saved in (('plain', state), ('ddp', ddp)):
        torch.save(dict(state_dict=saved), str(tmp_path / f'{name}.pth'))
        loaded = load_state_dict_from(str(tmp_path / f'{name}.pth'))
        assert list(loaded) == list(state)
        assert loaded._metadata['1']['version'] == 2
