"""Fig. 1 of the paper (section 4.1.1): 30% noise fed in at the step that expects 30% noise.

Test digits get the schedule's own 30% noise, x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps at
t = round(0.3 T) = 60, and enter the class-conditional MNIST DDPM's reverse chain as x_60, told their true class.
What to see: the chain removes the noise and returns the same digit (high PSNR, class kept): the network has learned
the distribution of x_t at every step, so a correctly placed noisy image is just an ordinary point of the chain.
Runtime: 8 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig1_matched_timestep.png, .npz, .json.
Figs. 2, 4 and 5 run this same experiment (`noisy_start`) with other settings.
"""

import sys
from pathlib import Path

import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import drawing
import flags
import loading
import outputs
from corruptions import gaussian_blur, schedule_noise
from ddpm import EpsFunction, cycles
from files import FileError, read_json
from metrics import image_metrics
from paths import CHECKPOINTS

DEFAULTS = {"noise": 0.3, "start": 0.3, "n": 8, "cycles": 1, "guidance": 0.0,
            "checkpoint": CHECKPOINTS / "mnist_class.pt"}


def noisy_start(args, name, dataset, cond, title):
    """Section 3.1: a noisy image fed into the reverse chain at a chosen step. Returns the json's metrics."""
    # load the model (of the kind this figure needs) and the first --n test images
    run = loading.Run(args, dataset, cond=cond)
    schedule = run.schedule
    # corrupt: the paper's "X% noise", x_t ~ q(x_t | x0) at t_noise = round(noise T)
    x_noisy, t_noise = schedule_noise(run.x0, schedule, args.noise, run.generator)
    # where it enters: the image is taken to be x_{t_start}, t_start = round(start T), whatever noise it holds
    t_start = schedule.t_of_fraction(args.start)
    # a class-conditional model is told the true class (guidance weight w)
    y = run.labels if cond == "class" else None
    eps_fn = EpsFunction(run.model, y=y, guidance=getattr(args, "guidance", 0.0) if y is not None else 0.0)
    # run the chain from t_start down to 0, --cycles times (each cycle starts from the last one's output)
    with outputs.progress(t_start * args.cycles, f"{name} (t_start={t_start})", args) as bar:
        final, trajs = cycles(eps_fn, schedule, x_noisy, t_start, args.cycles, step=run.step, generator=run.generator,
                              record_every=drawing.snapshot_every(t_start, args.snapshots), progress=bar)
    # measure against the clean digits, beside the noisy input and a blur of it
    metrics = noisy_input_metrics(run, final, x_noisy, t_noise)
    # save: the strip shows the last cycle; the npz holds all cycles one after the other (K, N, 1, 28, 28)
    images, steps = trajs[-1].stacked()
    drawing.draw_strip(f"{args.out}/{name}.png", [("original", run.x0), (f"noisy t={t_noise}", x_noisy),
                                                  *drawing.chain_columns(images, steps), ("final", final)],
                       f"{title}\nnoise {args.noise:.0%} (t={t_noise}), fed in at t={t_start}; PSNR "
                       f"{metrics['final']['psnr']['mean']:.1f} dB, class kept {metrics['final']['class_kept']:.0%}")
    arrays = {"original": run.x0, "corrupted": x_noisy, "final": final,
              "trajectory": torch.cat([tr.stacked()[0] for tr in trajs]),
              "steps": torch.cat([tr.stacked()[1] for tr in trajs]), "labels": run.labels}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "noise": args.noise, "t_noise": t_noise,
                "start": args.start, "t_start": t_start, "cycles": args.cycles, "n": args.n, "seed": args.seed,
                "guidance": getattr(args, "guidance", None), "T": schedule.T}
    matched = matched_run(args.out, name, settings)
    outputs.save(args.out, name, arrays, settings, metrics,
                 verdict=noisy_start_verdict(metrics, t_noise, t_start, schedule.T, cond == "class", matched))
    return metrics


KEPT = 0.9  # the verdicts call the class kept when the classifier finds it in at least this share of the outputs


def matched_run(out, name, settings):
    """The final PSNR of Fig. 1 (the image fed in at the step that matches its noise) on the same images, if its json
    is in the folder `out` with the same checkpoint, noise, cycles, n and seed: what Fig. 2's mismatch is measured
    against."""
    path = Path(out) / "fig1_matched_timestep.json"
    if name == "fig1_matched_timestep" or settings["t_start"] == settings["t_noise"] or not path.is_file():
        return None
    try:  # only a comparison for the verdict: an unreadable file leaves it out, with a word, and stops nothing
        result = read_json(path, keys=("settings", "metrics"))
        theirs = result["settings"]
        same = all(theirs.get(k) == settings[k] for k in ("checkpoint", "noise", "n", "seed", "cycles"))
        if not same or theirs.get("t_start") != theirs.get("t_noise"):
            return None
        return float(result["metrics"]["final"]["psnr"]["mean"])
    except (FileError, KeyError, TypeError, ValueError) as e:
        print(f"warning: {path}: not used for the verdict ({e})", file=sys.stderr)
        return None


