"""denoise.py - blind denoising with a pretrained DDPM: estimate the noise, enter the chain at the matching step.

    python denoise.py noisy.png --out clean.png                   # one grey image, noise level estimated
    python denoise.py noisy.npy --out clean.npy --chains 8        # (N, H, W) or (N, 1, H, W) float array
    python denoise.py noisy.png --sigma 0.3 --out clean.png       # a known noise level (the "oracle")
    python denoise.py photo.png --checkpoint runs/cifar10_class/checkpoint.pt --out clean.png   # colour
    python denoise.py noisy.png --sigma 25 --units 255 --out clean.png    # the same level on the 8-bit scale (25/255)
    python denoise.py counts.png --noise-type poisson --out clean.png     # force a type (auto: found from the image)

By default the image itself says which noise it holds (restore.detect): clean, white Gaussian (clipped or not),
Poisson (photon counts, with or without a Gaussian part) or impulse (salt and pepper, random-valued); the script
prints what it found, every level in [-1, 1] image units and on the 0-255 scale, and runs the matching restoration of
restore.py (docs/other_noise.md). `--noise-type gaussian`, or `--sigma` / `--estimator` / `--output sample|tweedie`,
which only the Gaussian path has, runs exactly the white-Gaussian denoiser below: a script that passes --sigma gets
that denoiser's images, with the same seed the same ones.

The paper (section 3.1, Figs. 1-4) feeds a noisy image into an unconditional DDPM's reverse chain and finds that it
comes out clean only if it enters at the step whose noise matches its own, which needs the noise level. Real noise is
additive, y = x + sigma n with n ~ N(0, I), and sigma is unknown. Three steps make that practical:

1. Estimate sigma from y alone. `immerkaer` (Immerkaer 1996): the 3x3 mask
        M = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]]
   is the difference of two Laplacians, so it cancels constants, ramps and (nearly) smooth curvature; on pure noise
   the response M * y has standard deviation sigma * sqrt(sum M^2) = 6 sigma, and the mean of a half-normal |z| is
   sqrt(2/pi) times its std:
        sigma_hat = sqrt(pi / 2) / (6 (W - 2) (H - 2)) * sum |M * y|
   Edges leak into that sum, which biases it upward on images with sharp strokes. `mad` takes the median instead
   of the mean, of the finest diagonal Haar wavelet coefficients (Donoho & Johnstone 1994):
        d = (y[2i, 2j] - y[2i, 2j+1] - y[2i+1, 2j] + y[2i+1, 2j+1]) / 2,   sigma_hat = median |d| / 0.6745
   (the Haar transform is orthonormal, so d has std sigma on noise; 0.6745 is the median of |N(0, 1)|). A median
   ignores most coefficients that sit on an edge, but not all: both still overestimate small sigma on digits.
   `model` (the default) lets the DDPM remove the strokes: start from `mad`, then twice
        sigma <- RMS(y - E[x | y, sigma])
   with E[x | y, sigma] the model's posterior mean at the step that matches sigma (Tweedie's formula, below).

2. Pick the step. The chain's x_t = sqrt(ab_t) x + sqrt(1 - ab_t) eps (eq. 7, ab = alpha_bar). Scaled by
   sqrt(ab_t), y becomes sqrt(ab_t) x + sqrt(ab_t) sigma n: the right signal, and noise of variance ab_t sigma^2.
   That is exactly x_t when ab_t sigma^2 = 1 - ab_t, i.e.
        (1 - ab_t*) / ab_t* = sigma^2.
   Steps are discrete, so take the first t* whose noise is at least sigma and top the rest up with fresh noise:
        x_t* = sqrt(ab_t*) y + sqrt(1 - ab_t* - ab_t* sigma^2) n',       n' ~ N(0, I)
   which is distributed exactly as q(x_t* | x) (the two noises add: ab sigma^2 + 1 - ab - ab sigma^2 = 1 - ab).

3. Run the reverse chain from t* (Algorithm 2 with the posterior variance, see `denoise`; or DDIM). One chain's
   output is a sample from the model's posterior p(x | y): sharp, but it can pick another plausible digit where y is
   ambiguous. The
   average of K chains estimates the posterior mean E[x | y], the minimum-MSE answer (higher PSNR, softer). The
   posterior mean also has a one-network-call form (Tweedie's formula, the model's own x0 prediction at t*):
        E[x | x_t*] = (x_t* - sqrt(1 - ab_t*) eps(x_t*, t*)) / sqrt(ab_t*)
   returned as `tweedie`.

Why these steps hold: docs/derivations.md, sections 7-9. What they measure: docs/beyond.md.

Images are in [-1, 1] (the training range), with the model's channels (grey or RGB), of any size: the network is
fully convolutional, so images larger than its training size are padded to sides divisible by 4 and cropped back.
The model must be an unconditional DDPM (`checkpoints/mnist_uncond.pt`, the default), or a class-conditional one,
used without a label (its null class). Colour images get one sigma for all three channels (see estimate_sigma).
"""

