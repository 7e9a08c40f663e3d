"""The numbers section 1 of docs/beyond.md derives from a noise-by-start grid (sweep_noise_vs_start.json), printed
so that the page can be checked against the grid, and regenerated when the grid is run again.

    python3 docs/outputs/sweep_grid_cpu_n500/sweep_claims.py docs/outputs/gpu_h200/run1/sweep_noise_vs_start.json      # the H200 grid
    python3 docs/outputs/sweep_grid_cpu_n500/sweep_claims.py docs/outputs/sweep_grid_cpu_n500/sweep_noise_vs_start.json \
        docs/outputs/gpu_h100/run3/sweep/sweep_noise_vs_start.json                 # the CPU grid, the H100 one

For each model: PSNR one start below, at and one above the matched start (start = noise), the best start by PSNR and
by SSIM with its margin over the matched one, how many rows the matched start wins; class kept from noise 0.6 on
(at every start, and at the starts from the matched one up), for every judge the grid holds; class kept at start =
T; the first two judges against each other, cell by cell; how many cells each judge reads as exactly 8.0% (the
first classifier's one answer for noisy digits). Cells not run (NaN, a sweep cut short) are left out and counted.
Then section 1's table in markdown (PSNR around the matched start, the best start, class kept at the matched start
by the first two judges; the "sigma equiv." column from docs/outputs/constants/constants.txt). With a second grid: the
largest PSNR and class kept differences over the cells both ran, the start = 0 column apart (grids run before the
units fix hold x_t there as it is, not divided by sqrt(alpha_bar_t), so that column differs by design).
"""

import json
import os
import re
import sys

import numpy as np


def load(path):
    run = json.load(open(path))
    s = run["settings"]
    grids = {}
    for model, g in run["metrics"].items():
        judges = g.get("class_kept_by") or {"class_kept": g["class_kept"]}  # the GPU grid has one judge
        grids[model] = {"psnr": np.array(g["psnr"], dtype=float), "ssim": np.array(g["ssim"], dtype=float),
                        "kept": {j: np.array(v, dtype=float) for j, v in judges.items()}}
    return s, grids


def matched(starts, noise):
    return int(np.argmin(np.abs(np.asarray(starts) - noise)))


def pct_range(values):
    """'a-b%' over the cells that ran, or 'not run' (a sweep cut short)."""
    v = 100 * np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return f"{v.min():.1f}-{v.max():.1f}%" if v.size else "not run"


def sigma_equiv():
    """t -> sigma equivalent sqrt((1 - ab_t) / ab_t), read from the committed constants.txt (no torch needed)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "constants", "constants.txt")
    found = re.findall(r"t = +(\d+): sqrt\(ab\) = [\d.]+, sigma equiv. = ([\d.]+)", open(path).read())
    return {int(t): float(s) for t, s in found}


def table(s, grids):
    """Section 1's table: PSNR one start below / at / above the matched one, the best start, class kept at the matched
    start by the grid's first two judges (the robust CNN and the ResNet in a three-judge grid)."""
    noises, starts, T = s["noises"], s["starts"], s.get("T", 200)
    sig = sigma_equiv()
    models = [m for m in ("class", "uncond") if m in grids]
    judges = list(grids[models[0]]["kept"])[:2]
    names = " / ".join("first" if j in ("class_kept", "classifier_mnist.pt") else
                       os.path.splitext(j)[0].replace("classifier_mnist_", "") for j in judges)
    head = ["noise (t)", "sigma equiv."]
    for m in models:
        head += [f"{m} PSNR: start - 0.1 / = / + 0.1", "best start"]
    head += [f"class kept at start = noise, {m} ({names})" for m in models]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))

    def num(x, fmt="{:.2f}"):
        return "nan" if np.isnan(x) else fmt.format(x)

    for i, noise in enumerate(noises):
        t = round(noise * T)
        jm = matched(starts, noise)
        row = [f"{noise:.1f} ({t})", f"{sig[t]:.2f}" if t in sig else "?"]
        for m in models:
            p = grids[m]["psnr"][i]
            row.append(" / ".join("-" if not 0 <= jm + d < len(starts) else num(p[jm + d]) for d in (-1, 0, 1)))
            if np.isnan(p).all():
                row.append("not run")
            else:  # a row a cut-short grid has not finished: the best start so far
                row.append(f"{starts[int(np.nanargmax(p))]:.1f}" + (" (so far)" if np.isnan(p).any() else ""))
        for m in models:
            row.append(" / ".join(num(100 * grids[m]["kept"][j][i, jm], "{:.1f}") for j in judges) + "%")
        print("| " + " | ".join(row) + " |")


