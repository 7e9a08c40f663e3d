"""The fast path's quality guard on the figures: each figure's final images from an fp32 run and a --fast run of
make_results.py (same seed, same images), compared per image.

    python docs/outputs/fast_quality_figures_n500/compare_fast.py results/fp32 results/fast
"""

import json
import sys
from pathlib import Path

import numpy as np


def psnr(x, ref):
    mse = ((np.clip(x, -1, 1) - ref) ** 2).reshape(len(x), -1).mean(1)
    return 10 * np.log10(4.0 / np.maximum(mse, 1e-10))


def main(a, b):
    print("| figure | PSNR fp32 | PSNR --fast | paired difference (s.e.) | class kept fp32 | class kept --fast |")
    print("|---|---|---|---|---|---|")
    for ja in sorted(Path(a).glob("*.json")):
        na, nb = np.load(ja.with_suffix(".npz")), np.load(Path(b) / ja.with_suffix(".npz").name)
        assert np.array_equal(na["original"], nb["original"]) and np.array_equal(na["corrupted"], nb["corrupted"])
        pa, pb = psnr(na["final"], na["original"]), psnr(nb["final"], nb["original"])
        d = pb - pa
        ka = json.loads(ja.read_text())["metrics"]["final"]["class_kept"]
        kb = json.loads((Path(b) / ja.name).read_text())["metrics"]["final"]["class_kept"]
        print(f"| {ja.stem} | {pa.mean():.2f} | {pb.mean():.2f} | {d.mean():+.3f} ({d.std() / np.sqrt(len(d)):.3f}) "
              f"| {100 * ka:.1f}% | {100 * kb:.1f}% |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
