"""kernels/masked_concat.py - the UNet input of an image-conditioned DDPM (paper, sections 3.2 and 3.3), fused.

The readable definition is `ddpm.masked_concat`:

    d_i = RMS(x_t,i - x_cond,i)          per sample i, over all its pixels (ddpm.rms_distance)
    p_i = 1 - exp(-d_i / tau)            (eq. 14, ddpm.conditioning_probability)
    m_i = 1 if u_i < p_i else 0          u_i ~ U[0, 1)
    out = [x_t, m_i * x_cond]            (B, 2C, H, W)

mode "probabilistic" draws m as above (section 3.3); "keep" sets m = 1 (plain concat, section 3.2); "drop" sets
m = 0 (the null condition). All three return (out, p, m), with p = 1 for keep and 0 for drop.
`masked_concat_triton` has the signature of `ddpm.masked_concat`, so `EpsFunction(..., concat=masked_concat_triton)`
plugs it in; it also takes u as an int seed, to draw the uniforms inside the kernel.

Why fuse. For B images of N elements each, in fp32, the eager definition does
    x_t - x_cond                    read 2N, write N   (per image; B times over)
    .pow(2)                         read  N, write N
    .mean(dim=1)                    read  N
    x_cond * m                      read  N, write N
    torch.cat([x_t, .])             read 2N, write 2N
7 N reads and 5 N writes per image, 48 bytes per element of x_t. The least any implementation must move is one
read of x_t and x_cond and one write of the two halves of `out`: 16 bytes per element.

A single pass cannot know m_i before it has read all of image i, and an image can be far larger than one program's
registers. So the kernel works in two launches, and most of the bytes move in the first:
  1. grid (chunks, B): each program copies one chunk of x_t and of x_cond into the two halves of `out` (x_cond
     unmasked) and writes its partial sum of (x_t - x_cond)^2 to a small (B, chunks) buffer: 16 bytes per element.
  2. grid (chunks, B): each program sums its image's partials (a few hundred bytes), computes d, p, m, and where
     m_i = 0 overwrites its chunk of the condition half with zeros: 4 bytes per element of the dropped images only.
So the kernel moves 16 + 4 (1 - p) bytes per element: 18 at p = 0.5. Partial sums (rather than atomics) keep p
bit-for-bit deterministic from run to run. The tests run it in Triton's interpreter against `ddpm.masked_concat`.
"""

import torch

from ddpm import check_condition

try:
    import triton
    import triton.language as tl
except ImportError:  # the module still imports; EpsFunction then uses ddpm.masked_concat
    triton = None

MODE_KEEP, MODE_PROB, MODE_DROP = 0, 1, 2

