"""restore.py - noise nobody told you about: find which noise an image holds, and undo it with the same DDPM.

denoise.py removes white Gaussian noise y = x + sigma n. What people bring is often something else, and the
Gaussian path then fails quietly (a Poisson digit's black background looks noise-free, so sigma_hat = 0 and the image
comes back as it went in). Each noise gets the restoration that fits it, with the pretrained unconditional DDPM:

  1. Poisson (photon counts k ~ Poisson(P x01)) and Poisson-Gaussian (k + read-out noise):
       anscombe               the generalised Anscombe transform, which makes the noise N(0, 1)
       inverse_anscombe       its exact unbiased inverse (Makitalo & Foi), tabulated numerically
       restore_poisson_vst    transform, denoise.denoise at the known sigma, invert
       restore_poisson_matched  the chain entered at the step that matches the image's average Poisson noise
       restore_poisson_prox   a chain guided by the exact Poisson likelihood, a closed-form proximal step per step
  2. Impulse noise (salt and pepper, random-valued): impulses are missing pixels in disguise
       detect_impulses        a pixel far from its 3x3 median (and at -1 or 1, for salt and pepper) is hit
       restore_impulse        impute.impute fills the hit pixels in
  3. A Gaussian image saved to an 8-bit file (clipped to [-1, 1], rounded):
       estimate_sigma_clipped sigma by a censored-Gaussian likelihood around the model's posterior mean
       uncensor               the clipped pixels get back the noise that clipping cut off, drawn from a truncated
                              Gaussian, so that denoise.denoise sees y = x + sigma n again
  4. Blind:
       detect                 the noise type and level from image statistics alone -> a Finding
       restore                detect when not told, then run the matching restoration -> a Restored

Images are (N, C, H, W) in [-1, 1] with intensities x01 = (x + 1) / 2; a Poisson image is counts / P mapped there,
y = 2 k / P - 1 (corruptions.poisson_noise). Levels: P in counts at white, sigma in [-1, 1] units (sigma * 127.5
in 8-bit units), q a share of the pixels. What the choices measure: docs/other_noise.md.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

import denoise
from denoise import DenoiseError


class RestoreError(DenoiseError):
    """Input or levels the restorer cannot take: a negative peak, a share outside [0, 1], an unknown noise type."""


NOISE_TYPES = ("clean", "gaussian", "poisson", "poisson-gaussian", "impulse")


def check_peak(peak):
    if not (math.isfinite(peak) and peak > 0):
        raise RestoreError(f"the peak count P must be a finite number > 0, got {peak}")


def check_sigma(sigma):
    if not (math.isfinite(sigma) and sigma >= 0):
        raise RestoreError(f"sigma must be a finite number >= 0, got {sigma}")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Poisson and Poisson-Gaussian noise
# ----------------------------------------------------------------------------------------------------------------------


def counts_of(y, peak):
    """The photon counts behind an image in [-1, 1]: z = P (y + 1) / 2 (inverse of y = 2 k / P - 1)."""
    return peak * (y + 1) / 2


def anscombe(z, sigma_c=0.0):
    """The generalised Anscombe transform (Murtagh, Starck & Bijaoui 1995) of counts z = k + sigma_c n,
    k ~ Poisson(lambda):
        f(z) = 2 sqrt(max(z + 3/8 + sigma_c^2, 0))
    f(z) is close to N(f_bar(lambda), 1) for lambda above a few counts: the noise no longer depends on the signal.
    sigma_c: the Gaussian part's std in counts (0 for pure Poisson)."""
    return 2 * (z + 3 / 8 + sigma_c**2).clamp(min=0).sqrt()


def anscombe_expectation(lam, sigma_c=0.0, nodes=40):
    """f_bar(lambda) = E[f(k + sigma_c n)], k ~ Poisson(lambda), n ~ N(0, 1), computed (not approximated):
        f_bar(lambda) = sum_k  e^-lambda lambda^k / k!  E_n[f(k + sigma_c n)]
    with the Gaussian expectation by `nodes`-point Gauss-Hermite quadrature (exact when sigma_c = 0).
    lam: (L,) float64 tensor of rates >= 0 -> (L,)."""
    lam = lam.double()
    k_max = int(lam.max().item() + 12 * math.sqrt(lam.max().item()) + 30)
    k = torch.arange(k_max + 1, dtype=torch.float64)  # (K,)
    # log pmf = k log lambda - lambda - log k!, with 0 log 0 = 0 (Poisson(0) is always 0)
    log_pmf = torch.xlogy(k[None], lam[:, None]) - lam[:, None] - torch.lgamma(k + 1)[None]  # (L, K)
    if sigma_c > 0:
        n, w = np.polynomial.hermite_e.hermegauss(nodes)  # E[g(n)] = sum w g(n) / sqrt(2 pi)
        n, w = torch.from_numpy(n), torch.from_numpy(w) / math.sqrt(2 * math.pi)
        f_k = (anscombe(k[:, None] + sigma_c * n[None], sigma_c) * w[None]).sum(1)  # (K,): E_n[f(k + sigma_c n)]
    else:
        f_k = anscombe(k)
    return (log_pmf.exp() * f_k[None]).sum(1)


