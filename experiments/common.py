"""experiments/common.py - what every figure script shares: flags, loading, metrics, the strip figure, the outputs.

Metrics (every claim of the paper as a number):
  psnr       10 log10(range^2 / MSE) per image, range 2 for images in [-1, 1]; higher is closer to the original
  ssim       structural similarity per image (Wang et al. 2004), Gaussian window 7x7, sigma 1.5 (a 28x28 image is too
             small for the usual 11x11), on images scaled to [0, 1]
  class_kept share of final images that the project's classifier assigns the original's class

Outputs of a figure script <name>, in --out (default results/): <name>.png (one row per image: original, corrupted
input, the chain at regular steps, final), <name>.npz (original, corrupted, final (N, 1, 28, 28) float32 in [-1, 1],
trajectory (K, N, 1, 28, 28), steps (K,), labels (N,), plus extras such as p), <name>.json (settings and metrics).
"""

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import data  # noqa: E402
from checkpoint import CheckpointError, atomic_write, load_ddpm, resolve_device  # noqa: E402
from classifier import load_classifier, predict  # noqa: E402
from viz import to_unit  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
CLASSIFIERS = {"mnist": CHECKPOINTS / "classifier_mnist.pt", "fashion": CHECKPOINTS / "classifier_fashion.pt"}


# ----------------------------------------------------------------------------------------------------------------------
# Flags
# ----------------------------------------------------------------------------------------------------------------------


def fraction(text):
    """argparse type for a fraction of the chain in [0, 1]."""
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {v}")
    return v


def positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def parser(doc, defaults):
    """The flags every figure script takes, with the paper's values as defaults. `defaults` may add 'cycles'."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[-1])
    ap.add_argument("--noise", type=fraction, default=defaults.get("noise", 0.3),
                    help="corruption level: fraction of the chain's noise, of pixels removed, or the noise sigma")
    ap.add_argument("--start", type=fraction, default=defaults.get("start", 0.3),
                    help="where the corrupted image enters the chain, as a fraction of T (t_start = round(start T))")
    ap.add_argument("--n", type=positive_int, default=defaults.get("n", 8), help="number of test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--checkpoint", default=str(defaults["checkpoint"]), help="the DDPM to use")
    ap.add_argument("--classifier", default=None, help="classifier checkpoint for class preservation "
                    "(default: the shipped one for the dataset)")
    ap.add_argument("--data-dir", default=None, help="full datasets (default: $DDPM_DATA_DIR, ./data, else the "
                    "shipped pack of test images)")
    ap.add_argument("--out", default=str(ROOT / "results"), help="output folder (default results/)")
    ap.add_argument("--snapshots", type=positive_int, default=8, help="chain snapshots drawn per row")
    ap.add_argument("--no-progress", action="store_true")
    if "cycles" in defaults:
        ap.add_argument("--cycles", type=positive_int, default=defaults["cycles"],
                        help="run the chain again on its own output this many times in all")
    if "guidance" in defaults:
        ap.add_argument("--guidance", type=float, default=defaults["guidance"],
                        help="classifier-free guidance weight w >= 0")
    return ap


def add_run_flags(ap, out):
    """The flags of the scripts beyond the paper, which load several checkpoints by name from one folder."""
    ap.add_argument("--checkpoint-dir", default=str(CHECKPOINTS), help="where the checkpoints are")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--data-dir", default=None, help="full datasets (default: $DDPM_DATA_DIR, ./data, else the "
                    "shipped pack of test images)")
    ap.add_argument("--out", default=str(out), help=f"output folder (default {Path(out).relative_to(ROOT)}/)")
    ap.add_argument("--no-progress", action="store_true")


# ----------------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------------


class Setup:
    """Everything a figure script loads: device, model, schedule, test images, classifier, a seeded generator."""

    def __init__(self, args, dataset, expect_cond):
        self.device = resolve_device(args.device)
        try:
            self.model, self.schedule, self.ckpt = load_ddpm(args.checkpoint, self.device)
            clf_path = args.classifier or CLASSIFIERS[dataset]
            self.classifier, _ = load_classifier(clf_path)
            self.x0, self.labels = data.load_test_images(dataset, args.n, args.data_dir)
        except (CheckpointError, data.DataError) as e:
            sys.exit(f"error: {e}")
        cfg = self.ckpt["train_config"]
        if cfg["dataset"] != dataset or cfg["cond"] != expect_cond:
            sys.exit(f"error: {args.checkpoint} is a '{cfg['cond']}' model of {cfg['dataset']}; this figure needs a "
                     f"'{expect_cond}' model of {dataset}")
        self.x0 = self.x0.to(self.device)
        self.labels = self.labels.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(args.seed)


def snapshot_every(n_steps, snapshots):
    """Record every k-th step so that about `snapshots` images of the chain are kept."""
    return max(1, round(n_steps / snapshots))


# ----------------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------------


def psnr(x, ref):
    """Per-image PSNR in dB of x against ref, both (N, C, H, W) in [-1, 1] (x is clipped to it first)."""
    mse = (x.clamp(-1, 1).float() - ref.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-10))


def ssim(x, ref, size=7, sigma=1.5):
    """Per-image SSIM of x against ref, both (N, 1, H, W) in [-1, 1], computed on [0, 1] with a Gaussian window."""
    a = (x.clamp(-1, 1).float() + 1) / 2
    b = (ref.float() + 1) / 2
    coords = torch.arange(size, dtype=torch.float32, device=a.device) - (size - 1) / 2
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).view(1, 1, size, size)
    blur = lambda z: F.conv2d(z, window)  # noqa: E731  "valid" windows only, as in Wang et al.
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2  # (K L)^2 with L = 1
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def summary(values):
    v = values.detach().cpu().double()
    return {"mean": v.mean().item(), "std": v.std().item() if len(v) > 1 else 0.0}


def image_metrics(images, original, labels=None, classifier=None):
    """PSNR and SSIM against the original (mean and std over images), and class preservation."""
    m = {"psnr": summary(psnr(images, original)), "ssim": summary(ssim(images, original))}
    if classifier is not None:
        pred = predict(classifier, images.clamp(-1, 1).cpu())
        m["class_kept"] = (pred == labels.cpu()).float().mean().item()
    return m


# ----------------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------------


def draw_strip(path, original, corrupted, trajectory, steps, final, title, corrupted_label="corrupted", max_rows=8,
               step_label="t"):
    """The paper's layout: one row per image: original | corrupted input | the chain at `steps` | final."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(max_rows, original.shape[0])
    columns = [("original", original), (corrupted_label, corrupted)]
    columns += [(f"{step_label}={s}", trajectory[k]) for k, s in enumerate(steps)]
    columns += [("final", final)]
    height = 0.9 * rows + 0.7
    fig, axes = plt.subplots(rows, len(columns), figsize=(0.9 * len(columns), height), squeeze=False)
    for c, (name, imgs) in enumerate(columns):
        pics = to_unit(imgs[:rows])
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(pics[r], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.4 / height))  # leave room for the two-line title
    save_figure(fig, path)


