"""Fig. 3 of the paper (section 4.1.3): 30% noise fed to the last step (t = 1) alone, run 40 times.

The image with noise at t = round(0.3 T) = 60 goes through the t = 1 step of the class-conditional MNIST chain,
x <- (x - beta_1 / sqrt(1 - alpha_bar_1) eps(x, 1)) / sqrt(alpha_1) (no noise is added at t = 1), again and again.
What to see: some noise goes, mostly by smoothing; the t = 1 network expects almost no noise and removes little of
it per pass. Compare the final PSNR with the Gaussian blur baseline in the json.
Runtime: 8 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig3_repeat_last_step.png, .npz, .json.
"""

import common
import data
from ddpm import EpsFunction, repeat_step

DEFAULTS = {"noise": 0.3, "start": 0.0, "n": 8, "guidance": 0.0, "checkpoint": common.CHECKPOINTS / "mnist_class.pt"}


def main(argv=None):
    ap = common.parser(__doc__, DEFAULTS)
    ap.add_argument("--repeats", type=common.positive_int, default=40, help="how many times the step runs")
    args = ap.parse_args(argv)
    name = "fig3_repeat_last_step"
    run = common.Setup(args, "mnist", "class")
    schedule = run.schedule
    x_noisy, t_noise = data.schedule_noise(run.x0, schedule, args.noise, run.generator)
    t_step = max(1, schedule.t_of_fraction(args.start))  # --start 0 means the t = 1 step
    eps_fn = EpsFunction(run.model, y=run.labels, guidance=args.guidance)
    every = common.snapshot_every(args.repeats, args.snapshots)
    with common.progress(args.repeats, name, args) as bar:
        final, traj = repeat_step(eps_fn, schedule, x_noisy, t_step, args.repeats, record_every=every,
                                  generator=run.generator, progress=bar)
    images, steps = traj.stacked()  # steps count the repetitions
    metrics = {"final": common.image_metrics(final, run.x0, run.labels, run.classifier),
               "corrupted": common.image_metrics(x_noisy, run.x0, run.labels, run.classifier),
               "blur": common.image_metrics(common.gaussian_blur(x_noisy / schedule.alpha_bars[t_noise].sqrt()),
                                            run.x0, run.labels, run.classifier)}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "noise": args.noise, "t_noise": t_noise,
                "t_step": t_step, "repeats": args.repeats, "n": args.n, "seed": args.seed,
                "guidance": args.guidance, "T": schedule.T}
    common.finish(args, name, run, x_noisy, images, steps, final, settings, metrics,
                  f"Fig. 3: the t={t_step} step alone, {args.repeats} times; PSNR "
                  f"{metrics['final']['psnr']['mean']:.1f} dB (blur: {metrics['blur']['psnr']['mean']:.1f})",
                  corrupted_label=f"noisy t={t_noise}", step_label="pass")
    return metrics


if __name__ == "__main__":
    main()
