"""viz.py - turning image batches into PNG grids (no plotting library state, no windows). Grey (C = 1) or colour
(C = 3) images alike."""

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from files import atomic_write  # noqa: E402


def to_unit(images):
    """Tensor or array in [-1, 1], (N, C, H, W) -> numpy float in [0, 1], clipped: (N, H, W) for C = 1, (N, H, W, 3)
    for C = 3 (the layout matplotlib draws)."""
    a = images.detach().cpu().float().numpy() if hasattr(images, "detach") else np.asarray(images, dtype=np.float32)
    if a.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 (grey) or 3 (RGB) channels, got {a.shape[1]}")
    a = np.clip((a + 1.0) / 2.0, 0.0, 1.0)
    return a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)


def show(ax, picture):
    """Draw one to_unit picture on a matplotlib axis, grey or colour, without ticks."""
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def grid(images, ncol, pad=2):
    """(N, C, H, W) in [-1, 1] -> one picture in [0, 1], row by row with grey gaps: (rows*(H+pad)+pad,
    ncol*(W+pad)+pad), with a last axis of 3 for colour images."""
    a = to_unit(images)
    n, h, w = a.shape[:3]
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, *a.shape[3:]), 0.5, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = a[i]
    return out


def save_png(path, array, scale=1):
    """Save a picture in [0, 1] ((H, W) grey or (H, W, 3) colour) as a PNG, each pixel repeated scale x scale times,
    atomically."""
    if scale > 1:
        array = array.repeat(scale, axis=0).repeat(scale, axis=1)
    atomic_write(path, lambda f: plt.imsave(f, array, cmap="gray" if array.ndim == 2 else None, vmin=0.0, vmax=1.0,
                                            format="png"))


def save_labelled_grid(path, images, ncol, row_names, scale=2):
    """A grid of (N, C, H, W) images with a name at the left of each row (the class of a class-conditional
    sample grid), as a PNG, atomically."""
    from files import write_figure

    picture = grid(images, ncol)
    h = images.shape[-2] + 2  # one row of the grid, with its gap
    names_in, grid_in = 1.2, scale * picture.shape[1] / 72  # widths in inches at 72 dpi: the names, the grid
    fig = plt.figure(figsize=(names_in + grid_in, scale * picture.shape[0] / 72), dpi=72)
    ax = fig.add_axes((names_in / (names_in + grid_in), 0, grid_in / (names_in + grid_in), 1))
    show(ax, picture)
    ax.set_yticks([2 + h * r + (h - 2) / 2 for r in range(len(row_names))], row_names, fontsize=9)
    ax.tick_params(left=False)
    for side in ax.spines.values():
        side.set_visible(False)
    write_figure(fig, path, dpi=72)
