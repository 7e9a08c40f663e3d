"""impute.py - fill in missing pixels with an unconditional DDPM, no imputation model: RePaint and DDNM.

    python impute.py assets/digit.png --mask block --out filled.png           # a named mask (see corruptions.mask_of)
    python impute.py image.png --mask mask.png --out filled.png               # white = known, black = missing
    python impute.py images.npy --mask masks.npy --out filled.npy --chains 8  # (N, H, W) arrays; mean of 8 chains
    python impute.py image.png --mask random:0.5 --method ddnm --out filled.png
    python impute.py image.png --mask rows --out filled.png --save-masked     # and filled_masked.png, the input

The paper (section 3.2, Fig. 6) trains a separate model that sees the damaged image as an extra input channel. The
unconditional DDPM can do the same job by itself, because the known pixels y = m * x (m = 1 where a pixel is known,
0 where it is missing) pin down part of every x_t of the chain. Two ways to use them at every reverse step:

RePaint (Lugmayr et al. 2022). The known part of x_{t-1} is not guessed, it is drawn from the forward process
(eq. 7), and the missing part comes from the model's reverse step (Algorithm 2):
        known    = sqrt(ab_{t-1}) y + sqrt(1 - ab_{t-1}) n,            n ~ N(0, I)
        unknown  = 1 / sqrt(a_t) (x_t - b_t / sqrt(1 - ab_t) eps(x_t, t)) + sigma_t z
        x_{t-1}  = m * known + (1 - m) * unknown
   (ab = alpha_bar, a = alpha, b = beta.) The two halves are generated independently, so at the seam they can
   disagree. Resampling harmonises them: every `jumps` steps, the chain goes *back* up `jumps` steps with the forward
   process and comes down again, `resample` times in all,
        x_{t+j} = sqrt(ab_{t+j} / ab_t) x_t + sqrt(1 - ab_{t+j} / ab_t) n,
   which lets the model see (and fix) the seam with the known pixels in place. Each pass multiplies the network
   calls: about T * resample calls per image instead of T.

DDNM (Wang et al. 2022, "zero-shot image restoration using denoising diffusion null-space model"). At every step the
model's clean-image prediction x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t) is projected onto the images that
agree with the known pixels, and the step is taken from the true posterior q(x_{t-1} | x_t, x0) at that projection:
        x0_hat'  = m * y + (1 - m) * x0_hat          (for a mask, A = A^+ = diag(m): A^+ y + (I - A^+ A) x0_hat)
        x_{t-1}  = mu~_t(x0_hat', x_t) + sqrt(beta~_t) z
   with mu~_t the posterior mean (Ho et al., eq. 7). x0_hat is clipped to [-1, 1] before the projection, as the
   DDNM code does. The same resampling jumps ("time travel" in the DDNM paper) apply.

Both end with the known pixels exactly as given: at t = 1, ab_0 = 1 puts `known` = y (RePaint), and mu~_1 = x0_hat'
(DDNM). One chain is a sample of a plausible completion; the mean of K chains (`mean`) estimates the posterior mean,
softer and closer in PSNR. What they measure against the paper's trained model: experiments/zero_shot_imputation.py,
docs/beyond.md.

Images are in [-1, 1], grey or colour with the model's channels, of any size (padded to sides divisible by 4 and
cropped back, as in denoise.py). Missing pixels may hold anything, NaN included: they are never read. The model must
be unconditional (checkpoints/mnist_uncond.pt, the default) or class-conditional (used without a label).
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import cli
from denoise import OUT_TYPE, DenoiseError, check_images, pad_to_4, read_input, write_output

ROOT = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "mnist_uncond.pt"
METHODS = ("repaint", "ddnm")
# RePaint's resampling: jump back 10 steps, 5 passes over the chain in all (960 network calls at T = 200). The
# RePaint paper's 10 passes cost twice that for little more on the missing pixels here; docs/beyond.md ("Imputation
# with no imputation model") measures 2, 3, 5 and 10 passes against none on 32 test digits.
DEFAULT_JUMPS, DEFAULT_RESAMPLE = 10, 5
MAX_CALLS = 100_000  # network calls per chain that a walk may take (the default: 960): more is a typo, or days


class ImputeError(DenoiseError):
    """Input the imputer cannot take: a mask of the wrong shape or values, no known pixel, a conditional model."""


# ----------------------------------------------------------------------------------------------------------------------
# The walk down (and back up) the chain
# ----------------------------------------------------------------------------------------------------------------------


def walk(T, jumps, resample):
    """The timesteps the chain visits, from T down to 0: [T, T-1, ..., 0] without resampling (resample = 1). With
    resampling, at every t = jumps, 2 jumps, ... (up to T - jumps), after arriving at x_t the chain jumps back to
    t + jumps and comes down again, resample - 1 times. A move t -> t-1 costs one network call; t -> t + jumps none.
    Example: walk(6, 2, 2) = [6, 5, 4, 6, 5, 4, 3, 2, 4, 3, 2, 1, 0]."""
    if resample < 1 or jumps < 1:
        raise ImputeError(f"jumps and resample must be >= 1, got jumps={jumps}, resample={resample}")
    resample_at = range(jumps, T - jumps + 1, jumps)
    calls = T + (resample - 1) * jumps * len(resample_at)  # each extra pass at t goes down `jumps` steps again
    if calls > MAX_CALLS:
        raise ImputeError(f"jumps={jumps}, resample={resample} make {calls:,} network calls per chain, more than "
                          f"{MAX_CALLS:,}; ask for fewer passes")
    passes_left = {t: resample - 1 for t in resample_at}
    t, ts = T, [T]
    while t > 0:
        t -= 1
        ts.append(t)
        if passes_left.get(t, 0) > 0:
            passes_left[t] -= 1
            t += jumps
            ts.append(t)
    return ts


def network_calls(T, jumps, resample):
    """Network calls per image and chain: the down moves of the walk."""
    ts = walk(T, jumps, resample)
    return sum(1 for a, b in zip(ts, ts[1:]) if b < a)


def jump_up(x_s, s, t, schedule, generator):
    """x_t ~ q(x_t | x_s) for t > s, the forward process from step s:
        x_t = sqrt(ab_t / ab_s) x_s + sqrt(1 - ab_t / ab_s) n"""
    ratio = (schedule.alpha_bars[t] / schedule.alpha_bars[s]).item()  # alpha_bar_t / alpha_bar_s = prod_{s<r<=t} a_r
    n = torch.randn(x_s.shape, device=x_s.device, generator=generator)
    return math.sqrt(ratio) * x_s + math.sqrt(1 - ratio) * n


# ----------------------------------------------------------------------------------------------------------------------
# One reverse step of each method, x_t -> x_{t-1}
# ----------------------------------------------------------------------------------------------------------------------


def repaint_step(x_t, t, y, m, eps_fn, schedule, step, generator):
    """RePaint: the known pixels from the forward process at t-1, the missing ones from Algorithm 2's step."""
    eps = eps_fn(x_t, t)
    z = torch.randn(x_t.shape, device=x_t.device, generator=generator)
    unknown = step(x_t, t, eps, z)  # 1/sqrt(a_t) (x_t - b_t / sqrt(1 - ab_t) eps) + sigma_t z
    n = torch.randn(x_t.shape, device=x_t.device, generator=generator)
    known = schedule.q_sample(y, t - 1, n)  # sqrt(ab_{t-1}) y + sqrt(1 - ab_{t-1}) n; y itself at t - 1 = 0
    # x_{t-1} = m * known + (1 - m) * unknown
    return m * known + (1 - m) * unknown


