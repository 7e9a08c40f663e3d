"""The README's picture: what the project does, in two rows and one animation.

Row 1, denoising: a test digit, the same digit with white Gaussian noise (sigma = --sigma, in [-1, 1] units), the
reverse chain of the unconditional MNIST DDPM entered at the step t* whose noise matches the estimated sigma
(denoise.py, the paper's section 3.1 made blind), and its output.
Row 2, imputation: the digit with a fraction --missing of its pixels removed (shown in red), and the same
unconditional model filling them in (impute.py, RePaint), with no imputation model.
The animation (.gif) is the chain of row 1, one frame per step.
Runtime: about 10 s on a 2-core CPU. Writes results/front_picture.png and .gif (--out for another folder).
"""

import argparse
from pathlib import Path

import numpy as np
import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import data
import flags
from checkpoint import load_ddpm
from corruptions import gaussian_noise, mask_of
from ddpm import EpsFunction, sample_from
from denoise import DenoiseError, chain_input, estimate_sigma, t_for_sigma
from files import atomic_write
from impute import impute
from paths import CHECKPOINTS, RESULTS
from viz import to_unit


def denoising_chain(y, model, schedule, generator):
    """Blind denoising, step by step: estimate sigma, enter the chain at t*, walk down to 0. Returns (sigma, t*,
    the chain's images at every step (K, 1, C, H, W) with their steps)."""
    sigma = estimate_sigma(y, "model", model, schedule)  # (1,)
    t_star = int(t_for_sigma(schedule, sigma)[0])
    x = chain_input(y, sigma, torch.tensor([t_star]), schedule, generator)  # the noisy image as a point x_t*
    _, traj = sample_from(EpsFunction(model), schedule, x, t_star, record_every=1, generator=generator)
    images, steps = traj.stacked()
    return float(sigma[0]), t_star, images, steps


def with_missing_in_red(y, mask):
    """(1, 1, H, W) image and mask -> (H, W, 3) picture in [0, 1], missing pixels red."""
    grey = to_unit(y)[0]
    rgb = np.stack([grey] * 3, axis=-1)
    rgb[mask[0, 0].cpu().numpy() == 0] = (0.85, 0.1, 0.1)
    return rgb


def draw(path, panels, titles, rows):
    """Panels (pictures in [0, 1]) on a grid of `rows` rows, the titles above them, written atomically."""
    import matplotlib.pyplot as plt

    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.25 * cols, 1.45 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row):
                picture = panels[row[c]]
                ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
                ax.set_title(titles[row[c]], fontsize=8)
    fig.tight_layout(pad=0.3)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def write_gif(path, frames, scale=6, ms=60):
    """Frames (K, H, W) in [0, 1] -> an animated GIF, each pixel scale x scale, the last frame held longer."""
    from PIL import Image

    images = [Image.fromarray((f * 255).round().astype(np.uint8)).resize((f.shape[1] * scale, f.shape[0] * scale),
                                                                          Image.NEAREST) for f in frames]
    durations = [ms] * (len(images) - 1) + [1500]
    atomic_write(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                duration=durations, loop=0))


@cli.command(errors=(DenoiseError,))
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=cli.non_negative_int, default=0,
                    help="which shipped MNIST test digit to show (0 = the first) (default: 0)")
    ap.add_argument("--sigma", type=cli.positive_float, default=0.3,
                    help="noise level of row 1, in [-1, 1] image units, at most 2 (default: 0.3)")
    ap.add_argument("--missing", type=flags.fraction, default=0.5,
                    help="fraction of pixels removed in row 2 (default: 0.5)")
    ap.add_argument("--checkpoint", type=cli.existing_file, default=str(CHECKPOINTS / "mnist_uncond.pt"),
                    help="the unconditional MNIST DDPM that does both jobs (default: checkpoints/mnist_uncond.pt)")
    ap.add_argument("--seed", type=cli.seed, default=0,
                    help="seed of the noise, the mask and the chains (default: 0)")
    ap.add_argument("--out", type=flags.output_dir, default=str(RESULTS), help="output folder (default: results/)")
    args = ap.parse_args(argv)
    if args.sigma > 2:  # as blind_denoising.py's --sigmas: beyond 2 the noise is far above the digit's own range
        ap.error(f"--sigma must lie in (0, 2], got {args.sigma}")
    if args.missing == 1:
        ap.error("--missing 1 leaves no known pixel to fill in from; use a fraction below 1")

    model, schedule, _ = load_ddpm(args.checkpoint, "cpu", dataset="mnist", cond="none")
    x0, _ = data.load_test_images("mnist", args.index + 1)
    x0 = x0[args.index:args.index + 1]  # (1, 1, 28, 28) in [-1, 1]
    g = torch.Generator().manual_seed(args.seed)

    y = gaussian_noise(x0, args.sigma, generator=g)
    sigma_hat, t_star, chain, steps = denoising_chain(y, model, schedule, g)
    mask = mask_of(f"random:{args.missing}", x0.shape, generator=g)
    filled = impute(x0 * mask, mask, model, schedule, generator=g).sample

    pick = np.linspace(0, len(steps) - 1, 5).round().astype(int)[1:-1]  # three snapshots between input and output
    panels = {"clean": to_unit(x0)[0], "noisy": to_unit(y)[0], "out": to_unit(chain[-1])[0],
              "masked": with_missing_in_red(x0, mask), "filled": to_unit(filled)[0]}
    titles = {"clean": "clean", "noisy": f"noisy, sigma {args.sigma:g}", "out": "denoised",
              "masked": f"{args.missing:.0%} missing", "filled": "filled in"}
    for k in pick:  # the chain's x_t, shown at the image's scale: x_t / sqrt(alpha_bar_t)
        panels[f"t{k}"] = to_unit(chain[k] / schedule.alpha_bars[int(steps[k])].sqrt())[0]
        titles[f"t{k}"] = f"chain, t = {int(steps[k])}"
    rows = [["clean", "noisy", *[f"t{k}" for k in pick], "out"], ["clean", "masked", "filled"]]
    out = Path(args.out)
    draw(out / "front_picture.png", panels, titles, rows)
    frames = to_unit(torch.cat([y, *[c / schedule.alpha_bars[int(s)].sqrt() for c, s in zip(chain, steps)]]))
    write_gif(out / "front_picture.gif", frames)
    print(f"estimated sigma {sigma_hat:.3f} (true {args.sigma:g}), chain entered at t* = {t_star} of "
          f"{schedule.T}; wrote {out / 'front_picture.png'} and {out / 'front_picture.gif'}")


if __name__ == "__main__":
    main()
