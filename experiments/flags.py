"""flags.py - the command-line flags the experiment scripts share, so that one flag means one thing everywhere.

figure_parser   the flags of the seven figure scripts, with the paper's values as each script's defaults
add_run_flags   the flags of the scripts beyond the paper (--checkpoint-dir, --seed, --device, --kernels, ...)
fraction, positive_int, output_dir   argparse types that reject bad values with a clear message
"""

import argparse
from pathlib import Path

import paths  # noqa: F401  (first: puts the project root on sys.path)
import kernels
from devices import DEVICE_HELP
from fast import FLAG_HELP as FAST_HELP
from paths import RESULTS, ROOT


def fraction(text):
    """argparse type for a fraction of the chain in [0, 1]."""
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {v}")
    return v


def positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def output_dir(text):
    """argparse type for an output folder: it may not exist yet, but it may not be a file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; --out names the folder the outputs go into")
    return text


def add_common_flags(ap, out):
    """--seed, --device, --kernels, --data-dir, --out, --no-progress: the flags of every experiment script."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=kernels.CHOICES, default="auto", help=kernels.FLAG_HELP)
    ap.add_argument("--data-dir", default=None, help="full datasets (default: $DDPM_DATA_DIR, ./data, else the "
                    "shipped pack of test images)")
    ap.add_argument("--out", type=output_dir, default=str(out),
                    help=f"output folder (default {Path(out).relative_to(ROOT)}/)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def figure_parser(doc, defaults):
    """The flags every figure script takes, with the paper's values as defaults (`defaults`: noise, start, n,
    checkpoint, and optionally cycles and guidance, which add those flags). The docstring becomes the help."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[-1])
    ap.add_argument("--noise", type=fraction, default=defaults.get("noise", 0.3),
                    help="corruption level: fraction of the chain's noise, of pixels removed, or the noise sigma")
    ap.add_argument("--start", type=fraction, default=defaults.get("start", 0.3),
                    help="where the corrupted image enters the chain, as a fraction of T (t_start = round(start T))")
    ap.add_argument("--n", type=positive_int, default=defaults.get("n", 8), help="number of test images")
    ap.add_argument("--checkpoint", default=str(defaults["checkpoint"]), help="the DDPM to use")
    ap.add_argument("--classifier", default=None, help="classifier checkpoint for class preservation "
                    "(default: the robust one for the dataset, checkpoints/classifier_<dataset>_robust.pt)")
    ap.add_argument("--snapshots", type=positive_int, default=8, help="chain snapshots drawn per row")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    add_common_flags(ap, RESULTS)
    if "cycles" in defaults:
        ap.add_argument("--cycles", type=positive_int, default=defaults["cycles"],
                        help="run the chain again on its own output this many times in all")
    if "guidance" in defaults:
        ap.add_argument("--guidance", type=float, default=defaults["guidance"],
                        help="classifier-free guidance weight w >= 0")
    return ap


def add_run_flags(ap, out):
    """The flags of the scripts beyond the paper, which load several checkpoints by name from one folder."""
    from paths import CHECKPOINTS

    ap.add_argument("--checkpoint-dir", default=str(CHECKPOINTS), help="where the checkpoints are")
    add_common_flags(ap, out)
