"""files.py - writing files so that nothing is ever half-written: every output of the project goes through here.

atomic_write calls a writer on a temporary file beside the target, flushes it to disk, then renames it over the
target: an interrupted run leaves the old file (or none), never a truncated one. The writers take an open binary
file, so numpy, matplotlib and torch write straight into it.
"""

import json
import os
import tempfile
from pathlib import Path


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


def write_json(path, obj):
    """A json file (indented one space), atomically."""
    write_text(path, json.dumps(obj, indent=1))


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
