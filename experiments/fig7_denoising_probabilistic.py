"""Fig. 7 of the paper (section 4.3): a DDPM conditioned on a noisy image, with probabilistic conditioning.

Test digits get additive Gaussian noise (sigma 0.3 on images in [-1, 1]). The denoising model sees [x_t, m * y] at
every step, with m = 1 with probability p = 1 - exp(-RMS(x_t - y) / tau) (section 3.3): far from the noisy image
(early in the chain) it leans on it, close to it (late) it relies on what it knows of clean digits.
--no-probabilistic runs the plain-concat model (section 3.2, m = 1 always), which the paper says failed on noise.
--distance l2 reads eq. (14) as printed, with the L2 norm of the whole image instead of the RMS: since
||x_t - y||_2 = sqrt(D) RMS(x_t - y) over D pixels, that is the RMS rule with tau / sqrt(D) (tau / 28 for MNIST),
which keeps p above 0.999 for any RMS above 0.25: the literal equation is, in effect, plain concatenation. The model
was trained with the RMS rule; this runs it with the literal one (results/fig7_denoising_probabilistic_l2.*).
A model trained with --cond image+class (eq. 12: the class as well) is told each digit's true class.
What to see: clean digits, PSNR above the noisy input and above a Gaussian blur; the npz holds p along the chain.
Runtime: 12 s with the defaults on the 2-core development CPU (one thread, a training job beside it).
Writes results/fig7_denoising_probabilistic.png, .npz, .json (with --no-probabilistic: results/fig7_denoising_plain.*).
"""

import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import drawing
import flags
import loading
import outputs
from corruptions import gaussian_blur, gaussian_noise
from ddpm import EpsFunction
from fig6_imputation import conditioned_chain
from metrics import image_metrics
from paths import CHECKPOINTS

DEFAULTS = {"sigma": 0.3, "start": 1.0, "n": 8, "checkpoint": "(see --no-probabilistic)"}
MODELS = {True: CHECKPOINTS / "mnist_denoise_prob.pt", False: CHECKPOINTS / "mnist_denoise_plain.pt"}


@cli.command
def main(argv=None):
    ap = flags.figure_parser(__doc__, DEFAULTS)
    ap.add_argument("--no-probabilistic", action="store_true",
                    help="the plain-concat model (checkpoints/mnist_denoise_plain.pt), condition always kept")
    ap.add_argument("--distance", choices=("rms", "l2"), default="rms",
                    help="eq. (14)'s distance: rms (as the model was trained) or l2 (as printed) (default: rms)")
    args = ap.parse_args(argv)
    probabilistic = not args.no_probabilistic
    name = "fig7_denoising_probabilistic" if probabilistic else "fig7_denoising_plain"
    if args.distance == "l2":
        if not probabilistic:
            ap.error("--distance applies to the probabilistic model only")
        name += "_l2"
    if args.checkpoint == DEFAULTS["checkpoint"]:
        args.checkpoint = str(MODELS[probabilistic])
    # load the denoising model (trained with or without the probabilistic conditioning) and the first --n digits
    run = loading.Run(args, "mnist", cond=("image", "image+class"), probabilistic=probabilistic)
    schedule = run.schedule
    # corrupt: additive Gaussian noise of std --sigma
    noisy = gaussian_noise(run.x0, args.sigma, run.generator)
    # where it enters: as the condition channel, kept with probability p (eq. 14) or always, and as the start of
    # the chain (pure noise at T)
    # eq. (14) with the RMS distance and the model's tau; the printed L2 norm is the same with tau / sqrt(D)
    tau = run.ckpt["train_config"]["tau"]
    if args.distance == "l2":
        tau = tau / noisy[0].numel() ** 0.5
    eps_fn = EpsFunction(run.model, y=run.class_input(), x_cond=noisy,
                         mode="probabilistic" if probabilistic else "keep", tau=tau, generator=run.generator,
                         concat=run.concat)
    t_start = max(1, schedule.t_of_fraction(args.start))
    with outputs.progress(t_start, f"{name} (t_start={t_start})", args) as bar:
        final, traj = conditioned_chain(eps_fn, schedule, t_start, run.generator, step=run.step, progress=bar,
                                        record_every=drawing.snapshot_every(t_start, args.snapshots))
    p = torch.stack(eps_fn.p_history).cpu()  # (steps, N): the conditioning probability along the chain
    # measure against the clean digits, beside the noisy input and a blur of it
    metrics = {what: image_metrics(images, run.x0, run.labels, run.classifier)
               for what, images in (("final", final), ("corrupted", noisy), ("blur", gaussian_blur(noisy)))}
    metrics["p"] = {"first_step": p[0].mean().item(), "last_step": p[-1].mean().item(), "min": p.min().item(),
                    "max": p.max().item()}
    # save
    images, steps = traj.stacked()
    drawing.draw_strip(f"{args.out}/{name}.png", [("original", run.x0), (f"noisy s={args.sigma}", noisy),
                                                  *drawing.chain_columns(images, steps), ("final", final)],
                       f"Fig. 7: denoising, sigma {args.sigma}, {'probabilistic' if probabilistic else 'plain'} "
                       f"conditioning; PSNR {metrics['final']['psnr']['mean']:.1f} dB (noisy "
                       f"{metrics['corrupted']['psnr']['mean']:.1f}, blur {metrics['blur']['psnr']['mean']:.1f})")
    arrays = {"original": run.x0, "corrupted": noisy, "final": final, "trajectory": images, "steps": steps,
              "labels": run.labels, "p": p}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "sigma": args.sigma, "t_start": t_start,
                "probabilistic": probabilistic, "distance": args.distance, "tau": tau, "n": args.n,
                "seed": args.seed, "T": schedule.T,
                "class_input": run.class_input() is not None}
    outputs.save(args.out, name, arrays, settings, metrics, verdict=verdict(metrics, args.sigma, probabilistic))
    return metrics


def verdict(metrics, sigma, probabilistic):
    """The closing sentence, from the numbers: did the conditioned chain improve on the noisy input, and on a blur?"""
    value, vs_noisy, cleaner = outputs.versus(metrics, "final", "corrupted", name="noisy input")
    _, vs_blur, beat = outputs.versus(metrics, "final", "blur", name="blur baseline")
    if beat and cleaner:
        result = "denoises better than a blur"
    elif cleaner:
        result = "removes some noise, less than a blur does"
    else:
        result = "does not improve on the noisy input"
    kept = metrics["final"].get("class_kept")
    kept_text = "" if kept is None else f"; class kept {kept:.0%}"
    return (f"With noise of sigma {sigma}, the {'probabilistic' if probabilistic else 'plain'} conditioning "
            f"{result}: PSNR {value}, {vs_noisy} and {vs_blur}{kept_text}.")


if __name__ == "__main__":
    main()