def ddnm_step(x_t, t, y, m, eps_fn, schedule, step, generator):
    """DDNM: project the model's x0 prediction onto the known pixels, then step from the true posterior there.
    (`step` is not used: this step is the posterior's, not Algorithm 2's.)"""
    eps = eps_fn(x_t, t)
    x0_hat = schedule.predict_x0(x_t, t, eps).clamp(-1, 1)  # (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
    # x0_hat' = m y + (1 - m) x0_hat: the range of the mask from y, its null space from the model
    x0_hat = m * y + (1 - m) * x0_hat
    z = torch.randn(x_t.shape, device=x_t.device, generator=generator)
    beta_tilde = schedule.beta_tildes[t].item()  # beta~_1 = 0: the last step is the posterior mean, x0_hat'
    # x_{t-1} = mu~_t(x0_hat', x_t) + sqrt(beta~_t) z
    return schedule.q_posterior_mean(x0_hat, x_t, t) + math.sqrt(beta_tilde) * z


STEPS = {"repaint": repaint_step, "ddnm": ddnm_step}


# ----------------------------------------------------------------------------------------------------------------------
# Checks and the API
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Imputed:
    """What `impute` returns; image tensors are (N, C, H, W) on the model's device, in [-1, 1], known pixels as given.

    sample: one chain per image (a sample of a plausible completion)
    mean:   the average of the `chains` chains (an estimate of the posterior mean); equal to sample if chains = 1
    method, jumps, resample, chains: the settings used;  calls: network calls per image and chain
    """

    sample: torch.Tensor
    mean: torch.Tensor
    method: str
    jumps: int
    resample: int
    chains: int
    calls: int


