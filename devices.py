"""devices.py - which device a script runs on: the --device flag of every script."""

import torch

DEVICE_HELP = "where the networks run: auto (a CUDA GPU if PyTorch sees one, else the CPU), cpu or cuda (default: auto)"


def resolve_device(name="auto"):
    """'auto' -> cuda if available, else cpu. Asking for cuda where there is none is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device here (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise SystemExit(f"error: --device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
