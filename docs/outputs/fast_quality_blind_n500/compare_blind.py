"""The fast path's quality guard on blind denoising: per-image PSNR of every method and sigma from an fp32 run and a
--fast run of experiments/blind_denoising.py (same seed, so the same images, noise and chain noise), compared pairwise.

    python docs/outputs/fast_quality_blind_n500/compare_blind.py results/blind_fp32 results/blind_fast
"""

import sys
from pathlib import Path

import numpy as np


def main(a, b):
    na, nb = np.load(Path(a) / "blind_denoising.npz"), np.load(Path(b) / "blind_denoising.npz")
    print("| sigma | method | PSNR fp32 | PSNR --fast | paired difference (s.e.) |")
    print("|---|---|---|---|---|")
    worst, n = 0.0, 0
    for key in na.files:
        if not key.startswith("psnr_"):
            continue
        sigma, method = key[len("psnr_"):].split("_", 1)
        if method in ("noisy", "sigma_hat"):  # the input itself; the noise estimates (not a PSNR)
            continue
        d = nb[key] - na[key]
        worst, n = max(worst, abs(d.mean())), len(d)
        print(f"| {sigma} | {method.replace('_', ' ')} | {na[key].mean():.2f} | {nb[key].mean():.2f} | "
              f"{d.mean():+.3f} ({d.std() / np.sqrt(len(d)):.3f}) |")
    print(f"\nlargest |mean paired difference|: {worst:.3f} dB over {n} images per sigma")


if __name__ == "__main__":
    main(*sys.argv[1:3])