def inverse_anscombe(D, sigma_c=0.0):
    """The exact unbiased inverse (Makitalo & Foi 2011, 2013): the rate lambda whose expected transform is D,
        lambda = f_bar^-1(D),
    rather than the algebraic inverse (D / 2)^2 - 3/8 - sigma_c^2, which is biased low at small counts (a denoiser
    returns an estimate of E[f], not f of the mean). f_bar is tabulated on a fine grid (anscombe_expectation) and
    inverted by linear interpolation; D below f_bar(0) gives 0, D beyond the table the asymptote
    (D / 2)^2 - 1/8 - sigma_c^2. D: any tensor -> lambda, the same shape, float32."""
    d_max = max(float(D.max()), 2.0)
    lam_max = (d_max / 2) ** 2 + 10
    lam = torch.linspace(0, math.sqrt(lam_max), 4000, dtype=torch.float64) ** 2  # denser where f_bar bends
    f_bar = anscombe_expectation(lam, sigma_c)
    d = D.detach().double().cpu().flatten()
    i = torch.searchsorted(f_bar, d).clamp(1, len(lam) - 1)
    w = ((d - f_bar[i - 1]) / (f_bar[i] - f_bar[i - 1])).clamp(0, 1)
    out = lam[i - 1] + w * (lam[i] - lam[i - 1])
    out = torch.where(d <= f_bar[0], torch.zeros_like(d), out)
    out = torch.where(d >= f_bar[-1], (d / 2) ** 2 - 1 / 8 - sigma_c**2, out)
    return out.float().view(D.shape).to(D.device)


def inverse_anscombe_closed_form(D, sigma_c=0.0):
    """Makitalo & Foi's closed-form approximation of the exact unbiased inverse (2011 for sigma_c = 0; 2013 with
    the Gaussian part), set to 0 below f_bar(0) = 2 sqrt(3/8), where the expansion turns back up:
        lambda ~ D^2 / 4 + sqrt(3/2) / (4 D) - 11 / (8 D^2) + 5 sqrt(3/2) / (8 D^3) - 1/8 - sigma_c^2
    Beside `inverse_anscombe` as a check of it (tests/test_restore.py)."""
    D = D.clamp(min=1e-3)
    r = math.sqrt(1.5)
    lam = D**2 / 4 + r / (4 * D) - 11 / (8 * D**2) + 5 * r / (8 * D**3) - 1 / 8 - sigma_c**2
    return torch.where(D < 2 * math.sqrt(3 / 8), torch.zeros_like(D), lam.clamp(min=0))


def transformed_units(peak, sigma_c=0.0):
    """The linear map u = a f + b that sends f_bar(0) (black) to -1 and f_bar(P) (white) to 1, so that the
    transformed image lies in the model's range; its unit-variance noise becomes noise of std a:
        a = 2 / (f_bar(P) - f_bar(0)),    b = -1 - a f_bar(0)        Returns (a, b)."""
    lo, hi = anscombe_expectation(torch.tensor([0.0, float(peak)]), sigma_c).tolist()
    a = 2 / (hi - lo)
    return a, -1 - a * lo


def restore_poisson_vst(y, peak, model, schedule, *, sigma=0.0, generator=None, **chain):
    """Variance stabilisation: f = anscombe(counts), u = a f + b (transformed_units), then the Gaussian path
    denoise.denoise(u, sigma = a), back to f, the exact unbiased inverse, and counts / P to [-1, 1].
    y: (N, C, H, W); peak P; sigma: the Gaussian part in [-1, 1] units (sigma_c = sigma P / 2 in counts).
    chain: denoise.denoise's keyword arguments (chains, steps, ...). Returns (restored, denoise.Denoised)."""
    sigma_c = sigma * peak / 2
    a, b = transformed_units(peak, sigma_c)
    u = a * anscombe(counts_of(y, peak), sigma_c) + b
    out = denoise.denoise(u, model, schedule, sigma=a, generator=generator, **chain)
    lam = inverse_anscombe((out.mean - b) / a, sigma_c)
    return (2 * lam / peak - 1).clamp(-1, 1), out


def matched_sigma(y, peak, sigma=0.0):
    """The Gaussian noise level that matches the image's Poisson noise on average: Var[y] = 4 x01 / P + sigma^2 per
    pixel, and E[y01] = x01, so
        sigma_eff^2 = 4 mean(y01) / P + sigma^2          one per image, (N,)"""
    y01 = ((y + 1) / 2).flatten(1).mean(1).clamp(min=0)
    return (4 * y01 / peak + sigma**2).sqrt()


