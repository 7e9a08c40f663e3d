"""viz.py - turning image batches into PNG grids (no plotting library state, no windows)."""

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from files import atomic_write  # noqa: E402


def to_unit(images):
    """Tensor or array in [-1, 1], (N, 1, H, W) -> numpy float in [0, 1], (N, H, W). Values outside are clipped."""
    a = images.detach().cpu().float().numpy() if hasattr(images, "detach") else np.asarray(images, dtype=np.float32)
    return np.clip((a[:, 0] + 1.0) / 2.0, 0.0, 1.0)


def grid(images, ncol, pad=2):
    """(N, 1, H, W) in [-1, 1] -> one (rows*(H+pad)+pad, ncol*(W+pad)+pad) array in [0, 1], row by row, grey gaps."""
    a = to_unit(images)
    n, h, w = a.shape
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), 0.5, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = a[i]
    return out


def save_png(path, array, scale=1):
    """Save a 2-d array in [0, 1] as a greyscale PNG, each pixel repeated scale x scale times, atomically."""
    if scale > 1:
        array = np.kron(array, np.ones((scale, scale), dtype=array.dtype))
    atomic_write(path, lambda f: plt.imsave(f, array, cmap="gray", vmin=0.0, vmax=1.0, format="png"))