import argparse
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import cli

ROOT = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "mnist_uncond.pt"
ESTIMATORS = ("model", "mad", "immerkaer")
NOISE_CHOICES = ("auto", "gaussian", "poisson", "impulse")  # --noise-type
# impulse noise on the command line: RePaint with one resampling pass after the plain chain (390 network calls), so
# that one digit takes well under half a minute on a 2-core CPU (impute.py's default, 5 passes, costs 960 calls)
DEFAULT_IMPUTE_METHOD, DEFAULT_RESAMPLE = "repaint", 2


class DenoiseError(ValueError):
    """Input the denoiser cannot take: wrong shape, range or type. The message says what was expected."""


class RangeWarning(UserWarning):
    """Images whose values look like another range than [-1, 1]: denoised as given, which is likely wrong."""


# ----------------------------------------------------------------------------------------------------------------------
# 1. The noise level from the image alone
# ----------------------------------------------------------------------------------------------------------------------


def estimate_sigma_immerkaer(y):
    """Immerkaer's estimator, one sigma per image over all its channels: (N, C, H, W) -> (N,). See the module
    docstring."""
    mask = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], device=y.device).view(1, 1, 3, 3)
    N, C, H, W = y.shape
    response = F.conv2d(y.float().reshape(N * C, 1, H, W), mask).view(N, -1)  # "valid" positions of every channel
    # sigma_hat = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |M * y|
    return math.sqrt(math.pi / 2) / 6.0 * response.abs().mean(1)


def estimate_sigma_mad(y):
    """The median absolute value of the finest diagonal Haar coefficients / 0.6745, one sigma per image over all its
    channels: (N, C, H, W) -> (N,). An odd last row or column is left out."""
    H, W = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    y = y[..., :H, :W].float()
    a, b = y[..., 0::2, 0::2], y[..., 0::2, 1::2]  # (N, C, H/2, W/2) each: the four pixels of every 2x2 block
    c, d = y[..., 1::2, 0::2], y[..., 1::2, 1::2]
    hh = (a - b - c + d) / 2  # the diagonal detail coefficient; std sigma on white noise (orthonormal transform)
    return hh.abs().flatten(1).median(1).values / 0.6745


@torch.no_grad()
def estimate_sigma_model(y, model, schedule, iterations=2):
    """The model refines the estimate: start from `mad`, denoise with Tweedie's one-call posterior mean at the
    matching step, and take the RMS of what was removed, sigma <- RMS(y - E[x | y]), `iterations` times. The image's
    own strokes no longer leak into the estimate (they stay in E[x | y]). (N, C, H, W) -> (N,)."""
    sigma = estimate_sigma_mad(y)
    for _ in range(iterations):
        sigma = (y - tweedie(y, sigma, model, schedule)).flatten(1).pow(2).mean(1).sqrt()
    return sigma


def estimate_sigma(y, method="mad", model=None, schedule=None):
    """sigma_hat per image, (N, C, H, W) -> (N,), by `method`: "mad", "immerkaer" or "model" (needs the model).
    Colour images get one sigma over all their channels: the noise model y = x + sigma n has one sigma per image, and
    a chain enters at one step t* for the whole image, so a per-channel sigma could not be used; pooling the channels
    also gives the estimate three times the samples."""
    if method == "mad":
        return estimate_sigma_mad(y)
    if method == "immerkaer":
        return estimate_sigma_immerkaer(y)
    if method == "model":
        if model is None:
            raise DenoiseError("the 'model' estimator needs the DDPM")
        return estimate_sigma_model(y, model, schedule)
    raise DenoiseError(f"unknown estimator {method!r}; choose from {ESTIMATORS}")


