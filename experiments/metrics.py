"""metrics.py - every claim of the paper as a number, and the simplest denoiser to compare with.

  psnr        10 log10(range^2 / MSE) per image, range 2 for images in [-1, 1]; higher is closer to the original
  ssim        structural similarity per image (Wang et al. 2004), Gaussian window 7x7, sigma 1.5 (a 28x28 image is
              too small for the usual 11x11), on images scaled to [0, 1]; with the 11x11 window it equals
              scikit-image's structural_similarity (gaussian_weights, use_sample_covariance=False; a test checks)
  class_kept  share of images that the project's classifier assigns the original's class; load_judges and
              add_class_kept: the same by several classifiers (--classifiers)
  image_metrics   all three, as the json files hold them (mean and std over images)
(the Gaussian blur every denoiser here should beat is corruptions.gaussian_blur)
"""

from pathlib import Path

import torch
import torch.nn.functional as F

import paths  # noqa: F401  (first: puts the project root on sys.path)
from classifier import load_classifier, predict


def psnr(x, ref):
    """Per-image PSNR in dB of x against ref, both (N, C, H, W) in [-1, 1] (x is clipped to it first)."""
    mse = (x.clamp(-1, 1).float() - ref.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-10))


def masked_psnr(x, ref, where):
    """PSNR over the pixels where `where` is 1 (the missing ones, for imputation), per image."""
    se = ((x.clamp(-1, 1) - ref) ** 2 * where).flatten(1).sum(1)
    mse = se / where.flatten(1).sum(1).clamp(min=1)
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-10))


def ssim(x, ref, size=7, sigma=1.5):
    """Per-image SSIM of x against ref, both (N, C, H, W) in [-1, 1], computed on [0, 1] with a Gaussian window, each
    channel on its own, then averaged over channels and positions."""
    a = (x.clamp(-1, 1).float() + 1) / 2
    b = (ref.float() + 1) / 2
    coords = torch.arange(size, dtype=torch.float32, device=a.device) - (size - 1) / 2
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = g / g.sum()
    C = a.shape[1]
    window = (g[:, None] * g[None, :]).expand(C, 1, size, size)  # one window per channel
    blur = lambda z: F.conv2d(z, window, groups=C)  # noqa: E731  "valid" windows only, as in Wang et al.
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2  # (K L)^2 with L = 1
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def summary(values):
    """Mean and standard deviation over images."""
    v = values.detach().cpu().double()
    return {"mean": v.mean().item(), "std": v.std().item() if len(v) > 1 else 0.0}


def image_metrics(images, original, labels=None, classifier=None):
    """PSNR and SSIM against the original (mean and std over images), and class preservation."""
    m = {"psnr": summary(psnr(images, original)), "ssim": summary(ssim(images, original))}
    if classifier is not None:
        m["class_kept"] = class_kept(classifier, images, labels)
    return m


def class_kept(classifier, images, labels):
    """The share of `images` (in [-1, 1]; clamped first, as the classifier saw them in training) that `classifier`
    gives their own label."""
    return (predict(classifier, images.clamp(-1, 1).cpu()) == labels.cpu()).float().mean().item()


def load_judges(files):
    """The judges of class kept (--classifiers): file name -> classifier, in the order given."""
    return {Path(f).name: load_classifier(f)[0] for f in files}


def add_class_kept(m, judges, images, labels):
    """Metrics `m` with class kept by every judge under "class_kept_by" (by name), and the first judge's as
    "class_kept", the key the tables read."""
    m["class_kept_by"] = {j: class_kept(c, images, labels) for j, c in judges.items()}
    m["class_kept"] = next(iter(m["class_kept_by"].values()))
    return m
