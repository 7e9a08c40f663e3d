"""The constants the docs derive rather than measure, computed in one place so that each has a source:

    python docs/outputs/constants/constants.py > docs/outputs/constants/constants.txt

(docs/derivations.md, docs/beyond.md and docs/results.md quote them; docs/check_numbers.py finds them here.)
"""

import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from ddpm import Schedule  # noqa: E402
from denoise import sigma_of_t, t_for_sigma  # noqa: E402


def main():
    s = Schedule(200)
    ab = s.alpha_bars.double()  # (T+1,), ab[0] = 1
    print("## Schedule(200), the rescaled linear schedule (derivations.md section 2, beyond.md)")
    print(f"alpha_bar_T = {ab[-1].item():.3e}")
    ho = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 200, dtype=torch.float64), 0)
    print(f"Ho et al.'s betas (1e-4 to 0.02) over 200 steps: alpha_bar_T = {ho[-1].item():.4f}, "
          f"sqrt = {ho[-1].sqrt().item():.4f}")
    print("t: sqrt(alpha_bar_t), sigma equivalent sqrt((1 - ab_t) / ab_t), beta~_t / beta_t")
    for t in (1, 2, 3, 4, 10, 20, 30, 40, 50, 60, 80, 100, 120, 140, 160, 180, 200):
        a = ab[t].item()
        ratio = (s.beta_tildes[t] / s.betas[t]).item()
        print(f"t = {t:3d}: sqrt(ab) = {math.sqrt(a):.4f}, sigma equiv. = {sigma_of_t(s, t):.4f}, "
              f"beta~/beta = {ratio:.4f}, beta = {s.betas[t].item():.5f}")
    print("t* = min{t : (1 - ab_t) / ab_t >= sigma^2}:")
    for sigma in (0.05, 0.1, 0.2, 0.3, 0.5):
        print(f"  sigma = {sigma}: t* = {t_for_sigma(s, sigma).item()}")
    print("\n## Eq. (14) (derivations.md section 6)")
    for d in (1.0, 1.4, math.sqrt(2), 0.3, 28.0, 28 * 0.25):
        print(f"1 - exp(-{d:.4f}) = {1 - math.exp(-d):.4f}")
    print(f"RMS distance of N(0, 1) noise from an image with E[x^2] = 1: sqrt(2) = {math.sqrt(2):.4f}")
    print("\n## Estimators and posterior means (beyond.md, derivations.md)")
    print(f"median of |N(0, 1)| = {statistics.NormalDist().inv_cdf(0.75):.4f}")
    print(f"10 log10 2 = {10 * math.log10(2):.3f} dB; 10 log10(1 + 1/8) = {10 * math.log10(1 + 1 / 8):.3f} dB")


if __name__ == "__main__":
    main()