# ----------------------------------------------------------------------------------------------------------------------
# 2. The step that matches a noise level
# ----------------------------------------------------------------------------------------------------------------------


def sigma_of_t(schedule, t):
    """The noise level, in image units, that step t expects once x_t is divided by sqrt(ab_t):
    sqrt((1 - ab_t) / ab_t). t: int or LongTensor; 0 at t = 0."""
    alpha_bar = schedule.alpha_bars.cpu()[t]
    return ((1 - alpha_bar) / alpha_bar).sqrt()


def t_for_sigma(schedule, sigma):
    """The first step whose noise is at least sigma: t* = min{t : (1 - ab_t) / ab_t >= sigma^2}, one per image.
    sigma: (N,) tensor or a number -> (N,) LongTensor (a number gives N = 1). A sigma above the last step's noise
    (about 180 at T = 200) gets t* = T."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).cpu()
    levels = sigma_of_t(schedule, torch.arange(schedule.T + 1))  # (T+1,), increasing from 0
    # searchsorted finds the first index whose level is >= sigma ("left" side); clamp to 0..T
    return torch.searchsorted(levels, sigma.clamp(min=0)).clamp(0, schedule.T)


def chain_input(y, sigma, t, schedule, generator=None):
    """x_t* = sqrt(ab) y + sqrt(1 - ab - ab sigma^2) n': the noisy image made into a valid x_t* (see the docstring).
    y: (N, C, H, W); sigma, t: (N,). Where rounding left no room (sigma above step t's level) nothing is added."""
    alpha_bar = schedule.alpha_bars.to(y.device)[t.to(y.device)].view(-1, 1, 1, 1)  # (N, 1, 1, 1)
    sigma = sigma.to(y.device).float().view(-1, 1, 1, 1)
    top_up = (1 - alpha_bar - alpha_bar * sigma**2).clamp(min=0).sqrt()
    fresh = torch.randn(y.shape, device=y.device, generator=generator)
    # x_t* = sqrt(alpha_bar) y + sqrt(1 - alpha_bar - alpha_bar sigma^2) n'
    return alpha_bar.sqrt() * y + top_up * fresh


@torch.no_grad()
def tweedie(y, sigma, model, schedule):
    """The model's posterior mean E[x | y] in one network call per entry step, without the top-up noise (so that it
    is deterministic; the input then holds slightly less noise than step t* expects, at most one step's worth):
        x_t* = sqrt(ab_t*) y,    E[x | x_t*] = (x_t* - sqrt(1 - ab_t*) eps(x_t*, t*)) / sqrt(ab_t*)
    y: (N, C, H, W); sigma: (N,). An image with t* = 0 is returned as it is."""
    from ddpm import EpsFunction

    t = t_for_sigma(schedule, sigma)
    y, crop = pad_to_4(y)
    x_t = schedule.alpha_bars.to(y.device)[t.to(y.device)].sqrt().view(-1, 1, 1, 1) * y
    out = y.clone()
    eps_fn = EpsFunction(model)
    for t_star in sorted(set(t.tolist()) - {0}):
        rows = (t == t_star).nonzero().flatten().to(y.device)
        out[rows] = schedule.predict_x0(x_t[rows], t_star, eps_fn(x_t[rows], t_star))
    return out[crop]


def pad_to_4(x):
    """Pad (N, C, H, W) images on the bottom and right, by mirroring, to sides divisible by 4 (the UNet halves them
    twice; it is fully convolutional, so any such size runs). Returns (padded, the index that crops back)."""
    H, W = x.shape[-2:]
    pad_h, pad_w = -H % 4, -W % 4
    if pad_h == pad_w == 0:
        return x, (...,)
    return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect"), (..., slice(0, H), slice(0, W))


# ----------------------------------------------------------------------------------------------------------------------
# 3. The chain
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Denoised:
    """What `denoise` returns; every image tensor is (N, C, H, W) on the input's device, in [-1, 1] (clipped).

    sample:  one reverse chain per image (a posterior sample)
    mean:    the average of the `chains` chains (an estimate of the posterior mean); equal to sample if chains = 1
    tweedie: the model's one-call posterior mean at t* (see `tweedie`)
    sigma:   (N,) the noise level used (estimated, or as given);  t: (N,) the entry step t*
    """

    sample: torch.Tensor
    mean: torch.Tensor
    tweedie: torch.Tensor
    sigma: torch.Tensor
    t: torch.Tensor


def check_images(images, channels=1):
    """Accept grey images (H, W), (N, H, W) or (N, 1, H, W), or colour ones (N, 3, H, W), in [-1, 1] plus noise, with
    the model's number of channels; return a float32 (N, C, H, W) tensor. Any size of at least 4 x 4 is taken (the
    network is fully convolutional; see pad_to_4). Raise DenoiseError for other shapes or channels, non-finite
    values, and values beyond +-20, which only images in [0, 255] reach. A range that merely looks wrong is a
    RangeWarning, not an error, because values alone cannot tell: a median outside [-1, 1], or every value in
    [0, 1] (a [0, 1] image; but a light [-1, 1] image, a face or a sky, can look the same)."""
    if isinstance(images, np.ndarray):
        if not np.issubdtype(images.dtype, np.number):
            raise DenoiseError(f"images must be numbers, got dtype {images.dtype}")
        images = torch.from_numpy(np.asarray(images, dtype=np.float32))
    if not torch.is_tensor(images):
        raise DenoiseError(f"images must be a tensor or a numpy array, got {type(images).__name__}")
    x = images.float()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3 and channels == 1:
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] != channels:
        shapes = "(H, W), (N, H, W) or (N, 1, H, W) grey images" if channels == 1 else f"(N, {channels}, H, W) images"
        raise DenoiseError(f"the model denoises {shapes}; got {tuple(images.shape)}")
    if min(x.shape[-2:]) < 4:
        raise DenoiseError(f"images must be at least 4x4; got {x.shape[-2]}x{x.shape[-1]}")
    if x.shape[0] == 0:
        raise DenoiseError("no images given")
    if not bool(torch.isfinite(x).all()):
        raise DenoiseError("images contain NaN or infinite values")
    lo, hi = x.min().item(), x.max().item()
    # noise pushes values past [-1, 1], but a typical value (the median) of an image in [-1, 1] stays inside it; an
    # image in [0, 255] has values far beyond, and one in [0, 1] never reaches the background level -1
    if hi > 20 or lo < -20:
        raise DenoiseError(f"values span [{lo:.3g}, {hi:.3g}]: expected images in [-1, 1] (plus noise); for 8-bit "
                           f"images use x / 127.5 - 1")
    median = x.median().item()
    if not -1.0 <= median <= 1.0:
        warnings.warn(f"the median value {median:.3g} lies outside [-1, 1]: the images are expected in [-1, 1] (plus "
                      f"noise); denoised as given", RangeWarning, stacklevel=2)
    elif lo >= 0.0 and hi <= 1.0 and hi > lo:
        warnings.warn(f"every value lies in [{lo:.3g}, {hi:.3g}]: if these are images in [0, 1], map them to [-1, 1] "
                      f"first (2 x - 1); denoised as given", RangeWarning, stacklevel=2)
    return x


