"""The fused GroupNorm + SiLU kernel against its readable definition, unet.GroupNormSiLU, in Triton's interpreter
on the CPU (see conftest.py): awkward shapes, the embedding add, half precision, non-contiguous input, gradients,
and the module swap on a whole UNet."""

import pytest
import torch

from unet import GroupNormSiLU, UNet, UNetConfig

pytest.importorskip("triton")

from kernels.group_norm_silu import fuse_group_norms, group_norm_silu_triton  # noqa: E402

TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # relative, against a float64 reference


def reference_module(groups, channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = GroupNormSiLU(groups, channels)
    with torch.no_grad():
        m.weight.copy_(1 + 0.5 * torch.randn(channels, generator=g))
        m.bias.copy_(0.5 * torch.randn(channels, generator=g))
    return m


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("shape, groups, dtype, with_add", [
    ((1, 8, 5, 7), 2, torch.float32, False),  # batch 1, odd sizes
    ((3, 64, 14, 14), 8, torch.float32, True),  # the UNet's 14x14 blocks, with the embedding add
    ((2, 16, 40, 40), 2, torch.float32, True),  # 12800 elements a group: the walk takes several blocks
    ((2, 32, 28, 28), 8, torch.float16, True),
    ((2, 32, 28, 28), 8, torch.bfloat16, False),
])
def test_kernel_matches_the_module(shape, groups, dtype, with_add):
    g = torch.Generator().manual_seed(1)
    x = (3 + 2 * torch.randn(shape, generator=g)).to(dtype)  # an offset mean: the statistics must not cancel badly
    add = torch.randn(shape[:2], generator=g).to(dtype) if with_add else None
    m = reference_module(groups, shape[1])
    out = torch.full(shape, float("nan"), dtype=dtype)
    got = group_norm_silu_triton(x, m.weight, m.bias, groups, m.eps, add, out=out)
    assert got.data_ptr() == out.data_ptr() and got.dtype == dtype and not torch.isnan(got).any()
    ref = m.double()(x.double(), None if add is None else add.double())
    assert rel_err(got, ref) < TOL[dtype]


def test_non_contiguous_input_and_bad_arguments():
    m = reference_module(4, 16)
    x = torch.randn(2, 9, 9, 16).permute(0, 3, 1, 2)  # channels-last memory: copied to NCHW inside
    assert rel_err(group_norm_silu_triton(x, m.weight, m.bias, 4), m.double()(x.double())) < 1e-5
    with pytest.raises(ValueError, match="groups"):
        group_norm_silu_triton(x, m.weight, m.bias, 3)
    with pytest.raises(ValueError, match="add"):
        group_norm_silu_triton(x, m.weight, m.bias, 4, add=torch.zeros(2, 15))


def test_gradients_through_the_fused_module_are_the_module_gradients():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 8, 6, 6, generator=g, requires_grad=True)
    add = torch.randn(2, 8, generator=g, requires_grad=True)
    ref = reference_module(2, 8)
    fused = reference_module(2, 8)
    fuse_group_norms(fused)
    w = torch.randn(2, 8, 6, 6, generator=g)
    grads = []
    for m in (ref, fused):
        (m(x, add) * w).sum().backward()
        grads.append([t.grad.clone() for t in (x, add, m.weight, m.bias)])
        x.grad = add.grad = None
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_fusing_a_unet_keeps_its_weights_and_its_output():
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=16)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    keys = list(model.state_dict())
    x, t, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 50, 200]), torch.tensor([0, 4, 10])
    with torch.no_grad():
        before = model(x, t, y)
        assert fuse_group_norms(model) == 5 * 2 + 1  # two per ResBlock, and the output norm
        after = model(x, t, y)
    assert list(model.state_dict()) == keys
    assert torch.allclose(before, after, atol=1e-5)
