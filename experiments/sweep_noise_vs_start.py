"""The whole noise-by-start picture behind Figs. 1-4: every noise level fed in at every step of the chain.

The paper shows four cells of this grid (30% noise at 30%, at 20%, at 70%, and at 0% repeated) and concludes that a
noisy image comes out clean only when it enters the chain at the step that expects its noise, or a little above.
Here test digits get the schedule's own noise at t_noise = round(noise T) for noise = 0.1 .. 0.9, and enter the
reverse chain as x_{t_start}, t_start = round(start T) for start = 0.0 .. 1.0 (start 0: no chain, the noisy input
itself, measured in the clean image's units: x_t / sqrt(alpha_bar_t), like every input row of docs/results.md). Every
cell uses the same test images and, per noise level, the same noise draw (so cells differ only by the start). For each
model and cell: PSNR and SSIM against the clean digit, and the share of outputs that the classifier gives the digit's
own class (--classifiers: several judges, each with its own grid; the first one fills `class_kept`; default the
robust MNIST classifier, which reads dim and noisy digits too). Models: the class-conditional MNIST DDPM told the
true class (as in Figs. 1-4, guidance w = 0) and the unconditional MNIST DDPM (checkpoints/mnist_uncond.pt); --models
picks.
What to see: the best start for each noise level (dots on the heatmaps) against the diagonal start = noise (line).
--cells matched runs only the diagonal (start = noise; the other cells stay empty, NaN): the chains a table of the
matched start needs, an eleventh of the whole grid's network calls.
The cheapest cells (earliest starts) run first and the outputs are rewritten after every cell; --resume continues a
sweep cut short from them: it keeps the cells already in --out and runs the rest. Every cell has its own seed, so a
resumed sweep gives the numbers an uninterrupted one would (on the same machine); it also grows a --cells matched run
into the whole grid.

    python experiments/sweep_noise_vs_start.py                    # n = 16 per cell: 10 min on the 2-core dev. CPU
    python experiments/sweep_noise_vs_start.py --n 500 --device cuda
    python experiments/sweep_noise_vs_start.py --n 500 --cells matched --fast   # the diagonal only, on a CPU
    python experiments/sweep_noise_vs_start.py --n 500 --fast --resume          # then the rest of the grid

Writes, in --out (default results/sweep/): sweep_noise_vs_start.png (heatmaps), sweep_examples.png (one digit's
output in every cell), sweep_noise_vs_start.npz (metric grids [model, noise, start]), .json (settings and grids),
sweep_noise_vs_start.md (the table).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import corruptions
import data
import flags
import kernels
import outputs
from checkpoint import CheckpointError, load_ddpm
from ddpm import EpsFunction, sample_from
from devices import resolve_device
from fast import FLAG_HELP as FAST_HELP
from fast import fast_path
from files import FileError, read_json, write_figure, write_json, write_npz, write_text
from images import read_npz
from metrics import add_class_kept, image_metrics, load_judges
from paths import JUDGES, RESULTS

MODELS = {"class": ("mnist_class.pt", "class-conditional (true class, w = 0)"),
          "uncond": ("mnist_uncond.pt", "unconditional")}
METRICS = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("class_kept", "class kept"))


MAX_GRID = 101  # values per axis: a step of 0.01 over [0, 1]; a smaller step is a typo that would run for days


def grid_arg(text):
    """'0.1:0.9:0.1' (start:stop:step, inclusive) or '0.1,0.3,0.5': a list of fractions in [0, 1] (cli.fraction
    checks each one), at most MAX_GRID of them."""
    parts = text.split(":")
    if len(parts) == 3:
        a, b, s = (cli.fraction(v) for v in parts)
        if not s > 0:
            raise argparse.ArgumentTypeError(f"the step of {text!r} must be > 0")
        if (b - a) / s + 1 > MAX_GRID:
            raise argparse.ArgumentTypeError(f"{text!r} makes more than {MAX_GRID} values")
        values = np.round(np.arange(a, b + s / 2, s), 6).tolist()
    elif len(parts) == 1:
        values = [cli.fraction(v) for v in text.split(",")]
    else:
        raise argparse.ArgumentTypeError(f"expected start:stop:step or a comma list, got {text!r}")
    if not values or len(values) > MAX_GRID:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_GRID} values, got {len(values)}")
    return values


def load_model(name, args, device):
    """The sweep's model `name`, checked to be the kind the sweep needs. Returns (model, schedule, reverse step)."""
    model, schedule, _ = load_ddpm(Path(args.checkpoint_dir) / MODELS[name][0], device, dataset="mnist",
                                   cond="class" if name == "class" else "none")
    step, _ = kernels.choose(args.kernels, device, schedule)
    if args.fast:  # the fast path swaps the model (fast.py); the reverse step comes from --kernels
        model = fast_path(model, schedule, device, fused=args.kernels != "torch").model
    return model, schedule, step