def check_model(model):
    cfg = model.config
    if cfg.cond_channels != 0:
        raise DenoiseError("this model is conditioned on an image (a Fig. 6/7 model); blind denoising needs an "
                           "unconditional DDPM such as checkpoints/mnist_uncond.pt")


@torch.no_grad()
def denoise(images, model, schedule, *, sigma=None, estimator="model", chains=1, steps=None, variance="posterior",
            make_step=None, generator=None, progress=None, runner=None):
    """Denoise images y = x + sigma n with an unconditional DDPM. Returns a `Denoised`.

    images:    see `check_images`; moved to the model's device
    sigma:     None (estimate it, per image), a number, or (N,) values: the noise std in [-1, 1] units
    estimator: "model" (default), "mad" or "immerkaer" (used when sigma is None)
    chains:    K >= 1 chains per image; `mean` averages them (the chains of all images run as one batch)
    steps:     None for the full DDPM chain from t* (t* steps); a number for DDIM (eta = 0) with at most that many
    variance:  the chain's sigma_t^2: "posterior" (default, beta~_t) or "beta" (beta_t, Algorithm 2 as printed, the
               project's default for generation). A denoising chain is short (t* = 3 steps at sigma = 0.05) and
               ends in the steps where beta_t is up to three times beta~_t, the true posterior variance; with "beta"
               that extra noise is still in the output (measured in docs/beyond.md)
    make_step: builds the DDPM chain's reverse step from the chain's schedule (the one with `variance`): None for
               `schedule.p_step`, or `kernels.reverse_step.fused_p_step` for the fused kernel; DDIM has its own step
    runner:    the DDPM chain's runner (ddpm.sample_from): None, or the fast path's replayed CUDA graphs
    """
    from ddpm import EpsFunction, Schedule, ddim_sample_from, sample_from

    check_model(model)
    if variance not in ("posterior", "beta"):
        raise DenoiseError(f"variance must be 'posterior' or 'beta', got {variance!r}")
    if chains < 1:
        raise DenoiseError(f"chains must be >= 1, got {chains}")
    if steps is not None and steps < 1:
        raise DenoiseError(f"steps must be >= 1, got {steps}")
    device = next(model.parameters()).device
    y = check_images(images, model.config.image_channels).to(device)
    N = y.shape[0]
    if sigma is None:
        sigma = estimate_sigma(y, estimator, model, schedule)
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device).reshape(-1).expand(N).clone()
    if bool((sigma < 0).any()) or not bool(torch.isfinite(sigma).all()):
        raise DenoiseError(f"sigma must be finite and >= 0, got {sigma.tolist()[:4]}...")
    t = t_for_sigma(schedule, sigma)  # (N,) on the CPU
    if schedule.sigma_kind != variance:  # the same betas, another sigma_t for the reverse steps
        schedule = Schedule(schedule.T, schedule.kind, sigma=variance).to(device)
    step = make_step(schedule) if make_step is not None else schedule.p_step

    # K chains per image as one batch: (K N, C, H, W), chain k of image i at row k N + i
    y_k, sigma_k, t_k = y.repeat(chains, 1, 1, 1), sigma.repeat(chains), t.repeat(chains)
    x, crop = pad_to_4(chain_input(y_k, sigma_k, t_k, schedule, generator))
    out = x.clone()
    eps_fn = EpsFunction(model)
    # images that enter at the same t* share one chain call; t* = 0 (no noise found) leaves the image as it is
    for t_star in sorted(set(t_k.tolist())):
        if t_star == 0:
            continue
        rows = (t_k == t_star).nonzero().flatten().to(device)
        x_in = x[rows]
        if steps is None:
            out[rows], _ = sample_from(eps_fn, schedule, x_in, t_star, step=step, generator=generator,
                                       progress=progress, runner=runner)
        else:
            out[rows], _ = ddim_sample_from(eps_fn, schedule, x_in, t_star, min(steps, t_star), generator=generator,
                                            progress=progress)
    out = out[crop].clamp(-1, 1).reshape(chains, N, *y.shape[1:])  # (K, N, C, H, W)
    post_mean = tweedie(y, sigma, model, schedule).clamp(-1, 1)
    return Denoised(sample=out[0], mean=out.mean(0), tweedie=post_mean, sigma=sigma, t=t)


