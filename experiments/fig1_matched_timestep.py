"""Fig. 1 of the paper (section 4.1.1): 30% noise fed in at the step that expects 30% noise.

Test digits get the schedule's own 30% noise, x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps at
t = round(0.3 T) = 60, and enter the class-conditional MNIST DDPM's reverse chain as x_60, told their true class.
What to see: the chain removes the noise and returns the same digit (high PSNR, class kept): the network has learned
the distribution of x_t at every step, so a correctly placed noisy image is just an ordinary point of the chain.
Runtime: 8 s with the defaults on the 2-core development CPU
(one thread, a training job beside it). Writes results/fig1_matched_timestep.png, .npz, .json.
"""

import common

DEFAULTS = {"noise": 0.3, "start": 0.3, "n": 8, "cycles": 1, "guidance": 0.0,
            "checkpoint": common.CHECKPOINTS / "mnist_class.pt"}


def main(argv=None):
    args = common.parser(__doc__, DEFAULTS).parse_args(argv)
    return common.noisy_start_experiment(args, "fig1_matched_timestep", "mnist", "class",
                                         "Fig. 1: noise fed in at the step that expects it")


if __name__ == "__main__":
    main()
