"""Fig. 7 of the paper (section 4.3): a DDPM conditioned on a noisy image, with probabilistic conditioning.

Test digits get additive Gaussian noise (sigma 0.3 on images in [-1, 1]). The denoising model sees [x_t, m * y] at
every step, with m = 1 with probability p = 1 - exp(-RMS(x_t - y) / tau) (section 3.3): far from the noisy image
(early in the chain) it leans on it, close to it (late) it relies on what it knows of clean digits.
--no-probabilistic runs the plain-concat model (section 3.2, m = 1 always), which the paper says failed on noise.
What to see: clean digits, PSNR above the noisy input and above a Gaussian blur; the npz holds p along the chain.
Runtime: 12 s with the defaults on the 2-core development CPU (one thread, a training job beside it).
Writes results/fig7_denoising_probabilistic.png, .npz, .json (with --no-probabilistic: results/fig7_denoising_plain.*).
"""

import torch

import common
import data

DEFAULTS = {"noise": 0.3, "start": 1.0, "n": 8, "checkpoint": None}


def main(argv=None):
    ap = common.parser(__doc__, {**DEFAULTS, "checkpoint": "(see --no-probabilistic)"})
    ap.add_argument("--no-probabilistic", action="store_true",
                    help="the plain-concat model (checkpoints/mnist_denoise_plain.pt), condition always kept")
    args = ap.parse_args(argv)
    probabilistic = not args.no_probabilistic
    name = "fig7_denoising_probabilistic" if probabilistic else "fig7_denoising_plain"
    if args.checkpoint == "(see --no-probabilistic)":
        args.checkpoint = str(common.CHECKPOINTS / ("mnist_denoise_prob.pt" if probabilistic else
                                                    "mnist_denoise_plain.pt"))
    run = common.Setup(args, "mnist", "image")
    if run.ckpt["train_config"]["probabilistic"] != probabilistic:
        raise SystemExit(f"error: {args.checkpoint} was trained with probabilistic="
                         f"{run.ckpt['train_config']['probabilistic']}; this run asks for {probabilistic}")
    noisy = data.gaussian_noise(run.x0, args.noise, run.generator)
    with torch.no_grad():
        final, traj, p, t_start = common.conditioned_chain(run, noisy, args,
                                                           "probabilistic" if probabilistic else "keep", name)
    metrics = {"final": common.image_metrics(final, run.x0, run.labels, run.classifier),
               "corrupted": common.image_metrics(noisy, run.x0, run.labels, run.classifier),
               "blur": common.image_metrics(common.gaussian_blur(noisy), run.x0, run.labels, run.classifier),
               "p": {"first_step": p[0].mean().item(), "last_step": p[-1].mean().item(),
                     "min": p.min().item(), "max": p.max().item()}}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "sigma": args.noise, "t_start": t_start,
                "probabilistic": probabilistic, "n": args.n, "seed": args.seed, "T": run.schedule.T}
    images, steps = traj.stacked()
    common.finish(args, name, run, noisy, images, steps, final, settings, metrics,
                  f"Fig. 7: denoising, sigma {args.noise}, {'probabilistic' if probabilistic else 'plain'} "
                  f"conditioning; PSNR {metrics['final']['psnr']['mean']:.1f} dB (noisy "
                  f"{metrics['corrupted']['psnr']['mean']:.1f}, blur {metrics['blur']['psnr']['mean']:.1f})",
                  corrupted_label=f"noisy s={args.noise}", extra={"p": p})
    return metrics


if __name__ == "__main__":
    main()