def restore(images, model, schedule, **kwargs):
    """Restore images of any noise, the type found from the images unless told: restore.restore (restore.py, which
    builds on this file, so it is imported here only when called). Returns a restore.Restored."""
    import restore as restorer

    return restorer.restore(images, model, schedule, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------------


def read_input(path, channels=1, with_depth=False):
    """A .png or .jpg (read by images.py at its own bit depth, mapped from [0, 1] to [-1, 1]; for a grey model
    (channels = 1) a colour PNG is read as its luminance,
    for a colour model a grey PNG is repeated over R, G, B) or a .npy array of images in [-1, 1]. Returns (images,
    kind): a PNG gives (H, W) grey or (1, 3, H, W) colour; with_depth: (images, kind, depth), depth the file's
    largest level (255 for 8 bits, 65535 for 16), None for a .npy."""
    from images import PICTURE_SUFFIXES, ImageFileError, read_array, read_picture

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return (read_array(path), "npy") + ((None,) if with_depth else ())
        if suffix in PICTURE_SUFFIXES:
            img, depth = read_picture(path)  # float in [0, 1] by the file's own bit depth, (H, W) or (H, W, 3)
            if channels == 1 and img.ndim == 3:
                img = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # luminance
            elif channels == 3:
                rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)  # (H, W, 3)
                img = rgb.transpose(2, 0, 1)[None]  # (1, 3, H, W)
            return (img.astype(np.float32) * 2 - 1, "png") + ((depth,) if with_depth else ())
    except ImageFileError as e:
        raise DenoiseError(str(e)) from None
    raise DenoiseError(f"{path}: expected a .png, .jpg or .npy file")


