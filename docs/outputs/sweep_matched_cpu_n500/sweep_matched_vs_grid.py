"""The sweep's matched starts, two runs side by side: a full grid against the diagonal run with three judges (CPU,
--cells matched --fast). The grid's class kept is its first judge's (the H200 grid: the first classifier).

    python docs/outputs/sweep_matched_cpu_n500/sweep_matched_vs_grid.py docs/outputs/gpu_h200/run1/sweep_noise_vs_start.json \
        docs/outputs/sweep_matched_cpu_n500/sweep_noise_vs_start.json \
        > docs/outputs/sweep_matched_cpu_n500/vs_grid.md
    python docs/outputs/sweep_matched_cpu_n500/sweep_matched_vs_grid.py docs/outputs/sweep_grid_cpu_n500/sweep_noise_vs_start.json \
        docs/outputs/sweep_matched_cpu_n500/sweep_noise_vs_start.json \
        > docs/outputs/sweep_grid_cpu_n500/matched_vs_diagonal.md

Runs that draw their noise and their chains on different devices agree up to sampling noise (a
class-kept share of p over 500 images has a standard error of sqrt(p (1 - p) / 500): 1 point at p = 0.95).
"""

import json
import sys

import numpy as np


def matched(settings):
    """For each noise level, the index of the nearest start."""
    starts = np.asarray(settings["starts"])
    return [int(np.argmin(np.abs(starts - noise))) for noise in settings["noises"]]


def main(grid_path, diag_path):
    grid, diag = json.load(open(grid_path)), json.load(open(diag_path))
    jg, jd = matched(grid["settings"]), matched(diag["settings"])
    judges = list(next(iter(diag["metrics"].values()))["class_kept_by"])
    # the grid's class_kept is its first judge's (a grid run before --classifiers existed had the first classifier)
    grid_judge = (grid["settings"].get("classifiers") or ["the first classifier"])[0].split("/")[-1]
    print(f"# start = noise: {grid_path} (grid) against {diag_path} (diagonal)\n")
    for model in diag["metrics"]:
        g, d = grid["metrics"][model], diag["metrics"][model]
        print(f"## {model}\n")
        print(f"| noise | PSNR grid | PSNR diagonal | difference | class kept grid ({grid_judge}) | "
              + " | ".join(f"diagonal: {j}" for j in judges) + " |")
        print("|---|---|---|---|---|" + "---|" * len(judges))
        gaps = []
        for i, noise in enumerate(diag["settings"]["noises"]):
            pg, pd = g["psnr"][i][jg[i]], d["psnr"][i][jd[i]]
            gaps.append(abs(pd - pg))
            kept = " | ".join(f"{100 * d['class_kept_by'][j][i][jd[i]]:.1f}%" for j in judges)
            print(f"| {noise:.1f} | {pg:.2f} | {pd:.2f} | {pd - pg:+.2f} | {100 * g['class_kept'][i][jg[i]]:.1f}% | "
                  f"{kept} |")
        spread = [max(d["class_kept_by"][j][i][jd[i]] for j in judges) - min(d["class_kept_by"][j][i][jd[i]]
                                                                             for j in judges)
                  for i in range(len(diag["settings"]["noises"]))]
        print(f"\nlargest |PSNR difference|: {max(gaps):.2f} dB; largest spread of class kept between the judges "
              f"(diagonal run): {100 * max(spread):.1f} points\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
