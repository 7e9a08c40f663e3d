"""kernels/reverse_step.py - one reverse step of the DDPM (Algorithm 2, line 4), fused into one pass over memory.

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) + sigma_t * z,      z = 0 at t = 1
            =  c_x * x_t  -  c_eps * eps  +  sigma_t * z

optionally with the classifier-free-guidance combine folded in (paper, section 2.2):

    eps = (1 + w) * eps_c - w * eps_u

Why fuse. Eager PyTorch runs each operator as its own kernel, and each one reads its inputs from GPU memory and
writes its output back. The reference below, for N fp32 elements with guidance and a noise tensor z:
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

Contents, in the order of the Triton tutorials: the kernel, the wrapper (checks, allocation, grid), the plain
PyTorch reference that is the readable definition. The wrapper runs Triton on CUDA tensors and the reference
elsewhere; the tests run the Triton kernel on the CPU in Triton's interpreter (TRITON_INTERPRET=1).
"""

import torch

from kernels import use_triton

try:
    import triton
    import triton.language as tl
except ImportError:  # the readable reference below needs no Triton
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
# The reference: the readable definition
# ----------------------------------------------------------------------------------------------------------------------


def reverse_step_reference(x_t, eps, c_x, c_eps, sigma, *, eps_uncond=None, w=0.0, noise=None):
    """Plain PyTorch. Math in fp32 (fp64 for fp64 inputs); output in the dtype of x_t. An int `noise` is a seed for
    torch's own generator: the same seed gives the same noise here, but not the same bits as the kernel's Philox."""
    f = torch.float64 if x_t.dtype == torch.float64 else torch.float32
    e = eps.to(f)
    if eps_uncond is not None:
        # eps = (1 + w) eps_c - w eps_u
        e = (1.0 + w) * e - w * eps_uncond.to(f)
    # x_{t-1} = c_x x_t - c_eps eps + sigma z
    out = c_x * x_t.to(f) - c_eps * e
    if noise is not None and sigma != 0.0:
        if isinstance(noise, int):
            g = torch.Generator(device=x_t.device).manual_seed(noise)
            noise = torch.randn(x_t.shape, generator=g, device=x_t.device)
        out = out + sigma * noise.to(f)
    return out.to(x_t.dtype)


def reverse_step(x_t, eps, schedule, t, noise=None, *, eps_uncond=None, w=0.0, backend="auto"):
    """x_{t-1} from x_t and the predicted noise; see the module docstring.

    x_t, eps (and eps_uncond, noise if given): one shape. t: int in 1..T. noise: None (no noise), a tensor z, or an
    int seed to draw z inside the kernel. eps_uncond, w: fuse the guidance combine. backend: "auto" (Triton on CUDA,
    the reference elsewhere), "triton" or "torch".
    """
    for name, other in (("eps", eps), ("eps_uncond", eps_uncond), ("noise", noise)):
        if isinstance(other, torch.Tensor) and other.shape != x_t.shape:
            raise ValueError(f"{name} has shape {tuple(other.shape)}, x_t has {tuple(x_t.shape)}")
    c_x, c_eps, sigma = schedule.step_coefficients(t)
    fn = reverse_step_triton if use_triton(backend, x_t, triton is not None) else reverse_step_reference
    return fn(x_t, eps, c_x, c_eps, sigma, eps_uncond=eps_uncond, w=w, noise=noise)
