"""kernels - fused Triton kernels for the two memory-bound operations of the sampler. A leaf: the readable core
(ddpm.py) never imports it; the kernels import ddpm for the definitions they are tested against.

  reverse_step.py    Algorithm 2, line 4 in one pass over memory; `fused_p_step(schedule)` is a drop-in for
                     `schedule.p_step`, which a sampler takes as `step=`
  masked_concat.py   the UNet input [x_t, m * x_cond] of sections 3.2, 3.3 with eq. (14)'s mask; `masked_concat_triton`
                     is a drop-in for `ddpm.masked_concat`, which EpsFunction takes as `concat=`
  bench.py           how close they come to the GPU's copy bandwidth, and what they buy the whole sampler

`choose` is what the scripts' --kernels flag does.
"""

import importlib.util
import os

CHOICES = ("auto", "triton", "torch")


class Unavailable(RuntimeError):
    """--kernels triton where the kernels cannot run."""

FLAG_HELP = ("the reverse step and the conditioning input: 'torch' runs the readable definitions in ddpm.py, "
             "'triton' the fused kernels in kernels/, 'auto' (default) the kernels on a CUDA device with Triton "
             "installed and ddpm.py elsewhere")


def choose(kernels, device, schedule):
    """(step, concat) for a sampler's `step=` and EpsFunction's `concat=`: the fused Triton kernels or the ddpm.py
    definitions, as `kernels` ("auto", "triton" or "torch") asks; see FLAG_HELP. On a CPU "triton" runs only in
    Triton's interpreter (TRITON_INTERPRET=1, set before Triton is imported), which is how the tests use it."""
    import ddpm

    if kernels not in CHOICES:
        raise ValueError(f"kernels must be one of {CHOICES}, got {kernels!r}")
    has_triton = importlib.util.find_spec("triton") is not None
    if kernels == "triton" and not has_triton:
        raise Unavailable("--kernels triton: Triton is not installed (pip install triton, or use --kernels torch)")
    if kernels == "triton" and not str(device).startswith("cuda") and os.environ.get("TRITON_INTERPRET") != "1":
        raise Unavailable("--kernels triton needs a CUDA device (on a CPU, Triton runs only in its interpreter: "
                           "set TRITON_INTERPRET=1; or use --kernels torch)")
    if kernels == "torch" or (kernels == "auto" and not (str(device).startswith("cuda") and has_triton)):
        return schedule.p_step, ddpm.masked_concat
    from kernels.masked_concat import masked_concat_triton
    from kernels.reverse_step import fused_p_step

    return fused_p_step(schedule), masked_concat_triton
