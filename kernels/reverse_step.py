"""kernels/reverse_step.py - one reverse step of the DDPM (Algorithm 2, line 4).

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) + sigma_t * z,   z = 0 at t = 1

`reverse_step_reference` is the readable definition. `reverse_step` is what the samplers call.
"""

import math

import torch


def step_coefficients(schedule, t):
    """The three scalars of the update at timestep t: x_{t-1} = c_x * x_t - c_eps * eps + sigma * z.
    c_x = 1 / sqrt(alpha_t),  c_eps = beta_t / (sqrt(1 - alpha_bar_t) sqrt(alpha_t)),  sigma = sigma_t (0 at t = 1)."""
    if not 1 <= t <= schedule.T:
        raise ValueError(f"t must lie in 1..{schedule.T}, got {t}")
    a, b, ab = schedule.alphas[t].item(), schedule.betas[t].item(), schedule.alpha_bars[t].item()
    c_x = 1.0 / math.sqrt(a)
    c_eps = b / (math.sqrt(1.0 - ab) * math.sqrt(a))
    sigma = schedule.sigmas[t].item() if t > 1 else 0.0
    return c_x, c_eps, sigma


def reverse_step_reference(x_t, eps, schedule, t, noise=None):
    """Plain PyTorch: x_{t-1} from x_t, the predicted eps and the noise z (None: no noise). Math in fp32."""
    c_x, c_eps, sigma = step_coefficients(schedule, t)
    out = c_x * x_t.float() - c_eps * eps.float()
    if noise is not None and sigma > 0:
        out = out + sigma * noise.float()
    return out.to(x_t.dtype)


def reverse_step(x_t, eps, schedule, t, noise=None):
    """x_{t-1}; see the module docstring. x_t, eps, noise: same shape; t: int in 1..T."""
    if eps.shape != x_t.shape or (noise is not None and noise.shape != x_t.shape):
        raise ValueError(f"x_t, eps and noise must share a shape, got {tuple(x_t.shape)}, {tuple(eps.shape)}"
                         + ("" if noise is None else f", {tuple(noise.shape)}"))
    return reverse_step_reference(x_t, eps, schedule, t, noise)
