"""kernels/group_norm_silu.py - SiLU(GroupNorm(x + add)) in one kernel forward and one backward, reading NCHW or
channels-last (NHWC) memory as it lies: the normalise-then-activate that opens every convolution of the UNet
(unet.group_norm_silu, the readable definition, which this kernel is tested against).

For each image b and group g of G (the C / G channels of the group, over all H x W pixels):

    v     = x[b, c] + add[b, c]                    (add: the time/class embedding, or nothing)
    mu    = mean(v),   var = mean((v - mu)^2)      over the group's M = (C / G) H W values
    xhat  = (v - mu) / sqrt(var + eps)
    y     = xhat * weight[c] + bias[c]
    out   = y * sigmoid(y)                         (SiLU)

Why fuse. Eager PyTorch runs the add, the GroupNorm (itself a statistics pass and a normalising pass) and the SiLU
as separate kernels; for N fp32 elements with the add:
    x + add                         read  N, write N
    group_norm: statistics          read  N
    group_norm: normalise, affine   read  N, write N
    silu                            read  N, write N
4 N reads and 3 N writes: 28 bytes per element. The least any implementation can move is one read of x and one
write of out: 8 bytes per element in fp32, 4 in bf16. This kernel moves exactly that whenever a group fits in one
program's registers (ONE_PASS_MAX elements, padded to powers of two): the group is loaded once, its statistics are
taken from the registers (the centred variance, not mean(v^2) - mu^2), and the same registers are normalised and
stored. Every group of this UNet fits: the largest is up1's first norm, 12 channels x 28 x 28 = 9,408 elements
(16 x 1,024 padded). A larger group falls back to a loop over tiles, reading x twice (statistics, then the output
pass): 12 bytes per element, 8 where the second read hits the cache. Statistics are fp32 whatever the storage dtype.

Layout without copies. The kernel addresses x by strides: element (b, c, p) of pixel p = h W + w lies at
b sb + c sc + p sp. NCHW has (sc, sp) = (HW, 1) and NHWC has (1, C); both, and channel slices of either, are walked
as they lie, and out is written in x's own memory format. So under channels-last no GroupNorm converts the
activation to NCHW and back (the copies `.contiguous()` would make: 8 bytes per element each way in fp32). Only a
layout whose H and W axes cannot be walked as one pixel axis (a slice along W, say) is copied first.

The backward, also one pass per group. With gy = dL/dy = dL/dout sigmoid(y) (1 + y (1 - sigmoid(y))):
    dL/dbias[c]   = sum over b, pixels of gy            dL/dweight[c] = sum over b, pixels of gy xhat
    dL/dv         = rstd (w gy - mean(w gy) - xhat mean(w gy xhat))     (means over the group)
    dL/dadd[b, c] = sum over pixels of dL/dv            dL/dx = dL/dv
It reads x and dL/dout once and writes dL/dx once (12 bytes per element in fp32), plus (B, C) partial sums that a
torch .sum(0) finishes; mean and rstd come from the forward, which keeps them ((B, G) fp32). Recomputing through
the readable definition instead runs the four eager forward kernels above again (4 N reads, 3 N writes), then
silu's backward (2 N reads, N write), group_norm's (dL/dy and v read twice, N write) and the add's (a sum over the
pixels, N read): 11 N reads and 5 N writes, 64 bytes per element. Looped groups read x and dL/dout twice.

Contents, in the order of the Triton tutorials, after this motivation: the kernels, the wrappers (checks, allocation, grid), the
reference they are checked against (unet.group_norm_silu in float64), the autograd.Function that joins forward and
backward, and `fuse_group_norms(model)`, which swaps every unet.GroupNormSiLU of a model for the fused one in place
(same parameters, same state_dict). The tests run the kernels in Triton's interpreter.
"""

import torch

from unet import GroupNormSiLU, group_norm_silu

try:
    import triton
    import triton.language as tl
except ImportError:  # the module still imports; models then keep unet.GroupNormSiLU
    triton = None

