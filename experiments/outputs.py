"""outputs.py - what an experiment shows and leaves behind: a progress bar while it runs, then its files, the
headline numbers and the verdict, one closing sentence built from those numbers (`versus` words the comparisons).

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


def save(out, name, arrays, settings, metrics, verdict=None):
    """Write <name>.npz (the arrays, float32 as given) and <name>.json (settings and metrics) into the folder `out`,
    atomically, and print the headline numbers, then `verdict`: the one sentence that says what they show."""
    write_npz(Path(out) / f"{name}.npz", arrays)
    write_json(Path(out) / f"{name}.json", {"settings": settings, "metrics": metrics})
    report(name, metrics, out, verdict)


def report(name, metrics, out, verdict=None):
    """Print the headline numbers, where the files went and, last, the verdict."""
    lines = [f"{name}:"]
    for what, m in metrics.items():
        if "psnr" not in m:
            continue
        parts = [f"PSNR {m['psnr']['mean']:.2f} dB", f"SSIM {m['ssim']['mean']:.3f}"]
        if "class_kept" in m:
            parts.append(f"class kept {100 * m['class_kept']:.0f}%")
        lines.append(f"  {what:>10s}: " + ", ".join(parts))
    lines.append(f"  wrote {Path(out) / name}.png, .npz, .json")
    if verdict:
        lines.append(verdict)
    print("\n".join(lines))


def versus(metrics, row, baseline, key="psnr", name=None):
    """One row of a figure's metrics against another, by the mean of `key` (psnr, or psnr_missing): the words
    ("A dB", "D dB above the blur's B dB") (`name` names the baseline; default: its row name), and whether
    the row is the higher. The verdicts are built from these, so they follow the numbers whatever the flags."""
    a, b = metrics[row][key]["mean"], metrics[baseline][key]["mean"]
    side = "above" if a > b else "below"
    return f"{a:.1f} dB", f"{abs(a - b):.1f} dB {side} the {name or baseline}'s {b:.1f} dB", a > b
