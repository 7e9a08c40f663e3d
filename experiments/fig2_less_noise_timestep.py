"""Fig. 2 of the paper (section 4.1.2): 30% noise fed in at the step that expects only 25%.

Same as Fig. 1, but the image with noise at t = round(0.3 T) = 60 enters the chain at t = round(0.25 T) = 50, a step
that expects less noise than the image holds.
What to see: the chain still denoises, but the leftover noise is treated as signal: less sharp than Fig. 1 (lower
PSNR and SSIM than fig1's json reports).
Runtime: 8 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig2_less_noise_timestep.png, .npz, .json.
"""

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import flags
from fig1_matched_timestep import noisy_start
from paths import CHECKPOINTS

DEFAULTS = {"noise": 0.3, "start": 0.25, "n": 8, "cycles": 1, "guidance": 0.0,
            "checkpoint": CHECKPOINTS / "mnist_class.pt"}


@cli.command
def main(argv=None):
    args = flags.figure_parser(__doc__, DEFAULTS).parse_args(argv)
    return noisy_start(args, "fig2_less_noise_timestep", "mnist", "class",
                       "Fig. 2: noise fed in at a step that expects less")


if __name__ == "__main__":
    main()