def as_tensor(a, what):
    if isinstance(a, np.ndarray):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise ImputeError(f"{what} must be numbers, got dtype {a.dtype}")
        a = torch.from_numpy(np.asarray(a, dtype=np.float32))
    if not torch.is_tensor(a):
        raise ImputeError(f"{what} must be a tensor or a numpy array, got {type(a).__name__}")
    return a.float()


def as_4d(a, channels):
    """Grey (H, W) -> (1, 1, H, W) and (N, H, W) -> (N, 1, H, W), the shapes denoise.check_images accepts; anything
    else as it is (a mask counts as grey: one mask is shared by the channels of a colour image)."""
    if a.dim() == 2:
        return a[None, None]
    if a.dim() == 3 and channels == 1:
        return a[:, None]
    return a


def check_inputs(images, mask, channels):
    """Images and mask as float32 (N, C, H, W) tensors, missing pixels of the images set to 0. The mask must have the
    images' shape (a colour image may share one (N, 1, H, W) mask over its channels), hold only 0 (missing) and 1
    (known), and leave every image at least one known pixel; the images are checked by denoise.check_images."""
    x, m = as_tensor(images, "images"), as_tensor(mask, "the mask")
    x4, m4 = as_4d(x, channels), as_4d(m, 1)
    shared = m4.shape[1] == 1 and m4.shape[0] == x4.shape[0] and m4.shape[2:] == x4.shape[2:]
    if m4.shape != x4.shape and not shared:
        raise ImputeError(f"the mask {tuple(m.shape)} must have the images' shape {tuple(x.shape)}")
    if not bool(((m4 == 0) | (m4 == 1)).all()):
        odd = m4[(m4 != 0) & (m4 != 1)]
        raise ImputeError(f"the mask must hold only 0 (missing) and 1 (known); found {odd.numel()} other values, "
                          f"such as {odd[0].item():.3g}")
    bad = int((m4.bool() & ~torch.isfinite(x4)).sum())  # (N, C, H, W): a shared mask broadcasts over C
    if bad:
        raise ImputeError(f"{bad} known pixel(s) (mask 1) hold NaN or infinity; only missing pixels (mask 0) may")
    try:
        x = check_images(torch.where(m4.bool(), x4, torch.zeros(())), channels)  # missing pixels are never read
    except DenoiseError as e:
        raise ImputeError(str(e)) from None
    m = m4.expand_as(x).contiguous()  # (N, C, H, W), as the images
    no_known = (m.flatten(1).sum(1) == 0).nonzero().flatten().tolist()
    if no_known:
        raise ImputeError(f"image(s) {no_known[:5]} have no known pixel: there is nothing to fill in from (use "
                          f"sample.py to generate from nothing)")
    return x, m


def check_model(model):
    if model.config.cond_channels != 0:
        raise ImputeError("this model is conditioned on an image (a Fig. 6/7 model); zero-shot imputation needs an "
                          "unconditional DDPM such as checkpoints/mnist_uncond.pt")