def save_figure(fig, path):
    """Write a matplotlib figure as a PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def save_outputs(out, name, arrays, settings, metrics):
    """Write <name>.npz (float32 arrays) and <name>.json (settings and metrics), atomically."""
    out = Path(out)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: (v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v))
                                for k, v in arrays.items()})
    atomic_write(out / f"{name}.npz", lambda f: f.write(buf.getvalue()))
    text = json.dumps({"settings": settings, "metrics": metrics}, indent=1)
    atomic_write(out / f"{name}.json", lambda f: f.write(text.encode()))


def finish(args, name, run, corrupted, trajectory, steps, final, settings, metrics, title, corrupted_label,
           step_label="t", extra=None, strip=None):
    """Draw the strip, write the npz and json, print the numbers. The strip shows the trajectory's snapshots between
    the input and the final image, or `strip` = (images, steps) where it should show something else."""
    shown, shown_steps = strip if strip is not None else (trajectory, steps)
    draw_strip(Path(args.out) / f"{name}.png", run.x0, corrupted, shown[1:-1], shown_steps[1:-1].tolist(), final,
               title, corrupted_label=corrupted_label, step_label=step_label)
    arrays = {"original": run.x0, "corrupted": corrupted, "final": final, "trajectory": trajectory, "steps": steps,
              "labels": run.labels, **(extra or {})}
    save_outputs(args.out, name, arrays, settings, metrics)
    report(name, metrics, args.out)


def report(name, metrics, out):
    """Print the headline numbers and where the files went."""
    lines = [f"{name}:"]
    for what, m in metrics.items():
        if "psnr" not in m:
            continue
        parts = [f"PSNR {m['psnr']['mean']:.2f} dB", f"SSIM {m['ssim']['mean']:.3f}"]
        if "class_kept" in m:
            parts.append(f"class kept {100 * m['class_kept']:.0f}%")
        lines.append(f"  {what:>10s}: " + ", ".join(parts))
    lines.append(f"  wrote {Path(out) / name}.png, .npz, .json")
    print("\n".join(lines))


def gaussian_blur(x, sigma=1.0):
    """A Gaussian blur of (N, 1, H, W) images (reflect padding): the simplest denoiser, a baseline."""
    radius = max(1, int(3 * sigma + 0.5))
    coords = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1)
    x = F.conv2d(F.pad(x.float(), [radius, radius, 0, 0], mode="reflect"), g)
    return F.conv2d(F.pad(x, [0, 0, radius, radius], mode="reflect"), g.transpose(2, 3))


def progress(total, desc, args):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=args.no_progress, mininterval=1.0)


def noisy_start_experiment(args, name, dataset, cond, title):
    """Section 3.1: noise test images with the schedule's own forward process at t = round(noise T), feed them into
    the reverse chain as x_{t_start}, t_start = round(start T), and run it down to x_0 (`--cycles` times, each cycle
    starting from the last one's output). A class-conditional model is given the true class (guidance w)."""
    from ddpm import EpsFunction, cycles

    run = Setup(args, dataset, cond)
    schedule = run.schedule
    # the paper's "X% noise": x_t ~ q(x_t | x0) at t = round(X T)
    x_noisy, t_noise = data.schedule_noise(run.x0, schedule, args.noise, run.generator)
    t_start = schedule.t_of_fraction(args.start)
    y = run.labels if cond == "class" else None
    eps_fn = EpsFunction(run.model, y=y, guidance=getattr(args, "guidance", 0.0) if y is not None else 0.0)
    every = snapshot_every(t_start, args.snapshots)
    with progress(t_start * args.cycles, f"{name} (t_start={t_start})", args) as bar:
        final, trajs = cycles(eps_fn, schedule, x_noisy, t_start, args.cycles, record_every=every,
                              generator=run.generator, progress=bar)
    traj = torch.cat([tr.stacked()[0] for tr in trajs])  # (K, N, 1, 28, 28), all cycles one after the other
    steps = torch.cat([tr.stacked()[1] for tr in trajs])
    metrics = {"final": image_metrics(final, run.x0, run.labels, run.classifier),
               "corrupted": image_metrics(x_noisy, run.x0, run.labels, run.classifier),
               "blur": image_metrics(gaussian_blur(x_noisy / schedule.alpha_bars[t_noise].sqrt()), run.x0, run.labels,
                                     run.classifier)}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "noise": args.noise, "t_noise": t_noise,
                "start": args.start, "t_start": t_start, "cycles": args.cycles, "n": args.n, "seed": args.seed,
                "guidance": getattr(args, "guidance", None), "T": schedule.T}
    finish(args, name, run, x_noisy, traj, steps, final, settings, metrics,
           f"{title}\nnoise {args.noise:.0%} (t={t_noise}), fed in at t={t_start}; "
           f"PSNR {metrics['final']['psnr']['mean']:.1f} dB, class kept {metrics['final']['class_kept']:.0%}",
           corrupted_label=f"noisy t={t_noise}", strip=trajs[-1].stacked())  # the strip: the last cycle
    return metrics


def conditioned_chain(run, x_cond, args, mode, name):
    """Sections 3.2 and 3.3: the reverse chain of a model that sees [x_t, m * x_cond] at every step. It starts at
    t_start = round(start T) from the corrupted image noised by the forward process to t_start (at t_start = T that
    is pure noise, the usual start). Returns (final, Trajectory, p) with p (steps, N) the conditioning probabilities
    used along the chain (all ones for mode="keep")."""
    from ddpm import EpsFunction, sample_from

    schedule = run.schedule
    t_start = max(1, schedule.t_of_fraction(args.start))
    noise = torch.randn(x_cond.shape, device=x_cond.device, generator=run.generator)
    x_start = schedule.q_sample(x_cond, t_start, noise)
    eps_fn = EpsFunction(run.model, x_cond=x_cond, mode=mode, tau=run.ckpt["train_config"]["tau"],
                         generator=run.generator)
    with progress(t_start, f"{name} (t_start={t_start})", args) as bar:
        final, traj = sample_from(eps_fn, schedule, x_start, t_start,
                                  record_every=snapshot_every(t_start, args.snapshots), generator=run.generator,
                                  progress=bar)
    return final, traj, torch.stack(eps_fn.p_history).cpu(), t_start
