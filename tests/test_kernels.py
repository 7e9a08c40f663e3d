"""The Triton kernels against their PyTorch references, in Triton's interpreter on the CPU (see conftest.py)."""

import math

import pytest
import torch

from ddpm import Schedule, guided_eps, masked_concat, sample_from
from kernels.masked_concat import masked_concat_triton
from kernels.reverse_step import fused_p_step, reverse_step_triton, step_coefficients

pytest.importorskip("triton")

SCHED = Schedule(200)
COEFFICIENTS = step_coefficients(SCHED)
TOL = {torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # relative, against a float64 reference


def rand(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(dtype)


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def poisoned(shape, dtype):
    return torch.full(shape, float("nan"), dtype=dtype)


def reference_step(x, eps_c, t, z, eps_u=None, w=0.0):
    """The reference is ddpm.py itself: Schedule.p_step on the guided eps (ddpm.guided_eps)."""
    return SCHED.p_step(x, t, eps_c if eps_u is None else guided_eps(eps_c, eps_u, w), z)


# ---------------------------------------------------------------- reverse step
@pytest.mark.parametrize("shape, dtype, t, guided", [
    ((1, 1, 28, 28), torch.float32, 150, True),  # batch 1, 784 elements: less than one block
    ((3, 1, 37, 29), torch.float32, 1, False),  # odd sizes, t = 1: no noise even though z is given
    ((512, 1, 28, 28), torch.float32, 2, True),  # a large batch, many programs
    ((4, 1, 28, 28), torch.float16, 77, True),
    ((4, 1, 28, 28), torch.bfloat16, 200, False),
])
def test_reverse_step_matches_reference(shape, dtype, t, guided):
    x, eps_c, eps_u, z = (rand(shape, dtype, seed=i) for i in range(4))
    c = COEFFICIENTS[t]
    kw = dict(eps_uncond=eps_u, w=2.5) if guided else {}
    out = poisoned(shape, dtype)
    got = reverse_step_triton(x, eps_c, *c, noise=z, out=out, **kw)
    assert got.data_ptr() == out.data_ptr() and got.dtype == dtype
    guide = dict(eps_u=eps_u.double(), w=2.5) if guided else {}
    ref = reference_step(x.double(), eps_c.double(), t, z.double(), **guide)
    assert not torch.isnan(got).any()
    assert rel_err(got, ref) < TOL[dtype]
    # ddpm.py's step on the inputs as they are (the path the CPU runs) agrees too
    guide = dict(eps_u=eps_u, w=2.5) if guided else {}
    assert rel_err(reference_step(x, eps_c, t, z, **guide), ref) < TOL[dtype]


def test_reverse_step_guidance_w0_and_noncontiguous():
    base = rand((2, 1, 28, 56))
    x = base[..., ::2]  # non-contiguous view, (2, 1, 28, 28)
    eps_c, eps_u, z = (rand(x.shape, seed=i) for i in (1, 2, 3))
    eps_u = eps_u.transpose(2, 3).contiguous().transpose(2, 3)  # another stride pattern
    a = reverse_step_triton(x, eps_c, *COEFFICIENTS[50], eps_uncond=eps_u, w=0.0, noise=z)
    b = reference_step(x.double(), eps_c.double(), 50, z.double())
    assert rel_err(a, b) < 1e-6
    # the drop-in for Schedule.p_step (the readable Algorithm 2) computes the same update
    assert torch.allclose(fused_p_step(SCHED)(x, 50, eps_c, z), SCHED.p_step(x, 50, eps_c, z), atol=1e-5)


def test_in_kernel_noise_statistics_and_reproducibility():
    n = 1 << 18
    zero = torch.zeros(n)
    draw = lambda seed: reverse_step_triton(zero, zero, 1.0, 0.0, 1.0, noise=seed)  # noqa: E731  out = z
    z1, z1_again, z2 = draw(1234), draw(1234), draw(1235)
    assert torch.equal(z1, z1_again)
    assert not torch.equal(z1, z2)
    bound = 5 / math.sqrt(n)  # five standard errors
    assert abs(z1.mean().item()) < bound
    assert abs(z1.var().item() - 1) < 5 * math.sqrt(2 / n)
    # no correlation between neighbouring elements, nor between consecutive steps' seeds
    assert abs(torch.corrcoef(torch.stack([z1[:-1], z1[1:]]))[0, 1].item()) < bound
    assert abs(torch.corrcoef(torch.stack([z1, z2]))[0, 1].item()) < bound


def test_fused_step_rejects_bad_input_and_adds_no_noise_at_t1():
    step = fused_p_step(SCHED)
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="shape"):
        step(x, 3, torch.zeros(2, 1, 4, 5), x)
    with pytest.raises(ValueError, match="timestep"):
        step(x, 0, x, x)
    with pytest.raises(ValueError, match="timestep"):
        step(x, torch.tensor([3, 3]), x, x)
    # sigma_1 = 0: the last step is the mean whatever z is, as in Schedule.p_step
    z = torch.randn(2, 1, 4, 4)
    assert torch.equal(step(x, 1, x, z), step(x, 1, x, torch.zeros_like(z)))


# ---------------------------------------------------------------- masked concat
def uniforms_away_from(p, seed=0):
    """u on a random side of p, at least 0.02 away, so float rounding of p cannot flip the mask."""
    g = torch.Generator().manual_seed(seed)
    side = torch.rand(p.shape, generator=g) < 0.5
    u = torch.where(side, p.float() - 0.02 - 0.3 * torch.rand(p.shape, generator=g),
                    p.float() + 0.02 + 0.3 * torch.rand(p.shape, generator=g))
    return u.clamp(0.0, 0.9999)


@pytest.mark.parametrize("shape, dtype, tau", [
    ((1, 1, 28, 28), torch.float32, 1.0),  # batch 1, one chunk
    ((5, 1, 33, 47), torch.float32, 1.0),  # odd image size
    ((3, 2, 40, 56), torch.float32, 0.5),  # 4480 elements per image: three chunks, two channels
    ((1024, 1, 28, 28), torch.float32, 1.0),  # a large batch
    ((6, 1, 28, 28), torch.float32, 1e-3),  # tau -> 0: p -> 1
    ((6, 1, 28, 28), torch.float32, 1e3),  # tau -> inf: p -> 0
    ((8, 1, 28, 28), torch.float16, 1.0),
    ((8, 1, 28, 28), torch.bfloat16, 1.0),
])
def test_masked_concat_matches_reference(shape, dtype, tau):
    x = rand(shape, dtype, seed=1)
    c = (rand(shape, dtype, seed=2).float() * 0.5).to(dtype)
    _, p64, _ = masked_concat(x.double(), c.double(), "probabilistic", tau, torch.zeros(shape[0]))
    u = uniforms_away_from(p64)
    out = poisoned((shape[0], 2 * shape[1], *shape[2:]), dtype)
    got, p, m = masked_concat_triton(x, c, "probabilistic", tau, u, out=out)
    ref, p_ref, m_ref = masked_concat(x.double(), c.double(), "probabilistic", tau, u)
    assert got.data_ptr() == out.data_ptr() and got.dtype == dtype
    assert ((p.double() - p_ref).abs() <= 1e-6 * p_ref.abs().clamp(min=1e-30) + 1e-12).all()
    assert torch.equal(m.double(), m_ref)
    assert torch.equal(got, ref.to(dtype))  # a copy and a multiply by 0 or 1: exact
    if tau == 1e-3:
        assert (p > 0.99).all()
    if tau == 1e3:
        assert (p < 0.01).all()


def test_masked_concat_keep_drop_and_noncontiguous():
    x_full, c = rand((4, 1, 28, 56), seed=1), rand((4, 1, 28, 28), seed=2)
    x = x_full[..., 1::2]  # non-contiguous
    for mode, m_val in (("keep", 1.0), ("drop", 0.0)):
        got, p, m = masked_concat_triton(x, c, mode, out=poisoned((4, 2, 28, 28), torch.float32))
        assert torch.equal(got[:, :1], x) and torch.equal(got[:, 1:], c * m_val)
        assert torch.equal(p, torch.full((4,), m_val)) and torch.equal(m, p)
    u = torch.rand(4)
    a = masked_concat_triton(x, c, "probabilistic", 1.0, u)
    b = masked_concat(x, c, "probabilistic", 1.0, u)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1]) and torch.equal(a[2], b[2])


