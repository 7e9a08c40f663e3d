"""outputs.py - what an experiment shows and leaves behind: a progress bar while it runs, then its files and the
headline numbers.

Outputs of a figure script <name>, in --out (default results/): <name>.png (drawing.draw_strip), <name>.npz (original,
corrupted, final (N, 1, 28, 28) float32 in [-1, 1], trajectory (K, N, 1, 28, 28), steps (K,), labels (N,), plus
extras such as p), <name>.json (settings and metrics).
"""

from pathlib import Path

import paths  # noqa: F401  (first: puts the project root on sys.path)
from files import write_json, write_npz


def progress(total, desc, args):
    """A progress bar of `total` steps, off with --no-progress."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=args.no_progress, mininterval=1.0)


def save(out, name, arrays, settings, metrics):
    """Write <name>.npz (the arrays, float32 as given) and <name>.json (settings and metrics) into the folder `out`,
    atomically, and print the headline numbers."""
    write_npz(Path(out) / f"{name}.npz", arrays)
    write_json(Path(out) / f"{name}.json", {"settings": settings, "metrics": metrics})
    report(name, metrics, out)


def report(name, metrics, out):
    """Print the headline numbers and where the files went."""
    lines = [f"{name}:"]
    for what, m in metrics.items():
        if "psnr" not in m:
            continue
        parts = [f"PSNR {m['psnr']['mean']:.2f} dB", f"SSIM {m['ssim']['mean']:.3f}"]
        if "class_kept" in m:
            parts.append(f"class kept {100 * m['class_kept']:.0f}%")
        lines.append(f"  {what:>10s}: " + ", ".join(parts))
    lines.append(f"  wrote {Path(out) / name}.png, .npz, .json")
    print("\n".join(lines))
