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


# the strip's layout in pixels of the saved PNG: whole pixels, so that the white gap between two rows (and two
# columns) is GAP pixels wide everywhere, never rounded away
DPI, CELL, GAP, MARGIN = 110, 94, 4, 4
TITLE_LINE, COLUMN_TITLE = 16, 26  # the height of a line of the title (8 pt) and of the column names above row 0


def draw_strip(path, columns, title, max_rows=8):
    """One row per image (at most max_rows), one column per (name, (N, C, H, W) images in [-1, 1]) pair; grey or
    colour. Every pair of rows (and of columns) is parted by a white gap of GAP pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = min(max_rows, columns[0][1].shape[0]), len(columns)
    top = MARGIN + TITLE_LINE * (title.count("\n") + 1) + COLUMN_TITLE
    width, height = 2 * MARGIN + cols * CELL + (cols - 1) * GAP, top + rows * CELL + (rows - 1) * GAP + MARGIN
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    for c, (name, imgs) in enumerate(columns):
        pics = to_unit(imgs[:rows])
        for r in range(rows):
            left, bottom = MARGIN + c * (CELL + GAP), height - top - (r + 1) * CELL - r * GAP  # pixels
            ax = fig.add_axes((left / width, bottom / height, CELL / width, CELL / height))
            show(ax, pics[r])
            if r == 0:
                ax.set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=8, y=1 - MARGIN / height, va="top")
    write_figure(fig, path, dpi=DPI)
