"""kernels/reverse_step.py - one reverse step of the DDPM (Algorithm 2, line 4), fused into one pass over memory.

The readable definition is `ddpm.Schedule.p_step`; written with two per-step coefficients it is

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) + sigma_t * z
            =  c_x * x_t  -  c_eps * eps  +  sigma_t * z,        c_x = 1 / sqrt(alpha_t),
                                                                c_eps = beta_t / (sqrt(1 - alpha_bar_t) sqrt(alpha_t))

(sigma_1 = 0: the last step adds no noise), and the kernel can fold in the classifier-free-guidance combine
`ddpm.guided_eps` (paper, section 2.2): eps = (1 + w) * eps_c - w * eps_u.

Why fuse. Eager PyTorch runs each operator as its own kernel, and each one reads its inputs from GPU memory and
writes its output back. Unfused, for N fp32 elements with guidance and a noise tensor z:
    (1 + w) * eps_c                 read  N, write N
    w * eps_u                       read  N, write N
    ... - ...                       read 2N, write N       -> eps
    c_x * x_t                       read  N, write N
    c_eps * eps                     read  N, write N
    ... - ...                       read 2N, write N       -> mean
    sigma * z                       read  N, write N
    mean + ...                      read 2N, write N       -> x_{t-1}
11 N reads and 8 N writes: 76 bytes per element. The fused kernel reads x_t, eps_c, eps_u and z once and writes
x_{t-1} once: 20 bytes per element, or 16 when z is drawn inside the kernel (Philox) instead of read. At about
0.5 FLOP per byte the update is bound by memory bandwidth, so bytes moved is the cost, and the fused step should
run close to the device's copy bandwidth.

Contents, in the order of the Triton tutorials: the kernel, the wrapper (checks, allocation, grid), and
`fused_p_step(schedule)`, a drop-in for `schedule.p_step` that a sampler takes as `step=`. The tests run the kernel
on the CPU in Triton's interpreter (TRITON_INTERPRET=1) against `Schedule.p_step` and `ddpm.guided_eps`.
"""

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the module still imports; the samplers then use ddpm's Schedule.p_step
    triton = None

NOISE_NONE, NOISE_TENSOR, NOISE_PHILOX = 0, 1, 2


