"""corruptions.py - the three ways the paper damages an image, in one place.

  schedule_noise   section 3.1, Figs. 1-5: "X% noise" is the schedule's own forward process, x_t ~ q(x_t | x0) at
                   t = round(X T), so the noisy image is exactly a point the reverse chain knows
  remove_pixels    section 4.2, Fig. 6: a random share of the pixels removed (set to 0), for imputation
  gaussian_noise   section 4.3, Fig. 7: plain additive noise y = x0 + sigma n, the noise of real images

and, beyond the paper, the masks of zero-shot imputation (impute.py) that the Fig. 6 model never saw in training:
  mask_of          "random:F" (remove_pixels' mask), "block" (a centre square), "left-half", "rows" (every other row)

and a blur, the simplest denoiser and a corruption the classifier is trained to see through:
  gaussian_blur    a Gaussian blur of each channel

Images are (B, C, H, W) in [-1, 1]; every function draws its randomness from `generator`.
"""

import torch
import torch.nn.functional as F


def schedule_noise(x0, schedule, fraction, generator=None):
    """The paper's "X% noise": Schedule.q_sample at t = Schedule.t_of_fraction(X), that is
    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (eq. 7). "X%" names the step, not the variance: at
    T = 200, 30% noise is t = 60, where alpha_bar_60 = 0.40, so 60% of the variance of x_t is noise and the image is
    shrunk by sqrt(0.40) = 0.63, exactly as the chain expects at that step. Returns (x_t, t)."""
    t = schedule.t_of_fraction(fraction)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    return schedule.q_sample(x0, t, eps), t


def remove_pixels(x0, fraction, generator=None):
    """Remove a random `fraction` of the pixels of each image. Removed pixels are set to 0, the middle of [-1, 1],
    which is neither background (-1) nor stroke (+1). Returns (corrupted, mask) with mask 1 where the pixel was kept,
    0 where it was removed; both (B, C, H, W). fraction: a number, or a (B, 1, 1, 1) tensor."""
    if not bool((torch.as_tensor(fraction) >= 0).all() and (torch.as_tensor(fraction) <= 1).all()):
        raise ValueError(f"the fraction of pixels to remove must lie in [0, 1], got {fraction}")
    u = torch.rand(x0.shape, generator=generator, device=x0.device)
    mask = (u >= fraction).to(x0.dtype)
    return x0 * mask, mask


def gaussian_noise(x0, sigma, generator=None):
    """Plain additive noise y = x0 + sigma * n, n ~ N(0, I) (not clipped: clipping would make the noise
    non-Gaussian at the background). sigma: a number, or a (B, 1, 1, 1) tensor."""
    if not bool((torch.as_tensor(sigma) >= 0).all()):
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return x0 + sigma * torch.randn(x0.shape, generator=generator, device=x0.device)


MASK_KINDS = ("random:F", "block", "left-half", "rows")