def test_in_kernel_mask_rate_matches_p():
    B = 1000  # the interpreter runs one program per image: keep B modest
    x = torch.zeros(B, 1, 4, 4)
    c = torch.full((B, 1, 4, 4), 0.7)  # d = 0.7 for every image: p = 1 - e^-0.7 = 0.503
    _, p, m = masked_concat_triton(x, c, "probabilistic", 1.0, 42)
    p0 = 1 - math.exp(-0.7)
    assert torch.allclose(p, torch.full((B,), p0))
    assert abs(m.mean().item() - p0) < 4 * math.sqrt(p0 * (1 - p0) / B)  # a 4-sigma binomial interval
    _, _, m_again = masked_concat_triton(x[:100], c[:100], "probabilistic", 1.0, 42)
    _, _, m_other = masked_concat_triton(x[:100], c[:100], "probabilistic", 1.0, 43)
    assert torch.equal(m[:100], m_again) and not torch.equal(m_again, m_other)


def test_masked_concat_rejects_bad_input():
    x = torch.zeros(2, 1, 4, 4)
    for concat in (masked_concat, masked_concat_triton):
        with pytest.raises(ValueError, match="one shape"):
            concat(x, torch.zeros(2, 1, 4, 8))
        with pytest.raises(ValueError, match="needs u"):
            concat(x, x, "probabilistic")
        with pytest.raises(ValueError, match="tau"):
            concat(x, x, "probabilistic", tau=0.0, u=torch.rand(2))
        with pytest.raises(ValueError, match="mode"):
            concat(x, x, "sometimes")