# ----------------------------------------------------------------------------------------------------------------------
# The kernel
# ----------------------------------------------------------------------------------------------------------------------
if triton is not None:

    @triton.jit
    def _reverse_step_kernel(
        x_ptr,  # x_t, flat and contiguous, any float dtype
        eps_ptr,  # eps (or eps_c, the conditional prediction, when HAS_UNCOND)
        eps_u_ptr,  # eps_u, the unconditional prediction (read only when HAS_UNCOND)
        z_ptr,  # the noise z (read only when NOISE == NOISE_TENSOR)
        out_ptr,  # x_{t-1}, written in the dtype of x_t
        n_elements,  # number of elements of x_t
        c_x,  # 1 / sqrt(alpha_t)
        c_eps,  # beta_t / (sqrt(1 - alpha_bar_t) sqrt(alpha_t))
        sigma,  # sigma_t, 0 at t = 1
        w,  # guidance weight (used only when HAS_UNCOND)
        seed,  # Philox key for NOISE == NOISE_PHILOX: one per step, so consecutive steps draw independent noise
        HAS_UNCOND: tl.constexpr,  # fuse eps = (1 + w) eps_c - w eps_u
        NOISE: tl.constexpr,  # NOISE_NONE, NOISE_TENSOR or NOISE_PHILOX
        BLOCK: tl.constexpr,  # elements per program
    ):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elements
        # all arithmetic in fp32, whatever the storage dtype
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        eps = tl.load(eps_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_UNCOND:
            eps_u = tl.load(eps_u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            # eps = (1 + w) eps_c - w eps_u
            eps = (1.0 + w) * eps - w * eps_u
        # x_{t-1} = c_x x_t - c_eps eps + sigma z
        out = c_x * x - c_eps * eps
        if NOISE == 1:
            z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            out = out + sigma * z
        elif NOISE == 2:
            # Philox counter = element index: every element gets its own N(0, 1) draw, none is read from memory
            out = out + sigma * tl.randn(seed, offs)
        tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------------------------------------------------
# The wrapper
# ----------------------------------------------------------------------------------------------------------------------
BLOCK = 4096  # 16 KB of fp32 per input per program: enough work per program to hide memory latency


def reverse_step_triton(x_t, eps, c_x, c_eps, sigma, *, eps_uncond=None, w=0.0, noise=None, out=None):
    """Launch the fused kernel. noise: None, a tensor z, or an int seed (z drawn in the kernel).
    out: an optional contiguous tensor like x_t to write into (the tests fill it with NaN first)."""
    if triton is None:
        raise RuntimeError("Triton is not installed")
    if x_t.numel() >= 2**31:
        raise ValueError("the kernel indexes with int32: at most 2^31 - 1 elements")
    # the kernel walks flat memory: a non-contiguous view is copied once here
    x_c, eps_c = x_t.contiguous(), eps.contiguous()
    eps_u = eps_uncond.contiguous() if eps_uncond is not None else eps_c
    if noise is None or sigma == 0.0:
        mode, z, seed = NOISE_NONE, x_c, 0
    elif isinstance(noise, int):
        mode, z, seed = NOISE_PHILOX, x_c, noise
    else:
        mode, z, seed = NOISE_TENSOR, noise.contiguous(), 0
    if out is None:
        out = torch.empty_like(x_c)
    n = x_c.numel()
    grid = (triton.cdiv(n, BLOCK),)
    _reverse_step_kernel[grid](
        x_c, eps_c, eps_u, z, out, n, float(c_x), float(c_eps), float(sigma), float(w), int(seed),
        HAS_UNCOND=eps_uncond is not None, NOISE=mode, BLOCK=BLOCK,
    )
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The drop-in for Schedule.p_step
# ----------------------------------------------------------------------------------------------------------------------


def step_coefficients(schedule):
    """[(c_x, c_eps, sigma_t) for t = 0..T] as Python floats (t = 0 unused), from the schedule's own tensors. Read once
    on the host, so that a step on the GPU never waits on a device-to-host copy (a CUDA-graph capture forbids one)."""
    beta, alpha = schedule.betas.double().cpu(), schedule.alphas.double().cpu()
    alpha_bar, sigma = schedule.alpha_bars.double().cpu(), schedule.sigmas.double().cpu()
    c_x = 1.0 / alpha.sqrt()
    c_eps = beta / ((1.0 - alpha_bar).sqrt() * alpha.sqrt())
    return [(c_x[t].item(), c_eps[t].item(), sigma[t].item()) for t in range(schedule.T + 1)]


def fused_p_step(schedule):
    """A function with the signature and result of `schedule.p_step` (x_t, t, eps, z) -> x_{t-1} that runs the
    fused kernel; t must be a Python int in 1..T (the samplers pass one). Pass it to a sampler as `step=`."""
    if triton is None:
        raise RuntimeError("Triton is not installed: the fused step needs it (use schedule.p_step)")
    coefficients = step_coefficients(schedule)

    def step(x_t, t, eps, z):
        if not isinstance(t, int) or not 1 <= t <= schedule.T:
            raise ValueError(f"the fused step takes one int timestep in 1..{schedule.T}, got {t!r}")
        for name, other in (("eps", eps), ("z", z)):
            if other.shape != x_t.shape:
                raise ValueError(f"{name} has shape {tuple(other.shape)}, x_t has {tuple(x_t.shape)}")
        c_x, c_eps, sigma = coefficients[t]
        return reverse_step_triton(x_t, eps, c_x, c_eps, sigma, noise=z)

    return step
