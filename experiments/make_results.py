"""Run the figure scripts on many test images and collect their metrics into one markdown table.

    python experiments/make_results.py --n 500                  # every figure (about 40 min on a 2-core CPU)
    python experiments/make_results.py --n 500 --only fig1 fig4 # some of them

Each figure writes its usual png/npz/json into --out (default results/n<N>/, git-ignored); the table gathers the json
metrics into results_table.md there (--table for another path). The committed table is rewritten only by naming it:
--out docs/outputs/results_n500 (its jsons and table), or --table with its path.
A figure whose checkpoint is missing is reported as such and skipped.
"""

import argparse
import time
from pathlib import Path

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import fig1_matched_timestep
import fig2_less_noise_timestep
import fig3_repeat_last_step
import fig4_wrong_timestep
import fig5_fashion_unconditional
import fig6_imputation
import fig7_denoising_probabilistic
import flags
from files import read_json, write_json, write_text
from images import read_npz
from metrics import psnr
from paths import CHECKPOINTS, ROOT

FIGURES = {
    "fig1": (fig1_matched_timestep, "fig1_matched_timestep", [], "mnist_class.pt"),
    "fig2": (fig2_less_noise_timestep, "fig2_less_noise_timestep", [], "mnist_class.pt"),
    "fig3": (fig3_repeat_last_step, "fig3_repeat_last_step", [], "mnist_class.pt"),
    "fig4": (fig4_wrong_timestep, "fig4_wrong_timestep", [], "mnist_class.pt"),
    "fig5": (fig5_fashion_unconditional, "fig5_fashion_unconditional", [], "fashion_uncond.pt"),
    "fig6": (fig6_imputation, "fig6_imputation", [], "mnist_impute.pt"),
    "fig7": (fig7_denoising_probabilistic, "fig7_denoising_probabilistic", [], "mnist_denoise_prob.pt"),
    "fig7plain": (fig7_denoising_probabilistic, "fig7_denoising_plain", ["--no-probabilistic"],
                  "mnist_denoise_plain.pt"),
}


def table(out, names):
    """One markdown row per (figure, method): PSNR, SSIM (mean +- std over images), class kept, extra columns."""
    lines = ["| figure | images | PSNR dB | SSIM | class kept | PSNR on missing pixels |", "|---|---|---|---|---|---|"]
    for name in names:
        path = Path(out) / f"{name}.json"
        if not path.exists():
            continue
        result = read_json(path, keys=("settings", "metrics"))
        for what, m in result["metrics"].items():
            if "psnr" not in m:
                continue
            kept = f"{100 * m['class_kept']:.1f}%" if "class_kept" in m else ""
            missing = f"{m['psnr_missing']['mean']:.2f}" if "psnr_missing" in m else ""
            lines.append(f"| {name}: {what} | {result['settings']['n']} | {m['psnr']['mean']:.2f} +- "
                         f"{m['psnr']['std']:.2f} | {m['ssim']['mean']:.3f} +- {m['ssim']['std']:.3f} | {kept} | "
                         f"{missing} |")
        if "p" in result["metrics"]:
            p = result["metrics"]["p"]
            lines.append(f"| {name}: p along the chain | | first step {p['first_step']:.2f}, last step "
                         f"{p['last_step']:.2f}, range [{p['min']:.2f}, {p['max']:.2f}] | | | |")
    return "\n".join(lines)


def paired_psnr(out, a, b):
    """Per-image PSNR of figure b's final images minus figure a's, on the same inputs: (mean, standard error, share
    of images where b is higher), or None if either is missing, their inputs differ or there is one image only (no
    standard error)."""
    import numpy as np
    import torch

    pa, pb = Path(out) / f"{a}.npz", Path(out) / f"{b}.npz"
    if not (pa.exists() and pb.exists()):
        return None
    ra, rb = read_npz(pa), read_npz(pb)
    if not np.array_equal(ra["original"], rb["original"]) or len(ra["original"]) < 2:
        return None
    d = (psnr(torch.from_numpy(rb["final"]), torch.from_numpy(rb["original"]))
         - psnr(torch.from_numpy(ra["final"]), torch.from_numpy(ra["original"]))).double()
    return d.mean().item(), (d.std() / len(d) ** 0.5).item(), (d > 0).double().mean().item()


