"""Fig. 3 of the paper (section 4.1.3): 30% noise fed to the last step (t = 1) alone, run 40 times.

The image with noise at t = round(0.3 T) = 60 goes through the t = 1 step of the class-conditional MNIST chain,
x <- (x - beta_1 / sqrt(1 - alpha_bar_1) eps(x, 1)) / sqrt(alpha_1) (no noise is added at t = 1), again and again.
What to see: some noise goes, mostly by smoothing; the t = 1 network expects almost no noise and removes little of
it per pass. Compare the final PSNR with the Gaussian blur baseline in the json.
Runtime: 8 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig3_repeat_last_step.png, .npz, .json.
"""

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import drawing
import flags
import loading
import outputs
from corruptions import schedule_noise
from ddpm import EpsFunction, repeat_step
from fig1_matched_timestep import noisy_input_metrics
from paths import CHECKPOINTS

DEFAULTS = {"noise": 0.3, "start": 0.0, "n": 8, "guidance": 0.0, "checkpoint": CHECKPOINTS / "mnist_class.pt"}


@cli.command
def main(argv=None):
    ap = flags.figure_parser(__doc__, DEFAULTS)
    ap.add_argument("--repeats", type=flags.positive_int, default=40, help="how many times the step runs (default: %(default)s)")
    args = ap.parse_args(argv)
    name = "fig3_repeat_last_step"
    # load the class-conditional model and the first --n test digits
    run = loading.Run(args, "mnist", cond="class")
    schedule = run.schedule
    # corrupt: the paper's "X% noise", x_t ~ q(x_t | x0) at t_noise = round(noise T)
    x_noisy, t_noise = schedule_noise(run.x0, schedule, args.noise, run.generator)
    # where it enters: the one step at t_step (--start 0 means the t = 1 step), told the true class
    t_step = max(1, schedule.t_of_fraction(args.start))
    eps_fn = EpsFunction(run.model, y=run.labels, guidance=args.guidance)
    # run that step --repeats times
    with outputs.progress(args.repeats, name, args) as bar:
        final, traj = repeat_step(eps_fn, schedule, x_noisy, t_step, args.repeats, step=run.step,
                                  record_every=drawing.snapshot_every(args.repeats, args.snapshots),
                                  generator=run.generator, progress=bar)
    # measure against the clean digits, beside the noisy input and a blur of it; the t = 1 step leaves the image at
    # the input's scale sqrt(alpha_bar_t) (each pass multiplies it by 1 / sqrt(alpha_1) = 1.00025), so the output is
    # divided by it too
    metrics = noisy_input_metrics(run, final, x_noisy, t_noise, final_at_input_scale=True)
    # save; the trajectory's clock counts the passes still to run: the strip and the npz show the passes made
    images, left = traj.stacked()
    passes = args.repeats - left
    drawing.draw_strip(f"{args.out}/{name}.png", [("original", run.x0), (f"noisy t={t_noise}", x_noisy),
                                                  *drawing.chain_columns(images, passes, "pass"), ("final", final)],
                       f"Fig. 3: the t={t_step} step alone, {args.repeats} times; PSNR "
                       f"{metrics['final']['psnr']['mean']:.1f} dB (blur: {metrics['blur']['psnr']['mean']:.1f})")
    arrays = {"original": run.x0, "corrupted": x_noisy, "final": final, "trajectory": images, "steps": passes,
              "labels": run.labels}
    settings = {"figure": name, "checkpoint": str(args.checkpoint), "noise": args.noise, "t_noise": t_noise,
                "t_step": t_step, "repeats": args.repeats, "n": args.n, "seed": args.seed,
                "guidance": args.guidance, "T": schedule.T}
    outputs.save(args.out, name, arrays, settings, metrics, verdict=verdict(metrics, t_step, args.repeats))
    return metrics


def verdict(metrics, t_step, repeats):
    """The closing sentence, from the numbers: did the repeated step improve on the noisy input, and on a blur?"""
    psnr, vs_noisy, cleaner = outputs.versus(metrics, "final", "corrupted", name="noisy input")
    _, vs_blur, beat = outputs.versus(metrics, "final", "blur", name="blur baseline")
    if beat:
        result = "it removes more noise than a blur does here"
    elif cleaner:
        result = "it removes some noise, less than a blur does (the paper sees some denoising, mostly smoothing)"
    else:
        result = "it does not even improve on the noisy input"
    return f"The t={t_step} step alone, {repeats} times: PSNR {psnr}, {vs_noisy} and {vs_blur}: {result}."


if __name__ == "__main__":
    main()
