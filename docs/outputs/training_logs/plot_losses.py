"""Training curves from train.py's log.csv files: a figure of the loss against the step (a 50-step moving average
over the raw loss) and, per run, the numbers checkpoints/MANIFEST.md quotes (steps, wall time, median step time,
mean loss of the last 100 steps).

    python docs/outputs/training_logs/plot_losses.py docs/outputs/training_logs/*.csv --out docs/outputs/training_logs/training_losses.png
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def read_log(path):
    """(steps, losses, wall seconds) of one log.csv (columns step, loss, wall_time_s)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"step", "loss", "wall_time_s"} <= set(rows[0]):
        raise SystemExit(f"error: {path}: not a train.py log.csv (columns step, loss, wall_time_s)")
    return (np.array([int(r["step"]) for r in rows]), np.array([float(r["loss"]) for r in rows]),
            np.array([float(r["wall_time_s"]) for r in rows]))


def summary(steps, losses, wall):
    return {"steps": int(steps[-1]), "wall_time_min": round(wall[-1] / 60, 2),
            "median_step_s": round(float(np.median(np.diff(wall))), 3) if len(wall) > 1 else None,
            "mean_loss_last_100": round(float(losses[-100:].mean()), 4)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", help="log.csv files (the run's name is the file's stem)")
    ap.add_argument("--out", required=True, help="the figure (png)")
    args = ap.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from files import write_figure

    fig, ax = plt.subplots(figsize=(7, 4))
    print("| run | steps | wall time (min) | median step (s) | mean loss, last 100 steps |")
    print("|---|---|---|---|---|")
    for path in args.logs:
        steps, losses, wall = read_log(path)
        k = min(50, len(losses))
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, label=Path(path).stem, lw=1)
        s = summary(steps, losses, wall)
        print(f"| {Path(path).stem} | {s['steps']} | {s['wall_time_min']} | {s['median_step_s']} | "
              f"{s['mean_loss_last_100']} |")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving average of {k} steps)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_figure(fig, args.out)


if __name__ == "__main__":
    main()
