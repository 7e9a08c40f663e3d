"""Eq. (12): the image-conditioned models with the class as well, against the same models without it, on the same
inputs. Reads the figure outputs (<name>.npz, <name>.json) of two folders and writes one markdown table:

    python docs/outputs/eq12_with_class/compare.py results/n500_v2 results/n500_class > docs/outputs/eq12_with_class/compare.md

Both folders must come from the same seed and n, so that each figure saw the same test digits, corruptions and
starting noise (checked: the originals and the corrupted inputs must be equal).
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "experiments"))
import paths  # noqa: E402,F401
from classifier import load_classifier, predict  # noqa: E402
from metrics import masked_psnr, psnr  # noqa: E402
from paths import CHECKPOINTS, JUDGES  # noqa: E402

# the two robust judges of class kept (checkpoints/MANIFEST.md): the CNN and the ResNet
JUDGE_FILES = [JUDGES["mnist"], CHECKPOINTS / "classifier_mnist_resnet.pt"]
NAMES = ["fig6_imputation", "fig7_denoising_probabilistic", "fig7_denoising_probabilistic_l2", "fig7_denoising_plain"]


def per_image_psnr(arrays, name):
    final, x0 = torch.from_numpy(arrays["final"]), torch.from_numpy(arrays["original"])
    if name.startswith("fig6"):  # the missing pixels, as the figure's own table scores them
        return masked_psnr(final, x0, 1 - torch.from_numpy(arrays["mask"])).double().numpy()
    return psnr(final, x0).double().numpy()


def kept(judge, arrays):
    """The share of final images the judge gives the original's class."""
    pred = predict(judge, torch.from_numpy(arrays["final"]).clamp(-1, 1))
    return (pred == torch.from_numpy(arrays["labels"]).long()).double().mean().item()


def main(without, with_class):
    judges = [load_classifier(f)[0] for f in JUDGE_FILES]
    print("| figure | PSNR without the class | PSNR with it | paired difference (s.e.) | with higher for | "
          "class kept without / with: robust CNN | ResNet |")
    print("|---|---|---|---|---|---|---|")
    for name in NAMES:
        a, b = Path(without) / f"{name}.npz", Path(with_class) / f"{name}.npz"
        if not (a.exists() and b.exists()):
            continue
        ra, rb = np.load(a), np.load(b)
        if not (np.array_equal(ra["original"], rb["original"]) and np.array_equal(ra["corrupted"], rb["corrupted"])):
            sys.exit(f"error: {name}: the two runs did not see the same inputs")
        pa, pb = per_image_psnr(ra, name), per_image_psnr(rb, name)
        d = pb - pa
        kept_by = " | ".join(f"{100 * kept(j, ra):.1f}% / {100 * kept(j, rb):.1f}%" for j in judges)
        what = " (missing pixels)" if name.startswith("fig6") else ""
        se = d.std() / np.sqrt(len(d))
        print(f"| {name}{what} | {pa.mean():.2f} | {pb.mean():.2f} | {d.mean():+.2f} ({se:.2f}) | "
              f"{100 * (d > 0).mean():.0f}% | {kept_by} |")
    print(f"\n{len(pa)} images per figure; class kept judged by {' and '.join(f.name for f in JUDGE_FILES)} (the "
          "robust CNN and the ResNet).")


if __name__ == "__main__":
    main(*sys.argv[1:3])
