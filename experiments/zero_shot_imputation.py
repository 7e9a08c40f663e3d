"""Zero-shot imputation (impute.py: RePaint and DDNM on the unconditional DDPM) against the paper's trained imputation
model (Fig. 6) and classical fills, on the same test digits and the same masks.

Masks (corruptions.mask_of): random pixels missing at 20, 50 and 80% (the trained model saw 20-80% in training) and
three masks it never saw: a missing centre block, the missing left half, every other row missing. Methods:
  trained            the paper's imputation model (checkpoints/mnist_impute.pt): the masked image as an extra input
                     channel, the chain from pure noise at T (Fig. 6), known pixels pasted back so that it keeps them
                     exactly, as every other method does
  RePaint            impute.py, method "repaint", no resampling (resample = 1: T network calls)
  RePaint r=R        the same with resampling: R passes in all, jumping back --jumps steps (about T * R calls);
                     one such arm for each R of --resample
  DDNM               impute.py, method "ddnm" (T calls)
  blur fill          Fig. 6's normalised Gaussian blur of the known pixels (width 1 pixel)
  biharmonic         scikit-image's biharmonic inpainting (skimage.restoration.inpaint_biharmonic)
Measured: PSNR on the missing pixels, SSIM of the whole image, class kept (by each of --classifiers; default the
robust MNIST classifier), for one chain
("sample") and for the mean of --chains chains ("mean"), compared like for like (sample with sample, mean with mean;
the classical fills are deterministic, so theirs are one and the same); network calls per image and chain; wall time.

    python experiments/zero_shot_imputation.py                 # n = 8, 2 chains: 4 min 40 s on the 2-core dev. CPU
    python experiments/zero_shot_imputation.py --n 500 --chains 1 --fast   # 2 h 5 min there (docs/beyond.md)

What to see: RePaint with resampling ahead of the trained model on every mask, and of the classical fills on
scattered pixels; on the missing block, every method draws a plausible digit that is often not the original one.

Writes, in --out (default results/zero_shot/): zero_shot_imputation.json (settings and every number), .md (the
tables), .npz (per-image missing-pixel PSNR of every method and mask), zero_shot_examples.png (digits through every
method, per mask), zero_shot_psnr.png (missing-pixel PSNR per mask and method, with standard errors).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import data
import flags
import impute
import kernels
import outputs
from checkpoint import CheckpointError, load_ddpm
from corruptions import mask_of
from ddpm import EpsFunction
from devices import resolve_device
from fast import FLAG_HELP as FAST_HELP
from fast import fast_path
from fig6_imputation import baseline_fills, conditioned_chain
from files import write_figure, write_json, write_npz, write_text
from metrics import add_class_kept, image_metrics, load_judges, masked_psnr, summary
from paths import JUDGES, RESULTS

MASKS = ["random:0.2", "random:0.5", "random:0.8", "block", "left-half", "rows"]
CLASSICAL = ["blur fill", "biharmonic"]


def biharmonic(y, mask):
    """scikit-image's biharmonic inpainting, image by image on the CPU: (N, 1, H, W) known pixels and mask (1 = known)
    -> (N, 1, H, W), known pixels kept."""
    from skimage.restoration import inpaint_biharmonic

    out = np.empty(y.shape, dtype=np.float32)
    ys, missing = y.cpu().numpy().astype(np.float64), mask.cpu().numpy() == 0
    for i in range(len(ys)):
        out[i, 0] = inpaint_biharmonic(ys[i, 0], missing[i, 0])
    return torch.where(mask.cpu().bool(), y.cpu(), torch.from_numpy(out)).to(y.device)


def trained(loaded, y, mask, chains, generator, bar):
    """The Fig. 6 model: K chains per image (as one batch) from pure noise at T, seeing the masked image (missing = 0)
    in its condition channel; the known pixels pasted back. Returns (K, N, 1, H, W)."""
    model, schedule, step, concat = loaded
    x_cond = (y * mask).repeat(chains, 1, 1, 1)
    eps_fn = EpsFunction(model, x_cond=x_cond, mode="keep", concat=concat)
    final, _ = conditioned_chain(eps_fn, schedule, schedule.T, generator, step=step, progress=bar)
    final = torch.where(mask.repeat(chains, 1, 1, 1).bool(), x_cond, final.clamp(-1, 1))
    return final.reshape(chains, *y.shape)


def run_method(name, arms, y, mask, chains, generator, bar):
    """(one sample, the mean of `chains` chains) of the method `name` on the known pixels y (missing = 0) and mask,
    both (N, 1, H, W). arms: the trained model's (model, schedule, step, concat), each zero-shot method's (model,
    schedule, impute.impute's settings)."""
    if name == "trained":
        chains_out = trained(arms[name], y, mask, chains, generator, bar)
        return chains_out[0], chains_out.mean(0)
    if name in arms:
        model, schedule, how = arms[name]
        r = impute.impute(y, mask, model, schedule, chains=chains, generator=generator, progress=bar, **how)
        return r.sample, r.mean
    fill = baseline_fills(y, mask)["blur"] if name == "blur fill" else biharmonic(y, mask)
    return fill, fill  # deterministic: the sample is the mean


def evaluate(sample, mean, x, mask, labels, judges):
    """Metrics of one sample (chain 0) and of the mean over chains: missing-pixel PSNR, SSIM, class kept by every
    judge (`judges`: name -> classifier; the first one is also `class_kept`).
    Returns {"sample": (metrics, per-image missing PSNR), "mean": (...)}."""
    out = {}
    for which, images in (("sample", sample), ("mean", mean)):
        m = add_class_kept(image_metrics(images, x), judges, images, labels)
        per_image = masked_psnr(images, x, 1 - mask)
        m["psnr_missing"] = summary(per_image)
        m["psnr_missing"]["se"] = m["psnr_missing"]["std"] / np.sqrt(len(per_image))
        out[which] = (m, per_image.cpu().numpy())
    return out


def paired(a, b):
    """Mean and standard error of the per-image difference a - b (dB)."""
    d = a - b
    return {"mean_db": float(d.mean()), "se": float(d.std() / np.sqrt(len(d))) if len(d) > 1 else 0.0}


def plot(path, masks, table, methods, n, which="sample"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(methods)
    colors = plt.get_cmap("tab10")
    for j, m in enumerate(methods):
        means = [table[k][m][which]["psnr_missing"]["mean"] for k in masks]
        ses = [table[k][m][which]["psnr_missing"]["se"] for k in masks]
        ax.bar(np.arange(len(masks)) + (j - (len(methods) - 1) / 2) * width, means, width, yerr=ses, capsize=2,
               label=m, color=colors(j))
    ax.set_xticks(np.arange(len(masks)), [k.replace("random:", "random ") for k in masks])
    ax.set_ylabel("PSNR on the missing pixels (dB)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.1))  # below: bars stay clear
    ax.set_title(f"Imputation of {n} MNIST test digits: one {which} per image (error bars: standard error)",
                 fontsize=10)
    fig.tight_layout()
    write_figure(fig, path)


def draw_examples(path, masks, examples, methods, rows=2):
    """For each mask, `rows` digits: the original, the masked input (missing pixels grey), then every method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from viz import show, to_unit

    names = ["original", "input"] + methods
    fig, axes = plt.subplots(len(masks) * rows, len(names),
                             figsize=(0.95 * len(names), 0.95 * rows * len(masks) + 0.5), squeeze=False)
    for k, kind in enumerate(masks):
        for c, name in enumerate(names):
            pics = to_unit(examples[kind][name][:rows])
            for r in range(rows):
                ax = axes[k * rows + r, c]
                show(ax, pics[r])
                if k * rows + r == 0:
                    ax.set_title(name.replace(" r=", "\nr="), fontsize=6)
                if c == 0 and r == 0:
                    ax.set_ylabel(kind.replace("random:", "random "), fontsize=7)
    fig.tight_layout(pad=0.2)
    write_figure(fig, path)


def markdown(masks, table, methods, calls, chains):
    head = "| method | calls | " + " | ".join(k.replace("random:", "random ") for k in masks) + " |"
    sep = "|---|---|" + "---|" * len(masks)
    lines = []
    for which, title in (("sample", "one sample per image"), ("mean", f"the mean of {chains} chains per image")):
        if which == "mean" and chains == 1:
            continue
        lines += [f"PSNR on the missing pixels in dB, {title} (mean +- s.e.; in brackets: SSIM, class kept)", "",
                  head, sep]
        for m in methods:
            cell = lambda r: (f"{r['psnr_missing']['mean']:.2f} +- {r['psnr_missing']['se']:.2f} "  # noqa: E731
                              f"({r['ssim']['mean']:.3f}, {100 * r['class_kept']:.0f}%)")
            cells = [cell(table[k][m][which]) for k in masks]
            lines.append(f"| {m} | {calls[m]} | " + " | ".join(cells) + " |")
        lines.append("")
        judges = list(table[masks[0]][methods[0]][which]["class_kept_by"])
        for judge in judges[1:] if len(judges) > 1 else []:  # the first judge is in the brackets above
            lines += [f"Class kept by {judge}, {title}", "", head, sep]
            for m in methods:
                lines.append(f"| {m} | {calls[m]} | " + " | ".join(
                    f"{100 * table[k][m][which]['class_kept_by'][judge]:.1f}%" for k in masks) + " |")
            lines.append("")
    return "\n".join(lines)


@cli.command(errors=(impute.ImputeError,))
def main(argv=None):
    doc = __doc__
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])
    ap.add_argument("--n", type=flags.positive_int, default=8, help="test images per mask (default: 8)")
    ap.add_argument("--chains", type=flags.positive_int, default=2,
                    help="chains per image; 'mean' averages them (default: 2)")
    ap.add_argument("--masks", nargs="+", default=MASKS,
                    help="the masks, as impute.py's --mask names them: random:F (a fraction F of the pixels missing, "
                    f"as Fig. 6's --missing), block, left-half, rows (default: {' '.join(MASKS)})")
    ap.add_argument("--jumps", type=flags.positive_int, default=impute.DEFAULT_JUMPS,
                    help="RePaint with resampling: steps each jump goes back (default: %(default)s)")
    ap.add_argument("--resample", type=flags.positive_int, nargs="+", default=[impute.DEFAULT_RESAMPLE],
                    help="passes over the chain in all, one 'RePaint r=R' arm for each value above 1 (default: "
                    f"{impute.DEFAULT_RESAMPLE})")
    ap.add_argument("--batch", type=flags.positive_int, default=128,
                    help="images per chain batch (the network sees batch x chains); the CPU runs 128 faster per "
                    "image than 500 (default: 128)")
    ap.add_argument("--classifiers", nargs="+", default=[str(JUDGES["mnist"])],
                    help="the judges of class kept; the first one fills class_kept and the first table's brackets, "
                         "each other one gets a table (default: the robust MNIST classifier)")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    flags.add_run_flags(ap, RESULTS / "zero_shot")
    args = ap.parse_args(argv)
    for kind in args.masks:
        try:
            mask_of(kind, (1, 1, 4, 4))
        except ValueError as e:
            ap.error(f"--masks: {e}")

    device = resolve_device(args.device)
    ck = Path(args.checkpoint_dir)
    try:
        x, labels = data.load_test_images("mnist", args.n, args.data_dir)
        judges = load_judges(args.classifiers)
        uncond, schedule, _ = load_ddpm(ck / "mnist_uncond.pt", device, dataset="mnist", cond="none")
        cond, cond_schedule, _ = load_ddpm(ck / "mnist_impute.pt", device, dataset="mnist", cond="image",
                                           probabilistic=False)
        step, concat = kernels.choose(args.kernels, device, schedule)
        cond_step, _ = kernels.choose(args.kernels, device, cond_schedule)
        if args.fast:  # the fast path swaps both models (fast.py); the drop-ins come from --kernels above
            uncond_fast = fast_path(uncond, schedule, device, fused=args.kernels != "torch")
            uncond, cond = uncond_fast.model, fast_path(cond, cond_schedule, device,
                                                        fused=args.kernels != "torch").model
            print(uncond_fast.summary)
    except (CheckpointError, data.DataError, kernels.Unavailable) as e:
        sys.exit(f"error: {e}")
    x, labels = x.to(device), labels.to(device)

    # the zero-shot arms: impute.impute's settings for each
    settings_of = {"RePaint": {"method": "repaint", "resample": 1, "step": step},
                   **{f"RePaint r={r}": {"method": "repaint", "jumps": args.jumps, "resample": r, "step": step}
                      for r in sorted(set(args.resample)) if r > 1},
                   "DDNM": {"method": "ddnm", "resample": 1}}
    calls = {"trained": cond_schedule.T, **{m: impute.network_calls(schedule.T, how.get("jumps", args.jumps),
                                                                    how["resample"])
                                            for m, how in settings_of.items()}, "blur fill": 0, "biharmonic": 0}
    # what run_method needs for each diffusion method
    arms = {"trained": (cond, cond_schedule, cond_step, concat),
            **{m: (uncond, schedule, how) for m, how in settings_of.items()}}
    diffusion = ["trained", *settings_of]
    methods = diffusion + CLASSICAL
    table, per_image, examples, wall = {}, {}, {}, {m: 0.0 for m in methods}
    total = len(args.masks) * sum(calls[m] for m in diffusion)
    with outputs.progress(total, "zero-shot imputation", args) as bar:
        for k, kind in enumerate(args.masks):
            mask = mask_of(kind, x.shape, torch.Generator(device=device).manual_seed(args.seed * 1000 + k), device)
            y = x * mask  # missing pixels 0 (grey), as Fig. 6 shows them
            outs = {}
            for j, m in enumerate(methods):
                g = torch.Generator(device=device).manual_seed(args.seed * 1000 + 100 * k + j)
                t0 = time.time()
                chunks = [run_method(m, arms, y[i: i + args.batch], mask[i: i + args.batch], args.chains, g, bar)
                          for i in range(0, args.n, args.batch)]
                outs[m] = tuple(torch.cat(parts) for parts in zip(*chunks))
                wall[m] += time.time() - t0
            table[kind], per_image[kind] = {}, {}
            for m, (sample, mean) in outs.items():
                scores = evaluate(sample, mean, x, mask, labels, judges)
                table[kind][m] = {w: s[0] for w, s in scores.items()}
                per_image[kind][m] = {w: s[1] for w, s in scores.items()}
            examples[kind] = {"original": x[:2].cpu(), "input": y[:2].cpu(),
                              **{m: sample[:2].cpu() for m, (sample, _) in outs.items()}}

    # like for like, per image: the best zero-shot method against the trained model and the best classical fill
    comparisons = {}
    for kind in args.masks:
        comparisons[kind] = {}
        for which in ("sample", "mean"):
            pi = per_image[kind]
            best_zero = max(settings_of, key=lambda m: pi[m][which].mean())
            best_classical = max(CLASSICAL, key=lambda m: pi[m][which].mean())
            comparisons[kind][which] = {
                "best_zero_shot": best_zero, "best_classical": best_classical,
                "zero_shot_minus_trained": paired(pi[best_zero][which], pi["trained"][which]),
                "zero_shot_minus_classical": paired(pi[best_zero][which], pi[best_classical][which])}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out / "zero_shot_psnr.png", args.masks, table, methods, args.n)
    draw_examples(out / "zero_shot_examples.png", args.masks, examples, methods)
    settings = {k: v for k, v in vars(args).items() if k != "no_progress"}
    settings.update(device=str(device), torch=torch.__version__, wall_s=wall, network_calls_per_chain=calls,
                    device_name=torch.cuda.get_device_name() if device.type == "cuda" else "cpu")
    report = {"settings": settings, "metrics": table, "comparisons": comparisons}
    write_json(out / "zero_shot_imputation.json", report)
    text = markdown(args.masks, table, methods, calls, args.chains)
    text += ("Paired per image (dB +- s.e.): the best zero-shot method minus the trained model, and minus the best "
             "classical fill\n\n| mask | which | best zero-shot | - trained | best classical | - classical |\n"
             "|---|---|---|---|---|---|\n")
    for kind, byw in comparisons.items():
        for which, c in byw.items():
            if which == "mean" and args.chains == 1:
                continue
            a, b = c["zero_shot_minus_trained"], c["zero_shot_minus_classical"]
            text += (f"| {kind} | {which} | {c['best_zero_shot']} | {a['mean_db']:+.2f} +- {a['se']:.2f} | "
                     f"{c['best_classical']} | {b['mean_db']:+.2f} +- {b['se']:.2f} |\n")
    text += "\nWall time per method, all masks (s): " + ", ".join(f"{m} {w:.0f}" for m, w in wall.items()) + "\n"
    write_text(out / "zero_shot_imputation.md", text)
    write_npz(out / "zero_shot_imputation.npz",
              {f"psnr_missing_{kind}_{m}_{w}".replace(" ", "_").replace(":", "").replace("=", ""): v
               for kind, d in per_image.items() for m, ws in d.items() for w, v in ws.items()})
    print(text)
    print(f"wrote {out}/zero_shot_imputation.json, .md, .npz, zero_shot_examples.png, zero_shot_psnr.png")
    return report


if __name__ == "__main__":
    main()