def main(path, other=None):
    s, grids = load(path)
    noises, starts = s["noises"], s["starts"]
    print(f"{path}: n = {s['n']}, device {s.get('device_name', s['device'])}, fast {s.get('fast', False)}, "
          f"wall {s['wall_s']:.0f} s")
    for model, g in grids.items():
        ran = int((~np.isnan(g["psnr"])).sum())
        print(f"\n## {model}: {ran} of {g['psnr'].size} cells run\n")
        wins = {"psnr": 0, "ssim": 0}
        rows = incomplete = 0
        for i, noise in enumerate(noises):
            jm = matched(starts, noise)
            p = g["psnr"][i]
            around = " / ".join("nan" if not 0 <= jm + d < len(starts) else f"{p[jm + d]:.2f}" for d in (-1, 0, 1))
            line = f"noise {noise:.1f}: PSNR start - 0.1 / = / + 0.1: {around}"
            if np.isnan(p[jm]) or np.isnan(p).all():
                print(line + "  (matched cell not run)")
                continue
            rows += 1
            for key in ("psnr", "ssim"):
                row = g[key][i]
                jb = int(np.nanargmax(row))
                wins[key] += jb == jm
                line += f"; best {key} start {starts[jb]:.1f} (+{row[jb] - row[jm]:.3f} over matched)"
            if jm > 0 and jm + 1 < len(starts):
                line += f"; late costs {p[jm] - p[jm + 1]:.2f} dB, early {p[jm] - p[jm - 1]:.2f} dB"
            partial = np.isnan(p).any()
            incomplete += partial
            print(line + ("  (row not complete: best so far)" if partial else ""))
        print(f"\nthe matched start is the best by PSNR in {wins['psnr']} of {rows} rows, by SSIM in {wins['ssim']}"
              + (f" ({incomplete} of those rows not complete)" if incomplete else ""))
        for judge, kept in g["kept"].items():
            high = [i for i, noise in enumerate(noises) if noise >= 0.6 - 1e-9]
            every = kept[high]
            from_matched = np.concatenate([kept[i, matched(starts, noises[i]):] for i in high])
            at_t = kept[:, -1] if starts[-1] == 1.0 else np.full(len(noises), np.nan)
            print(f"class kept by {judge}: noise >= 0.6, any start {pct_range(every)}; starts from the matched one up "
                  f"{pct_range(from_matched)}; at start = T, by noise: "
                  + ", ".join(f"{v:.1f}" for v in 100 * at_t) + " %")
        judges = list(g["kept"])
        if len(judges) >= 2:  # the first two judges (the robust ones, as the scripts list them) against each other
            gap = np.abs(g["kept"][judges[0]] - g["kept"][judges[1]])
            i, j = np.unravel_index(np.nanargmax(gap), gap.shape)
            print(f"{judges[0]} against {judges[1]}, cell by cell: at most {100 * gap[i, j]:.1f} points apart (noise "
                  f"{noises[i]:.1f}, start {starts[j]:.1f}), median {100 * np.nanmedian(gap):.1f}")
        for judge, kept in g["kept"].items():  # a judge that gives one answer to every image reads its class's share
            at_8 = int(np.isclose(kept, 0.08, atol=1e-6).sum())
            print(f"cells that {judge} reads as exactly 8.0% (the share of 8s among the first 500 test digits): {at_8}")
    table(s, grids)
    if other:
        _, second = load(other)
        for model in grids:
            if model not in second:
                continue
            a, b = grids[model], second[model]
            ran = ~np.isnan(a["psnr"]) & ~np.isnan(b["psnr"])
            chain = np.zeros_like(ran)
            chain[:, np.asarray(starts) > 0] = True  # start = 0 is the input itself: compared on its own
            for label, both in (("start > 0", ran & chain), ("start = 0", ran & ~chain)):
                if not both.any():
                    continue
                dp = np.abs(a["psnr"] - b["psnr"])[both]
                ds = np.abs(a["ssim"] - b["ssim"])[both]
                print(f"\n{model} against {other}, {label}: {int(both.sum())} cells in both, PSNR differs by at most "
                      f"{dp.max():.2f} dB (median {np.median(dp):.2f}), SSIM by at most {ds.max():.3f}")
                for ja, ka in a["kept"].items():
                    for jb, kb in b["kept"].items():
                        dk = 100 * np.abs(ka - kb)[both]
                        print(f"  class kept, {ja} here against {jb} there: at most {dk.max():.1f} points apart "
                              f"(median {np.median(dk):.1f})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
