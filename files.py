"""files.py - writing files so that nothing is ever half-written: every output of the project goes through here.

atomic_write calls a writer on a temporary file beside the target, flushes it to disk, then renames it over the
target: an interrupted run leaves the old file (or none), never a truncated one. The writers take an open binary
file, so numpy, matplotlib and torch write straight into it. A process killed mid-write leaves its temporary file
(<name>.<random>.tmp) behind; remove_stale_temporaries clears those of one target.
write_json refuses NaN and infinity (json has neither; Python would write the non-standard NaN); read_json is the
one reader of the project's json files, with a FileError naming the file for anything unreadable.
"""

import json
import math
import os
import tempfile
from pathlib import Path


class FileError(ValueError):
    """A file given to the project that cannot be used: missing, empty, truncated, of another kind or content."""


class NonFiniteError(ValueError):
    """A result that holds NaN or infinity where a number is to be written."""


def atomic_write(path, write):
    """Call write(f) on a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file that can be written")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    """A text file (UTF-8), atomically."""
    atomic_write(path, lambda f: f.write(text.encode()))


def remove_stale_temporaries(path, before):
    """Remove the temporary files that interrupted atomic writes of `path` left beside it (<name>.*.tmp), those last
    changed before the time `before` (seconds since the epoch; a write still under way is newer). Returns them."""
    path = Path(path)
    stale = [p for p in path.parent.glob(f"{path.name}.*.tmp") if p.is_file() and p.stat().st_mtime < before]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def non_finite(obj, where=""):
    """The place of the first NaN or infinite float in a json-like object ("metrics.final.psnr.mean"), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "the value"
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        found = non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def write_json(path, obj):
    """A json file (indented one space), atomically. NaN and infinity are refused (NonFiniteError, nothing
    written): json has no such numbers, and a NaN in a result is a fault to report, not a value to keep."""
    try:
        text = json.dumps(obj, indent=1, allow_nan=False)
    except ValueError:
        raise NonFiniteError(f"{path}: not written: {non_finite(obj)} is not a finite number") from None
    write_text(path, text)


def read_json(path, keys=()):
    """A json file the project wrote (or a person gave it), checked to be an object with the top-level `keys`.
    FileError for a missing, empty or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise FileError(f"{path}: no such file")
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FileError(f"{path}: not a readable json file ({e})") from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise FileError(f"{path}: has no {', '.join(repr(k) for k in missing)}; not a json written by this project")
    return obj


def write_npz(path, arrays, compressed=True):
    """numpy's .npz of named arrays (tensors are moved to the CPU first), atomically."""
    import numpy as np

    arrays = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in arrays.items()}
    save = np.savez_compressed if compressed else np.savez
    atomic_write(path, lambda f: save(f, **arrays))


def write_figure(fig, path, dpi=110):
    """A matplotlib figure as a PNG, atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    finally:
        plt.close(fig)
