"""sample.py - draw images from a trained DDPM checkpoint.

    python sample.py                                              # the shipped MNIST model: samples/samples.png
    python sample.py --checkpoint checkpoints/mnist_class.pt --n 100 --out samples/mnist
    python sample.py --checkpoint checkpoints/mnist_class.pt --class 7 --guidance 0 --sampler ddim --steps 50

Writes <out>.png (a grid; for a class-conditional model without --class, row r holds class r, named at its left
when the checkpoint knows the class names) and <out>.npz
(`images` (N, C, H, W) float32 in [-1, 1], `labels` (N,), -1 where there is none). The same --seed gives the same
images on the same device.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import cli
import fast
import kernels
from checkpoint import CheckpointError, load_ddpm
from classifier import load_classifier, predict
from ddpm import EpsFunction, ddim_sample_from, sample
from devices import DEVICE_HELP, resolve_device
from files import write_json, write_npz
from viz import grid, save_labelled_grid, save_png

GRID_MAX = 100  # the widest grid written: 100 images of each class, or 100 rows of 10
DEFAULT_GUIDANCE = 2.0  # w of classifier-free guidance: sharper, more typical digits than w = 0, still varied
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "mnist_class.pt"  # the shipped MNIST model


def parse(argv=None):
    ap = argparse.ArgumentParser(description="Sample images from a trained DDPM checkpoint.")
    ap.add_argument("--checkpoint", type=cli.existing_file, default=str(DEFAULT_CHECKPOINT),
                    help="a 'ddpm' checkpoint written by train.py (default: checkpoints/mnist_class.pt, the shipped "
                    "class-conditional MNIST model)")
    ap.add_argument("--n", type=cli.positive_int, default=100, help="number of images (default: 100)")
    ap.add_argument("--class", dest="label", type=cli.non_negative_int, default=None,
                    help="class to draw (class-conditional models); default: all classes in turn")
    ap.add_argument("--guidance", type=cli.non_negative, default=None,
                    help=f"classifier-free guidance weight w >= 0 (class-conditional models; "
                         f"default {DEFAULT_GUIDANCE})")
    ap.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm",
                    help="ddpm: the full chain of T steps (Algorithm 2); ddim: fewer, larger steps (--steps) "
                    "(default: ddpm)")
    ap.add_argument("--steps", type=cli.positive_int, default=50, help="DDIM steps (with --sampler ddim; default: 50)")
    ap.add_argument("--eta", type=cli.fraction, default=0.0,
                    help="DDIM eta: 0 deterministic, 1 as much noise per step as DDPM (default: 0.0)")
    ap.add_argument("--batch-size", type=cli.positive_int, default=1000,
                    help="images sampled at once; a larger --n runs in batches of this size, one after another, so "
                    "memory stays bounded (the same --seed with n <= batch size gives the same images as one batch) "
                    "(default: 1000)")
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed of the chains' noise (default: 0)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=kernels.CHOICES, default="auto", help=kernels.FLAG_HELP)
    ap.add_argument("--fast", action="store_true", help=fast.FLAG_HELP)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--out", type=cli.output_file(), default="samples/samples",
                    help="output path without extension, for the .png and .npz (default: samples/samples, in the "
                    "git-ignored samples/)")
    ap.add_argument("--classifier", type=cli.existing_file, default=None,
                    help="a 'classifier' checkpoint: report which classes it sees in the samples (and how often the "
                         "class asked for), also written to <out>.json")
    return ap.parse_args(argv)


def labels_for(args, num_classes):
    """The label of each image, or None for an unconditional model; checks the flags against the model."""
    if num_classes == 0:
        if args.label is not None or args.guidance is not None:
            raise SystemExit("error: this model is unconditional: --class and --guidance do not apply")
        return None
    if args.label is not None:
        if not 0 <= args.label < num_classes:
            raise SystemExit(f"error: --class must lie in 0..{num_classes - 1} for this model, got {args.label}")
        return torch.full((args.n,), args.label, dtype=torch.long)
    # every class in turn: n = 100 gives ten rows of ten, row r all class r
    per = max(1, args.n // num_classes)
    return (torch.arange(args.n) // per).clamp(max=num_classes - 1)


def check_memory(n, config):
    """Exit with a clear line if the n images (every one is kept for the .npz, in float32) would not fit in memory:
    better than an allocator traceback after the first batches have run."""
    need = n * config.image_channels * config.image_size ** 2 * 4 * 2  # the images, and their numpy copy
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # a system that does not say
        return
    if need > have:
        sys.exit(f"error: --n {n} needs about {need / 1e9:.3g} GB to hold the images, more than this machine's "
                 f"{have / 1e9:.3g} GB; ask for fewer")


def main(argv=None):
    args = parse(argv)
    for suffix in (".png", ".npz", ".json"):
        if Path(args.out).with_suffix(suffix).is_dir():
            raise SystemExit(f"error: {Path(args.out).with_suffix(suffix)} is a folder; --out is a path without "
                             f"extension for the .png and .npz files")
    device = resolve_device(args.device)
    try:
        model, schedule, ckpt = load_ddpm(args.checkpoint, device)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    if model.config.cond_channels:
        sys.exit("error: this model is conditioned on a corrupted image; use the experiments/fig6 or fig7 scripts")
    if args.sampler == "ddim" and not 1 <= args.steps <= schedule.T:
        sys.exit(f"error: --steps must lie in 1..{schedule.T}, got {args.steps}")
    check_memory(args.n, model.config)
    y = labels_for(args, model.config.num_classes)
    clf = None
    if args.classifier:  # loaded before the chains run: a wrong file costs nothing
        try:
            clf, _ = load_classifier(args.classifier)
        except CheckpointError as e:
            sys.exit(f"error: {e}")
        if (model.config.image_channels, model.config.image_size) != (1, 28):
            sys.exit(f"error: --classifier reads 28x28 grey images; this model draws {model.config.image_channels}"
                     f"-channel {model.config.image_size}x{model.config.image_size} ones")

    g = torch.Generator(device=device).manual_seed(args.seed)
    # the images the model was trained on: channels and size from its config (old checkpoints: 28x28)
    shape = (args.n, model.config.image_channels, model.config.image_size, model.config.image_size)
    w = 0.0 if y is None else (DEFAULT_GUIDANCE if args.guidance is None else args.guidance)
    try:
        step, _ = kernels.choose(args.kernels, device, schedule)  # the reverse step: ddpm.py's, or the fused kernel
    except kernels.Unavailable as e:
        sys.exit(f"error: {e}")
    runner = None
    if args.fast:  # the fast path swaps the model and the reverse step, and on a GPU runs the chain (fast.py)
        path = fast.fast_path(model, schedule, device, fused=args.kernels != "torch")
        model, step, runner = path.model, path.step, path.runner
        print(path.summary)
    n_steps = schedule.T if args.sampler == "ddpm" else args.steps
    starts = range(0, args.n, args.batch_size)  # --n images in batches of at most --batch-size, one after another
    chunks = []
    with tqdm(total=n_steps * len(starts), desc=f"sampling {args.n} images", unit="step",
              disable=args.no_progress) as bar:
        for lo in starts:
            hi = min(lo + args.batch_size, args.n)
            eps_fn = EpsFunction(model, y=None if y is None else y[lo:hi].to(device), guidance=w, generator=g)
            if args.sampler == "ddpm":
                x, _ = sample(eps_fn, schedule, (hi - lo, *shape[1:]), device=device, step=step, generator=g,
                              progress=bar, runner=runner)
            else:
                x_T = torch.randn((hi - lo, *shape[1:]), device=device, generator=g)
                x, _ = ddim_sample_from(eps_fn, schedule, x_T, schedule.T, args.steps, eta=args.eta, generator=g,
                                        progress=bar)
            chunks.append(x.cpu())
    x = torch.cat(chunks)

    out = Path(args.out)
    images = x.clamp(-1, 1).cpu().float().numpy()
    labels = np.full(args.n, -1) if y is None else y.numpy()
    rows_are_classes = y is not None and args.label is None
    # the grid shows at most GRID_MAX columns (of each class's row) or rows of 10; the .npz holds every image
    if rows_are_classes:
        per = max(1, args.n // model.config.num_classes)  # images of each class, row r holding class r
        ncol = min(per, GRID_MAX)
        shown = [r * per + c for r in range(-(-args.n // per)) for c in range(ncol) if r * per + c < args.n]
    else:
        ncol = min(10, args.n)
        shown = list(range(min(args.n, GRID_MAX * ncol)))
    picture = x[shown].clamp(-1, 1)
    names = ckpt.get("class_names") or []  # checkpoints written before class names were kept have none
    if rows_are_classes and names:
        # the class name beside each row
        row_names = [names[int(y[shown[r * ncol]])] for r in range(-(-len(shown) // ncol))]
        save_labelled_grid(out.with_suffix(".png"), picture, ncol, row_names)
    else:
        save_png(out.with_suffix(".png"), grid(picture, ncol=ncol), scale=2)
    write_npz(out.with_suffix(".npz"), {"images": images, "labels": labels}, compressed=False)
    print(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.npz')} (checkpoint step {ckpt['step']})")
    if args.classifier:
        report = judge(clf, x.clamp(-1, 1).cpu(), y)
        write_json(out.with_suffix(".json"), report)
        print(json.dumps(report, indent=1))


def judge(clf, images, labels):
    """What a trained classifier sees in the samples: the count of each predicted class and, where labels were asked
    for, the share classified as the label asked for (the quality bar of a class-conditional model)."""
    pred = predict(clf, images)
    report = {"n": len(pred), "predicted_class_counts": torch.bincount(pred, minlength=10).tolist(),
              "classes_covered": int((torch.bincount(pred, minlength=10) > 0).sum())}
    if labels is not None:
        report["share_classified_as_asked"] = (pred == labels).float().mean().item()
    return report


if __name__ == "__main__":
    main()
