"""kernels - fused Triton kernels for the two memory-bound operations of the sampler, each beside its plain PyTorch
reference: `reverse_step.py` (Algorithm 2, line 4) and `masked_concat.py` (the UNet input of sections 3.2, 3.3).
The wrappers run Triton on CUDA tensors and the reference everywhere else."""
