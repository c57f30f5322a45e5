"""mmkd's port of MMRazor's WideResNet backbone (the networks of its OFD
config): the paper's size, MMRazor's module names (its checkpoints load)
and the pre-activation block's computation."""
import torch
import torch.nn.functional as F

from mmkd.models import WideResNet


def test_wrn_28_10_has_the_papers_size():
    """WRN-28-10 on CIFAR-10 has 36.5M parameters (Zagoruyko & Komodakis,
    Table 2; 36,479,194 with the 640 -> 10 classifier)."""
    model = WideResNet(depth=28, widen_factor=10)
    params = sum(p.numel() for p in model.parameters())
    assert params + 640 * 10 + 10 == 36_479_194


def test_module_names_are_mmrazors():
    """WRN-10-1 (one block per stage), keys as MMRazor's WideResNet names
    them: stem ``conv1``, ``layer{i}.0.{bn1,conv1,bn2,conv2,downsample}``,
    final ``bn1``; the shortcut conv only where the shape changes."""
    model = WideResNet(depth=10, widen_factor=1)
    bn = ('weight', 'bias', 'running_mean', 'running_var',
          'num_batches_tracked')
    expected = ['conv1.weight']
    for i in (1, 2, 3):
        block = f'layer{i}.0.'
        expected += [block + 'bn1.' + k for k in bn] + [block + 'conv1.weight']
        expected += [block + 'bn2.' + k for k in bn] + [block + 'conv2.weight']
        if i > 1:  # layer1: 16 -> 16 channels, stride 1: identity shortcut
            expected.append(block + 'downsample.weight')
    expected += ['bn1.' + k for k in bn]
    assert list(model.state_dict()) == expected
    widths = [model.state_dict()[f'layer{i}.0.conv2.weight'].shape[0]
              for i in (1, 2, 3)]
    assert widths == [16, 32, 64] and model.feat_dim == 64


def test_forward_is_the_preactivation_block():
    """WRN-10-2, eval mode: the output equals the blocks computed by hand,
    ``conv2(relu(bn2(conv1(a)))) + shortcut`` with ``a = relu(bn1(x))``,
    then the final BN and ReLU."""
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=2)
    model.init_weights()
    for m in model.modules():  # non-trivial statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 3, 16, 16)

    def bn(m, t):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight,
                            m.bias, False, 0., m.eps)

    h = F.conv2d(x, model.conv1.weight, padding=1)
    for i, stride in ((1, 1), (2, 2), (3, 2)):
        b = getattr(model, f'layer{i}')[0]
        a = F.relu(bn(b.bn1, h))
        out = F.conv2d(a, b.conv1.weight, stride=stride, padding=1)
        out = F.conv2d(F.relu(bn(b.bn2, out)), b.conv2.weight, padding=1)
        h = out + F.conv2d(a, b.downsample.weight, stride=stride)
    expected = F.relu(bn(model.bn1, h))
    (feat, ) = model(x)
    assert feat.shape == (2, 128, 4, 4)
    torch.testing.assert_close(feat, expected)
