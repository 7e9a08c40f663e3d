"""The fused GroupNorm + SiLU kernels, forward and backward, against their readable definition unet.group_norm_silu
(in float64, its gradients by autograd), in Triton's interpreter on the CPU (see conftest.py): NCHW and
channels-last inputs, awkward shapes, the embedding add, half precision, non-contiguous input, the looped fallback
for groups too large for one pass, the UNet's own shapes, and the module swap on a whole UNet."""

import pytest
import torch

from unet import GroupNormSiLU, UNet, UNetConfig

pytest.importorskip("triton")

import kernels.group_norm_silu as gns  # noqa: E402
from kernels.group_norm_silu import (  # noqa: E402
    fuse_group_norms,
    group_norm_silu_backward,
    group_norm_silu_forward,
    group_norm_silu_triton,
    reference,
)

TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # relative, against a float64 reference


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def nhwc(t):
    return t.contiguous(memory_format=torch.channels_last)


def inputs(shape, groups, with_add, layout="nchw", dtype=torch.float32, offset=3.0, seed=1):
    """x with an offset mean (the statistics must not cancel badly), add or None, weight and bias away from 1, 0."""
    g = torch.Generator().manual_seed(seed)
    x = (offset + 2 * torch.randn(shape, generator=g)).to(dtype)
    x = nhwc(x) if layout == "nhwc" else x
    add = torch.randn(shape[:2], generator=g).to(dtype) if with_add else None
    weight = 1 + 0.5 * torch.randn(shape[1], generator=g)
    bias = 0.5 * torch.randn(shape[1], generator=g)
    return x, add, weight, bias


def reference_grads(x, add, weight, bias, groups, grad_out):
    """dL/d(x, add, weight, bias) of L = sum(grad_out * unet.group_norm_silu(...)), by autograd in float64."""
    leaves = [t.detach().double().requires_grad_(True) if t is not None else None for t in (x, add, weight, bias)]
    y = reference(leaves[0], leaves[2], leaves[3], groups, 1e-5, leaves[1])
    wanted = [t for t in leaves if t is not None]
    grads = iter(torch.autograd.grad(y, wanted, grad_out.double()))
    return [next(grads) if t is not None else None for t in leaves]


def unet_norm_shapes(config, batch):
    """The (B, C, H, W) input of every GroupNormSiLU of a UNet, recorded by hooks on one forward pass."""
    model = UNet(config)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, a, out: shapes.append(tuple(a[0].shape)))
             for m in model.modules() if isinstance(m, GroupNormSiLU)]
    with torch.no_grad():
        model(torch.randn(batch, config.image_channels + config.cond_channels, config.image_size, config.image_size),
              torch.ones(batch, dtype=torch.long))
    for h in hooks:
        h.remove()
    return shapes


UNET = UNetConfig()  # the default network, the one the scripts train
UNET_SHAPES = sorted(set(unet_norm_shapes(UNET, batch=2)))


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("shape, groups, dtype, with_add", [
    ((1, 8, 7, 7), 2, torch.float32, False),  # batch 1, 7x7
    ((2, 12, 5, 3), 4, torch.float32, True),  # 5x3, 12 channels: 3 per group, not a power of two
    ((3, 6, 5, 3), 3, torch.float32, True),  # 2 channels per group
    ((2, 6, 9, 1), 6, torch.float32, True),  # 1 channel per group, W = 1
    ((2, 32, 28, 28), 8, torch.float16, True),
    ((2, 24, 7, 7), 8, torch.bfloat16, True),
    ((1, 12, 5, 7), 4, torch.bfloat16, False),
])
def test_forward_matches_the_definition(layout, shape, groups, dtype, with_add):
    x, add, weight, bias = inputs(shape, groups, with_add, layout, dtype)
    out = torch.full_like(x, float("nan"))  # in x's layout; an element never written stays NaN and fails
    got, mean, rstd = group_norm_silu_forward(x, weight, bias, groups, 1e-5, add, out=out)
    assert got.data_ptr() == out.data_ptr() and got.dtype == dtype and not torch.isnan(got).any()
    assert rel_err(got, reference(x, weight, bias, groups, 1e-5, add)) < TOL[dtype]
    # the statistics kept for the backward are the group's own
    v = x.double() + (0 if add is None else add.double()[:, :, None, None])
    v = v.reshape(shape[0], groups, -1)
    assert torch.allclose(mean.double(), v.mean(-1), rtol=1e-5, atol=1e-5)
    assert torch.allclose(rstd.double(), (v.var(-1, unbiased=False) + 1e-5).rsqrt(), rtol=1e-4)
    # without `out`, the result has x's memory format: channels-last in, channels-last out
    default = group_norm_silu_triton(x, weight, bias, groups, 1e-5, add)
    assert default.stride() == x.stride() and torch.equal(default, got)