def warn_if_clipped(images, share=0.05):
    """Saved images are usually clipped to their range, and clipping breaks y = x + sigma n: on a black background half
    of the noise is cut off, so sigma is underestimated and the image enters the chain too late (too little noise
    left to remove is the milder error, but still an error). Warn when many pixels sit exactly at an end."""
    a = np.asarray(images, dtype=np.float32)
    at_ends = float(np.mean(np.abs(np.abs(a) - 1.0) < 1e-6))  # exactly -1 or 1, not beyond
    if at_ends > share:
        print(f"warning: {100 * at_ends:.0f}% of the pixels sit exactly at -1 or 1: the noise looks clipped there, "
              f"which breaks y = x + sigma n (sigma will be underestimated); unclipped values in a .npy work best",
              file=sys.stderr)


# the --out of denoise.py and impute.py: a .png or .npy file to write (cli.output_file checks it while parsing)
OUT_TYPE = cli.output_file(".png", ".npy")


def write_output(path, images, kind):
    """Write (N, C, H, W) images in [-1, 1]: a .npy of (N, H, W) grey values (one (H, W) image stays (H, W) when it
    came from a PNG) or of (N, 3, H, W) colour ones, or a PNG: the image itself, or for several images a grid of
    them, 10 to a row."""
    from files import atomic_write
    from viz import grid, save_png, to_unit

    path = Path(path)
    if path.suffix.lower() == ".npy":
        arr = images.detach().cpu().numpy()
        if arr.shape[1] == 1:
            arr = arr[:, 0]  # (N, H, W)
            arr = arr if kind == "npy" or len(arr) > 1 else arr[0]
        atomic_write(path, lambda f: np.save(f, arr))
    elif path.suffix.lower() == ".png":
        save_png(path, to_unit(images)[0] if len(images) == 1 else grid(images, ncol=min(10, len(images))))
    else:
        raise DenoiseError(f"{path}: --out must end in .png or .npy")


def describe_depth(images, depth):
    """One line on what a picture file's own levels say: its bit depth, and the share of pixels at black or white
    (where the file clipped any noise). A 16-bit file's steps are 256 times finer than an 8-bit one's."""
    bits = int(round(math.log2(depth + 1)))
    at_ends = float(np.mean(np.abs(np.abs(np.asarray(images, dtype=np.float32)) - 1.0) < 1e-6))
    return f"{bits}-bit picture, levels 0..{depth} (steps of {2 / depth:.3g} in [-1, 1] units), " \
           f"{100 * at_ends:.0f}% of the pixels at black or white"


def gaussian_mode(args, sigma):
    """Which path the flags ask for: "gaussian" (the white-Gaussian denoiser, today's behaviour) where
    --noise-type gaussian is given, or under auto where a flag only that path has is given (--sigma, --estimator,
    --output sample / tweedie); else the --noise-type. Returns (mode, the flags that chose gaussian)."""
    flags = (("--sigma", sigma is not None), ("--estimator", args.estimator is not None),
             (f"--output {args.output}", args.output != "mean"))
    only_gaussian = [flag for flag, given in flags if given]
    if args.noise_type == "auto" and only_gaussian:
        return "gaussian", only_gaussian
    return args.noise_type, only_gaussian


def check_flags(ap, args):
    """The level flags against each other and the noise type (argparse errors, exit 2). Returns sigma in [-1, 1]
    image units, or None."""
    try:
        sigma = None if args.sigma is None else cli.with_units(args.sigma, args.units)
    except argparse.ArgumentTypeError as e:
        ap.error(f"argument --sigma: {e}")
    if args.units is not None and args.sigma is None:
        ap.error("argument --units: gives the scale of --sigma, which is not given")
    mode, only_gaussian = gaussian_mode(args, sigma)
    if args.peak is not None and mode != "poisson":
        ap.error("argument --peak: the photon count at white is a level of Poisson noise; add --noise-type poisson")
    if mode == "impulse" and only_gaussian:
        ap.error(f"argument --noise-type impulse: {', '.join(only_gaussian)} belong to Gaussian noise")
    if mode == "poisson":
        if args.estimator is not None or args.output != "mean":
            ap.error("argument --noise-type poisson: --estimator and --output sample / tweedie belong to Gaussian "
                     "noise")
        if sigma is not None and args.peak is None:
            ap.error("argument --sigma: with --noise-type poisson it is the Gaussian part of Poisson-Gaussian noise, "
                     "which also needs --peak")
    return sigma