def restore_poisson_matched(y, peak, model, schedule, *, sigma=0.0, generator=None, **chain):
    """The chain entered at t* for sigma_eff (matched_sigma), on the image as it is: the bright pixels hold more
    noise than that, the black ones none. Returns (restored, denoise.Denoised)."""
    out = denoise.denoise(y, model, schedule, sigma=matched_sigma(y, peak, sigma), generator=generator, **chain)
    return out.mean, out


def poisson_prox(u_hat, k, peak, rho):
    """The closest intensity to the model's guess u_hat that the counts k also support: the minimiser over u >= 0 of
        (u - u_hat)^2 / (2 rho) - log p(k | u),    -log p(k | u) = P u - k log u + const   (Poisson, rate P u)
    Setting the derivative (u - u_hat) / rho + P - k / u to zero gives u^2 + (rho P - u_hat) u - rho k = 0, so
        u = ((u_hat - rho P) + sqrt((u_hat - rho P)^2 + 4 rho k)) / 2
    Intensities u in [0, 1] (x01 units); rho: the trust in the data, per image (N, 1, 1, 1) or a number."""
    c = u_hat - rho * peak
    return (c + (c**2 + 4 * rho * k).sqrt()) / 2


@torch.no_grad()
def restore_poisson_prox(y, peak, model, schedule, *, t_start=None, weight=1.0, generator=None):
    """A chain guided by the exact Poisson likelihood (the plug-and-play scheme of DiffPIR, Zhu et al. 2023, with
    a Poisson data term, so no gradient through the network is needed). At every step t:
        x0_hat  = (x_t - sqrt(1 - ab_t) eps(x_t, t)) / sqrt(ab_t)                 the model's guess, clipped
        x0'     = 2 poisson_prox((x0_hat + 1) / 2, k, P, rho_t) - 1,   rho_t = weight (1 - ab_t) / (4 ab_t)
        x_{t-1} = mu~_t(x0', x_t) + sqrt(beta~_t) z                                 (as DDNM's step)
    rho_t is the variance of x_t's noise in x01 units, the uncertainty of the model's guess: early steps follow the
    counts, late ones the model. The chain starts at t_start (default: the step matched to the brightest pixels'
    noise, 2 / sqrt(P)) from chain_input(y). Returns (restored, t_start)."""
    from ddpm import EpsFunction

    device = y.device
    k = counts_of(y, peak).round().clamp(min=0)
    if t_start is None:
        t_start = int(denoise.t_for_sigma(schedule, 2 / math.sqrt(peak)))
    N = y.shape[0]
    t = torch.full((N,), t_start, dtype=torch.long)
    sigma_start = denoise.sigma_of_t(schedule, t)
    x = denoise.chain_input(y, sigma_start, t, schedule, generator)
    x, crop = denoise.pad_to_4(x)
    k, _ = denoise.pad_to_4(k)
    eps_fn = EpsFunction(model)
    for step in range(t_start, 0, -1):
        x0_hat = schedule.predict_x0(x, step, eps_fn(x, step)).clamp(-1, 1)
        ab = schedule.alpha_bars[step].item()
        rho = weight * (1 - ab) / (4 * ab)
        x0_hat = 2 * poisson_prox((x0_hat + 1) / 2, k, peak, rho) - 1
        z = torch.randn(x.shape, device=device, generator=generator)
        x = schedule.q_posterior_mean(x0_hat, x, step) + math.sqrt(schedule.beta_tildes[step].item()) * z
    return x[crop].clamp(-1, 1), t_start


# ----------------------------------------------------------------------------------------------------------------------
# 2. Impulse noise: find the hit pixels, then treat them as missing
# ----------------------------------------------------------------------------------------------------------------------

IMPULSE_KINDS = ("salt-and-pepper", "random")
# |y - median| above which an extreme pixel is a salt-and-pepper hit, in [-1, 1] units. Low, because a miss leaves a
# grain in the image while a false alarm only has a correct pixel re-drawn from its neighbours; a grain on black is
# 2 away from its median
IMPULSE_THRESHOLD = 0.25
# random-valued impulses need a larger one: at 0.25 the edges of every stroke are taken for impulses and re-drawn
RANDOM_IMPULSE_THRESHOLD = 0.5


def median3(y):
    """The median of each pixel's 3x3 neighbourhood (itself included), edges mirrored: (N, C, H, W) -> same."""
    N, C, H, W = y.shape
    patches = F.unfold(F.pad(y.reshape(N * C, 1, H, W), (1, 1, 1, 1), mode="reflect"), 3)  # (N C, 9, H W)
    return patches.median(1).values.view(N, C, H, W)


def is_extreme(y, tol=1e-6):
    """Pixels exactly at black or white, -1 or 1 (a clipped or 8-bit file keeps them exact)."""
    return (y.abs() - 1).abs() < tol


