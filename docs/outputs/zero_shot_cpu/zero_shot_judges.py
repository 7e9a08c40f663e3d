"""The zero-shot imputation tables of docs/beyond.md, printed from a run of experiments/zero_shot_imputation.py with
several judges (--classifiers), and the numbers the text around them derives.

    python3 docs/outputs/zero_shot_cpu/zero_shot_judges.py docs/outputs/zero_shot_cpu/n500_judges [docs/outputs/zero_shot_cpu/n500]

Prints: the main table (missing-pixel PSNR mean +- s.e., in brackets SSIM and class kept by the first judge), class
kept by every judge side by side, how far the judges are apart on the diffusion methods' outputs and on the classical
fills, the paired comparisons the run stored, and (with a second run folder) the largest per-image PSNR difference
between the two runs, which were the same command but for the judges.
"""

import json
import sys
from pathlib import Path

import numpy as np

LABELS = {"trained": "trained imputation model (Fig. 6)", "RePaint": "RePaint, no resampling",
          "RePaint r=5": "RePaint, 5 passes (default)", "DDNM": "DDNM", "blur fill": "blur fill (Fig. 6's)",
          "biharmonic": "biharmonic (scikit-image)"}
MASKS = {"random:0.2": "random 20%", "random:0.5": "random 50%", "random:0.8": "random 80%", "block": "centre block",
         "left-half": "left half", "rows": "every other row"}
CLASSICAL = ("blur fill", "biharmonic")


def load(folder):
    folder = Path(folder)
    run = json.loads((folder / "zero_shot_imputation.json").read_text())
    return run, np.load(folder / "zero_shot_imputation.npz")


def main(folder, other=None):
    run, arrays = load(folder)
    s, metrics = run["settings"], run["metrics"]
    masks = s["masks"]
    methods = list(metrics[masks[0]])
    calls = s["network_calls_per_chain"]
    judges = [Path(j).name for j in s["classifiers"]]
    print(f"run: n = {s['n']}, chains {s['chains']}, fast {s['fast']}, judges {judges}, "
          f"wall {sum(s['wall_s'].values()):.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in s['wall_s'].items())})\n")

    print(f"Main table (in brackets: SSIM, class kept by {judges[0]})\n")
    print("| method | calls | " + " | ".join(MASKS.get(k, k) for k in masks) + " |")
    print("|---|---|" + "---|" * len(masks))
    for m in methods:
        cells = []
        for k in masks:
            r = metrics[k][m]["sample"]
            cells.append(f"{r['psnr_missing']['mean']:.2f} +- {r['psnr_missing']['se']:.2f} "
                         f"({r['ssim']['mean']:.3f}, {100 * r['class_kept']:.0f}%)")
        print(f"| {LABELS.get(m, m)} | {calls[m]} | " + " | ".join(cells) + " |")

    print(f"\nClass kept by {' / '.join(judges)}, one sample per image\n")
    print("| method | " + " | ".join(MASKS.get(k, k) for k in masks) + " |")
    print("|---|" + "---|" * len(masks))
    spread = {"diffusion": [], "classical": []}
    for m in methods:
        row = []
        for k in masks:
            by = [100 * metrics[k][m]["sample"]["class_kept_by"][j] for j in judges]
            row.append(" / ".join(f"{v:.0f}" for v in by) + "%")
            spread["classical" if m in CLASSICAL else "diffusion"].append((max(by) - min(by), m, k))
        print(f"| {m} | " + " | ".join(row) + " |")
    for what, items in spread.items():
        worst = max(items)
        print(f"\njudges' largest disagreement on the {what} outputs: {worst[0]:.1f} points ({worst[1]}, {worst[2]})")
    lowest_block = max(100 * metrics["block"][m]["sample"]["class_kept_by"][j] for m in methods for j in judges)
    print(f"block: the highest class kept by any judge, any method: {lowest_block:.1f}%")

    print("\nPaired per image (one sample): best zero-shot minus the trained model, minus the best classical fill")
    for k in masks:
        c = run["comparisons"][k]["sample"]
        a, b = c["zero_shot_minus_trained"], c["zero_shot_minus_classical"]
        print(f"  {k}: {c['best_zero_shot']} - trained {a['mean_db']:+.2f} +- {a['se']:.2f} dB; "
              f"- {c['best_classical']} {b['mean_db']:+.2f} +- {b['se']:.2f} dB")

    if other:
        _, old = load(other)
        keys = [k for k in arrays.files if k in old.files and old[k].shape == arrays[k].shape]
        if not keys:
            sys.exit(f"{other}: no per-image arrays of the same shape to compare")
        gap = max(float(np.max(np.abs(arrays[k] - old[k]))) for k in keys)
        print(f"\nper-image missing-pixel PSNR against {other}: {len(keys)} arrays compared, largest difference "
              f"{gap:.6f} dB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
