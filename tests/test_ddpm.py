import math

import pytest
import torch

from ddpm import (EpsFunction, Schedule, conditioning_probability, cycles, ddim_sample_from, repeat_step,
                  rms_distance, sample, sample_from, training_loss)
from unet import UNet, UNetConfig


# ---------------------------------------------------------------- schedule
def test_linear_schedule_values():
    s = Schedule(200, "linear")
    assert s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (201,)
    assert s.betas[0] == 0 and s.alpha_bars[0] == 1
    # Ho et al.'s 1e-4 .. 0.02, rescaled by 1000 / T
    assert s.betas[1].item() == pytest.approx(5e-4, rel=1e-5)
    assert s.betas[200].item() == pytest.approx(0.1, rel=1e-5)
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    # alpha_bar_t = prod_{s<=t} (1 - beta_s), checked in float64 independently
    b = torch.linspace(5e-4, 0.1, 200, dtype=torch.float64)
    assert s.alpha_bars[-1].item() == pytest.approx(torch.prod(1 - b).item(), rel=1e-4)
    assert s.alpha_bars[-1] < 1e-4  # x_T is (nearly) pure noise, unlike Ho's betas over 200 steps
    # the unscaled betas would leave a third of the image in x_T: the reason for the rescaling
    assert torch.prod(1 - torch.linspace(1e-4, 0.02, 200)).sqrt() > 0.3


def test_cosine_and_posterior_variance():
    s = Schedule(200, "cosine", sigma="posterior")
    assert s.alpha_bars[0] == 1 and s.alpha_bars[-1] < 1e-4
    assert torch.all(s.betas[1:] <= 0.999)
    # beta~_t <= beta_t, and beta~_1 = 0 (x_0 is known given x_1 and x0)
    assert torch.all(s.beta_tildes <= s.betas + 1e-7)
    assert s.beta_tildes[1] == 0
    assert torch.allclose(s.sigmas, s.beta_tildes.sqrt())


def test_bad_schedule_arguments():
    with pytest.raises(ValueError):
        Schedule(200, "quadratic")
    with pytest.raises(ValueError):
        Schedule(1)
    with pytest.raises(ValueError):
        Schedule(200, sigma="learned")
    with pytest.raises(ValueError):
        Schedule(200).t_of_fraction(1.5)
    assert Schedule(200).t_of_fraction(0.3) == 60


def test_q_sample_statistics():
    s = Schedule(200)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 2, 2), 0.7)
    for t in (1, 60, 200):
        xt = s.q_sample(x0, t, torch.randn(x0.shape, generator=g))
        ab = s.alpha_bars[t].item()
        # mean sqrt(alpha_bar) x0, variance 1 - alpha_bar (eq. 6); 80000 draws: standard error ~ 0.0035 * std
        assert xt.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=0.02)
        assert xt.var().item() == pytest.approx(1 - ab, rel=0.03, abs=2e-5)


def test_q_sample_per_sample_timesteps():
    s = Schedule(200)
    x0, noise = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([1, 50, 200])
    out = s.q_sample(x0, t, noise)
    for i in range(3):
        assert torch.allclose(out[i: i + 1], s.q_sample(x0[i: i + 1], int(t[i]), noise[i: i + 1]))


@pytest.mark.parametrize("t", [1, 2, 37, 200])
def test_p_step_mean_is_the_posterior_mean_with_the_true_eps(t):
    s = Schedule(200)
    torch.manual_seed(t)
    x0, eps = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    x_t = s.q_sample(x0, t, eps)
    mean = s.p_step(x_t, t, eps, torch.zeros_like(x0))
    assert torch.allclose(mean, s.q_posterior_mean(x0, x_t, t), atol=2e-4)
    # the noise enters with sigma_t, except at t = 1
    z = torch.randn_like(x0)
    step = s.p_step(x_t, t, eps, z)
    sigma = 0.0 if t == 1 else s.betas[t].sqrt().item()
    assert torch.allclose(step - mean, sigma * z, atol=1e-5)