def detect_impulses(y, kind="salt-and-pepper", threshold=IMPULSE_THRESHOLD):
    """The pixels an impulse noise hit, (N, C, H, W) bool:
        salt-and-pepper:  y at -1 or 1  and  |y - median3(y)| > threshold
        random:           |y - median3(y)| > threshold
    then once more on the image with the first round's hits replaced by their median, so that a cluster of hits
    (common at high densities) no longer drags the median along. A hit that left the pixel as it was (a black grain
    on black) is not found, and need not be."""
    if kind not in IMPULSE_KINDS:
        raise RestoreError(f"impulse kind must be one of {IMPULSE_KINDS}, got {kind!r}")
    candidate = is_extreme(y) if kind == "salt-and-pepper" else torch.ones_like(y, dtype=torch.bool)
    hit = candidate & ((y - median3(y)).abs() > threshold)
    cleaned = torch.where(hit, median3(y), y)
    return hit | (candidate & ((y - median3(cleaned)).abs() > threshold))


def restore_impulse(y, model, schedule, *, kind="salt-and-pepper", threshold=IMPULSE_THRESHOLD, method="repaint",
                    generator=None, **fill):
    """Impulse noise is missing pixels in disguise: detect_impulses finds them, impute.impute fills them in from the
    rest (mask = 1 where the pixel is kept). fill: impute's keyword arguments (jumps, resample, chains).
    Returns (restored, hit mask, impute.Imputed)."""
    from impute import impute

    hit = detect_impulses(y, kind, threshold)
    out = impute(y, (~hit).float(), model, schedule, method=method, generator=generator, **fill)
    return out.mean, hit, out


# ----------------------------------------------------------------------------------------------------------------------
# 3. Gaussian noise in a clipped, 8-bit file
# ----------------------------------------------------------------------------------------------------------------------
# A file stores clip(x + sigma n) rounded to 1/255 steps. On a black background half of the noise is cut off, so
# estimators that assume y = x + sigma n see too little of it, and the chain meets pixels piled up at -1. The noise
# at a clipped pixel is not lost, only censored: it is known to lie beyond the end.


def censored_log_likelihood(y, x_hat, sigmas):
    """The log-likelihood of each candidate sigma for clipped Gaussian noise around the clean image x_hat, summed
    over the pixels of each image:
        log p(y | x, sigma) = sum over inside pixels  log phi((y - x) / sigma) - log sigma
                            + sum over pixels at -1   log Phi((-1 - x) / sigma)            (x + sigma n <= -1)
                            + sum over pixels at +1   log Phi((x - 1) / sigma)             (x + sigma n >= 1)
    y, x_hat: (N, C, H, W); sigmas: (G,) -> (N, G)."""
    y, x = y.flatten(1)[:, None], x_hat.flatten(1)[:, None]  # (N, 1, P)
    s = sigmas.view(1, -1, 1)  # (1, G, 1)
    low, high = y <= -1 + 1e-6, y >= 1 - 1e-6
    inside = -0.5 * ((y - x) / s) ** 2 - s.log()
    log_low = torch.special.log_ndtr((-1 - x) / s)
    log_high = torch.special.log_ndtr((x - 1) / s)
    return torch.where(low, log_low, torch.where(high, log_high, inside)).sum(2)


def uncensor(y, x_hat, sigma, generator=None):
    """Give the clipped pixels back the noise that clipping cut off: at a pixel stored as -1 the unclipped value was
    x + sigma n with n <= a = (-1 - x) / sigma, so draw n from that truncated Gaussian (by inverting its CDF),
        n = Phi^-1(u Phi(a)),  u ~ U(0, 1),       y' = x_hat + sigma n
    and the mirror image at +1. Inside pixels stay as they are; then y' is y = x + sigma n again, for the Gaussian
    path. y, x_hat: (N, C, H, W); sigma: (N,)."""
    s = sigma.to(y).view(-1, 1, 1, 1)
    u = torch.rand(y.shape, generator=generator, device=y.device).clamp(1e-6, 1 - 1e-6)
    a = (-1 - x_hat) / s  # the largest n that clips at -1
    b = (1 - x_hat) / s  # the smallest n that clips at +1
    n_low = torch.special.ndtri((u * torch.special.ndtr(a)).clamp(min=1e-30))
    n_high = -torch.special.ndtri((u * torch.special.ndtr(-b)).clamp(min=1e-30))
    low, high = y <= -1 + 1e-6, y >= 1 - 1e-6
    return torch.where(low, x_hat + s * n_low, torch.where(high, x_hat + s * n_high, y))


