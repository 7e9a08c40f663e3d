"""flags.py - the command-line flags the experiment scripts share, so that one flag means one thing everywhere.

figure_parser   the flags of the seven figure scripts, with the paper's values as each script's defaults
add_run_flags   the flags of the scripts beyond the paper (--checkpoint-dir, --seed, --device, --kernels, ...)
fraction, positive_int, output_dir   cli.py's argparse types, under the names the scripts use
"""

import argparse
from pathlib import Path

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import kernels
from devices import DEVICE_HELP
from fast import FLAG_HELP as FAST_HELP
from paths import RESULTS, ROOT


# the argparse types, from cli.py, the one place every script's flags are checked (flags.fraction etc. stay valid)
fraction, positive_int, output_dir = cli.fraction, cli.positive_int, cli.output_dir


def shown(path):
    """A default path as the help shows it: relative to the project root where it lies inside it."""
    path = Path(path)
    return path.relative_to(ROOT) if path.is_absolute() and path.is_relative_to(ROOT) else path


def add_common_flags(ap, out):
    """--seed, --device, --kernels, --data-dir, --out, --no-progress: the flags of every experiment script."""
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed of every random draw: noise, masks, chains "
                    "(default: %(default)s)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=kernels.CHOICES, default="auto", help=kernels.FLAG_HELP)
    ap.add_argument("--data-dir", type=cli.existing_dir, default=None,
                    help="full datasets (default: $DDPM_DATA_DIR, ./data, else the "
                    "shipped pack of test images)")
    ap.add_argument("--out", type=output_dir, default=str(out),
                    help=f"output folder (default: {Path(out).relative_to(ROOT)}/)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


# the corruption flag of each kind of figure: one name per meaning. The figures with pixels removed (Fig. 6) and
# additive noise (Fig. 7) also accept --noise, the spelling all figures once shared, so no command breaks.
CORRUPTION_FLAGS = {
    "noise": (["--noise"], "fraction of the chain's noise: the image gets x_t ~ q(x_t | x0) at t_noise = "
              "round(noise T), the paper's 'X%% noise' (Figs. 1-5)"),
    "missing": (["--missing", "--noise"], "fraction of the pixels removed (set to 0, the middle grey), as impute.py's "
                "--mask random:F (Fig. 6); --noise is the old spelling"),
    "sigma": (["--sigma", "--noise"], "standard deviation of the additive Gaussian noise, on images in [-1, 1] "
              "(Fig. 7, as denoise.py's --sigma); --noise is the old spelling"),
}


def figure_parser(doc, defaults):
    """The flags every figure script takes, with the paper's values as defaults (`defaults`: the corruption level
    under one of the keys noise, missing or sigma (CORRUPTION_FLAGS), start, n, checkpoint, and optionally cycles and
    guidance, which add those flags). The docstring becomes the help."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[-1])
    kind = next(k for k in CORRUPTION_FLAGS if k in defaults)
    names, text = CORRUPTION_FLAGS[kind]
    ap.add_argument(*names, dest=kind, type=fraction, default=defaults[kind], help=text + " (default: %(default)s)")
    ap.add_argument("--start", type=fraction, default=defaults.get("start", 0.3),
                    help="where the corrupted image enters the chain, as a fraction of T (t_start = round(start T)) "
                    "(default: %(default)s)")
    ap.add_argument("--n", type=positive_int, default=defaults.get("n", 8),
                    help="number of test images, the first ones of the test set (default: %(default)s)")
    ap.add_argument("--checkpoint", default=str(defaults["checkpoint"]),
                    help=f"the DDPM to use (default: {shown(defaults['checkpoint'])})")
    ap.add_argument("--classifier", default=None, help="classifier checkpoint for class preservation "
                    "(default: the robust one for the dataset, checkpoints/classifier_<dataset>_robust.pt)")
    ap.add_argument("--snapshots", type=positive_int, default=8,
                    help="chain snapshots drawn per row (default: %(default)s)")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    add_common_flags(ap, RESULTS)
    if "cycles" in defaults:
        ap.add_argument("--cycles", type=positive_int, default=defaults["cycles"],
                        help="run the chain again on its own output this many times in all (default: %(default)s)")
    if "guidance" in defaults:
        ap.add_argument("--guidance", type=cli.non_negative, default=defaults["guidance"],
                        help="classifier-free guidance weight w >= 0 (default: %(default)s)")
    return ap


def add_run_flags(ap, out):
    """The flags of the scripts beyond the paper, which load several checkpoints by name from one folder."""
    from paths import CHECKPOINTS

    ap.add_argument("--checkpoint-dir", type=cli.existing_dir, default=str(CHECKPOINTS),
                    help=f"where the checkpoints are (default: {CHECKPOINTS.relative_to(ROOT)}/)")
    add_common_flags(ap, out)
