"""kernels/group_norm_silu.py - SiLU(GroupNorm(x + add)) in one kernel: the normalise-then-activate that opens every
convolution of the UNet (unet.GroupNormSiLU, the readable definition, which this kernel is tested against).

For each image b and group g of G (the C / G channels of the group, over all H x W pixels):

    v     = x[b, c] + add[b, c]                    (add: the time/class embedding, or nothing)
    mu    = mean(v),   var = mean(v^2) - mu^2      over the group's (C / G) H W values
    y     = (v - mu) / sqrt(var + eps) * weight[c] + bias[c]
    out   = y * sigmoid(y)                         (SiLU)

Why fuse. Eager PyTorch runs the add, the GroupNorm (itself a statistics pass and a normalising pass) and the SiLU
as separate kernels; for N fp32 elements with the add:
    x + add                         read  N, write N
    group_norm: statistics          read  N
    group_norm: normalise, affine   read  N, write N
    silu                            read  N, write N
4 N reads and 3 N writes: 28 bytes per element. The kernel reads x twice (statistics, then the output pass; the
second read of a group small enough for the cache comes from there) and writes once: 12 bytes per element, 8 if
the second read hits the cache. The statistics are accumulated in fp32 whatever the storage dtype.

Layout: NCHW, contiguous, so that the C / G channels of a group are one contiguous run of memory: one program per
(image, group) walks it in blocks. Contents, in the order of the Triton tutorials: the kernel, the wrapper (checks,
allocation, grid), an autograd.Function whose backward recomputes through the readable definition (so the kernel can
be used in training too), and `fuse_group_norms(model)`, which swaps every unet.GroupNormSiLU of a model for the
fused one in place (same parameters, same state_dict). The tests run the kernel in Triton's interpreter.
"""

import torch

from unet import GroupNormSiLU, group_norm_silu

try:
    import triton
    import triton.language as tl
except ImportError:  # the module still imports; models then keep unet.GroupNormSiLU
    triton = None

# ----------------------------------------------------------------------------------------------------------------------
# The kernel
# ----------------------------------------------------------------------------------------------------------------------
if triton is not None:

    @triton.jit
    def _group_norm_silu_kernel(
        x_ptr,  # x, (B, C, H, W) contiguous, any float dtype
        add_ptr,  # add, (B, C) contiguous (read only when HAS_ADD)
        w_ptr,  # GroupNorm weight, (C,)
        b_ptr,  # GroupNorm bias, (C,)
        out_ptr,  # out, like x
        C,  # channels
        HW,  # pixels per channel, H * W
        G,  # groups
        M,  # elements per group, (C / G) * H * W
        eps,  # added to the variance
        HAS_ADD: tl.constexpr,  # add the (B, C) vector to every pixel first
        BLOCK: tl.constexpr,  # elements per step of the walk over a group
    ):
        pid = tl.program_id(0)  # one program per (image b, group g): pid = b G + g
        b = pid // G
        c0 = (pid % G) * (M // HW)  # the group's first channel
        base = pid.to(tl.int64) * M  # NCHW: group g of image b is one run of M elements starting here
        # pass 1: sum and sum of squares of v = x + add, in fp32
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        acc_sq = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, M, BLOCK):
            offs = start + tl.arange(0, BLOCK)
            mask = offs < M
            v = tl.load(x_ptr + base + offs, mask=mask, other=0.0).to(tl.float32)
            if HAS_ADD:
                v += tl.load(add_ptr + b * C + c0 + offs // HW, mask=mask, other=0.0).to(tl.float32)
            acc += v
            acc_sq += v * v
        mean = tl.sum(acc, axis=0) / M
        var = tl.maximum(tl.sum(acc_sq, axis=0) / M - mean * mean, 0.0)
        rstd = 1.0 / tl.sqrt(var + eps)
        # pass 2: normalise, scale and shift per channel, SiLU, store
        for start in range(0, M, BLOCK):
            offs = start + tl.arange(0, BLOCK)
            mask = offs < M
            c = c0 + offs // HW
            v = tl.load(x_ptr + base + offs, mask=mask, other=0.0).to(tl.float32)
            if HAS_ADD:
                v += tl.load(add_ptr + b * C + c, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + c, mask=mask, other=1.0).to(tl.float32)
            bias = tl.load(b_ptr + c, mask=mask, other=0.0).to(tl.float32)
            y = (v - mean) * rstd * w + bias
            # SiLU: y * sigmoid(y)
            y = y / (1.0 + tl.exp(-y))
            tl.store(out_ptr + base + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------------------------------------------------
# The wrapper
# ----------------------------------------------------------------------------------------------------------------------
MAX_BLOCK = 4096  # elements per step: a 28x28 MNIST group of 4 channels (3136) is one step


def group_norm_silu_triton(x, weight, bias, groups, eps=1e-5, add=None, out=None):
    """Launch the kernel: SiLU(GroupNorm(x + add)) for x (B, C, H, W), weight and bias (C,), add (B, C) or None.
    out: an optional contiguous tensor like x to write into (the tests fill it with NaN first)."""
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
    if x.numel() >= 2**31:
        raise ValueError("the kernel indexes channels with int32: at most 2^31 - 1 elements")
    x = x.contiguous()  # the kernel walks each group as one run of memory (NCHW)
    if out is None:
        out = torch.empty_like(x)
    M = (C // groups) * H * W
    block = min(MAX_BLOCK, triton.next_power_of_2(M))
    add_c = add.contiguous() if add is not None else x  # a placeholder pointer when there is nothing to add
    _group_norm_silu_kernel[(B * groups,)](
        x, add_c, weight.contiguous(), bias.contiguous(), out, C, H * W, groups, M, float(eps),
        HAS_ADD=add is not None, BLOCK=block,
    )
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Training too: the backward pass recomputes through the readable definition
# ----------------------------------------------------------------------------------------------------------------------


class _GroupNormSiLUFunction(torch.autograd.Function):
    """Forward: the fused kernel. Backward: the gradients of unet.group_norm_silu, recomputed from the saved inputs
    (a forward pass of the definition inside backward: the kernel saves no statistics)."""

    @staticmethod
    def forward(ctx, x, add, weight, bias, groups, eps):
        ctx.save_for_backward(x, add, weight, bias)
        ctx.groups, ctx.eps = groups, eps
        return group_norm_silu_triton(x, weight, bias, groups, eps, add)

    @staticmethod
    def backward(ctx, grad_out):
        x, add, weight, bias = ctx.saved_tensors
        inputs = [t.detach().requires_grad_(True) if t is not None else None for t in (x, add, weight, bias)]
        with torch.enable_grad():
            y = group_norm_silu(*inputs, ctx.groups, ctx.eps)
        wanted = [t for t in inputs if t is not None]
        grads = iter(torch.autograd.grad(y, wanted, grad_out))
        gx, gadd, gw, gb = (next(grads) if t is not None else None for t in inputs)
        return gx, gadd, gw, gb, None, None


class FusedGroupNormSiLU(GroupNormSiLU):
    """unet.GroupNormSiLU computed by the fused kernel: the same parameters, state_dict and result."""

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
