import pytest
import torch

from mmkd.models.connectors import (ConvConnector, LinearConnector,
                                    NormConnector, ResizeConnector,
                                    auto_connector)


def test_auto_connector_choices():
    assert auto_connector((2, 8, 4, 4), (2, 8, 4, 4)) is None
    assert auto_connector((2, 8, 4, 4), (2, 8, 8, 8)) is None  # resized
    assert auto_connector((2, 8, 4, 4), (2, 16, 4, 4)) == dict(
        type='ConvConnector', in_channels=8, out_channels=16)
    assert auto_connector((2, 10, 32), (2, 10, 64)) == dict(
        type='LinearConnector', in_channels=32, out_channels=64)
    for s, t in (((2, 8, 4, 4), (2, 8, 16)), ((2, 8, 4, 4), (3, 8, 4, 4)),
                 ((2, 10, 32), (2, 12, 64))):
        with pytest.raises(ValueError, match='connector|differ'):
            auto_connector(s, t)


def test_connector_shapes_and_values():
    x = torch.randn(2, 8, 5, 5)
    conv = ConvConnector(8, 16, norm=True, act=True)
    assert conv(x).shape == (2, 16, 5, 5)
    assert (conv(x) >= 0).all()
    lin = LinearConnector(8, 3)
    assert lin(torch.randn(2, 7, 8)).shape == (2, 7, 3)
    y = NormConnector()(x)
    assert torch.allclose(y.mean((1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y.std((1, 2, 3)), torch.ones(2), atol=1e-4)
    r = ResizeConnector((10, 10))(x)
    assert r.shape == (2, 8, 10, 10)
    # bilinear x2 upsampling keeps the mean of a constant map
    assert torch.allclose(ResizeConnector((10, 10))(torch.ones(1, 1, 5, 5)),
                          torch.ones(1, 1, 10, 10))
