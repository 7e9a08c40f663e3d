"""Compare two folders of figure outputs (make_results.py --out A, --out B): every json metric side by side, and the
largest pixel difference between their final images and trajectories.

    python docs/outputs/one_path_before_after/compare.py results/before results/after
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(a, b):
    for ja in sorted(Path(a).glob("*.json")):
        jb = Path(b) / ja.name
        if not ja.with_suffix(".npz").exists():  # a summary of several figures (paired_psnr.json): compared whole
            print(f"{ja.name}: the same: {json.loads(ja.read_text()) == json.loads(jb.read_text())}")
            continue
        A, B = json.loads(ja.read_text()), json.loads(jb.read_text())
        na, nb = np.load(ja.with_suffix(".npz")), np.load(jb.with_suffix(".npz"))
        settings = {k: v for k, v in A["settings"].items() if k != "checkpoint"}  # the path differs between trees
        same = (sorted(na.files) == sorted(nb.files) and A["metrics"].keys() == B["metrics"].keys()
                and settings == {k: v for k, v in B["settings"].items() if k != "checkpoint"})
        for what, m in A["metrics"].items():
            mb = B["metrics"][what]
            if "psnr" not in m:
                print(f"{ja.stem:30s} {what:13s} {m} -> {mb}")
                continue
            print(f"{ja.stem:30s} {what:13s} PSNR {m['psnr']['mean']:.4f} -> {mb['psnr']['mean']:.4f}  "
                  f"SSIM {m['ssim']['mean']:.4f} -> {mb['ssim']['mean']:.4f}  "
                  f"kept {m.get('class_kept', float('nan')):.4f} -> {mb.get('class_kept', float('nan')):.4f}")
        print(f"   npz keys, metric names and settings the same: {same}; steps the same: "
              f"{np.array_equal(na['steps'], nb['steps'])}; max |final diff| "
              f"{np.abs(na['final'] - nb['final']).max():.2e}; max |trajectory diff| "
              f"{np.abs(na['trajectory'] - nb['trajectory']).max():.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