@torch.no_grad()
def estimate_sigma_clipped(y, model, schedule, iterations=3, generator=None):
    """sigma of clipped Gaussian noise, one per image (N,): start from denoise's model estimate (which sees only
    the noise that survived clipping), then `iterations` times
        x_hat = tweedie(y', sigma),    sigma = argmax_s censored_log_likelihood(y, x_hat, s),    y' = uncensor(...)
    The posterior mean is taken of the uncensored y', where the noise is Gaussian again. Returns (sigma, x_hat)."""
    sigmas = torch.logspace(math.log10(0.003), math.log10(2.0), 240, device=y.device)
    sigma = denoise.estimate_sigma(y, "model", model, schedule)
    y_u = y
    for _ in range(iterations):
        x_hat = denoise.tweedie(y_u, sigma, model, schedule).clamp(-1, 1)
        sigma = sigmas[censored_log_likelihood(y, x_hat, sigmas).argmax(1)]
        y_u = uncensor(y, x_hat, sigma, generator)
    return sigma, x_hat


def restore_clipped(y, model, schedule, *, sigma=None, generator=None, **chain):
    """Gaussian noise in a clipped file: sigma by estimate_sigma_clipped unless given, the clipped pixels
    uncensored around the model's posterior mean, then denoise.denoise at sigma. chain: denoise's keyword
    arguments. Returns (restored, denoise.Denoised)."""
    if sigma is None:
        sigma, x_hat = estimate_sigma_clipped(y, model, schedule, generator=generator)
    else:
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=y.device).reshape(-1).expand(y.shape[0])
        x_hat = denoise.tweedie(y, sigma, model, schedule).clamp(-1, 1)
        x_hat = denoise.tweedie(uncensor(y, x_hat, sigma, generator), sigma, model, schedule).clamp(-1, 1)
    out = denoise.denoise(uncensor(y, x_hat, sigma, generator), model, schedule, sigma=sigma, generator=generator,
                          **chain)
    return out.mean, out


# ----------------------------------------------------------------------------------------------------------------------
# 4. Blind: which noise is it?
# ----------------------------------------------------------------------------------------------------------------------


def robust_std(r, where):
    """median |r| / 0.6745 over the pixels where `where` holds, per image (N,); 0 where no pixel is selected."""
    out = []
    for ri, wi in zip(r.flatten(1), where.flatten(1)):
        out.append(ri[wi].abs().median() / 0.6745 if bool(wi.any()) else torch.zeros(()))
    return torch.stack(out)


def image_features(y):
    """The statistics the type detector reads, per image (N,) each, from the residual r = y - median3(y):
        ends      share of pixels exactly at -1 or 1 (a clipped file, a black background, or salt and pepper)
        beyond    share of pixels outside [-1, 1] (noise that was not clipped)
        impulses  share of pixels at -1 or 1 and more than 0.5 from their median (salt and pepper)
        outliers  share of pixels more than 0.5 from their median (any impulse, or heavy noise)
        dark      robust std of r where the median is black (<= -0.9): Gaussian noise has it, Poisson not
        bright    robust std of r where the median is bright (>= 0): noise that grows with intensity has more
        flat      share of pixels exactly equal to their median (untouched pixels of an impulse-noise image)
        smooth    the same share among the bright pixels (median >= 0) alone: a clean stroke is mostly flat, a stroke
                  counted in photons is not
        salt      share of white pixels (at 1) whose median is black (-1): salt on the background, which Poisson
                  noise cannot put there (a black pixel counts no photons)
        peak, lattice  the count lattice's peak P and the share of positive pixels on it (`lattice`)"""
    peak, share = lattice(y)
    m = median3(y)
    r = y - m
    ext = is_extreme(y)
    bright = m >= 0
    return {
        "ends": ext.flatten(1).float().mean(1),
        "beyond": (y.abs() > 1 + 1e-6).flatten(1).float().mean(1),
        "impulses": (ext & (r.abs() > 0.5)).flatten(1).float().mean(1),
        "outliers": (r.abs() > 0.5).flatten(1).float().mean(1),
        "dark": robust_std(r, m <= -0.9),
        "bright": robust_std(r, m >= 0),
        "flat": (r == 0).flatten(1).float().mean(1),
        "smooth": ((r == 0) & bright).flatten(1).float().sum(1) / bright.flatten(1).float().sum(1).clamp(min=1),
        "salt": ((y > 1 - 1e-6) & (m < -1 + 1e-6)).flatten(1).float().mean(1),
        "peak": peak,
        "lattice": share,
    }


# A Poisson image is read as Poisson by its lattice only up to this peak: beyond it the one-count step 1 / P is within
# a few 8-bit levels, and a clean 8-bit digit's smallest grey can pass for it
LATTICE_MAX_PEAK = 64.0