def entry_step(finding, y, schedule):
    """ ", enters the chain at t* = N of T" for the restorations that enter a chain at a step, else ""."""
    import restore as restorer

    if finding.type == "gaussian" and finding.sigma is not None:
        sigma = finding.sigma
    elif finding.type in ("poisson", "poisson-gaussian") and finding.peak is not None:
        sigma = restorer.matched_sigma(y, finding.peak, finding.sigma or 0.0).item()
    else:
        return ""
    return f", enters the chain at t* = {int(t_for_sigma(schedule, sigma)[0])} of {schedule.T}"


def main(argv=None):
    import fast
    import kernels
    from devices import DEVICE_HELP, resolve_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("input", type=cli.existing_file,
                    help="noisy image(s): a .png, or a .npy of (N, H, W) grey or (N, 3, H, W) colour values in [-1, 1]")
    ap.add_argument("--out", type=OUT_TYPE, required=True, help="where to write the result (.png or .npy)")
    ap.add_argument("--checkpoint", type=cli.existing_file, default=str(DEFAULT_CHECKPOINT),
                    help="an unconditional DDPM (default: checkpoints/mnist_uncond.pt)")
    ap.add_argument("--noise-type", choices=NOISE_CHOICES, default="auto",
                    help="auto: find the noise's type and level in each image (restore.detect) and restore it the "
                    "matching way; gaussian: the white-Gaussian denoiser alone (with --sigma: exactly this script's "
                    "known-sigma white-Gaussian denoising); poisson: photon counts (P from "
                    "--peak or the image's count lattice); impulse: the hit pixels found and filled in "
                    "(default: auto)")
    ap.add_argument("--sigma", type=cli.ratio, default=None,
                    help="the Gaussian noise's standard deviation: a plain number is in [-1, 1] image units (0.2); "
                    "25/255, or 25 with --units 255, is 25 levels of the 8-bit scale (0.196 in image units). It "
                    "means white Gaussian noise (the Gaussian path) unless --noise-type poisson makes it the "
                    "Gaussian part of Poisson-Gaussian noise (default: estimated by --estimator)")
    ap.add_argument("--units", type=cli.positive_float, default=None,
                    help="the scale --sigma is given on, as the value of white: 255 for 8-bit levels, 65535 for "
                    "16-bit, 1 for [0, 1] (default: [-1, 1] image units)")
    ap.add_argument("--peak", type=cli.positive_float, default=None,
                    help="with --noise-type poisson: the photon count at white, P (default: read from the image, "
                    "whose values are whole counts / P)")
    ap.add_argument("--estimator", choices=ESTIMATORS, default=None,
                    help="how sigma is estimated on the Gaussian path without --sigma: model (mad, refined twice by "
                    "the DDPM's posterior mean), mad (median of the finest Haar wavelet coefficients) or immerkaer "
                    "(mean response of a 3x3 Laplacian difference); giving it chooses the Gaussian path "
                    "(default: model)")
    ap.add_argument("--chains", type=cli.positive_int, default=1,
                    help="average this many chains (posterior mean) (default: %(default)s)")
    ap.add_argument("--output", choices=("mean", "sample", "tweedie"), default="mean",
                    help="which estimate to write: the mean of the chains, one chain, or Tweedie's one-call "
                    "posterior mean; sample and tweedie exist on the Gaussian path only (default: mean)")
    ap.add_argument("--steps", type=cli.positive_int, default=None,
                    help="DDIM with at most this many steps (Gaussian and Poisson noise) (default: full DDPM)")
    ap.add_argument("--impute-method", choices=("repaint", "ddnm"), default=DEFAULT_IMPUTE_METHOD,
                    help="impulse noise: how the hit pixels are filled in, as impute.py's --method "
                    "(default: %(default)s)")
    ap.add_argument("--resample", type=cli.positive_int, default=DEFAULT_RESAMPLE,
                    help="impulse noise: RePaint's passes over the chain, as impute.py's --resample (each costs "
                    "about T network calls) (default: %(default)s)")
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed of the chains' noise (default: 0)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=kernels.CHOICES, default="auto", help=kernels.FLAG_HELP)
    ap.add_argument("--fast", action="store_true", help=fast.FLAG_HELP)
    args = ap.parse_args(argv)
    sigma = check_flags(ap, args)
    mode, only_gaussian = gaussian_mode(args, sigma)

    from checkpoint import CheckpointError, load_ddpm

    try:
        device = resolve_device(args.device)
        model, schedule, _ = load_ddpm(args.checkpoint, device)
        runner = None
        if args.fast:  # the fast path swaps the model (fast.py); the chain's step comes from --kernels below
            path = fast.fast_path(model, schedule, device, fused=args.kernels != "torch")
            model, runner = path.model, path.runner
            print(path.summary)
        images, kind, depth = read_input(args.input, model.config.image_channels, with_depth=True)
        if depth is not None:
            print(f"read {args.input} ({describe_depth(images, depth)})")
        g = torch.Generator(device=device).manual_seed(args.seed)
        # the chain's reverse step: ddpm.py's, or the fused kernel (--kernels)
        make_step = lambda s: kernels.choose(args.kernels, device, s)[0]  # noqa: E731
        if runner is not None:  # replayed stretches hold their timestep in a tensor, which ddpm.py's step takes
            make_step = lambda s: s.p_step  # noqa: E731
        if mode == "gaussian":
            warn_if_clipped(images)
            result = denoise(images, model, schedule, sigma=sigma, estimator=args.estimator or "model",
                             chains=args.chains, steps=args.steps, make_step=make_step, generator=g, runner=runner)
            write_output(args.out, getattr(result, args.output), kind)
        else:
            level = None
            if mode == "poisson" and args.peak is not None:
                level = args.peak if sigma is None else (args.peak, sigma)
            noise_type = {"auto": None, "poisson": "poisson" if sigma is None else "poisson-gaussian",
                          "impulse": "impulse"}[mode]
            fill = {"method": args.impute_method, "resample": args.resample, "step": make_step(schedule)}
            result = restore(images, model, schedule, noise_type=noise_type, level=level, generator=g,
                             chains=args.chains, steps=args.steps, fill=fill)
            write_output(args.out, result.output, kind)
    except (DenoiseError, CheckpointError, kernels.Unavailable) as e:
        sys.exit(f"error: {e}")
    if mode == "gaussian":
        how = "given" if sigma is not None else f"estimated ({args.estimator or 'model'})"
        if args.noise_type == "auto":
            print(f"white Gaussian noise ({', '.join(only_gaussian)} given: the Gaussian path, as --noise-type "
                  f"gaussian)")
        for i, (s, t) in enumerate(zip(result.sigma.tolist(), result.t.tolist())):
            if i == 8:
                print(f"  ... {len(result.t) - 8} more")
                break
            print(f"image {i}: sigma {s:.4f} in [-1, 1] units ({s * 127.5:.3g}/255) ({how}), enters the chain at "
                  f"t* = {t} of {schedule.T}")
        print(f"wrote {args.out} ({args.output}{f' of {args.chains} chains' if args.output == 'mean' else ''})")
        return result
    y = check_images(images, model.config.image_channels)
    found = "found" if mode == "auto" else f"told {mode}"
    for i, (f, ran) in enumerate(zip(result.findings, result.ran)):
        if i == 8:
            print(f"  ... {len(result.ran) - 8} more")
            break
        print(f"image {i} ({found}): {f.describe()}{entry_step(f, y[i: i + 1], schedule)} -> {ran}")
    if any(f.clipped and f.type == "gaussian" for f in result.findings):
        print("note: pixels sit exactly at -1 or 1, where the file clipped the noise: sigma is fitted by a censored "
              "likelihood and the clipped pixels get their noise back before the chain (restore.restore_clipped)",
              file=sys.stderr)
    print(f"wrote {args.out} (mean of {args.chains} chain(s))")
    return result


if __name__ == "__main__":
    main()