@torch.no_grad()
def impute(images, mask, model, schedule, *, method="repaint", jumps=DEFAULT_JUMPS, resample=DEFAULT_RESAMPLE,
           chains=1, step=None, generator=None, progress=None):
    """Fill in the pixels where mask = 0 with an unconditional DDPM. Returns an `Imputed`.

    images:   (H, W), (N, H, W) or (N, C, H, W) in [-1, 1]; missing pixels may hold anything
    mask:     the images' shape (or (N, 1, H, W) for colour images), 1 = known pixel, 0 = missing
    method:   "repaint" or "ddnm" (module docstring)
    jumps, resample: the resampling walk (`walk`): jump back `jumps` steps, `resample` passes in all; resample = 1
              is the plain chain (T network calls)
    chains:   K >= 1 chains per image, run as one batch; `mean` averages them
    step:     RePaint's reverse step for the missing pixels, default schedule.p_step (a fused kernel may stand in)
    progress: anything with .update(1), called once per network call
    """
    from ddpm import EpsFunction

    if method not in METHODS:
        raise ImputeError(f"method must be one of {METHODS}, got {method!r}")
    if chains < 1:
        raise ImputeError(f"chains must be >= 1, got {chains}")
    check_model(model)
    device = next(model.parameters()).device
    y, m = check_inputs(images, mask, model.config.image_channels)
    N = y.shape[0]
    ts = walk(schedule.T, jumps, resample)
    step = step or schedule.p_step
    take_step = STEPS[method]

    # K chains per image as one batch: (K N, C, H, W), chain k of image i at row k N + i; padded to sides of 4
    y_k, crop = pad_to_4(y.to(device).repeat(chains, 1, 1, 1))
    m_k, _ = pad_to_4(m.to(device).repeat(chains, 1, 1, 1))
    eps_fn = EpsFunction(model)
    x = torch.randn(y_k.shape, device=device, generator=generator)  # x_T ~ N(0, I)
    for t, t_next in zip(ts, ts[1:]):
        if t_next < t:  # down: one reverse step x_t -> x_{t-1}
            x = take_step(x, t, y_k, m_k, eps_fn, schedule, step, generator)
            if progress is not None:
                progress.update(1)
        else:  # up: back to x_{t + jumps}, with the forward process
            x = jump_up(x, t, t_next, schedule, generator)
    # the last step already put y in the known pixels; pasting them again only removes float rounding
    out = torch.where(m_k.bool(), y_k, x.clamp(-1, 1))[crop].reshape(chains, N, *y.shape[1:])  # (K, N, C, H, W)
    known = m.to(device).bool()
    mean = torch.where(known, y.to(device), out.mean(0))  # (x + x + x) / 3 need not be x in float: paste y again
    return Imputed(sample=out[0], mean=mean, method=method, jumps=jumps, resample=resample, chains=chains,
                   calls=network_calls(schedule.T, jumps, resample))


# ----------------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------------


def read_mask(spec, shape):
    """The --mask argument: a named mask (corruptions.mask_of: random:F, block, left-half, rows) for images of
    `shape` (N, C, H, W), a .png (white = known, black = missing; a colour PNG by its luminance) or a .npy of 0/1."""
    from corruptions import MASK_KINDS, mask_of

    path = Path(spec)
    if path.suffix.lower() in (".png", ".npy"):
        if not path.exists():
            raise ImputeError(f"{path}: no such mask file")
        if path.suffix.lower() == ".npy":
            arr, _ = read_input(path)
            return arr
        arr, _ = read_input(path, channels=1)  # luminance, mapped to [-1, 1]
        # back to [0, 1]: 0 = black = missing, 1 = white = known (rounded: the luminance of white is 1 - 6e-8)
        return np.round((arr + 1) / 2, 4)
    if spec.startswith("random:") or spec in MASK_KINDS:
        g = torch.Generator().manual_seed(0)
        try:
            return mask_of(spec, shape, g)
        except ValueError as e:
            raise ImputeError(str(e)) from None
    raise ImputeError(f"--mask {spec!r}: give a .png or .npy file, or one of {MASK_KINDS}")