def lattice(y):
    """Pure Poisson images hold only multiples of 1 / P in x01 units (k counts -> k / P), clipped or not, and the
    smallest positive value is one count (a digit at P <= 64 almost surely has a pixel of one count). So try
    P = 1 / v for the smallest positive value v, give or take the half level an 8-bit file may have rounded it by,
    and keep the P that puts most positive pixels on the lattice,
        share(P) = mean over y01 > 0 of [ |y01 - round(P y01) / P| <= 0.6 / 255 ]
    Returns (P_hat, share), each (N,): share near 1 for a Poisson image, near 1 / j for a clean 8-bit one whose
    smallest grey is j / 255, and 0 where 1 / v > LATTICE_MAX_PEAK (a Gaussian image, whose values are anything)."""
    peaks, shares = [], []
    for y01 in ((y + 1) / 2).flatten(1):
        pos = y01[y01 > 1e-6]
        if len(pos) == 0 or 1 / pos.min().item() > LATTICE_MAX_PEAK:
            peaks.append(float("inf"))
            shares.append(0.0)
            continue
        v = pos.min().item()
        p = 1 / (v + torch.linspace(-0.5, 0.5, 41) / 255).clamp(min=1e-6)  # (41,) candidate peaks
        off = (pos[None] - (pos[None] * p[:, None]).round() / p[:, None]).abs()  # (41, P): distance to the lattice
        share = (off <= 0.6 / 255 + 1e-5).float().mean(1)
        best = int(share.argmax())
        peaks.append(p[best].item())
        shares.append(share[best].item())
    return torch.tensor(peaks), torch.tensor(shares)


# Thresholds of the type detector, each between the values its feature takes on clean digits and on noisy ones
# (read off MNIST test digits 100-131, and SMOOTH_BRIGHT and SALT_ON_BLACK off test digits 1000-1999: none of them
# the digits the confusion matrix of docs/other_noise.md is measured on)
LATTICE_SHARE = 0.9  # Poisson: at least this share of the positive pixels on a 1 / P lattice
SMOOTH_BRIGHT = 0.62  # ... and fewer than this share of its bright pixels at their median (a clean 8-bit digit whose
#                       only greys are 64, 128, 191 and 255 is on the lattice of P = 4, but its strokes are smooth)
SALT_ON_BLACK = 0.015  # ... and fewer than this share of white pixels on a black background (salt, not photons)
NOISY_FLAT = 0.47  # noise everywhere: fewer pixels than this exactly at their median
SALT_SHARE = 0.02  # salt and pepper: at least this share of isolated extremes
OUTLIER_SHARE = 0.065  # random-valued impulses: at least this share of pixels 0.5 from their median
GROWTH = 5.0  # Poisson-Gaussian: the noise on bright pixels at least this many times that on black


@dataclass
class Finding:
    """What `detect` found in one image. type: one of NOISE_TYPES; peak: P in counts (Poisson types); sigma: the
    Gaussian std in [-1, 1] units (gaussian, poisson-gaussian); q: the share of pixels hit and kind (impulse);
    clipped: whether the values were cut off at -1 / 1 (the file was clipped)."""

    type: str
    peak: float = None
    sigma: float = None
    q: float = None
    kind: str = None
    clipped: bool = False

    def describe(self):
        """One line for a person, every level in both units: "Poisson, peak about 5 counts"; "impulse (salt and
        pepper), 12% of pixels"; "Gaussian, sigma 0.21 in [-1, 1] units (27/255), clipped"."""
        def sig(s):
            return f"sigma {s:.3g} in [-1, 1] units ({s * 127.5:.3g}/255)"
        text = {"clean": "clean, no noise found",
                "gaussian": lambda: f"Gaussian, {sig(self.sigma)}",
                "poisson": lambda: f"Poisson, peak about {self.peak:.3g} counts",
                "poisson-gaussian": lambda: f"Poisson-Gaussian, peak about {self.peak:.3g} counts, {sig(self.sigma)}",
                "impulse": lambda: f"impulse ({(self.kind or 'salt-and-pepper').replace('-', ' ')}), "
                                   f"{100 * self.q:.0f}% of pixels"}[self.type]
        text = text if isinstance(text, str) else text()
        return text + (", clipped" if self.clipped else "")


def fit_noise_curve(y, x_hat):
    """Noise whose variance grows with the intensity, Var[y] = sigma^2 + 4 x01 / P (Poisson-Gaussian), fitted by least
    squares of the squared residual r^2 = (y - x_hat)^2 on x01 = (x_hat + 1) / 2, per image. Returns (sigma, P),
    (N,) each; P = inf where the variance does not grow."""
    r2 = (y - x_hat).flatten(1) ** 2
    u = ((x_hat + 1) / 2).clamp(0, 1).flatten(1)
    A = torch.stack([torch.ones_like(u), u], 2)  # (N, pixels, 2)
    coef = torch.linalg.lstsq(A, r2[..., None]).solution[..., 0]  # (N, 2): sigma^2, 4 / P
    return coef[:, 0].clamp(min=0).sqrt(), 4 / coef[:, 1].clamp(min=1e-6)