def mask_of(kind, shape, generator=None, device=None):
    """A mask for images of `shape` (B, C, H, W): 1 = known pixel, 0 = missing, the same for every channel.
        random:F   each pixel missing with probability F (remove_pixels' mask; F in [0, 1])
        block      a missing centre square with sides of half the image's (14 x 14 of 28 x 28: a quarter missing)
        left-half  the left half of every row missing
        rows       every other row missing (rows 1, 3, 5, ...: a line-interleaved image)
    Only "random:F" draws from `generator`."""
    B, C, H, W = shape
    if kind.startswith("random:"):
        try:
            fraction = float(kind.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"mask 'random:F' needs a number F in [0, 1], got {kind!r}") from None
        _, mask = remove_pixels(torch.ones((B, 1, H, W), device=device), fraction, generator)
        return mask.expand(B, C, H, W).contiguous()
    mask = torch.ones((B, C, H, W), device=device)
    if kind == "block":
        h, w = H // 2, W // 2
        mask[..., (H - h) // 2: (H - h) // 2 + h, (W - w) // 2: (W - w) // 2 + w] = 0
    elif kind == "left-half":
        mask[..., : W // 2] = 0
    elif kind == "rows":
        mask[..., 1::2, :] = 0
    else:
        raise ValueError(f"unknown mask {kind!r}; choose from {MASK_KINDS}")
    return mask


def gaussian_blur(x, sigma=1.0):
    """A Gaussian blur of (N, C, H, W) images, each channel on its own (reflect padding): the simplest denoiser, a
    baseline."""
    radius = max(1, int(3 * sigma + 0.5))
    coords = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    g = torch.exp(-coords**2 / (2 * sigma**2))
    C = x.shape[1]
    g = (g / g.sum()).expand(C, 1, 1, len(coords))  # (C, 1, 1, k): a row filter per channel
    x = F.conv2d(F.pad(x.float(), [radius, radius, 0, 0], mode="reflect"), g, groups=C)
    return F.conv2d(F.pad(x, [0, 0, radius, radius], mode="reflect"), g.transpose(2, 3), groups=C)


# ----------------------------------------------------------------------------------------------------------------------
# Noise beyond the paper: photon counts, impulses, and what saving to an 8-bit file does (restore.py undoes them)
# ----------------------------------------------------------------------------------------------------------------------
# An image x in [-1, 1] has intensities x01 = (x + 1) / 2 in [0, 1]; a "peak" P is the mean photon count at white.


def check_level(value, name, low=0.0, high=None, strict=False):
    """ValueError unless every value is finite and in [low, high] (low excluded if strict)."""
    v = torch.as_tensor(value, dtype=torch.float32)
    ok = bool(torch.isfinite(v).all()) and bool((v > low).all() if strict else (v >= low).all())
    if high is not None:
        ok = ok and bool((v <= high).all())
    if not ok:
        where = f"({low}, " if strict else f"[{low}, "
        raise ValueError(f"{name} must be finite and in {where}{'inf)' if high is None else f'{high}]'}, got {value}")


def poisson_noise(x0, peak, generator=None):
    """Photon-limited noise: each pixel counts photons, k ~ Poisson(P x01), and the image is the counts rescaled,
        y = 2 k / P - 1,        E[y] = x0,   Var[y] = 4 x01 / P        (a noise that grows with the intensity)
    so black stays exactly -1 and white has noise std 2 / sqrt(P) (1.0 at P = 4). Not clipped: k can exceed P.
    peak: P > 0, a number or a (B, 1, 1, 1) tensor."""
    check_level(peak, "the peak count P", strict=True)
    rate = torch.as_tensor(peak, dtype=torch.float32, device=x0.device) * ((x0 + 1) / 2).clamp(0, 1)
    counts = torch.poisson(rate, generator=generator)  # k ~ Poisson(P x01)
    return 2 * counts / peak - 1


def poisson_gaussian_noise(x0, peak, sigma, generator=None):
    """Photon counts plus read-out noise, in image units:
        y = 2 k / P - 1 + sigma n,      k ~ Poisson(P x01),  n ~ N(0, I),    Var[y] = 4 x01 / P + sigma^2
    (in counts, z = (y + 1) P / 2 = k + (sigma P / 2) n). sigma in [-1, 1] units, as gaussian_noise's."""
    check_level(sigma, "sigma")
    return gaussian_noise(poisson_noise(x0, peak, generator), sigma, generator)


def impulse_hits(x0, q, generator):
    """Which pixels an impulse noise hits: each independently with probability q. (B, C, H, W) bool."""
    check_level(q, "the share of hit pixels q", high=1.0)
    return torch.rand(x0.shape, generator=generator, device=x0.device) < q


def salt_and_pepper(x0, q, generator=None):
    """A share q of the pixels set to black or white, with equal odds (a dead or a stuck sensor pixel):
        y = x0 where not hit,    y = -1 or +1 (probability 1/2 each) where hit,    P(hit) = q
    Returns (y, hit) with hit = True at the pixels that were replaced (including those that already held that value:
    a black pixel on a black background is hit but unchanged)."""
    hit = impulse_hits(x0, q, generator)
    salt = torch.rand(x0.shape, generator=generator, device=x0.device) < 0.5
    return torch.where(hit, torch.where(salt, 1.0, -1.0).to(x0.dtype), x0), hit


def random_impulse(x0, q, generator=None):
    """Random-valued impulse noise: a share q of the pixels replaced by values drawn uniformly from [-1, 1],
        y = x0 where not hit,    y = u ~ U[-1, 1] where hit,    P(hit) = q
    Harder to find than salt and pepper: a replaced value need not be extreme. Returns (y, hit)."""
    hit = impulse_hits(x0, q, generator)
    u = torch.rand(x0.shape, generator=generator, device=x0.device) * 2 - 1
    return torch.where(hit, u.to(x0.dtype), x0), hit


def clip_and_quantise(y, bits=8):
    """What saving to an integer image file does to any of the noisy images above: clip to the range, then round to
    one of L = 2^bits - 1 steps,
        y' = 2 round(L clip(y01, 0, 1)) / L - 1,        y01 = (y + 1) / 2
    The clipping cuts off the half of the noise that falls below black (or above white): the noise stops being
    zero-mean there, and its spread shrinks. bits: 1..16."""
    if not (isinstance(bits, int) and 1 <= bits <= 16):
        raise ValueError(f"bits must be an integer in 1..16, got {bits!r}")
    levels = 2**bits - 1
    return 2 * torch.round(((y + 1) / 2).clamp(0, 1) * levels) / levels - 1