# ----------------------------------------------------------------------------------------------------------------------
# The kernels
# ----------------------------------------------------------------------------------------------------------------------
if triton is not None:

    @triton.jit
    def _tile(b, c, p, c_end, HW, sb, sc, sp):
        """Offsets and mask of a (pixels, channels) tile of image b: channels c (BLOCK_C,), pixels p (BLOCK_P,)."""
        mask = (p < HW)[:, None] & (c < c_end)[None, :]
        offs = b.to(tl.int64) * sb + p[:, None] * sp + c[None, :] * sc
        return offs, mask

    @triton.jit
    def _load_v(x_ptr, add_ptr, b, c, c_end, offs, mask, add_sb, add_sc, HAS_ADD: tl.constexpr):
        """v = x + add on a tile, in fp32, 0 where masked (so that plain sums are the group's sums)."""
        v = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_ADD:
            a = tl.load(add_ptr + b * add_sb + c * add_sc, mask=c < c_end, other=0.0).to(tl.float32)
            v = tl.where(mask, v + a[None, :], 0.0)
        return v

    @triton.jit
    def _group_norm_silu_fwd(
        x_ptr,  # x, (B, C, H, W), any float dtype, strides (x_sb, x_sc, x_sp) over image, channel, pixel
        add_ptr,  # add, (B, C), strides (add_sb, add_sc); read only when HAS_ADD
        w_ptr,  # GroupNorm weight, (C,) contiguous
        bias_ptr,  # GroupNorm bias, (C,) contiguous
        out_ptr,  # out, (B, C, H, W) in x's dtype, its own strides (out_sb, out_sc, out_sp)
        mean_ptr,  # (B, G) fp32, contiguous: mu of each group, kept for the backward
        rstd_ptr,  # (B, G) fp32, contiguous: 1 / sqrt(var + eps) of each group
        x_sb, x_sc, x_sp,  # strides of x; the pixel stride walks p = h W + w
        out_sb, out_sc, out_sp,  # strides of out
        add_sb, add_sc,  # strides of add
        C_G,  # channels per group, C / G
        HW,  # pixels per channel, H * W
        G,  # groups
        eps,  # added to the variance
        HAS_ADD: tl.constexpr,  # add the (B, C) vector to every pixel first
        ONE_PASS: tl.constexpr,  # the whole group is one tile: BLOCK_C >= C_G and BLOCK_P >= HW
        BLOCK_C: tl.constexpr,  # channels per tile (a power of two)
        BLOCK_P: tl.constexpr,  # pixels per tile (a power of two)
    ):
        pid = tl.program_id(0)  # one program per (image b, group g): pid = b G + g
        b = pid // G
        c0 = (pid % G) * C_G  # the group's first channel
        c_end = c0 + C_G
        M = C_G * HW
        cs = tl.arange(0, BLOCK_C)
        ps = tl.arange(0, BLOCK_P)
        if ONE_PASS:
            # the group in registers: one read, the statistics from the registers, one write
            c = c0 + cs
            offs, mask = _tile(b, c, ps, c_end, HW, x_sb, x_sc, x_sp)
            v = _load_v(x_ptr, add_ptr, b, c, c_end, offs, mask, add_sb, add_sc, HAS_ADD)  # (BLOCK_P, BLOCK_C)
            mean = tl.sum(v) / M
            d = tl.where(mask, v - mean, 0.0)
            rstd = 1.0 / tl.sqrt(tl.sum(d * d) / M + eps)
            w = tl.load(w_ptr + c, mask=c < c_end, other=1.0).to(tl.float32)
            bias = tl.load(bias_ptr + c, mask=c < c_end, other=0.0).to(tl.float32)
            y = d * rstd * w[None, :] + bias[None, :]
            y = y / (1.0 + tl.exp(-y))  # SiLU: y sigmoid(y)
            out_offs, _ = _tile(b, c, ps, c_end, HW, out_sb, out_sc, out_sp)
            tl.store(out_ptr + out_offs, y.to(out_ptr.dtype.element_ty), mask=mask)
        else:
            # pass 1: sums of v - shift and of its square over the tiles; the shift (the group's first value)
            # keeps mean(d^2) - mean(d)^2 from cancelling when the group's mean is large against its spread
            shift = tl.load(x_ptr + b.to(tl.int64) * x_sb + c0 * x_sc).to(tl.float32)
            if HAS_ADD:
                shift += tl.load(add_ptr + b * add_sb + c0 * add_sc).to(tl.float32)
            acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
            acc_sq = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
            for c_start in range(c0, c_end, BLOCK_C):
                c = c_start + cs
                for p_start in range(0, HW, BLOCK_P):
                    offs, mask = _tile(b, c, p_start + ps, c_end, HW, x_sb, x_sc, x_sp)
                    v = _load_v(x_ptr, add_ptr, b, c, c_end, offs, mask, add_sb, add_sc, HAS_ADD)
                    d = tl.where(mask, v - shift, 0.0)
                    acc += d
                    acc_sq += d * d
            mean_d = tl.sum(acc) / M
            mean = shift + mean_d
            rstd = 1.0 / tl.sqrt(tl.maximum(tl.sum(acc_sq) / M - mean_d * mean_d, 0.0) + eps)
            # pass 2: normalise, scale and shift per channel, SiLU, store
            for c_start in range(c0, c_end, BLOCK_C):
                c = c_start + cs
                w = tl.load(w_ptr + c, mask=c < c_end, other=1.0).to(tl.float32)
                bias = tl.load(bias_ptr + c, mask=c < c_end, other=0.0).to(tl.float32)
                for p_start in range(0, HW, BLOCK_P):
                    offs, mask = _tile(b, c, p_start + ps, c_end, HW, x_sb, x_sc, x_sp)
                    v = _load_v(x_ptr, add_ptr, b, c, c_end, offs, mask, add_sb, add_sc, HAS_ADD)
                    # masked lanes normalised as 0, so that exp(-y) cannot overflow on them
                    y = tl.where(mask, v - mean, 0.0) * rstd * w[None, :] + bias[None, :]
                    y = y / (1.0 + tl.exp(-y))
                    out_offs, _ = _tile(b, c, p_start + ps, c_end, HW, out_sb, out_sc, out_sp)
                    tl.store(out_ptr + out_offs, y.to(out_ptr.dtype.element_ty), mask=mask)
        tl.store(mean_ptr + pid, mean)
        tl.store(rstd_ptr + pid, rstd)

    @triton.jit
    def _grad_y(v, g, mask, mean, rstd, w, bias):
        """xhat and gy = dL/dy on a tile, from v, g = dL/dout and the group's statistics (both 0 where masked)."""
        xhat = tl.where(mask, v - mean, 0.0) * rstd
        y = xhat * w[None, :] + bias[None, :]
        s = 1.0 / (1.0 + tl.exp(-y))
        # d SiLU(y) / dy = sigmoid(y) (1 + y (1 - sigmoid(y)))
        return xhat, g * s * (1.0 + y * (1.0 - s))

    @triton.jit
    def _load_grad_y(x_ptr, add_ptr, g_ptr, b, c, p, c_end, HW, x_sb, x_sc, x_sp, g_sb, g_sc, g_sp, add_sb, add_sc,
                     mean, rstd, w, bias, HAS_ADD: tl.constexpr):
        """_grad_y on the tile of channels c and pixels p: v recomputed from x (and add), g loaded by its own strides.
        Returns (xhat, gy, mask)."""
        offs, mask = _tile(b, c, p, c_end, HW, x_sb, x_sc, x_sp)
        v = _load_v(x_ptr, add_ptr, b, c, c_end, offs, mask, add_sb, add_sc, HAS_ADD)
        g_offs, _ = _tile(b, c, p, c_end, HW, g_sb, g_sc, g_sp)
        g = tl.load(g_ptr + g_offs, mask=mask, other=0.0).to(tl.float32)  # 0 where masked: gy is 0 there
        xhat, gy = _grad_y(v, g, mask, mean, rstd, w, bias)
        return xhat, gy, mask

    @triton.jit
    def _group_norm_silu_bwd(
        x_ptr,  # x, as in the forward, strides (x_sb, x_sc, x_sp)
        add_ptr,  # add, as in the forward (read only when HAS_ADD)
        w_ptr,  # GroupNorm weight, (C,) contiguous
        bias_ptr,  # GroupNorm bias, (C,) contiguous
        mean_ptr,  # (B, G) fp32: mu, from the forward
        rstd_ptr,  # (B, G) fp32: 1 / sqrt(var + eps), from the forward
        g_ptr,  # dL/dout, (B, C, H, W), strides (g_sb, g_sc, g_sp)
        gx_ptr,  # dL/dx, (B, C, H, W) in x's dtype, strides (gx_sb, gx_sc, gx_sp)
        gw_ptr,  # (B, C) fp32, contiguous: sum over the pixels of image b of gy xhat (dL/dweight before .sum(0))
        gb_ptr,  # (B, C) fp32, contiguous: sum over the pixels of image b of gy (dL/dbias before .sum(0))
        gadd_ptr,  # (B, C) fp32, contiguous: dL/dadd (written only when HAS_ADD)
        x_sb, x_sc, x_sp,  # strides of x
        g_sb, g_sc, g_sp,  # strides of dL/dout
        gx_sb, gx_sc, gx_sp,  # strides of dL/dx
        add_sb, add_sc,  # strides of add
        C,  # channels
        C_G,  # channels per group
        HW,  # pixels per channel
        G,  # groups
        HAS_ADD: tl.constexpr,  # the forward added a (B, C) vector: recompute v with it, write dL/dadd
        ONE_PASS: tl.constexpr,  # the whole group is one tile
        BLOCK_C: tl.constexpr,  # channels per tile (a power of two)
        BLOCK_P: tl.constexpr,  # pixels per tile (a power of two)
    ):
        pid = tl.program_id(0)  # one program per (image b, group g)
        b = pid // G
        c0 = (pid % G) * C_G
        c_end = c0 + C_G
        M = C_G * HW
        mean = tl.load(mean_ptr + pid)
        rstd = tl.load(rstd_ptr + pid)
        cs = tl.arange(0, BLOCK_C)
        ps = tl.arange(0, BLOCK_P)
        if ONE_PASS:
            c = c0 + cs
            c_ok = c < c_end
            w = tl.load(w_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
            bias = tl.load(bias_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
            xhat, gy, mask = _load_grad_y(x_ptr, add_ptr, g_ptr, b, c, ps, c_end, HW, x_sb, x_sc, x_sp, g_sb, g_sc,
                                          g_sp, add_sb, add_sc, mean, rstd, w, bias, HAS_ADD)
            sum_gy = tl.sum(gy, axis=0)  # (BLOCK_C,) per channel
            sum_gy_xhat = tl.sum(gy * xhat, axis=0)
            tl.store(gb_ptr + b * C + c, sum_gy, mask=c_ok)
            tl.store(gw_ptr + b * C + c, sum_gy_xhat, mask=c_ok)
            # mean(w gy) and mean(w gy xhat) over the group
            m1 = tl.sum(w * sum_gy) / M
            m2 = tl.sum(w * sum_gy_xhat) / M
            gv = tl.where(mask, rstd * (gy * w[None, :] - m1 - xhat * m2), 0.0)
            gx_offs, _ = _tile(b, c, ps, c_end, HW, gx_sb, gx_sc, gx_sp)
            tl.store(gx_ptr + gx_offs, gv.to(gx_ptr.dtype.element_ty), mask=mask)
            if HAS_ADD:
                tl.store(gadd_ptr + b * C + c, tl.sum(gv, axis=0), mask=c_ok)
        else:
            # pass 1: the per-channel sums, and from them the group's two means
            w_sum_gy = tl.zeros([BLOCK_C], dtype=tl.float32)
            w_sum_gy_xhat = tl.zeros([BLOCK_C], dtype=tl.float32)
            for c_start in range(c0, c_end, BLOCK_C):
                c = c_start + cs
                c_ok = c < c_end
                w = tl.load(w_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
                bias = tl.load(bias_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
                sum_gy = tl.zeros([BLOCK_C], dtype=tl.float32)
                sum_gy_xhat = tl.zeros([BLOCK_C], dtype=tl.float32)
                for p_start in range(0, HW, BLOCK_P):
                    xhat, gy, mask = _load_grad_y(x_ptr, add_ptr, g_ptr, b, c, p_start + ps, c_end, HW, x_sb, x_sc,
                                                  x_sp, g_sb, g_sc, g_sp, add_sb, add_sc, mean, rstd, w, bias, HAS_ADD)
                    sum_gy += tl.sum(gy, axis=0)
                    sum_gy_xhat += tl.sum(gy * xhat, axis=0)
                tl.store(gb_ptr + b * C + c, sum_gy, mask=c_ok)
                tl.store(gw_ptr + b * C + c, sum_gy_xhat, mask=c_ok)
                w_sum_gy += w * sum_gy
                w_sum_gy_xhat += w * sum_gy_xhat
            m1 = tl.sum(w_sum_gy) / M
            m2 = tl.sum(w_sum_gy_xhat) / M
            # pass 2: dL/dx, and its per-channel sums for dL/dadd
            for c_start in range(c0, c_end, BLOCK_C):
                c = c_start + cs
                c_ok = c < c_end
                w = tl.load(w_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
                bias = tl.load(bias_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
                sum_gv = tl.zeros([BLOCK_C], dtype=tl.float32)
                for p_start in range(0, HW, BLOCK_P):
                    xhat, gy, mask = _load_grad_y(x_ptr, add_ptr, g_ptr, b, c, p_start + ps, c_end, HW, x_sb, x_sc,
                                                  x_sp, g_sb, g_sc, g_sp, add_sb, add_sc, mean, rstd, w, bias, HAS_ADD)
                    gv = tl.where(mask, rstd * (gy * w[None, :] - m1 - xhat * m2), 0.0)
                    gx_offs, _ = _tile(b, c, p_start + ps, c_end, HW, gx_sb, gx_sc, gx_sp)
                    tl.store(gx_ptr + gx_offs, gv.to(gx_ptr.dtype.element_ty), mask=mask)
                    sum_gv += tl.sum(gv, axis=0)
                if HAS_ADD:
                    tl.store(gadd_ptr + b * C + c, sum_gv, mask=c_ok)


# ----------------------------------------------------------------------------------------------------------------------
# The wrappers
# ----------------------------------------------------------------------------------------------------------------------
ONE_PASS_MAX = 16384  # elements of a one-pass tile, padding included: 64 KiB of fp32 registers per program
LOOP_TILE = 4096  # elements of a tile of the looped fallback


def _pixel_stride(t):
    """The stride that walks pixel p = h W + w of a (B, C, H, W) tensor, or None where H and W are not one axis."""
    _, _, H, W = t.shape
    if H == 1 or t.stride(2) == W * t.stride(3):
        return t.stride(3)
    if W == 1:
        return t.stride(2)
    return None


def _walkable(t):
    """t itself where its H and W walk as one pixel axis (NCHW, NHWC, their channel slices); else a copy."""
    return t if _pixel_stride(t) is not None else t.contiguous()


def _strides(t):
    return t.stride(0), t.stride(1), _pixel_stride(t)


def _blocks(C_G, HW):
    """(ONE_PASS, BLOCK_C, BLOCK_P, num_warps) for a group of C_G channels x HW pixels."""
    block_c, block_p = triton.next_power_of_2(C_G), triton.next_power_of_2(HW)
    if block_c * block_p <= ONE_PASS_MAX:
        return True, block_c, block_p, max(4, min(16, block_c * block_p // 1024))
    block_c = min(block_c, LOOP_TILE // 16)  # at least 16 pixels a tile: whole cache lines along NCHW's pixels
    return False, block_c, min(block_p, LOOP_TILE // block_c), 8


def _check(x, weight, bias, groups, add):
    if triton is None:
        raise RuntimeError("Triton is not installed: the fused GroupNorm + SiLU needs it (use unet.GroupNormSiLU)")
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    B, C, H, W = x.shape
    if C % groups:
        raise ValueError(f"{groups} groups do not divide {C} channels")
    if weight.shape != (C,) or bias.shape != (C,):
        raise ValueError(f"weight and bias must be ({C},), got {tuple(weight.shape)} and {tuple(bias.shape)}")
    if add is not None and add.shape != (B, C):
        raise ValueError(f"add must be (B, C) = ({B}, {C}), got {tuple(add.shape)}")
    if B and x[0].numel() >= 2**31:
        raise ValueError("the kernel indexes within an image with int32: at most 2^31 - 1 elements per image")


def group_norm_silu_forward(x, weight, bias, groups, eps=1e-5, add=None, out=None):
    """Launch the forward kernel: SiLU(GroupNorm(x + add)) for x (B, C, H, W) in NCHW or NHWC memory (or any layout
    whose H and W walk as one axis), weight and bias (C,), add (B, C) or None. out: an optional tensor like x to
    write into, in any such layout (the tests fill it with NaN first); by default out has x's memory format.
    Returns (out, mean, rstd), the group statistics (B, G) in fp32."""
    _check(x, weight, bias, groups, add)
    B, C, H, W = x.shape
    x = _walkable(x)
    if out is None:
        out = torch.empty_like(x)  # keeps x's memory format: channels-last stays channels-last
    elif out.shape != x.shape or _pixel_stride(out) is None:
        raise ValueError(f"out must be {tuple(x.shape)} with H and W walkable as one axis, got {tuple(out.shape)}")
    mean = torch.empty(B, groups, device=x.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    if x.numel() == 0:
        return out, mean, rstd
    one_pass, block_c, block_p, num_warps = _blocks(C // groups, H * W)
    add_t = add if add is not None else weight  # a placeholder pointer when there is nothing to add
    _group_norm_silu_fwd[(B * groups,)](
        x, add_t, weight.contiguous(), bias.contiguous(), out, mean, rstd,
        *_strides(x), *_strides(out), add_t.stride(0), add_t.stride(-1),
        C // groups, H * W, groups, float(eps),
        HAS_ADD=add is not None, ONE_PASS=one_pass, BLOCK_C=block_c, BLOCK_P=block_p, num_warps=num_warps,
    )
    return out, mean, rstd


def group_norm_silu_triton(x, weight, bias, groups, eps=1e-5, add=None, out=None):
    """SiLU(GroupNorm(x + add)) by the forward kernel (see group_norm_silu_forward); returns out."""
    return group_norm_silu_forward(x, weight, bias, groups, eps, add, out)[0]


def group_norm_silu_backward(grad_out, x, weight, bias, groups, mean, rstd, add=None):
    """Launch the backward kernel. grad_out and x (B, C, H, W) in any walkable layouts (each its own), mean and rstd
    (B, G) from the forward. Returns (dL/dx in x's dtype and memory format, dL/dadd (B, C) or None, dL/dweight,
    dL/dbias), the last three in the dtypes of add, weight and bias."""
    _check(x, weight, bias, groups, add)
    B, C, H, W = x.shape
    x, grad_out = _walkable(x), _walkable(grad_out)
    gx = torch.empty_like(x)
    partial = torch.zeros(3, B, C, device=x.device, dtype=torch.float32)  # gy xhat, gy, dL/dadd; per image
    if x.numel():
        one_pass, block_c, block_p, num_warps = _blocks(C // groups, H * W)
        add_t = add if add is not None else weight
        _group_norm_silu_bwd[(B * groups,)](
            x, add_t, weight.contiguous(), bias.contiguous(), mean, rstd, grad_out, gx,
            partial[0], partial[1], partial[2],
            *_strides(x), *_strides(grad_out), *_strides(gx), add_t.stride(0), add_t.stride(-1),
            C, C // groups, H * W, groups,
            HAS_ADD=add is not None, ONE_PASS=one_pass, BLOCK_C=block_c, BLOCK_P=block_p, num_warps=num_warps,
        )
    gadd = partial[2].to(add.dtype) if add is not None else None
    return gx, gadd, partial[0].sum(0).to(weight.dtype), partial[1].sum(0).to(bias.dtype)


# ----------------------------------------------------------------------------------------------------------------------
# The reference: the readable definition itself
# ----------------------------------------------------------------------------------------------------------------------


def reference(x, weight, bias, groups, eps=1e-5, add=None):
    """What the kernels are checked against: unet.group_norm_silu, in float64 (its gradients by autograd)."""
    return group_norm_silu(x.double(), None if add is None else add.double(), weight.double(), bias.double(),
                           groups, eps)


# ----------------------------------------------------------------------------------------------------------------------
# Training too: forward and backward kernels joined for autograd
# ----------------------------------------------------------------------------------------------------------------------


class _GroupNormSiLUFunction(torch.autograd.Function):
    """Forward: the forward kernel, keeping the group statistics. Backward: the backward kernel (first derivatives
    only: a second backward through it raises)."""

    @staticmethod
    def forward(ctx, x, add, weight, bias, groups, eps):
        out, mean, rstd = group_norm_silu_forward(x, weight, bias, groups, eps, add)
        ctx.save_for_backward(x, add, weight, bias, mean, rstd)
        ctx.groups = groups
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, add, weight, bias, mean, rstd = ctx.saved_tensors
        gx, gadd, gw, gb = group_norm_silu_backward(grad_out, x, weight, bias, ctx.groups, mean, rstd, add)
        return gx, gadd, gw, gb, None, None


class FusedGroupNormSiLU(GroupNormSiLU):
    """unet.GroupNormSiLU computed by the fused kernels: the same parameters, state_dict and result."""

    def forward(self, x, add=None):
        return _GroupNormSiLUFunction.apply(x, add, self.weight, self.bias, self.num_groups, self.eps)


def fuse_group_norms(model):
    """Swap every unet.GroupNormSiLU of `model` for FusedGroupNormSiLU, in place (the parameters stay where they
    are, so a state_dict saved or loaded either way is the same). Returns the number swapped."""
    if triton is None:
        raise RuntimeError("Triton is not installed: the fused GroupNorm + SiLU needs it")
    swapped = 0
    for module in model.modules():
        if type(module) is GroupNormSiLU:
            module.__class__ = FusedGroupNormSiLU
            swapped += 1
    return swapped