def show_missing(y, m, cell=2):
    """The damaged input as a person should see it (--save-masked): the known pixels of y as given, the missing ones
    (m = 0) as a checkerboard of two mid-greys in cell x cell squares, which neither a black nor a white pixel can be
    mistaken for. y, m: (N, C, H, W) in [-1, 1] and 0/1, as check_inputs returns them."""
    H, W = y.shape[-2:]
    squares = (torch.arange(H)[:, None] // cell + torch.arange(W)[None, :] // cell) % 2  # (H, W): 0, 1, 0, 1 ...
    checker = (squares.float() - 0.5) / 2  # -0.25 and 0.25: greys of 0.375 and 0.625 in [0, 1]
    return torch.where(m.bool(), y, checker.to(y))


def masked_path(out):
    """Where --save-masked writes the damaged input: beside --out, "filled.png" -> "filled_masked.png"."""
    out = Path(out)
    return out.with_name(f"{out.stem}_masked{out.suffix}")


def main(argv=None):
    import fast
    import kernels
    from devices import DEVICE_HELP, resolve_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("input", type=cli.existing_file,
                    help="image(s) with missing pixels: a .png, or a .npy of (N, H, W) grey or (N, 3, H, W) colour "
                    "values in [-1, 1] (NaN allowed in the missing pixels)")
    ap.add_argument("--mask", required=True, help="1 = known, 0 = missing: a .png (white = known) or .npy of the "
                    "input's shape, or a named mask: random:F (a share F missing), block, left-half, rows")
    ap.add_argument("--out", type=OUT_TYPE, required=True, help="where to write the result (.png or .npy)")
    ap.add_argument("--save-masked", action="store_true",
                    help="also write the damaged input, its missing pixels shown as a grey checkerboard, beside --out "
                    "(filled.png -> filled_masked.png)")
    ap.add_argument("--checkpoint", type=cli.existing_file, default=str(DEFAULT_CHECKPOINT),
                    help="an unconditional DDPM (default: checkpoints/mnist_uncond.pt)")
    ap.add_argument("--method", choices=METHODS, default="repaint",
                    help="repaint: known pixels drawn from the forward process at every step; ddnm: the model's "
                    "clean-image guess projected onto the known pixels (default: repaint)")
    ap.add_argument("--jumps", type=cli.positive_int, default=DEFAULT_JUMPS,
                    help="steps each resampling jump goes back (default: %(default)s)")
    ap.add_argument("--resample", type=cli.positive_int, default=DEFAULT_RESAMPLE,
                    help="passes over the chain in all (1: no resampling; each pass costs about T network calls) "
                    "(default: %(default)s)")
    ap.add_argument("--chains", type=cli.positive_int, default=1,
                    help="average this many chains (posterior mean) (default: %(default)s)")
    ap.add_argument("--output", choices=("mean", "sample"), default="mean",
                    help="which estimate to write: the mean of the chains or one chain (default: mean)")
    ap.add_argument("--seed", type=cli.seed, default=0,
                    help="seed of the chains' noise (a named random mask is always drawn with seed 0) (default: 0)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=kernels.CHOICES, default="auto", help=kernels.FLAG_HELP)
    ap.add_argument("--fast", action="store_true", help=fast.FLAG_HELP)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from checkpoint import CheckpointError, load_ddpm

    try:
        device = resolve_device(args.device)
        model, schedule, _ = load_ddpm(args.checkpoint, device)
        check_model(model)
        if args.fast:  # the fast path swaps the model (fast.py); RePaint's step comes from --kernels below
            path = fast.fast_path(model, schedule, device, fused=args.kernels != "torch")
            model = path.model
            print(path.summary)
        images, kind = read_input(args.input, model.config.image_channels)
        shape = as_4d(as_tensor(images, "images"), model.config.image_channels).shape  # checked with the mask below
        mask = read_mask(args.mask, (shape[0], 1, *shape[2:]))  # a named mask: one for all channels
        check_inputs(images, mask, model.config.image_channels)  # NaN allowed where the mask says missing
        g = torch.Generator(device=device).manual_seed(args.seed)
        step = kernels.choose(args.kernels, device, schedule)[0]  # RePaint's step: ddpm.py's, or the fused kernel
        calls = network_calls(schedule.T, args.jumps, args.resample) * args.chains
        with tqdm(total=calls, desc=f"{args.method}", unit="call", disable=args.no_progress, mininterval=1.0) as bar:
            result = impute(images, mask, model, schedule, method=args.method, jumps=args.jumps,
                            resample=args.resample, chains=args.chains, generator=g, progress=bar,
                            step=step)
        write_output(args.out, getattr(result, args.output), kind)
        if args.save_masked:
            y, m = check_inputs(images, mask, model.config.image_channels)
            write_output(masked_path(args.out), show_missing(y, m), kind)
            print(f"wrote the damaged input to {masked_path(args.out)} (missing pixels: the grey checkerboard)")
    except (DenoiseError, CheckpointError, kernels.Unavailable) as e:
        sys.exit(f"error: {e}")
    missing = 1 - float(np.asarray(mask, dtype=np.float32).mean())
    print(f"{args.method}: {100 * missing:.0f}% of the pixels missing, {result.calls} network calls per chain, "
          f"{args.chains} chain(s); wrote {args.out} ({args.output})")
    return result


if __name__ == "__main__":
    main()