def cells(args):
    """The (noise, start) cells to run, as index pairs (i, j): the whole grid, or (--cells matched) for each noise
    level the start nearest to it."""
    if args.cells == "grid":
        return [(i, j) for i in range(len(args.noises)) for j in range(len(args.starts))]
    return [(i, int(np.argmin(np.abs(np.asarray(args.starts) - noise)))) for i, noise in enumerate(args.noises)]


def empty_grids(args, judges, image_shape):
    """A model's grids before any cell has run: every metric NaN, and no example outputs yet."""
    shape = (len(args.noises), len(args.starts))
    grids = {m: np.full(shape, np.nan) for m, _ in METRICS}
    grids["class_kept_by"] = {j: np.full(shape, np.nan) for j in judges}
    return {"grids": grids, "examples": torch.zeros(*shape, *image_shape)}  # examples: (noises, starts, C, H, W)


def run_sweep(models, args, images, judges, results, bar, saved):
    """Fill `results` (model name -> grids and examples, from empty_grids or a resumed sweep) with every cell not yet
    run. `models`: name -> (model, schedule, reverse step); `images`: the test digits and their labels; `judges`:
    name -> classifier. Each cell stores the mean PSNR, SSIM, class kept by every judge (under "class_kept_by"; the
    first judge's is also "class_kept") and its first output. The cheapest cells (the earliest starts) run first,
    so that a sweep cut short holds whole columns of the grid; saved(figures) is called after every cell."""
    x0, labels = images
    device = x0.device
    todo = sorted(((j, i, name) for name in models for i, j in cells(args)
                   if np.isnan(results[name]["grids"]["psnr"][i, j])), key=lambda c: (args.starts[c[0]], c[1:]))
    eps_fns = {name: EpsFunction(m[0], y=labels if name == "class" else None) for name, m in models.items()}
    noisy = {}  # (model, noise level) -> its noise draw, the same for every start
    for k, (j, i, name) in enumerate(todo):
        _, schedule, step = models[name]
        noise, start = args.noises[i], args.starts[j]
        if (name, i) not in noisy:  # the same seed per noise level: every start and model sees the same draw
            g = torch.Generator(device=device).manual_seed(args.seed * 1000 + i)
            noisy[name, i] = corruptions.schedule_noise(x0, schedule, noise, g)[0]
        x_noisy = noisy[name, i]
        t_start = schedule.t_of_fraction(start)
        g_chain = torch.Generator(device=device).manual_seed(args.seed * 1000 + i * 100 + j + 1)
        if t_start == 0:  # no chain: the input itself, in the clean image's units (it holds sqrt(ab_t) x0)
            final = x_noisy / schedule.alpha_bars[schedule.t_of_fraction(noise)].sqrt()
        else:
            with torch.no_grad():
                final, _ = sample_from(eps_fns[name], schedule, x_noisy, t_start, step=step, generator=g_chain,
                                       progress=bar)
        grids = results[name]["grids"]
        m = add_class_kept(image_metrics(final, x0), judges, final, labels)
        grids["psnr"][i, j], grids["ssim"][i, j] = m["psnr"]["mean"], m["ssim"]["mean"]
        grids["class_kept"][i, j] = m["class_kept"]
        for judge in judges:
            grids["class_kept_by"][judge][i, j] = m["class_kept_by"][judge]
        results[name]["examples"][i, j] = final[0].cpu()
        saved(figures=k + 1 < len(todo) and todo[k + 1][0] != j)  # the figures once a column is done (the end: main)
    return results


