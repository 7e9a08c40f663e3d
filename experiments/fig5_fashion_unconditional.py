"""Fig. 5 of the paper (section 4.1.4): as Fig. 4, with an unconditional Fashion-MNIST model.

Fashion-MNIST test images with noise at t = round(0.3 T) = 60 enter an unconditional DDPM's chain at t = T.
What to see: with no class to hold on to, the chain generates some other garment: the class changes often
(class kept well below 100%), as in the paper's trousers that became a dress.
Runtime: 10 s with the defaults on the 2-core development CPU (one thread).
Writes results/fig5_fashion_unconditional.png, .npz, .json.
"""

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import flags
from fig1_matched_timestep import noisy_start
from paths import CHECKPOINTS

DEFAULTS = {"noise": 0.3, "start": 1.0, "n": 8, "cycles": 1,
            "checkpoint": CHECKPOINTS / "fashion_uncond.pt"}


@cli.command
def main(argv=None):
    args = flags.figure_parser(__doc__, DEFAULTS).parse_args(argv)
    return noisy_start(args, "fig5_fashion_unconditional", "fashion", "none",
                       "Fig. 5: unconditional Fashion-MNIST, noisy image fed in at t = T")


if __name__ == "__main__":
    main()
