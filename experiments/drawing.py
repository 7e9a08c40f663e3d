"""drawing.py - the paper's figure layout: one row per image, the original, the corrupted input, the chain at
regular steps, the final image."""

import paths  # noqa: F401  (first: puts the project root on sys.path)
from files import write_figure
from viz import show, to_unit


def snapshot_every(n_steps, snapshots):
    """Record every k-th step so that about `snapshots` images of the chain are kept."""
    return max(1, round(n_steps / snapshots))


def chain_columns(images, steps, label="t"):
    """The inner snapshots of a chain as strip columns [("t=40", (N, 1, H, W)), ...]: the chain's input and output
    are left out (the strip shows them as the corrupted image and the final one)."""
    return [(f"{label}={int(s)}", images[k]) for k, s in enumerate(steps) if 0 < k < len(steps) - 1]


def draw_strip(path, columns, title, max_rows=8):
    """One row per image (at most max_rows), one column per (name, (N, C, H, W) images in [-1, 1]) pair; grey or
    colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(max_rows, columns[0][1].shape[0])
    height = 0.9 * rows + 0.7
    fig, axes = plt.subplots(rows, len(columns), figsize=(0.9 * len(columns), height), squeeze=False)
    for c, (name, imgs) in enumerate(columns):
        pics = to_unit(imgs[:rows])
        for r in range(rows):
            show(axes[r, c], pics[r])
            if r == 0:
                axes[r, c].set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.4 / height))  # leave room for the two-line title
    write_figure(fig, path)
