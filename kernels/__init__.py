"""kernels - fused Triton kernels for the two memory-bound operations of the sampler, each beside its plain PyTorch
reference: `reverse_step.py` (Algorithm 2, line 4) and `masked_concat.py` (the UNet input of sections 3.2, 3.3).
The wrappers run Triton on CUDA tensors and the reference everywhere else; the environment variable
DDPM_KERNELS=torch forces the reference everywhere (DDPM_KERNELS=triton forces Triton)."""

import os

BACKENDS = ("auto", "triton", "torch")


def use_triton(backend, x, triton_available):
    """Whether a wrapper called with `backend` on tensor x runs the Triton kernel. backend="auto" defers to
    $DDPM_KERNELS (default auto: Triton exactly when x is on a CUDA device and Triton is installed)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = os.environ.get("DDPM_KERNELS", "auto")
        if backend not in BACKENDS:
            raise ValueError(f"DDPM_KERNELS must be one of {BACKENDS}, got {backend!r}")
    return backend == "triton" or (backend == "auto" and x.is_cuda and triton_available)
