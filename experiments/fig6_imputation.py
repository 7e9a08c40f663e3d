"""Fig. 6 of the paper (section 4.2): a DDPM conditioned on an image with missing pixels fills them in.

Half of the pixels of each test digit are removed (set to 0, the middle grey) and the imputation model, trained with
the corrupted image as an extra input channel (section 3.2), runs its reverse chain from pure noise while seeing it.
What to see: complete digits that agree with the kept pixels. The json scores the *missing* pixels (also with the
kept pixels pasted back into the model's output, "final_pasted") against three simple fills: zeros (the corrupted
image itself), the mean of the kept pixels, and a normalised blur of the kept pixels; the diffusion model should beat
all three.
Runtime: 13 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig6_imputation.png, .npz, .json.
A model trained with --cond image+class (eq. 12: the class as well) is told each digit's true class.
Fig. 7 runs the same chain (`conditioned_chain`) with a noisy image and the probabilistic conditioning.
"""

import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import drawing
import flags
import loading
import outputs
from corruptions import gaussian_blur, remove_pixels
from ddpm import EpsFunction, sample_from
from metrics import image_metrics, masked_psnr, summary
from paths import CHECKPOINTS

DEFAULTS = {"missing": 0.5, "start": 1.0, "n": 8, "checkpoint": CHECKPOINTS / "mnist_impute.pt"}


@torch.no_grad()
def conditioned_chain(eps_fn, schedule, t_start, generator, **chain):
    """Sections 3.2, 3.3: the reverse chain of a model that sees [x_t, m * x_cond] at every step (eps_fn holds
    x_cond). It starts from x_cond noised by the forward process to t_start: pure noise at t_start = T (alpha_bar_T =
    3e-5), the paper's start. `chain`: sample_from's keyword arguments. Returns (x_0, Trajectory)."""
    x_cond = eps_fn.x_cond
    x_start = schedule.q_sample(x_cond, t_start, torch.randn(x_cond.shape, device=x_cond.device, generator=generator))
    return sample_from(eps_fn, schedule, x_start, t_start, generator=generator, **chain)


def baseline_fills(corrupted, mask):
    """Three simple imputations: zeros (as corrupted), each image's mean of the kept pixels, a normalised blur."""
    mean = (corrupted * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp(min=1)
    mean_fill = torch.where(mask.bool(), corrupted, mean.view(-1, 1, 1, 1))
    # normalised convolution: blur(values * mask) / blur(mask) averages only the kept neighbours
    blur_fill = gaussian_blur(corrupted * mask) / gaussian_blur(mask).clamp(min=1e-3)
    blur_fill = torch.where(mask.bool(), corrupted, blur_fill)
    return {"zeros": corrupted, "mean": mean_fill, "blur": blur_fill}


@cli.command
def main(argv=None):
    args = flags.figure_parser(__doc__, DEFAULTS).parse_args(argv)
    name = "fig6_imputation"
    # load the imputation model and the first --n test digits
    run = loading.Run(args, "mnist", cond=("image", "image+class"))
    schedule = run.schedule
    # corrupt: remove a fraction --missing of the pixels (mask 1 = kept)
    corrupted, mask = remove_pixels(run.x0, args.missing, run.generator)
    # where it enters: as the condition channel at every step, and as the start of the chain (pure noise at T)
    eps_fn = EpsFunction(run.model, y=run.class_input(), x_cond=corrupted, mode="keep", concat=run.concat)
    t_start = max(1, schedule.t_of_fraction(args.start))
    with outputs.progress(t_start, f"{name} (t_start={t_start})", args) as bar:
        final, traj = conditioned_chain(eps_fn, schedule, t_start, run.generator, step=run.step, progress=bar,
                                        record_every=drawing.snapshot_every(t_start, args.snapshots))
    # measure on the missing pixels; the chain regenerates every pixel, the kept ones too, so pasting the kept
    # pixels back is the fair comparison with the fills, which keep them exactly
    pasted = torch.where(mask.bool(), corrupted, final)
    metrics = {}
    for fill_name, fill in {"final": final, "final_pasted": pasted, **baseline_fills(corrupted, mask)}.items():
        metrics[fill_name] = image_metrics(fill, run.x0, run.labels, run.classifier)
        metrics[fill_name]["psnr_missing"] = summary(masked_psnr(fill, run.x0, 1 - mask))
    # save
    images, steps = traj.stacked()
    drawing.draw_strip(f"{args.out}/{name}.png", [("original", run.x0), ("pixels removed", corrupted),
                                                  *drawing.chain_columns(images, steps), ("final", final)],
                       f"Fig. 6: imputation, {args.missing:.0%} of pixels removed; PSNR on missing pixels "
                       f"{metrics['final']['psnr_missing']['mean']:.1f} dB (blur fill "
                       f"{metrics['blur']['psnr_missing']['mean']:.1f})")
    arrays = {"original": run.x0, "corrupted": corrupted, "final": final, "trajectory": images, "steps": steps,
              "labels": run.labels, "mask": mask}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "missing": args.missing,
                "removed_fraction": args.missing, "t_start": t_start, "n": args.n, "seed": args.seed, "T": schedule.T,
                "class_input": run.class_input() is not None}
    outputs.save(args.out, name, arrays, settings, metrics, verdict=verdict(metrics, args.missing))
    return metrics


def verdict(metrics, missing):
    """The closing sentence, from the numbers: the model against the best of the simple fills, on the missing
    pixels."""
    best = max(("zeros", "mean", "blur"), key=lambda fill: metrics[fill]["psnr_missing"]["mean"])
    value, vs_best, beat = outputs.versus(metrics, "final", best, key="psnr_missing", name=f"{best} fill")
    result = "the model fills them in better than every simple fill" if beat else f"the {best} fill does better"
    kept = metrics["final"].get("class_kept")
    kept_text = "" if kept is None else f"; class kept {kept:.0%}"
    return (f"With {missing:.0%} of the pixels removed, {result}: PSNR on the missing pixels {value}, "
            f"{vs_best}{kept_text}.")


if __name__ == "__main__":
    main()