def test_ddim_with_an_oracle_eps_returns_x0():
    s = Schedule(200)
    torch.manual_seed(0)
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1

    def oracle(x_t, t):  # the eps that makes x_t consistent with the known x0 (eq. 7 solved for eps)
        ab = s.alpha_bars[t]
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    for t_start, steps in ((200, 200), (200, 10), (60, 7)):
        x_t = s.q_sample(x0, t_start, torch.randn_like(x0))
        out, _ = ddim_sample_from(oracle, s, x_t, t_start, steps, eta=0.0)
        assert torch.allclose(out, x0, atol=1e-4), (t_start, steps)


def test_ddpm_chain_with_an_oracle_eps_ends_at_x0():
    # with the true posterior mean at each step, the last step (no noise) lands exactly on x0
    s = Schedule(50)
    x0 = torch.rand(2, 1, 4, 4)
    oracle = lambda x_t, t: (x_t - s.alpha_bars[t].sqrt() * x0) / (1 - s.alpha_bars[t]).sqrt()  # noqa: E731
    out, traj = sample(oracle, s, (2, 1, 4, 4), generator=torch.Generator().manual_seed(0), record_every=10)
    assert torch.allclose(out, x0, atol=1e-4)
    images, steps = traj.stacked()
    assert steps.tolist() == [50, 40, 30, 20, 10, 0]
    assert images.shape == (6, 2, 1, 4, 4)


# ---------------------------------------------------------------- conditioning
class FakeModel(torch.nn.Module):
    """eps = 0.1 * label + mean of the condition channel: makes the conditioning visible in the output."""

    def __init__(self, num_classes=10, cond_channels=0):
        super().__init__()
        self.config = UNetConfig(num_classes=num_classes, cond_channels=cond_channels)
        self.calls = []

    def forward(self, x, t, y=None):
        self.calls.append((x.clone(), t.clone(), None if y is None else y.clone()))
        out = x[:, :1] * 0
        if y is not None:
            out = out + 0.1 * y.float().view(-1, 1, 1, 1)
        if x.shape[1] > 1:
            out = out + x[:, 1:].mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)
        return out


def test_guidance_zero_is_the_conditional_eps():
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=8))
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 3, 7, 9])
    t = torch.tensor([5, 5, 5, 5])
    assert torch.allclose(EpsFunction(model, y=y, guidance=0.0)(x, 5), model(x, t, y))


def test_guidance_combines_conditional_and_null():
    m = FakeModel()
    y = torch.tensor([2, 5])
    eps = EpsFunction(m, y=y, guidance=3.0)(torch.zeros(2, 1, 4, 4), 10)
    # eps(c) = 0.1 c, eps(null) = 0.1 * 10 = 1: (1 + w) 0.1 c - w * 1
    expected = (4.0 * 0.1 * y.float() - 3.0 * 1.0).view(-1, 1, 1, 1).expand(2, 1, 4, 4)
    assert torch.allclose(eps, expected, atol=1e-6)
    assert m.calls[0][2].tolist() == [2, 5, 10, 10]  # one doubled batch, null label second


def test_eps_function_rejects_mismatched_conditioning():
    with pytest.raises(ValueError, match="labels"):
        EpsFunction(FakeModel(num_classes=0), y=torch.tensor([1]))
    with pytest.raises(ValueError, match="x_cond"):
        EpsFunction(FakeModel(num_classes=0, cond_channels=1))
    with pytest.raises(ValueError, match="guidance"):
        EpsFunction(FakeModel(), guidance=1.0)