@torch.no_grad()
def detect(y, model=None, schedule=None):
    """The noise type and level of each image from its statistics alone (image_features, lattice), a list of N
    Findings. In order:
        on a 1 / P lattice (LATTICE_SHARE), with rough bright pixels (SMOOTH_BRIGHT) and no salt on the black
        background (SALT_ON_BLACK)                        -> Poisson, P from the lattice; clipped if no value
                                                             exceeds 1
        noise everywhere (fewer than NOISY_FLAT of the pixels at their median)
                 -> Gaussian; clipped if pixels sit exactly at -1 or 1; Poisson-Gaussian if the noise on bright
                    pixels is GROWTH times that on black (unclipped only: clipping hides the noise on black)
        isolated extremes (SALT_SHARE) or pixels far from their median (OUTLIER_SHARE)
                 -> impulse: salt and pepper if most of those are at -1 or 1, else random-valued
        otherwise                                         -> clean
    (A Poisson image off the lattice, such as one whose smallest count is 2, is called clean: a test on the noise of
    the bright pixels alone finds it, but calls thin-stroked clean digits Poisson too.)
    With the model, levels are the model-based estimates (denoise's "model" estimator, estimate_sigma_clipped,
    fit_noise_curve around its posterior mean); without it, the median-residual ones. y: (N, C, H, W)."""
    y = denoise.check_images(y, y.shape[1] if torch.is_tensor(y) and y.dim() == 4 else 1)
    f = image_features(y)
    peaks, share = f["peak"], f["lattice"]
    out = []
    for i in range(y.shape[0]):
        yi = y[i: i + 1]
        if share[i] >= LATTICE_SHARE and f["smooth"][i] < SMOOTH_BRIGHT and f["salt"][i] < SALT_ON_BLACK:
            out.append(Finding("poisson", peak=peaks[i].item(), clipped=bool(f["beyond"][i] == 0)))
        elif f["flat"][i] < NOISY_FLAT:
            clipped = bool(f["ends"][i] > 0.01)
            growing = not clipped and f["bright"][i] > GROWTH * f["dark"][i]
            out.append(gaussian_finding(yi, clipped, growing, model, schedule))
        elif f["impulses"][i] >= SALT_SHARE or f["outliers"][i] >= OUTLIER_SHARE:
            out.append(impulse_finding(yi, f["impulses"][i] >= 0.5 * f["outliers"][i]))
        else:
            out.append(Finding("clean"))
    return out


def impulse_finding(y, salt):
    """An impulse Finding: salt and pepper when most pixels far from their median are at -1 or 1, else random."""
    if salt:
        return Finding("impulse", q=hit_share(y, detect_impulses(y, "salt-and-pepper")), kind="salt-and-pepper")
    hit = detect_impulses(y, "random", RANDOM_IMPULSE_THRESHOLD)
    return Finding("impulse", q=hit.float().mean().item(), kind="random")


def hit_share(y, hit):
    """The share q of pixels that salt and pepper hit, from the ones it visibly changed: a hit on a pixel already at
    -1 or 1 changes it with probability 1/2, so visibly changed ~ q (1 - e / 2), e the share at -1 or 1 among the
    pixels not found."""
    e = (is_extreme(y) & ~hit).float().sum() / (~hit).float().sum().clamp(min=1)
    return min(1.0, hit.float().mean().item() / (1 - e.item() / 2))


def gaussian_finding(y, clipped, growing, model, schedule):
    """The Finding of one image with noise everywhere (see detect), with its levels."""
    if model is None:
        sigma = denoise.estimate_sigma_mad(y)
    elif clipped:
        sigma, _ = estimate_sigma_clipped(y, model, schedule, generator=torch.Generator().manual_seed(0))
    else:
        sigma = denoise.estimate_sigma(y, "model", model, schedule)
    if not growing:
        return Finding("gaussian", sigma=sigma.item(), clipped=clipped)
    s, peak = fit_noise_curve(y, median3(y))
    if model is not None:  # the posterior mean at the whole noise, not the Gaussian part alone, twice
        for _ in range(2):
            x_hat = denoise.tweedie(y, matched_sigma(y, peak.clamp(min=0.5).item(), s.item()), model, schedule)
            s, peak = fit_noise_curve(y, x_hat)
    return Finding("poisson-gaussian", peak=peak.item(), sigma=s.item())


@dataclass
class Restored:
    """What `restore` returns. output: (N, C, H, W) in [-1, 1]; findings: one Finding per image (detected, or what
    was given); ran: per image, the restoration that ran, in words."""

    output: torch.Tensor
    findings: list
    ran: list = field(default_factory=list)


def given_finding(noise_type, level):
    """The Finding that a caller's noise_type and level stand for. level: sigma (gaussian), P (poisson), (P, sigma)
    (poisson-gaussian), q (impulse, optional: the detector finds the pixels); None: estimate it."""
    if noise_type not in NOISE_TYPES:
        raise RestoreError(f"noise type must be one of {NOISE_TYPES}, got {noise_type!r}")
    if noise_type == "gaussian":
        if level is not None:
            check_sigma(level)
        return Finding("gaussian", sigma=level)
    if noise_type == "poisson":
        if level is not None:
            check_peak(level)
        return Finding("poisson", peak=level)
    if noise_type == "poisson-gaussian":
        if not isinstance(level, (tuple, list)) or len(level) != 2:
            raise RestoreError("poisson-gaussian needs level = (P, sigma)")
        check_peak(level[0])
        check_sigma(level[1])
        return Finding("poisson-gaussian", peak=level[0], sigma=level[1])
    if noise_type == "impulse":
        if level is not None and not (math.isfinite(level) and 0 <= level <= 1):
            raise RestoreError(f"the share of hit pixels q must lie in [0, 1], got {level}")
        return Finding("impulse", q=level, kind="salt-and-pepper")
    return Finding("clean")