def shown(path):
    """A path as the docs show it: relative to the project root where it lies inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def paired_lines(paired):
    """The table's closing lines, one per pair of figures (from paired_psnr.json's records)."""
    return "".join(f"\nPaired PSNR, {r['b']} minus {r['a']}, same inputs: {r['mean']:+.2f} +- "
                   f"{r['standard_error']:.2f} dB (standard error), {r['b']} higher for "
                   f"{100 * r['share_b_higher']:.0f}% of the images.\n"
                   for r in paired)


PAIRS = [("fig1_matched_timestep", "fig2_less_noise_timestep"),
         ("fig7_denoising_plain", "fig7_denoising_probabilistic")]


@cli.command
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=flags.positive_int, default=500,
                    help="test images per figure, the first ones of each test set (default: %(default)s)")
    ap.add_argument("--only", nargs="*", choices=sorted(FIGURES), default=sorted(FIGURES),
                    help=f"the figures to run, any of {', '.join(sorted(FIGURES))} (default: all)")
    ap.add_argument("--out", type=flags.output_dir, default=None,
                    help="folder of the figures' png/npz/json (default: results/n<N>/, git-ignored)")
    ap.add_argument("--table", type=cli.output_file(".md"), default=None,
                    help="where to write the markdown table; a committed page is rewritten only when named here or "
                    "by --out (default: results_table.md in --out)")
    ap.add_argument("--device", default="auto", help=flags.DEVICE_HELP)
    ap.add_argument("--kernels", choices=flags.kernels.CHOICES, default="auto", help=flags.kernels.FLAG_HELP)
    ap.add_argument("--fast", action="store_true", help="run every figure with --fast (fast.py)")
    ap.add_argument("--table-only", action="store_true", help="only rebuild the table from the json files in --out")
    args = ap.parse_args(argv)
    out = args.out or str(ROOT / "results" / f"n{args.n}")
    table_path = args.table or str(Path(out) / "results_table.md")
    timings = {}
    for key in [] if args.table_only else args.only:
        module, name, extra, ckpt = FIGURES[key]
        if not (CHECKPOINTS / ckpt).exists():
            print(f"{key}: skipped, checkpoints/{ckpt} is not there yet")
            continue
        t0 = time.perf_counter()
        module.main(["--n", str(args.n), "--out", out, "--device", args.device, "--kernels", args.kernels, *extra,
                     *(["--fast"] if args.fast else [])])
        timings[name] = time.perf_counter() - t0
    names = [FIGURES[k][1] for k in sorted(FIGURES)]
    done = [k for k in sorted(FIGURES) if (Path(out) / f"{FIGURES[k][1]}.json").exists()]
    if not done:  # an empty table would replace a good one: nothing is written
        raise SystemExit(f"error: {out} holds no figure results (<figure>.json); nothing written. Run the figures "
                         f"first (without --table-only), or point --out at the folder that holds them")
    command = (f"python experiments/make_results.py --n {args.n}" + (" --fast" if args.fast else "")
               + (f" --out {args.out}" if args.out else "") + (f" --table {args.table}" if args.table else ""))
    text = (f"# Metrics of the figure scripts\n\nWritten by `{command}` "
            f"(figures with results: {', '.join(done)}); per-figure outputs in "
            f"`{shown(out)}`. "
            f"Seed 0, the first {args.n} test images of each dataset. Means +- standard deviations over images. Every "
            f"row is in the clean image's units (an input or output at the chain's scale sqrt(alpha_bar_t) is divided "
            f"by it); class kept is judged by the robust classifier of each dataset unless a figure ran with "
            f"--classifier.\n\n"
            + table(out, names) + "\n")
    paired = [{"a": a, "b": b, "mean": r[0], "standard_error": r[1], "share_b_higher": r[2]}
              for a, b in PAIRS if (r := paired_psnr(out, a, b)) is not None]
    write_json(Path(out) / "paired_psnr.json", paired)  # the source of the lines below
    text += paired_lines(paired)
    write_text(table_path, text)
    print(text)
    print("seconds per figure:", {k: round(v) for k, v in timings.items()})


if __name__ == "__main__":
    main()