def test_channels_last_is_read_and_written_as_it_lies():
    """No copy of x, out or grad_out under channels-last: the profiler sees no clone (aten::contiguous would
    make one), while a layout the kernel cannot walk shows the copy it needs."""
    from torch.profiler import profile

    x, add, weight, bias = inputs((2, 16, 7, 7), 4, True, "nhwc")
    x.requires_grad_(True)
    fused = GroupNormSiLU(4, 16)
    fuse_group_norms(fused)
    fused(x, add).sum().backward()  # warm-up outside the profile
    with profile() as prof:
        y = fused(x, add)
        y.backward(nhwc(torch.ones_like(y)))
    names = {e.name for e in prof.events()}
    assert y.is_contiguous(memory_format=torch.channels_last) and x.grad.is_contiguous(
        memory_format=torch.channels_last)
    assert "aten::clone" not in names and "aten::contiguous" not in names
    with profile() as prof:
        group_norm_silu_triton(x.detach()[..., ::2], weight, bias, 4)
    assert "aten::clone" in {e.name for e in prof.events()}


def test_non_contiguous_inputs():
    g = torch.Generator().manual_seed(3)
    weight, bias = 1 + 0.5 * torch.randn(16, generator=g), 0.5 * torch.randn(16, generator=g)
    base = torch.randn(2, 7, 6, 24, generator=g)
    add = torch.randn(16, 2, generator=g).t()  # (2, 16), transposed
    cases = {
        "channel slice of NHWC": base.permute(0, 3, 1, 2)[:, 4:20],  # walked as it lies
        "channel slice of NCHW": base.permute(0, 3, 1, 2).contiguous()[:, 2:18],
        "every other column": base.permute(0, 3, 1, 2)[:, :16, :, ::2],  # H and W not one axis: copied
        "H and W swapped": base.permute(0, 3, 2, 1)[:, :16],
    }
    for name, x in cases.items():
        assert not x.is_contiguous(), name
        got = group_norm_silu_triton(x, weight, bias, 4, add=add)
        assert rel_err(got, reference(x, weight, bias, 4, add=add)) < 1e-5, name


def test_out_in_another_layout_and_bad_arguments():
    x, add, weight, bias = inputs((2, 16, 9, 9), 4, True)
    out = nhwc(torch.full_like(x, float("nan")))  # NCHW in, channels-last out
    group_norm_silu_triton(x, weight, bias, 4, add=add, out=out)
    assert rel_err(out, reference(x, weight, bias, 4, add=add)) < 1e-5
    with pytest.raises(ValueError, match="groups"):
        group_norm_silu_triton(x, weight, bias, 3)
    with pytest.raises(ValueError, match="add"):
        group_norm_silu_triton(x, weight, bias, 4, add=torch.zeros(2, 15))
    with pytest.raises(ValueError, match="out"):
        group_norm_silu_triton(x, weight, bias, 4, out=torch.empty(2, 16, 9, 9).transpose(2, 3))


# ---------------------------------------------------------------- backward
@pytest.mark.parametrize("shape, groups, with_add, x_layout, grad_layout", [
    ((1, 8, 7, 7), 2, False, "nhwc", "nhwc"),
    ((2, 12, 5, 3), 4, True, "nhwc", "nchw"),  # grad_out in another layout than x
    ((3, 6, 7, 7), 3, True, "nchw", "nchw"),
    ((2, 24, 5, 7), 8, True, "nchw", "nhwc"),
])
def test_backward_matches_autograd_of_the_definition(shape, groups, with_add, x_layout, grad_layout):
    x, add, weight, bias = inputs(shape, groups, with_add, x_layout)
    grad_out = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    grad_out = nhwc(grad_out) if grad_layout == "nhwc" else grad_out
    _, mean, rstd = group_norm_silu_forward(x, weight, bias, groups, 1e-5, add)
    got = group_norm_silu_backward(grad_out, x, weight, bias, groups, mean, rstd, add)
    assert got[0].stride() == x.stride()  # dL/dx in x's memory format
    for name, a, b in zip(("x", "add", "weight", "bias"), got, reference_grads(x, add, weight, bias, groups,
                                                                               grad_out)):
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == torch.float32 and rel_err(a, b) < 1e-5, name