def best_starts(grid, starts):
    """For each noise level (row), the start with the highest value among the cells run (the first one on ties;
    NaN for a row with no cell run yet)."""
    return [np.nan if np.isnan(row).all() else starts[int(np.nanargmax(row))] for row in grid]


def draw_heatmaps(path, results, noises, starts, n):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), len(METRICS), figsize=(4.3 * len(METRICS), 3.6 * len(names)), squeeze=False)
    ds, dn = starts[1] - starts[0] if len(starts) > 1 else 0.1, noises[1] - noises[0] if len(noises) > 1 else 0.1
    extent = (starts[0] - ds / 2, starts[-1] + ds / 2, noises[0] - dn / 2, noises[-1] + dn / 2)
    for r, name in enumerate(names):
        for c, (key, label) in enumerate(METRICS):
            ax = axes[r, c]
            grid = results[name]["grids"][key]
            if key == "class_kept":  # name the judge: the first of --classifiers
                label = f"{label} ({next(iter(results[name]['grids']['class_kept_by']))})"
            vmin, vmax = (0, 1) if key != "psnr" else (None, None)
            im = ax.imshow(grid, origin="lower", extent=extent, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
            fig.colorbar(im, ax=ax, label=label)
            lo, hi = max(extent[0], extent[2]), min(extent[1], extent[3])
            ax.plot([lo, hi], [lo, hi], color="white", lw=1.2, ls="--", label="start = noise")
            ax.plot(best_starts(grid, starts), noises, "o", color="red", ms=5, label="best start")
            ax.set_xlabel("start: where the image enters (fraction of T)")
            ax.set_ylabel("noise: fraction of T")
            ax.set_title(f"{MODELS[name][1]}: {label}", fontsize=9)
            if r == 0 and c == 0:
                ax.legend(loc="upper left", fontsize=7, framealpha=0.6)
    fig.suptitle(f"Noise level x entry step, MNIST test digits, {n} images per cell", fontsize=10)
    fig.tight_layout()
    write_figure(fig, path)


def draw_examples(path, results, noises, starts):
    """One test digit's output in every cell of the grid, a panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from viz import grid as tile

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.6), squeeze=False)
    for c, name in enumerate(names):
        ex = results[name]["examples"]  # (noises, starts, C, H, W)
        pic = tile(ex.flip(0).reshape(-1, *ex.shape[2:]), ncol=len(starts), pad=2)  # high noise at the top
        ax = axes[0, c]
        ax.imshow(pic, cmap="gray", vmin=0, vmax=1)
        side = ex.shape[-1]
        step, mid = side + 2, 2 + side // 2  # one cell with its 2-pixel gap; the middle of the first cell
        ax.set_xticks([mid + step * j for j in range(len(starts))], [f"{s:.1f}" for s in starts], fontsize=7)
        ax.set_yticks([mid + step * i for i in range(len(noises))], [f"{v:.1f}" for v in noises[::-1]],
                      fontsize=7)
        ax.set_xlabel("start")
        ax.set_ylabel("noise")
        ax.set_title(MODELS[name][1], fontsize=9)
    fig.suptitle("One test digit, every (noise, start) cell", fontsize=10)
    fig.tight_layout()
    write_figure(fig, path)


def markdown(results, noises, starts):
    """Per model, a row per noise level: the matched start and the best start by PSNR and by class kept (first
    judge), then class kept at the matched start by every judge."""
    lines = []
    for name, res in results.items():
        g = res["grids"]
        judges = list(g["class_kept_by"])
        lines += [f"**{MODELS[name][1]}** (class kept: {judges[0]})", "",
                  "| noise | PSNR at start = noise | best start (PSNR) | best PSNR | class kept at start = noise | "
                  "best start (class kept) | best class kept |", "|---|---|---|---|---|---|---|"]
        for i, noise in enumerate(noises):
            if np.isnan(g["psnr"][i]).all():  # a row not reached yet (a sweep cut short)
                lines.append(f"| {noise:.1f} | not run yet | | | | | |")
                continue
            jm = int(np.argmin(np.abs(np.asarray(starts) - noise)))  # the matched column (nearest start)
            jp, jc = int(np.nanargmax(g["psnr"][i])), int(np.nanargmax(g["class_kept"][i]))
            kept = 100 * g["class_kept"][i]
            lines.append(f"| {noise:.1f} | {g['psnr'][i, jm]:.2f} | {starts[jp]:.1f} | {g['psnr'][i, jp]:.2f} | "
                         f"{kept[jm]:.1f}% | {starts[jc]:.1f} | {kept[jc]:.1f}% |")
        lines += ["", f"Class kept at start = noise, by each judge ({MODELS[name][1]})", "",
                  "| noise | " + " | ".join(judges) + " |", "|---|" + "---|" * len(judges)]
        for i, noise in enumerate(noises):
            jm = int(np.argmin(np.abs(np.asarray(starts) - noise)))
            lines.append(f"| {noise:.1f} | " + " | ".join(f"{100 * g['class_kept_by'][j][i, jm]:.1f}%"
                                                          for j in judges) + " |")
        lines.append("")
    return "\n".join(lines)


def write_outputs(args, results, device, wall, figures=True):
    """The npz, json and markdown table of the cells run so far, and (figures) the two PNGs."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        draw_heatmaps(out / "sweep_noise_vs_start.png", results, args.noises, args.starts, args.n)
        draw_examples(out / "sweep_examples.png", results, args.noises, args.starts)
    arrays = {f"{name}_{k}": v for name, r in results.items() for k, v in r["grids"].items() if k != "class_kept_by"}
    arrays.update({f"{name}_class_kept_by_{j}": v for name, r in results.items()
                   for j, v in r["grids"]["class_kept_by"].items()})
    arrays.update({f"{name}_examples": r["examples"] for name, r in results.items()})
    arrays.update(noises=np.asarray(args.noises), starts=np.asarray(args.starts))
    settings = {"n": args.n, "noises": args.noises, "starts": args.starts, "models": list(results),
                "classifiers": args.classifiers, "cells": args.cells, "fast": args.fast,
                "seed": args.seed, "device": str(device), "wall_s": wall, "torch": torch.__version__,
                "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    def listed(v):  # json has no NaN: the cells not run (--cells matched) become null
        return np.where(np.isnan(v), None, v).tolist()

    grids_json = {name: {k: ({j: listed(g) for j, g in v.items()} if k == "class_kept_by" else listed(v))
                         for k, v in r["grids"].items()} for name, r in results.items()}
    write_npz(out / "sweep_noise_vs_start.npz", arrays)
    write_json(out / "sweep_noise_vs_start.json", {"settings": settings, "metrics": grids_json})
    write_text(out / "sweep_noise_vs_start.md", markdown(results, args.noises, args.starts))


# the settings that decide a cell's numbers: a resumed sweep must share them (and the device) with the one it continues
SAME_FOR_RESUME = ("n", "noises", "starts", "seed", "fast")


def load_resumed(args, judges, device):
    """The cells a sweep cut short left in --out (--resume): (model -> grids and examples, wall time so far).
    Refuses a sweep made with other settings or other judges, whose cells would not belong to this one."""
    out = Path(args.out)
    try:
        settings = read_json(out / "sweep_noise_vs_start.json", keys=("settings",))["settings"]
        arrays = read_npz(out / "sweep_noise_vs_start.npz")
    except FileError as e:
        raise SweepError(f"--resume: no readable sweep in {out} ({e})") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("models"), list):
        raise SweepError(f"--resume: {out / 'sweep_noise_vs_start.json'} does not describe a sweep (no list of models)")
    ours = {k: getattr(args, k) for k in SAME_FOR_RESUME} | {"device": str(device)}
    differ = [f"{k}: {settings.get(k)} there, {v} here" for k, v in ours.items() if settings.get(k) != v]
    theirs = [Path(f).name for f in settings.get("classifiers", [])]
    if theirs != list(judges):
        differ.append(f"classifiers: {theirs} there, {list(judges)} here")
    if differ:
        raise SweepError(f"--resume: the sweep in {out} was made with other settings ({'; '.join(differ)})")
    done = {}
    shape = (len(args.noises), len(args.starts))
    try:
        for name in settings["models"]:
            grids = {m: arrays[f"{name}_{m}"].astype(float) for m, _ in METRICS}
            grids["class_kept_by"] = {j: arrays[f"{name}_class_kept_by_{j}"].astype(float) for j in judges}
            if any(g.shape != shape for g in [*(grids[m] for m, _ in METRICS), *grids["class_kept_by"].values()]):
                raise SweepError(f"--resume: the grids of {name} in {out} are not {shape[0]} x {shape[1]}")
            done[name] = {"grids": grids, "examples": torch.from_numpy(arrays[f"{name}_examples"])}
    except FileError as e:  # an array the json promises is not in the npz
        raise SweepError(f"--resume: the sweep in {out} is incomplete ({e})") from None
    return done, float(settings.get("wall_s", 0.0))


class SweepError(ValueError):
    """A sweep that cannot be resumed."""


def main(argv=None):
    doc = __doc__
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])
    ap.add_argument("--n", type=flags.positive_int, default=16, help="test images per cell (default: 16)")
    ap.add_argument("--noises", type=grid_arg, default=grid_arg("0.1:0.9:0.1"),
                    help="the grid's noise levels, fractions of the chain's noise as the figure scripts' --noise: "
                    "start:stop:step or a,b,c (default: 0.1:0.9:0.1)")
    ap.add_argument("--starts", type=grid_arg, default=grid_arg("0.0:1.0:0.1"),
                    help="the grid's start steps, fractions of T as the figure scripts' --start: start:stop:step or "
                    "a,b,c (default: 0.0:1.0:0.1)")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                    help="the DDPMs swept: " + "; ".join(f"{k}: {v[1]}, checkpoints/{v[0]}" for k, v in MODELS.items())
                    + f" (default: {' '.join(MODELS)})")
    ap.add_argument("--cells", choices=("grid", "matched"), default="grid",
                    help="grid: every (noise, start) cell; matched: only start = noise (nearest start) "
                    "(default: grid)")
    ap.add_argument("--classifiers", "--classifier", nargs="+", default=[str(JUDGES["mnist"])],
                    help="the judges of class kept, a grid each; the first fills class_kept (default: the robust "
                         "MNIST classifier)")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    ap.add_argument("--resume", action="store_true",
                    help="continue the sweep in --out: keep its cells, run the rest (same --n, --noises, --starts, "
                         "--seed, --fast, judges and device)")
    flags.add_run_flags(ap, RESULTS / "sweep")
    args = ap.parse_args(argv)

    device = resolve_device(args.device)
    try:
        x0, labels = data.load_test_images("mnist", args.n, args.data_dir)
        judges = load_judges(args.classifiers)
        results, wall0 = load_resumed(args, judges, device) if args.resume else ({}, 0.0)
        models = {name: load_model(name, args, device) for name in args.models}  # all checked before any chain runs
    except (CheckpointError, data.DataError, kernels.Unavailable, SweepError) as e:
        sys.exit(f"error: {e}")
    x0, labels = x0.to(device), labels.to(device)
    for name in models:  # a resumed sweep keeps its models' cells (and any model not run now)
        results.setdefault(name, empty_grids(args, judges, x0.shape[1:]))
    total = sum(m[1].t_of_fraction(args.starts[j]) for name, m in models.items() for i, j in cells(args)
                if np.isnan(results[name]["grids"]["psnr"][i, j]))
    t0 = time.time()
    with outputs.progress(total, "sweep", args) as bar:
        # the numbers after every cell, so that a sweep cut short loses one cell (--resume goes on from there)
        run_sweep(models, args, (x0, labels), judges, results, bar,
                  saved=lambda figures: write_outputs(args, results, device, wall0 + time.time() - t0, figures))
        write_outputs(args, results, device, wall0 + time.time() - t0)
    print(markdown(results, args.noises, args.starts))
    print(f"{time.time() - t0:.0f} s; wrote {args.out}/sweep_noise_vs_start.png, sweep_examples.png, .npz, .json, .md")
    return results


if __name__ == "__main__":
    main()
