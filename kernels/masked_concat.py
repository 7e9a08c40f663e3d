"""kernels/masked_concat.py - the UNet input of an image-conditioned DDPM (paper, sections 3.2 and 3.3).

    d_i = RMS(x_t,i - x_cond,i),   p_i = 1 - exp(-d_i / tau),   m_i = 1 if u_i < p_i else 0
    out = [x_t, m_i * x_cond]   (B, C_x + C_cond, H, W)

mode "probabilistic" draws m as above (section 3.3); "keep" sets m = 1 (section 3.2); "drop" sets m = 0 (the null
condition). `masked_concat_reference` is the readable definition; `masked_concat` is what ddpm.py calls.
"""

import torch

MODES = ("keep", "probabilistic", "drop")


def masked_concat_reference(x_t, x_cond, mode="probabilistic", tau=1.0, u=None):
    """Returns (out (B, C_x + C_cond, H, W), p (B,) float32, m (B,) float32)."""
    B = x_t.shape[0]
    if mode == "probabilistic":
        d = (x_t.float() - x_cond.float()).pow(2).flatten(1).mean(dim=1).sqrt()  # (B,)
        p = 1.0 - torch.exp(-d / tau)
        m = (u.float() < p).float()
    else:
        p = torch.full((B,), 1.0 if mode == "keep" else 0.0, device=x_t.device)
        m = p.clone()
    cond = (x_cond.float() * m.view(B, 1, 1, 1)).to(x_t.dtype)
    return torch.cat([x_t, cond], dim=1), p, m


def masked_concat(x_t, x_cond, mode="probabilistic", tau=1.0, u=None):
    """See the module docstring. u: (B,) uniforms in [0, 1), needed for mode="probabilistic"."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if x_t.shape[0] != x_cond.shape[0] or x_t.shape[2:] != x_cond.shape[2:]:
        raise ValueError(f"x_t {tuple(x_t.shape)} and x_cond {tuple(x_cond.shape)} differ in batch or image size")
    if mode == "probabilistic":
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if u is None or u.shape != (x_t.shape[0],):
            raise ValueError("mode='probabilistic' needs u, a (B,) tensor of uniforms")
    return masked_concat_reference(x_t, x_cond, mode, tau, u)
