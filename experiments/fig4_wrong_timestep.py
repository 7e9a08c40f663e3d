"""Fig. 4 of the paper (section 4.1.4): 30% noise fed in at t = T, the step that expects pure noise.

The image with noise at t = round(0.3 T) = 60 enters the class-conditional MNIST chain at its very start, t = T = 200,
told its true class.
What to see: the chain treats the image as (almost) pure noise and generates: the final image is a digit of the same
class (the class is given) but not the same image: class kept near 100%, PSNR far below Fig. 1.
Runtime: 12 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig4_wrong_timestep.png, .npz, .json.
"""

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import flags
from fig1_matched_timestep import noisy_start
from paths import CHECKPOINTS

DEFAULTS = {"noise": 0.3, "start": 1.0, "n": 8, "cycles": 1, "guidance": 0.0,
            "checkpoint": CHECKPOINTS / "mnist_class.pt"}


@cli.command
def main(argv=None):
    args = flags.figure_parser(__doc__, DEFAULTS).parse_args(argv)
    return noisy_start(args, "fig4_wrong_timestep", "mnist", "class",
                       "Fig. 4: a slightly noisy image fed in at t = T")


if __name__ == "__main__":
    main()