def noisy_start_verdict(metrics, t_noise, t_start, T, conditional, matched_psnr=None):
    """The closing sentence of Figs. 1, 2, 4 and 5, from what they measured: where the image went in, whether the
    chain beat the blur of its input (and the matched start, `matched_psnr`), and, fed in at t = T, whether the
    class survived. Returns one sentence."""
    value, vs_blur, beat = outputs.versus(metrics, "final", "blur", name="blur baseline")
    psnr = f"{value}, {vs_blur}"
    kept = metrics["final"].get("class_kept")
    if t_start < T:
        where = ("at the step that expects its noise" if t_start == t_noise else
                 f"at t={t_start}, a step that expects {'less' if t_start < t_noise else 'more'} noise than the "
                 f"image holds (t={t_noise})")
        result = "the chain denoises better than a blur" if beat else "the chain does not beat a blur"
        matched = "" if matched_psnr is None else (
            f"; {abs(metrics['final']['psnr']['mean'] - matched_psnr):.1f} dB "
            f"{'below' if metrics['final']['psnr']['mean'] < matched_psnr else 'above'} the matched start "
            f"(fig1_matched_timestep.json, same images: {matched_psnr:.1f} dB)")
        kept_text = "" if kept is None else f"; class kept {kept:.0%}"
        return f"Fed in {where}, {result}: PSNR {psnr}{matched}{kept_text}."
    # fed in at t = T: the chain takes the image for pure noise and generates a new one
    if beat:
        return (f"Fed in at t = T, the output is still closer to the original than a blur (PSNR {psnr}), which the "
                f"paper does not expect: at t = T the chain should make a new image.")
    if kept is None:
        return (f"PSNR {psnr}: expected, the paper's point: fed in at t = T the chain makes a new image, so its pixels "
                f"are far from the original.")
    if conditional and kept >= KEPT:
        return (f"PSNR {psnr}: expected, the paper's point: fed in at t = T the chain makes another digit of the same "
                f"class, so the pixels are far from the original while the class is kept ({kept:.0%}).")
    if conditional:
        return (f"PSNR {psnr}: fed in at t = T the chain makes a new image, far from the original, as the paper "
                f"says; but told the class, it keeps it for only {kept:.0%} of the images, where the paper keeps it.")
    if kept < KEPT:
        return (f"PSNR {psnr}: expected, the paper's point: fed in at t = T the unconditional chain makes another "
                f"image, far from the original, and with no class to hold on to it changes the class of "
                f"{1 - kept:.0%} of them.")
    return (f"PSNR {psnr}: fed in at t = T the unconditional chain makes another image, far from the original, yet "
            f"of the same class for {kept:.0%} of them, with no class given.")


def rows_in_image_units(final, x_noisy, scale, final_at_input_scale=False):
    """The rows a noisy-input figure is scored on, in the clean image's units: x_t = sqrt(alpha_bar_t) x0 +
    sqrt(1 - alpha_bar_t) eps holds the digit at scale = sqrt(alpha_bar_t) (0.63 at t = 60), so the input, and an
    output still at that scale (final_at_input_scale: Fig. 3's repeated t = 1 step), are divided by it; the blur is
    a blur of the input in those units. A chain that runs down to t = 0 ends in the clean image's units.
    Returns ({"final", "corrupted", "blur": images}, {row: the factor it was divided by})."""
    out_scale = scale if final_at_input_scale else 1.0
    noisy = x_noisy / scale  # x0 + sqrt((1 - ab_t) / ab_t) eps
    rows = {"final": final / out_scale, "corrupted": noisy, "blur": gaussian_blur(noisy)}
    return rows, {"final": out_scale, "corrupted": scale, "blur": scale}


def noisy_input_metrics(run, final, x_noisy, t_noise, final_at_input_scale=False):
    """PSNR, SSIM and class kept of the chain's output, of the noisy input and of a blur of it, all in the clean
    image's units (rows_in_image_units)."""
    scale = run.schedule.alpha_bars[t_noise].sqrt().item()  # sqrt(alpha_bar_t)
    rows, _ = rows_in_image_units(final, x_noisy, scale, final_at_input_scale)
    return {what: image_metrics(images, run.x0, run.labels, run.classifier) for what, images in rows.items()}


@cli.command
def main(argv=None):
    args = flags.figure_parser(__doc__, DEFAULTS).parse_args(argv)
    return noisy_start(args, "fig1_matched_timestep", "mnist", "class",
                       "Fig. 1: noise fed in at the step that expects it")


if __name__ == "__main__":
    main()