@torch.no_grad()
def restore(images, model, schedule, *, noise_type=None, level=None, generator=None, chains=1, steps=None,
            fill=None):
    """Restore noisy images of a noise that may be unknown. Returns a `Restored`.

    images:     see denoise.check_images
    noise_type: None (detect it, per image), or one of NOISE_TYPES for all images
    level:      with noise_type: its level (given_finding); None estimates it
    chains, steps: denoise.denoise's (Gaussian and Poisson paths); fill: impute.impute's keyword arguments
    White Gaussian noise goes through denoise.denoise exactly as denoise.py runs it (its own sigma estimate unless
    a level is given); Poisson through restore_poisson_matched (the winner of docs/other_noise.md's comparison);
    clipped Gaussian through restore_clipped; impulse through restore_impulse; clean images come back as they are.
    """
    device = next(model.parameters()).device
    y = denoise.check_images(images, model.config.image_channels).to(device)
    if noise_type is None:
        findings = detect(y, model, schedule)
    else:
        given = given_finding(noise_type, level)
        if given.type in ("gaussian", "poisson") and level is None:  # the level from the image
            found = detect(y, model, schedule)
            findings = [restate(given, f, y[i: i + 1], model, schedule) for i, f in enumerate(found)]
        else:
            findings = [given] * y.shape[0]
    out, ran = y.clone(), [None] * y.shape[0]
    chain = {"chains": chains, "steps": steps}
    for key in sorted({group_key(f) for f in findings}, key=str):
        rows = [i for i, f in enumerate(findings) if group_key(f) == key]
        f = findings[rows[0]]
        out[rows], how = run_one(y[rows], f, [findings[i] for i in rows], model, schedule, generator, chain, fill,
                                 given_level=level is not None)
        for i in rows:
            ran[i] = how
    return Restored(output=out, findings=findings, ran=ran)


def restate(given, found, y, model, schedule):
    """A forced type whose level is to be estimated: the detector's level where it found that type, otherwise
    an estimate made for the forced type."""
    if found.type == given.type:
        return found
    if given.type == "poisson":
        peak, share = lattice(y)
        if share.item() >= LATTICE_SHARE:
            return Finding("poisson", peak=peak.item(), clipped=bool((y > 1 + 1e-6).sum() == 0))
        raise RestoreError("the image is not on a Poisson count lattice, so its peak P cannot be read from it: "
                           "give the level (P)")
    return Finding("gaussian", sigma=None, clipped=bool(is_extreme(y).float().mean() > 0.01 and (y.abs() <= 1).all()))


def group_key(f):
    """Images restored together share type, kind and clipping, and (Poisson) the peak."""
    return (f.type, f.kind, f.clipped, f.peak if f.type.startswith("poisson") else None)


def run_one(y, f, fs, model, schedule, generator, chain, fill, given_level):
    """One group of images of the same noise (group_key) through its restoration. Returns (restored, how)."""
    if f.type == "clean":
        return y, "nothing (clean)"
    if f.type == "gaussian" and not f.clipped:
        sigma = None if f.sigma is None or not given_level else f.sigma
        out = denoise.denoise(y, model, schedule, sigma=sigma, generator=generator, **chain)
        return out.mean, "denoise.denoise" + (" at the given sigma" if sigma is not None else "")
    if f.type == "gaussian":
        sigma = None if f.sigma is None else torch.tensor([g.sigma for g in fs])
        out, _ = restore_clipped(y, model, schedule, sigma=sigma, generator=generator, **chain)
        return out, "restore_clipped (clipped pixels uncensored, then denoise.denoise)"
    if f.type in ("poisson", "poisson-gaussian"):
        sigma = f.sigma if f.type == "poisson-gaussian" else 0.0
        out, _ = restore_poisson_matched(y, f.peak, model, schedule, sigma=sigma, generator=generator, **chain)
        return out, f"restore_poisson_matched at P = {f.peak:.3g}"
    kinds = {g.kind or "salt-and-pepper" for g in fs}
    kind = kinds.pop()
    threshold = IMPULSE_THRESHOLD if kind == "salt-and-pepper" else RANDOM_IMPULSE_THRESHOLD
    out, _, _ = restore_impulse(y, model, schedule, kind=kind, threshold=threshold, generator=generator,
                                chains=chain["chains"], **(fill or {}))
    return out, f"restore_impulse ({kind} detector, then impute)"
