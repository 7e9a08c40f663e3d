import pytest
import torch

from unet import UNet, UNetConfig, count_parameters, timestep_embedding


def test_output_shape_and_conditioning_inputs():
    torch.manual_seed(0)
    m = UNet(UNetConfig(cond_channels=1, num_classes=10, width=16))
    x = torch.randn(3, 2, 28, 28)
    t = torch.tensor([1, 100, 200])
    out = m(x, t, torch.tensor([0, 5, 10]))  # 10 is the null class
    assert out.shape == (3, 1, 28, 28)
    # also any H, W divisible by 4
    assert m(torch.randn(2, 2, 12, 20), torch.tensor([3, 4])).shape == (2, 1, 12, 20)


def test_output_depends_on_time_class_and_condition():
    torch.manual_seed(0)
    m = UNet(UNetConfig(cond_channels=1, num_classes=10, width=16))
    # the output conv starts at zero; give it weights so that the inputs can show up in the output
    torch.nn.init.normal_(m.conv_out.weight, std=0.1)
    x = torch.randn(1, 2, 28, 28)
    base = m(x, torch.tensor([50]), torch.tensor([3]))
    assert not torch.allclose(base, m(x, torch.tensor([51]), torch.tensor([3])))
    assert not torch.allclose(base, m(x, torch.tensor([50]), torch.tensor([4])))
    x2 = x.clone()
    x2[:, 1] = 0
    assert not torch.allclose(base, m(x2, torch.tensor([50]), torch.tensor([3])))


def test_bad_inputs_are_clear_errors():
    m = UNet(UNetConfig(width=8))
    with pytest.raises(ValueError, match="input channels"):
        m(torch.randn(1, 2, 28, 28), torch.tensor([1]))
    with pytest.raises(ValueError, match="divisible by 4"):
        m(torch.randn(1, 1, 30, 28), torch.tensor([1]))
    with pytest.raises(ValueError, match="no class input"):
        m(torch.randn(1, 1, 28, 28), torch.tensor([1]), torch.tensor([0]))


def test_timestep_embedding_distinguishes_neighbours():
    e = timestep_embedding(torch.arange(1, 201), 32)
    assert e.shape == (200, 32)
    d = torch.cdist(e, e)
    assert (d + torch.eye(200) * 1e9).min() > 0.01


def test_default_width_is_small():
    # the default network must stay light enough for a 2-core CPU (see `python unet.py` for the timing)
    n = count_parameters(UNet(UNetConfig(num_classes=10)))
    assert 100_000 < n < 1_000_000
