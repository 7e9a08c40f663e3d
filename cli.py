"""cli.py - the checks every command line of the project shares, so that one kind of bad value gets one kind of answer.

argparse types (each rejects a bad value with a one-line message naming the problem; argparse prefixes the flag):
    finite_float, non_negative, positive_float, fraction, positive_int, non_negative_int, seed
    ratio (a number >= 0, or A/B with B > 0: "25/255"), with_units (that value in [-1, 1] image units)
    existing_file, existing_dir, output_file(suffixes), output_dir
`checked(type, value, flag)`: the same check on a value that did not come through argparse (a default worked out
later), as a one-line exit. `run(main)` and the decorator `command`: a script's entry point that turns the project's
own error types (a bad checkpoint, dataset or file, a kernel that cannot run here) into one line and exit status 1,
instead of a traceback.
"""

import argparse
import functools
import math
import sys
from pathlib import Path

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer


def finite_float(text):
    """A float that is not NaN or infinite."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def non_negative(text):
    """A finite float >= 0."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def fraction(text):
    """A finite float in [0, 1]."""
    v = finite_float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return v


def positive_float(text):
    """A finite float > 0."""
    v = finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def ratio(text):
    """A level given with or without its scale: a finite number >= 0 ("0.2"), or A/B with A >= 0 and B > 0 ("25/255":
    25 levels of a scale whose white is 255). Returns (A, B), B None for a plain number."""
    if text.count("/") > 1:
        raise argparse.ArgumentTypeError(f"expected a number or A/B (such as 25/255), got {text!r}")
    top, _, bottom = text.partition("/")
    value = non_negative(top.strip())
    if not bottom:
        return value, None
    try:
        scale = positive_float(bottom.strip())
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"the scale after '/' {e}") from None
    return value, scale


def with_units(level, units=None):
    """A noise std from `ratio` (and a --units scale) in [-1, 1] image units: A on a scale whose white is B spans
    2 A / B of the [-1, 1] range (25/255 -> 0.196); a plain number without units is already in image units."""
    value, scale = level
    if scale is not None and units is not None:
        raise argparse.ArgumentTypeError(f"the scale is given twice ({value:g}/{scale:g} and --units {units:g}); "
                                         f"give one")
    scale = scale if scale is not None else units
    return value if scale is None else 2 * value / scale


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text):
    """An integer >= 1."""
    v = _integer(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def non_negative_int(text):
    """An integer >= 0."""
    v = _integer(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def seed(text):
    """A seed for torch.Generator: an integer in 0 .. 2^63 - 1."""
    v = _integer(text)
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must lie in 0 .. 2^63 - 1, got {v}")
    return v


def existing_file(text):
    """A path that names an existing, non-empty file."""
    p = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("the path is empty")
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; a file is needed here")
    if p.stat().st_size == 0:
        raise argparse.ArgumentTypeError(f"{text}: the file is empty (0 bytes)")
    return text


def existing_dir(text):
    """A path that names an existing folder."""
    p = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("the path is empty")
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: " + ("is a file, not a folder" if p.exists() else "no such folder"))
    return text


def output_file(*suffixes):
    """An argparse type for a file to write: not empty, not a folder, its parent not a file, ending in one of
    `suffixes` (any suffix if none is given). The parent is created when the file is written."""

    def check(text):
        p = Path(text)
        if not text:
            raise argparse.ArgumentTypeError("the path is empty")
        if suffixes and p.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text}: must end in {' or '.join(suffixes)}")
        if p.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder; it names the file to write")
        for parent in p.parents:
            if parent.exists() and not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, so nothing can be written below it")
        return text

    return check


def output_dir(text):
    """A folder to write into: it may not exist yet, but it, or a folder above it, may not be a file."""
    p = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("the path is empty")
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; a folder is needed here (the outputs go into it)")
    for q in p.parents:
        if q.exists() and not q.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: {q} is a file, so no folder can be made below it")
    return text


def checked(kind, value, flag):
    """`value` passed through the argparse type `kind`, or exit with "error: FLAG: the problem"."""
    try:
        return kind(value)
    except argparse.ArgumentTypeError as e:
        raise SystemExit(f"error: {flag}: {e}") from None


def project_errors():
    """The error types that mean "this input cannot be used" rather than a bug: each carries a message for the user."""
    import kernels
    from checkpoint import CheckpointError
    from data import DataError
    from files import FileError, NonFiniteError

    return CheckpointError, DataError, FileError, NonFiniteError, kernels.Unavailable


def run(main, errors=()):
    """Call main(); the project's own error types (project_errors, and `errors`) become one line on stderr and exit
    status 1, instead of a traceback."""
    try:
        return main()
    except (*project_errors(), *errors) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("interrupted")


def command(main=None, *, errors=()):
    """Decorator for a script's main(argv): run() around it. `@command`, or `@command(errors=(SomeError,))` to add a
    script's own error types."""
    if main is None:
        return functools.partial(command, errors=errors)

    @functools.wraps(main)
    def guarded(argv=None):
        return run(lambda: main(argv), errors)

    return guarded