def test_backward_in_bf16():
    x, add, weight, bias = inputs((2, 24, 7, 7), 8, True, "nhwc", torch.bfloat16)
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(7)).to(torch.bfloat16)
    _, mean, rstd = group_norm_silu_forward(x, weight, bias, 8, 1e-5, add)
    gx, gadd, gw, gb = group_norm_silu_backward(grad_out, x, weight, bias, 8, mean, rstd, add)
    assert gx.dtype == gadd.dtype == torch.bfloat16 and gw.dtype == gb.dtype == torch.float32
    for name, a, b in zip("x add weight bias".split(), (gx, gadd, gw, gb),
                          reference_grads(x, add, weight, bias, 8, grad_out)):
        assert rel_err(a, b) < 2e-2, name


# ---------------------------------------------------------------- groups too large for one pass
def test_a_large_group_takes_the_looped_path_and_matches():
    x, add, weight, bias = inputs((1, 8, 50, 50), 1, True, "nhwc", offset=200.0)  # 20,000 elements in one group
    assert not gns._blocks(8, 2500)[0]
    got, mean, rstd = group_norm_silu_forward(x, weight, bias, 1, 1e-5, add)
    # a mean 100 spreads from zero: mean(v^2) - mu^2 in fp32 without the kernel's shift misses by about 1e-4 here
    assert rel_err(got, reference(x, weight, bias, 1, 1e-5, add)) < 1e-5
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    got = group_norm_silu_backward(grad_out, x, weight, bias, 1, mean, rstd, add)
    for name, a, b in zip("x add weight bias".split(), got, reference_grads(x, add, weight, bias, 1, grad_out)):
        assert rel_err(a, b) < 1e-5, name


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_looped_path_with_many_small_tiles(monkeypatch, layout):
    """Tiles of 2 channels x 16 pixels force several steps along both the channels and the pixels of a group,
    each with a ragged last step: 5 channels a group = 2 + 2 + 1, 35 pixels = 16 + 16 + 3."""
    monkeypatch.setattr(gns, "ONE_PASS_MAX", 16)
    monkeypatch.setattr(gns, "LOOP_TILE", 32)
    assert gns._blocks(5, 35) == (False, 2, 16, 8)
    x, add, weight, bias = inputs((2, 10, 7, 5), 2, True, layout)
    out = torch.full_like(x, float("nan"))
    _, mean, rstd = group_norm_silu_forward(x, weight, bias, 2, 1e-5, add, out=out)
    assert rel_err(out, reference(x, weight, bias, 2, 1e-5, add)) < 1e-5
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    got = group_norm_silu_backward(grad_out, x, weight, bias, 2, mean, rstd, add)
    for name, a, b in zip("x add weight bias".split(), got, reference_grads(x, add, weight, bias, 2, grad_out)):
        assert rel_err(a, b) < 1e-5, name


# ---------------------------------------------------------------- the UNet's own shapes
def test_every_group_of_the_unet_fits_one_pass():
    groups = [C // UNET.groups * H * W for _, C, H, W in UNET_SHAPES]
    assert max(groups) == 96 // 8 * 28 * 28 == 9408  # up1's first norm: the concat of 64 + 32 channels at 28x28
    assert all(gns._blocks(C // UNET.groups, H * W)[0] for _, C, H, W in UNET_SHAPES)


@pytest.mark.parametrize("shape", UNET_SHAPES, ids=[f"{C}x{H}x{W}" for _, C, H, W in UNET_SHAPES])
def test_the_unets_shapes_forward_and_backward_channels_last(shape):
    x, add, weight, bias = inputs(shape, UNET.groups, True, "nhwc")
    got, mean, rstd = group_norm_silu_forward(x, weight, bias, UNET.groups, 1e-5, add)
    assert rel_err(got, reference(x, weight, bias, UNET.groups, 1e-5, add)) < 1e-5
    grad_out = nhwc(torch.randn(shape, generator=torch.Generator().manual_seed(7)))
    got = group_norm_silu_backward(grad_out, x, weight, bias, UNET.groups, mean, rstd, add)
    for name, a, b in zip("x add weight bias".split(), got,
                          reference_grads(x, add, weight, bias, UNET.groups, grad_out)):
        assert rel_err(a, b) < 1e-5, name


# ---------------------------------------------------------------- the module swap
def test_fusing_a_channels_last_unet_keeps_its_weights_output_and_gradients():
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=16)).to(memory_format=torch.channels_last)
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    keys = list(model.state_dict())
    x = nhwc(torch.randn(2, 1, 28, 28))
    t, y = torch.tensor([1, 200]), torch.tensor([4, 10])
    results = []
    for fuse in (False, True):
        if fuse:
            assert fuse_group_norms(model) == 5 * 2 + 1  # two per ResBlock, and the output norm
        model.zero_grad()
        out = model(x, t, y)
        out.square().sum().backward()
        results.append([out.detach()] + [p.grad.clone() for p in model.parameters()])
    assert list(model.state_dict()) == keys
    for a, b in zip(*results):
        assert rel_err(b, a) < 1e-4