# ----------------------------------------------------------------------------------------------------------------------
# The kernels
# ----------------------------------------------------------------------------------------------------------------------
if triton is not None:

    @triton.jit
    def _one_minus_exp_neg(x):
        """1 - exp(-x) for x >= 0 to fp32 relative accuracy. Written plainly it cancels: at x = 1e-3 the result
        0.001 keeps only 4 good digits. Below x = 1/4 use the Taylor series, x (1 - x/2 (1 - x/3 (1 - ...))),
        whose first dropped term is below 1e-10 of the sum there; above it, the plain formula is accurate."""
        series = x * (1.0 - x / 2.0 * (1.0 - x / 3.0 * (1.0 - x / 4.0 * (1.0 - x / 5.0 * (
            1.0 - x / 6.0 * (1.0 - x / 7.0 * (1.0 - x / 8.0)))))))
        return tl.where(x < 0.25, series, 1.0 - tl.exp(-x))

    @triton.jit
    def _copy_and_partial_sums_kernel(
        x_ptr,  # x_t, contiguous (B, N)
        c_ptr,  # x_cond, contiguous (B, N)
        out_ptr,  # out, contiguous (B, 2N): x_t in [:, :N], the condition in [:, N:]
        partial_ptr,  # (B, n_chunks) fp32 partial sums of (x_t - x_cond)^2 (written only in MODE_PROB)
        N,  # elements per image
        n_chunks,  # programs per image = cdiv(N, BLOCK)
        MODE: tl.constexpr,  # MODE_KEEP, MODE_PROB or MODE_DROP
        BLOCK: tl.constexpr,  # elements per program
    ):
        chunk = tl.program_id(0)
        b = tl.program_id(1).to(tl.int64)  # int64: b * 2N can pass 2^31 for large batches
        offs = chunk * BLOCK + tl.arange(0, BLOCK)
        mask = offs < N
        x = tl.load(x_ptr + b * N + offs, mask=mask, other=0.0)
        tl.store(out_ptr + b * 2 * N + offs, x, mask=mask)
        if MODE == 2:
            # the null condition: zeros, x_cond is not even read
            tl.store(out_ptr + b * 2 * N + N + offs, tl.zeros_like(x), mask=mask)
        else:
            c = tl.load(c_ptr + b * N + offs, mask=mask, other=0.0)
            tl.store(out_ptr + b * 2 * N + N + offs, c, mask=mask)
            if MODE == 1:
                diff = x.to(tl.float32) - c.to(tl.float32)
                tl.store(partial_ptr + b * n_chunks + chunk, tl.sum(diff * diff, axis=0))

    @triton.jit
    def _mask_kernel(
        out_ptr,  # out, (B, 2N), as left by the first kernel
        partial_ptr,  # (B, n_chunks) partial sums from the first kernel
        u_ptr,  # (B,) fp32 uniforms (read only when not IN_KERNEL_U)
        p_ptr,  # (B,) fp32 output: p_i
        m_ptr,  # (B,) fp32 output: m_i in {0, 1}
        N,  # elements per image
        n_chunks,  # chunks per image
        inv_tau,  # 1 / tau
        seed,  # Philox key for u when IN_KERNEL_U
        IN_KERNEL_U: tl.constexpr,  # draw u_i = rand(seed, i) instead of reading it
        CHUNKS_POW2: tl.constexpr,  # n_chunks rounded up to a power of two (tl.arange needs one)
        BLOCK: tl.constexpr,  # elements per program, as in the first kernel
    ):
        chunk = tl.program_id(0)
        b = tl.program_id(1)
        # every program of image b re-sums the same partials in the same order: the same p, bit for bit
        k = tl.arange(0, CHUNKS_POW2)
        parts = tl.load(partial_ptr + b * n_chunks + k, mask=k < n_chunks, other=0.0)
        # d = sqrt(mean (x_t - x_cond)^2),  p = 1 - exp(-d / tau)
        d = tl.sqrt(tl.sum(parts, axis=0) / N)
        p = _one_minus_exp_neg(d * inv_tau)
        if IN_KERNEL_U:
            u = tl.rand(seed, b)
        else:
            u = tl.load(u_ptr + b)
        keep = u < p
        if chunk == 0:
            tl.store(p_ptr + b, p)
            tl.store(m_ptr + b, keep.to(tl.float32))
        if not keep:
            b64 = b.to(tl.int64)
            offs = chunk * BLOCK + tl.arange(0, BLOCK)
            zeros = tl.zeros([BLOCK], dtype=out_ptr.dtype.element_ty)
            tl.store(out_ptr + b64 * 2 * N + N + offs, zeros, mask=offs < N)


# ----------------------------------------------------------------------------------------------------------------------
# The wrapper
# ----------------------------------------------------------------------------------------------------------------------
BLOCK = 2048  # elements per program; an MNIST image (784) is one chunk


def masked_concat_triton(x_t, x_cond, mode="keep", tau=1.0, u=None, out=None):
    """Launch the two kernels; the arguments and the result are those of `ddpm.masked_concat`. u may also be an int
    seed (the uniforms drawn in the kernel). out: an optional contiguous (B, 2C, H, W) tensor to write into (the
    tests fill it with NaN first)."""
    if triton is None:
        raise RuntimeError("Triton is not installed: the fused concat needs it (use ddpm.masked_concat)")
    B = x_t.shape[0]
    # an int seed stands for the B uniforms the kernel draws itself
    check_condition(x_t, x_cond, mode, tau, torch.empty(B) if isinstance(u, int) else u)
    x_c, c_c = x_t.contiguous(), x_cond.contiguous()  # the kernels walk flat memory
    N = x_c[0].numel()
    if out is None:
        out = torch.empty((B, 2 * x_t.shape[1], *x_t.shape[2:]), dtype=x_t.dtype, device=x_t.device)
    n_chunks = triton.cdiv(N, BLOCK)
    code = {"keep": MODE_KEEP, "probabilistic": MODE_PROB, "drop": MODE_DROP}[mode]
    partial = torch.empty((B, n_chunks), dtype=torch.float32, device=x_t.device)
    _copy_and_partial_sums_kernel[(n_chunks, B)](x_c, c_c, out, partial, N, n_chunks, MODE=code, BLOCK=BLOCK)
    if mode != "probabilistic":
        p = torch.full((B,), 1.0 if mode == "keep" else 0.0, device=x_t.device)
        return out, p, p.clone()
    p = torch.empty(B, dtype=torch.float32, device=x_t.device)
    m = torch.empty(B, dtype=torch.float32, device=x_t.device)
    in_kernel = isinstance(u, int)
    u_t = p if in_kernel else u.to(torch.float32).contiguous()
    _mask_kernel[(n_chunks, B)](
        out, partial, u_t, p, m, N, n_chunks, 1.0 / tau, u if in_kernel else 0,
        IN_KERNEL_U=in_kernel, CHUNKS_POW2=triton.next_power_of_2(n_chunks), BLOCK=BLOCK,
    )
    return out, p, m