def test_kernels_choose_is_the_visible_switch(monkeypatch):
    import ddpm
    import kernels

    cpu = torch.device("cpu")
    # auto on a CPU and torch anywhere: the readable definitions in ddpm.py, nothing else
    for choice, device in (("auto", cpu), ("torch", cpu), ("torch", "cuda")):
        step, concat = kernels.choose(choice, device, SCHED)
        assert step == SCHED.p_step and concat is ddpm.masked_concat
    step, concat = kernels.choose("triton", cpu, SCHED)
    assert concat is masked_concat_triton and step != SCHED.p_step
    with pytest.raises(ValueError, match="kernels"):
        kernels.choose("fast", cpu, SCHED)
    # asked for on a CPU outside Triton's interpreter: a clear error, not a failure deep inside Triton
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(kernels.Unavailable, match="needs a CUDA device"):
        kernels.choose("triton", cpu, SCHED)


def test_fused_kernels_plug_into_the_samplers():
    # the same chain, the same generator: the fused step (in the interpreter) and ddpm.py's step agree
    from ddpm import EpsFunction
    from unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(cond_channels=1, width=8)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)
    s = Schedule(200)
    x_cond, x = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    finals = []
    for step, concat in ((None, masked_concat), (fused_p_step(s), masked_concat_triton)):
        g = torch.Generator().manual_seed(1)
        eps_fn = EpsFunction(model, x_cond=x_cond, mode="probabilistic", generator=g, concat=concat)
        finals.append(sample_from(eps_fn, s, x, 10, step=step, generator=g)[0])
    assert finals[0].abs().max() < 10 and torch.allclose(finals[0], finals[1], atol=1e-4)