def test_rms_distance_and_conditioning_probability():
    a = torch.zeros(2, 1, 28, 28)
    b = torch.cat([torch.full((1, 1, 28, 28), 0.5), torch.zeros(1, 1, 28, 28)])
    assert torch.allclose(rms_distance(a, b), torch.tensor([0.5, 0.0]))
    p = conditioning_probability(a, b, tau=1.0)
    assert torch.allclose(p, torch.tensor([1 - math.exp(-0.5), 0.0]))
    # the paper's claim for tau = 1: p stays in about [0.2, 0.8] along the chain for a noisy condition
    s = Schedule(200)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(256, 1, 28, 28, generator=g) * 2 - 1
    x_cond = x0 + 0.3 * torch.randn(x0.shape, generator=g)
    for t in (10, 100, 200):
        p = conditioning_probability(s.q_sample(x0, t, torch.randn(x0.shape, generator=g)), x_cond)
        assert 0.2 < p.mean() < 0.85, (t, p.mean())


def test_probabilistic_conditioning_masks_and_records_p():
    m = FakeModel(num_classes=0, cond_channels=1)
    x_cond = torch.ones(2000, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    f = EpsFunction(m, x_cond=x_cond, mode="probabilistic", tau=1.0, generator=g)
    x_t = torch.zeros(2000, 1, 4, 4)  # d = 1, so p = 1 - e^-1 = 0.632
    f(x_t, 7)
    x_in = m.calls[0][0]
    kept = x_in[:, 1].flatten(1).mean(1)
    assert set(kept.unique().tolist()) <= {0.0, 1.0}
    assert abs(kept.mean().item() - (1 - math.exp(-1))) < 4 * math.sqrt(0.632 * 0.368 / 2000)
    assert len(f.p_history) == 1 and torch.allclose(f.p_history[0], torch.full((2000,), 1 - math.exp(-1)))
    # keep and drop modes
    for mode, value in (("keep", 1.0), ("drop", 0.0)):
        m.calls.clear()
        EpsFunction(m, x_cond=x_cond, mode=mode)(x_t, 7)
        assert torch.all(m.calls[0][0][:, 1] == value)


def test_training_loss_is_finite_and_uses_null_labels():
    m = FakeModel()
    s = Schedule(200)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(1000, 1, 4, 4) * 2 - 1
    loss = training_loss(m, s, x0, y=torch.zeros(1000, dtype=torch.long), p_uncond=0.1, generator=g)
    assert torch.isfinite(loss)
    t, y = m.calls[0][1], m.calls[0][2]
    assert 1 <= t.min() and t.max() <= 200
    assert 0.06 < (y == 10).float().mean() < 0.14  # about p_uncond of the labels are the null class
    # image conditioning: the model gets 2 channels
    m2 = FakeModel(num_classes=0, cond_channels=1)
    training_loss(m2, s, x0[:8], x_cond=x0[:8], probabilistic=True, generator=g)
    assert m2.calls[0][0].shape == (8, 2, 4, 4)


# ---------------------------------------------------------------- samplers
def test_sample_from_intermediate_step_and_trajectory():
    s = Schedule(200)
    calls = []

    def eps_fn(x, t):
        calls.append(t)
        return torch.zeros_like(x)

    x = torch.randn(2, 1, 4, 4)
    out, traj = sample_from(eps_fn, s, x, 60, record_every=20, generator=torch.Generator().manual_seed(0))
    assert calls == list(range(60, 0, -1))
    assert traj.steps == [60, 40, 20, 0]
    assert out.shape == x.shape


def test_repeat_step_and_cycles():
    s = Schedule(200)
    calls = []

    def eps_fn(x, t):
        calls.append(t)
        return 0.1 * x

    x = torch.randn(2, 1, 4, 4)
    out, traj = repeat_step(eps_fn, s, x, 1, 40, record_every=10)
    assert calls == [1] * 40
    assert traj.steps == [40, 30, 20, 10, 0]  # the passes still to run, counted down like a timestep
    # at t = 1 with no noise the step is deterministic: 40 applications of the same linear map
    c_x = 1 / s.alphas[1].sqrt()
    c_eps = s.betas[1] / ((1 - s.alpha_bars[1]).sqrt() * s.alphas[1].sqrt())
    assert torch.allclose(out, x * (c_x - 0.1 * c_eps) ** 40, rtol=1e-4)
    calls.clear()
    out, trajs = cycles(eps_fn, s, x, 5, 3, generator=torch.Generator().manual_seed(0))
    assert calls == [5, 4, 3, 2, 1] * 3 and len(trajs) == 3


def test_same_seed_same_samples():
    s = Schedule(20)
    eps_fn = lambda x, t: 0.5 * x  # noqa: E731
    a, _ = sample(eps_fn, s, (2, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    b, _ = sample(eps_fn, s, (2, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    c, _ = sample(eps_fn, s, (2, 1, 4, 4), generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sigma_1_is_zero_for_both_variances():
    # the "no noise at t = 1" rule lives in the schedule: every step reads sigma_t from it
    for sigma in ("beta", "posterior"):
        s = Schedule(200, sigma=sigma)
        assert s.sigmas[1] == 0 and (s.sigmas[2:] > 0).all()
    assert torch.allclose(Schedule(200).sigmas[2:], Schedule(200).betas[2:].sqrt())


def test_unseeded_calls_draw_fresh_noise_and_seeded_calls_repeat():
    s = Schedule(20)
    eps_fn = lambda x, t: 0.5 * x  # noqa: E731
    x = torch.zeros(2, 1, 4, 4)
    a, b = sample_from(eps_fn, s, x, 20)[0], sample_from(eps_fn, s, x, 20)[0]
    assert not torch.equal(a, b)
    c, d = sample(eps_fn, s, (2, 1, 4, 4))[0], sample(eps_fn, s, (2, 1, 4, 4))[0]
    assert not torch.equal(c, d)
    e, f = (cycles(eps_fn, s, x, 5, 2, generator=torch.Generator().manual_seed(7))[0] for _ in range(2))
    assert torch.equal(e, f)


def test_a_step_given_as_a_parameter_is_the_one_that_runs():
    s = Schedule(20)
    seen = []

    def step(x_t, t, eps, z):
        seen.append(t)
        return s.p_step(x_t, t, eps, z)

    x = torch.randn(2, 1, 4, 4)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    ours, _ = sample_from(lambda x, t: 0.1 * x, s, x, 6, step=step, generator=g1)
    default, _ = sample_from(lambda x, t: 0.1 * x, s, x, 6, generator=g2)
    assert seen == [6, 5, 4, 3, 2, 1] and torch.equal(ours, default)
    repeat_step(lambda x, t: 0.1 * x, s, x, 3, 4, step=step)
    assert seen[6:] == [3] * 4


def test_keep_mode_draws_no_random_numbers_and_training_needs_a_class_input():
    m = FakeModel(num_classes=0, cond_channels=1)
    s = Schedule(20)
    x0 = torch.rand(8, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    training_loss(m, s, x0, x_cond=x0, generator=g)
    # t and eps only: the generator is where two draws of that size leave it
    g_ref = torch.Generator().manual_seed(0)
    torch.randint(1, 21, (8,), generator=g_ref)
    torch.randn(x0.shape, generator=g_ref)
    assert torch.equal(torch.rand(5, generator=g), torch.rand(5, generator=g_ref))
    with pytest.raises(ValueError, match="no class input"):
        training_loss(m, s, x0, y=torch.zeros(8, dtype=torch.long))


def test_trajectories_record_timesteps_in_every_sampler():
    s = Schedule(200)
    eps_fn = lambda x, t: torch.zeros_like(x)  # noqa: E731
    x = torch.randn(1, 1, 4, 4)
    _, traj = ddim_sample_from(eps_fn, s, x, 200, 10, record_every=50)
    # DDIM's timesteps 200, 178, ..., 1, then 0: the input, those divisible by 50, and the output
    assert traj.steps[0] == 200 and traj.steps[-1] == 0 and all(t % 50 == 0 for t in traj.steps)
    _, traj = repeat_step(eps_fn, s, x, 1, 6, record_every=3)
    assert traj.steps == [6, 3, 0]  # the passes still to run
