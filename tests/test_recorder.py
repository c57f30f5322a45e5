import pytest
import torch
import torch.nn as nn

from mmkd.models.recorder import (ModuleRecorder, RecordSpec, StopForward,
                                  find_module)


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1),
                                      nn.ReLU(), nn.Conv2d(4, 8, 1))
        self.shared = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 2)
        self.calls = []

    def forward(self, x):
        self.calls.append('backbone')
        f = self.backbone(x)
        outs = (self.shared(f), self.shared(f * 2))  # called twice
        self.calls.append('head')
        return self.head(outs[1].mean((2, 3))), outs


def test_parse_specs():
    assert RecordSpec.parse('neck.out_convs.0') == RecordSpec(
        'neck.out_convs.0', 'output', ())
    assert RecordSpec.parse('neck[2]') == RecordSpec('neck', 'output', (2, ))
    assert RecordSpec.parse('head:input[0][1]') == RecordSpec(
        'head', 'input', (0, 1))
    assert RecordSpec.parse('backbone[-1]').index == (-1, )
    with pytest.raises(ValueError, match='Bad recorder spec'):
        RecordSpec.parse('neck(0)')


def test_records_outputs_inputs_and_repeated_calls():
    net = Net()
    specs = [RecordSpec.parse(s) for s in
             ('backbone.2', 'head:input', 'shared[1]', '[1][0]')]
    rec = ModuleRecorder(net, specs)
    x = torch.randn(2, 3, 5, 5)
    rec.start()
    out, outs = net(x)
    rec.stop()
    feat = net.backbone(x)
    assert torch.allclose(rec.get(specs[0]), feat)
    assert torch.allclose(rec.get(specs[1]), outs[1].mean((2, 3)))
    # `shared` ran twice: its record is the list of both calls.
    assert torch.allclose(rec.get(specs[2]), net.shared(feat * 2))
    # '' is the whole model: its output tuple, indexed.
    assert torch.allclose(rec.get(specs[3]), outs[0])
    # inactive recorder records nothing
    rec.start()
    rec.stop()
    net(x)
    with pytest.raises(RuntimeError, match='not called'):
        rec.get(specs[0])


def test_stop_early_runs_only_as_far_as_needed():
    net = Net()
    rec = ModuleRecorder(net, [RecordSpec.parse('backbone')], 'teacher')
    x = torch.randn(1, 3, 4, 4)
    rec.start()
    net(x)  # probe: full forward, counts calls
    rec.stop()
    rec.count_calls()
    net.calls.clear()
    rec.start(stop_early=True)
    with pytest.raises(StopForward):
        net(x)
    rec.stop()
    assert net.calls == ['backbone']  # the head never ran
    assert rec.get(RecordSpec.parse('backbone')).shape == (1, 8, 4, 4)


def test_module_called_through_forward_gets_a_hint():
    """mmdet detectors call ``bbox_head.forward(x)``: no hook fires there;
    the error says so and names the head's submodules to record instead."""

    class Head(nn.Module):

        def __init__(self):
            super().__init__()
            self.cls = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.cls(x)

    class Detector(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Conv2d(3, 8, 1)
            self.bbox_head = Head()

        def forward(self, x):
            return self.bbox_head.forward(self.backbone(x))

    det = Detector()
    rec = ModuleRecorder(det, [RecordSpec.parse('bbox_head')], 'teacher')
    rec.start()
    det(torch.randn(1, 3, 4, 4))
    rec.stop()
    with pytest.raises(RuntimeError) as err:
        rec.count_calls()
    assert "never called ['bbox_head']" in str(err.value)
    assert "bbox_head.forward()" in str(err.value)
    assert "['bbox_head.cls']" in str(err.value)
    with pytest.raises(RuntimeError, match=r'e\.g\. \[\'bbox_head\.cls\'\]'):
        rec.get(RecordSpec.parse('bbox_head'))
    # its submodule is hooked fine
    rec = ModuleRecorder(det, [RecordSpec.parse('bbox_head.cls')])
    rec.start()
    det(torch.randn(1, 3, 4, 4))
    rec.stop()
    assert rec.get(RecordSpec.parse('bbox_head.cls')).shape == (1, 2, 4, 4)


def test_wrong_path_names_closest():
    net = Net()
    with pytest.raises(KeyError) as e:
        find_module(net, 'backbone.3', 'student')
    msg = str(e.value)
    assert 'backbone.2' in msg and 'student' in msg
    with pytest.raises(KeyError, match='head'):
        ModuleRecorder(net, [RecordSpec.parse('haed')], 'teacher')


def test_index_error_is_explained():
    net = Net()
    rec = ModuleRecorder(net, [RecordSpec.parse('shared[5]')])
    rec.start()
    net(torch.randn(1, 3, 2, 2))
    rec.stop()
    with pytest.raises(IndexError, match='length 2'):
        rec.get(RecordSpec.parse('shared[5]'))


def test_method_return_values_are_recorded():
    """'<path>.<method>()' records what a module's method returns (a dense
    head's get_targets in its loss); deep copies call their own method and
    `remove` puts the class's method back."""
    import copy

    class Head(nn.Module):

        def __init__(self):
            super().__init__()
            self.scale = 2

        def get_targets(self, x, offset=0):
            return x * self.scale + offset, 'meta'

        def forward(self, x):
            return self.get_targets(x, offset=1)[0].sum()

    class Det(nn.Module):

        def __init__(self):
            super().__init__()
            self.head = Head()

        def forward(self, x):
            return self.head(x)

    spec = RecordSpec.parse('head.get_targets()[0]')
    assert spec == RecordSpec('head', 'get_targets()', (0, ))
    assert spec.method == 'get_targets' and str(spec) == \
        'head.get_targets()[0]'
    assert RecordSpec.parse('head').method is None
    det = Det()
    rec = ModuleRecorder(det, [spec], 'student')
    x = torch.ones(2)
    rec.start()
    assert det(x).item() == 6  # the method still returns its value
    rec.stop()
    assert torch.equal(rec.get(spec), torch.full((2, ), 3.))
    det.head.get_targets(x)  # inactive: not recorded
    assert len(rec.records[spec.key]) == 1
    # an EMA-style deep copy runs its own method (its own state)
    twin = copy.deepcopy(det)
    twin.head.scale = 10
    assert twin(x).item() == 22
    # stop early once the method returned
    rec.count_calls()
    rec.start(stop_early=True)
    with pytest.raises(StopForward):
        det(x)
    rec.stop()
    rec.remove()
    assert 'get_targets' not in vars(det.head)
    assert det.head.get_targets(x)[1] == 'meta'
    with pytest.raises(AttributeError,
                       match=r"'get_target'; closest: \['get_targets'"):
        ModuleRecorder(det, [RecordSpec.parse('head.get_target()')])
    # never called (e.g. a loss-only method in a tensor forward): a hint
    rec = ModuleRecorder(det, [RecordSpec.parse('head.extra_repr()')])
    rec.start()
    det(x)
    rec.stop()
    with pytest.raises(RuntimeError, match='student_gt_loss') as err:
        rec.count_calls()
    assert "['head.extra_repr()']" in str(err.value)
    # in a group, the uncalled method is the error (it explains the rest)
    group = RecordSpec.parse(['head', 'head.extra_repr()'])
    with pytest.raises(RuntimeError, match="method 'head.extra_repr"):
        rec.get(group)
