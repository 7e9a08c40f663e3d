"""ddpm.py - the denoising diffusion probabilistic model of the paper, from scratch.

Read this file top to bottom to learn the paper ("Optimizing Diffusion Models for Image Denoising", Iyer, Shu, Sinha;
in ../shared/paper). Everything the experiments use is here:

  1. Schedule          the noise schedule beta_1..beta_T and the quantities derived from it (paper, section 2.1)
     .q_sample         the forward process in closed form (eq. 7):
                       x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
     .p_step           one reverse step, Algorithm 2 line 4
  2. training_loss     Algorithm 1: predict the noise, mean squared error
  3. EpsFunction       eps_theta(x_t, t) as the samplers see it, with the paper's two kinds of conditioning:
                       classifier-free guidance on a class (section 2.2, eq. 11) and a corrupted image as an extra input
                       channel (section 3.2), kept with probability p = 1 - exp(-d / tau) (section 3.3, eq. 14)
  4. samplers          the full chain from N(0, I); the chain started from a given image at any step (section 3.1);
                       one step repeated k times (Fig. 3); cycles (feed the output back in); DDIM for speed

Notation. The paper, like Ho et al., overloads alpha: its eq. (6) writes alpha_t for the *cumulative* product. We keep
the two apart, as Ho et al.'s own code does:
    alpha_t     = 1 - beta_t                       (one step)
    alpha_bar_t = prod_{s=1}^t alpha_s             (all steps up to t; the paper's alpha_t in eqs. 6 and 7)
Timesteps are t in {1..T}; every per-step tensor has length T+1 and index 0 means "the clean image":
alpha_bar[0] = 1, beta[0] = 0.

Left out, on purpose: a learned variance (Nichol & Dhariwal) and the variational lower bound loss (the paper, like
Ho et al., trains on the simple eps loss), and self-conditioning. EMA of the weights lives in train.py.
"""

import math

import torch

from kernels.masked_concat import masked_concat
from kernels.reverse_step import reverse_step

# ----------------------------------------------------------------------------------------------------------------------
# 1. The noise schedule
# ----------------------------------------------------------------------------------------------------------------------


def extract(a, t, x):
    """Pick a[t] for each sample and shape it to broadcast over an image batch x: (T+1,) -> (B, 1, 1, 1).
    t may be a Python int (same step for the whole batch) or a LongTensor of shape (B,)."""
    if isinstance(t, int):
        t = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    return a.to(x.device)[t].float().view(-1, *([1] * (x.dim() - 1)))


class Schedule:
    """The variance schedule beta_1..beta_T and everything derived from it.

    kind="linear" (default): Ho et al.'s betas run linearly from 1e-4 to 0.02 over T = 1000 steps. The paper uses
    T = 200; with those same betas over only 200 steps alpha_bar_T is about 0.13, so x_T would still hold a third of
    the image and be far from the N(0, I) the sampler starts from. As improved-diffusion does, we rescale both ends by
    1000 / T (5e-4 to 0.1 at T = 200): then alpha_bar_T = 3.0e-5 at T = 200 (printed by `python ddpm.py`).
    kind="cosine": Nichol & Dhariwal's alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) / (same at t = 0),
    s = 0.008, betas clipped at 0.999; it destroys the image more slowly at the start of the chain.

    sigma="beta" (default, Algorithm 2 as printed and the paper's code): sigma_t^2 = beta_t.
    sigma="posterior": sigma_t^2 = beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t, the variance of the
    true posterior q(x_{t-1} | x_t, x0). Ho et al. found both give similar samples.
    """

    def __init__(self, T=200, kind="linear", sigma="beta"):
        if not isinstance(T, int) or T < 2:
            raise ValueError(f"T must be an integer >= 2, got {T!r}")
        if sigma not in ("beta", "posterior"):
            raise ValueError(f"sigma must be 'beta' or 'posterior', got {sigma!r}")
        self.T, self.kind, self.sigma_kind = T, kind, sigma
        # computed in float64 so that alpha_bar, a product of 200 factors, does not drift; stored as float32
        if kind == "linear":
            scale = 1000.0 / T
            # clipped as the cosine betas are: for T < 50 the rescaled end would reach beta = 1 (alpha_T = 0)
            beta = torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64).clamp(max=0.999)
        elif kind == "cosine":
            s = 0.008
            steps = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            beta = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        else:
            raise ValueError(f"schedule kind must be 'linear' or 'cosine', got {kind!r}")

        # prepend t = 0 (the clean image): beta_0 = 0, so alpha_0 = alpha_bar_0 = 1
        beta = torch.cat([torch.zeros(1, dtype=torch.float64), beta])  # (T+1,)
        # alpha_t = 1 - beta_t
        alpha = 1.0 - beta
        # \bar\alpha_t = \prod_{s=1}^t \alpha_s
        alpha_bar = torch.cumprod(alpha, dim=0)
        # \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) \beta_t,  with \tilde\beta_0 := 0
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        beta_tilde = torch.zeros_like(beta)
        beta_tilde[1:] = (1 - alpha_bar_prev[1:]) / (1 - alpha_bar[1:]) * beta[1:]

        self.betas = beta.float()
        self.alphas = alpha.float()
        self.alpha_bars = alpha_bar.float()
        self.alpha_bars_prev = alpha_bar_prev.float()
        self.beta_tildes = beta_tilde.float()
        # sigma_t of Algorithm 2; the step t = 1 adds no noise whichever is chosen (Algorithm 2, line 3)
        sigma_t = (beta if sigma == "beta" else beta_tilde).sqrt()
        self.sigmas = sigma_t.float()
        # Algorithm 2, line 4 rewritten as x_{t-1} = c_x x_t - c_eps eps + sigma_t z, with
        # c_x = 1 / sqrt(alpha_t) and c_eps = beta_t / (sqrt(1 - alpha_bar_t) sqrt(alpha_t)): kept as Python floats
        # (float64 math on the CPU) so that a step on the GPU never waits on a device-to-host copy
        c_x = 1.0 / alpha.sqrt()
        c_eps = beta / ((1.0 - alpha_bar).sqrt() * alpha.sqrt())
        self._step_coefs = [None] + [(c_x[t].item(), c_eps[t].item(), sigma_t[t].item() if t > 1 else 0.0)
                                     for t in range(1, T + 1)]

    def to(self, device):
        """Move the per-step tensors to `device` (they are tiny; the samplers index them every step)."""
        for name in ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "beta_tildes", "sigmas"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def state(self):
        """The three settings that define the schedule, stored in checkpoints."""
        return {"T": self.T, "kind": self.kind, "sigma": self.sigma_kind}

    def step_coefficients(self, t):
        """(c_x, c_eps, sigma_t) of the step at t in 1..T: x_{t-1} = c_x x_t - c_eps eps + sigma_t z; sigma_1 = 0."""
        if not 1 <= t <= self.T:
            raise ValueError(f"t must lie in 1..{self.T}, got {t}")
        return self._step_coefs[t]

    def t_of_fraction(self, f):
        """The paper's "X% noise" and "the step that expects X% noise" (section 3.1): t = round(f * T)."""
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"a noise fraction must lie in [0, 1], got {f}")
        return int(round(f * self.T))

    def q_sample(self, x0, t, noise):
        """Sample x_t ~ q(x_t | x0) in one go (eq. 6 and 7). x0, noise: (B, C, H, W); t: int or (B,) long."""
        # x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon        (eq. 7)
        ab = extract(self.alpha_bars, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def q_posterior_mean(self, x0, x_t, t):
        """Mean of the true posterior q(x_{t-1} | x_t, x0) (Ho et al., eq. 7), which a perfect reverse step hits.
        mu~_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x0
                + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t       (derivation: docs/derivations.md)
        """
        ab, ab_prev = extract(self.alpha_bars, t, x_t), extract(self.alpha_bars_prev, t, x_t)
        b, a = extract(self.betas, t, x_t), extract(self.alphas, t, x_t)
        return ab_prev.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - ab_prev) / (1 - ab) * x_t

    def p_step(self, x_t, t, eps, noise):
        """One reverse step (Algorithm 2, line 4), given the predicted noise eps and fresh noise z:

            x_{t-1} = ( x_t - beta_t / sqrt(1 - alpha_bar_t) * eps ) / sqrt(alpha_t) + sigma_t * z

        with z = 0 at t = 1 (the last step returns the mean). t: int or (B,) long. This is the readable
        definition; the samplers call the fused kernel in kernels/reverse_step.py, which computes the same.
        """
        b, a = extract(self.betas, t, x_t), extract(self.alphas, t, x_t)
        ab, sigma = extract(self.alpha_bars, t, x_t), extract(self.sigmas, t, x_t)
        mean = (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()
        t_vec = torch.as_tensor(t, device=x_t.device).expand(x_t.shape[0]) if isinstance(t, int) else t
        # Algorithm 2, line 3: z ~ N(0, I) if t > 1, else z = 0
        not_last = (t_vec > 1).float().view(-1, *([1] * (x_t.dim() - 1)))
        return mean + not_last * sigma * noise

    def predict_x0(self, x_t, t, eps):
        """Invert eq. 7 for x0 given eps: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
        ab = extract(self.alpha_bars, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


# ----------------------------------------------------------------------------------------------------------------------
# 2. Training: Algorithm 1
# ----------------------------------------------------------------------------------------------------------------------


def rms_distance(a, b):
    """d_i = sqrt(mean over pixels of (a_i - b_i)^2): (B, C, H, W) x 2 -> (B,).

    The paper's eq. (14) uses the plain L2 norm ||x_t - x_noisy||_2 over the whole image; for a 28x28 image that is
    about 28 times the RMS value, which would put p_conditioning at 1 almost always with tau = 1. The claim that
    tau = 1 keeps p between 0.2 and 0.8 only holds for a distance normalised per pixel, so we use the RMS.
    """
    return (a.float() - b.float()).pow(2).flatten(1).mean(dim=1).sqrt()


def conditioning_probability(x_t, x_cond, tau=1.0):
    """Section 3.3, eq. (14): p_i = 1 - exp(-d(x_t,i, x_cond,i) / tau), with d the RMS distance (see rms_distance).
    Far from the corrupted image (early in the reverse chain) p is high and the model sees the condition;
    close to it (late in the chain) p is low and the model relies on what it learned of clean images."""
    # -expm1(-x) is 1 - exp(-x) without the cancellation that loses digits when x is small
    return -torch.expm1(-rms_distance(x_t, x_cond) / tau)


def training_loss(model, schedule, x0, *, y=None, x_cond=None, probabilistic=False, tau=1.0, p_uncond=0.1,
                  num_classes=0, generator=None):
    """Algorithm 1, one mini-batch: L = || eps - eps_theta(sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, t) ||^2.

    x0: (B, C, H, W) clean images in [-1, 1].
    y:  (B,) class labels, for a class-conditional model. Each label is replaced by the null class with probability
        p_uncond, so that the same network also learns eps(x_t, null) for classifier-free guidance (Ho & Salimans).
    x_cond: (B, C, H, W) corrupted images, for an image-conditioned model (section 3.2). With probabilistic=True the
        condition channel is kept with probability p = 1 - exp(-d(x_t, x_cond)/tau) and zeroed otherwise (3.3), the
        same rule the sampler uses, so the network is trained on the inputs it will see.
    """
    B = x0.shape[0]
    dev = x0.device
    # t ~ Uniform({1, ..., T})         (Algorithm 1, line 3)
    t = torch.randint(1, schedule.T + 1, (B,), device=dev, generator=generator)
    # eps ~ N(0, I)                    (line 4)
    eps = torch.randn(x0.shape, device=dev, generator=generator)
    x_t = schedule.q_sample(x0, t, eps)

    if x_cond is not None:
        mode = "probabilistic" if probabilistic else "keep"
        u = torch.rand(B, device=dev, generator=generator)
        x_in, _, _ = masked_concat(x_t, x_cond, mode=mode, tau=tau, u=u)  # (B, 2C, H, W)
    else:
        x_in = x_t  # (B, C, H, W)

    if y is not None:
        drop = torch.rand(B, device=dev, generator=generator) < p_uncond
        y = torch.where(drop, torch.full_like(y, num_classes), y)

    # gradient step on || eps - eps_theta(x_t, t) ||^2     (line 5)
    return (eps - model(x_in, t, y)).pow(2).mean()


# ----------------------------------------------------------------------------------------------------------------------
# 3. eps_theta as the samplers see it, with the paper's conditioning
# ----------------------------------------------------------------------------------------------------------------------


class EpsFunction:
    """eps_hat(x_t, t): the model's noise prediction with the conditioning of the paper applied.

    Class conditioning, classifier-free guidance (section 2.2):
        eps_hat = (1 + w) * eps(x_t, c) - w * eps(x_t, null)
    The paper's eq. (11) prints "+ w * psi(z_t)" where "- w" is meant: Ho & Salimans' guidance subtracts the
    unconditional prediction (with "+", two agreeing predictions would just be scaled by 1 + 2w; see
    docs/derivations.md). w = 0 is the plain conditional model.

    Image conditioning (section 3.2): the input is [x_t, m * x_cond], one extra channel. mode="keep": m = 1;
    mode="probabilistic" (3.3): m_i = 1 with probability p_i = 1 - exp(-d_i / tau); mode="drop": m = 0.
    The p values used at every call are appended to `self.p_history` (one (B,) tensor per step).
    """

    def __init__(self, model, *, y=None, guidance=0.0, x_cond=None, mode="keep", tau=1.0, generator=None):
        num_classes = model.config.num_classes
        if y is not None and num_classes == 0:
            raise ValueError("labels were given but the model has no class input")
        if guidance != 0.0 and y is None:
            raise ValueError("guidance needs class labels y")
        if guidance < 0:
            raise ValueError(f"guidance weight w must be >= 0, got {guidance}")
        if (x_cond is None) != (model.config.cond_channels == 0):
            raise ValueError(
                f"the model has {model.config.cond_channels} condition channels; "
                + ("give x_cond" if x_cond is None else "it takes no x_cond")
            )
        self.model, self.y, self.w = model, y, guidance
        self.null = None if y is None else torch.full_like(y, num_classes)
        self.x_cond, self.mode, self.tau, self.generator = x_cond, mode, tau, generator
        self.p_history = []

    def model_input(self, x_t):
        if self.x_cond is None:
            return x_t  # (B, C, H, W)
        u = None
        if self.mode == "probabilistic":
            u = torch.rand(x_t.shape[0], device=x_t.device, generator=self.generator)
        x_in, p, _ = masked_concat(x_t, self.x_cond, mode=self.mode, tau=self.tau, u=u)  # (B, 2C, H, W)
        self.p_history.append(p)
        return x_in

    def parts(self, x_t, t):
        """(eps_c, eps_u, w): the two predictions that guidance combines, for the fused reverse-step kernel, which
        folds (1 + w) eps_c - w eps_u into the update. eps_u is None (and w = 0) when there is no guidance."""
        B = x_t.shape[0]
        t_vec = torch.full((B,), t, dtype=torch.long, device=x_t.device) if isinstance(t, int) else t
        x_in = self.model_input(x_t)
        if self.w == 0.0:
            return self.model(x_in, t_vec, self.y), None, 0.0
        # one forward pass on a doubled batch: first half with the labels, second half with the null label
        eps_c, eps_u = self.model(
            torch.cat([x_in, x_in]), torch.cat([t_vec, t_vec]), torch.cat([self.y, self.null])
        ).chunk(2)
        return eps_c, eps_u, self.w

    def __call__(self, x_t, t):
        eps_c, eps_u, w = self.parts(x_t, t)
        if eps_u is None:
            return eps_c
        # eps_hat = (1 + w) eps(x_t, c) - w eps(x_t, null)
        return (1 + w) * eps_c - w * eps_u


# ----------------------------------------------------------------------------------------------------------------------
# 4. Samplers
# ----------------------------------------------------------------------------------------------------------------------


class Trajectory:
    """Snapshots of the chain: `steps[k]` is the timestep t of the image `images[k]` (t = 0 for the final image)."""

    def __init__(self, every):
        self.every = every
        self.steps, self.images = [], []

    def add(self, t, x, force=False):
        if self.every and (force or t % self.every == 0):
            self.steps.append(int(t))
            self.images.append(x.detach().cpu().clone())

    def stacked(self):
        """(K, B, C, H, W) and (K,), or None where nothing was recorded."""
        if not self.images:
            return None, None
        return torch.stack(self.images), torch.tensor(self.steps)


def _eps_parts(eps_fn, x, t):
    """An EpsFunction hands over eps_c and eps_u so that the guidance combine happens inside the fused step; any
    other callable (a test's oracle, say) just gives eps."""
    if isinstance(eps_fn, EpsFunction):
        return eps_fn.parts(x, t)
    return eps_fn(x, t), None, 0.0


def _noise_source(x, generator):
    """Where the z of each reverse step comes from. On the CPU: a tensor drawn from `generator`. On CUDA: an int seed
    per step, for the fused kernel to draw z itself (Philox) instead of reading a whole tensor; the seeds come from a
    CPU generator seeded once from `generator` (from torch's global seed when there is none, which keeps the chain
    free of device-to-host copies, as a CUDA-graph capture needs)."""
    if x.is_cuda:
        if generator is None:
            seed = torch.initial_seed()
        else:
            seed = int(torch.randint(0, 2**62, (1,), device=x.device, generator=generator).item())
        seeds = torch.Generator().manual_seed(seed)
        return lambda: int(torch.randint(0, 2**31 - 1, (1,), generator=seeds))
    return lambda: torch.randn(x.shape, device=x.device, generator=generator)


def _reverse(eps_fn, schedule, x, t, next_noise):
    """One step of Algorithm 2: predict eps, then x_{t-1} = (x_t - beta_t/sqrt(1 - alpha_bar_t) eps)/sqrt(alpha_t)
    + sigma_t z, with z = 0 at t = 1 (line 3). The update runs in the fused kernel of kernels/reverse_step.py."""
    eps, eps_u, w = _eps_parts(eps_fn, x, t)
    noise = None if t == 1 else next_noise()
    return reverse_step(x, eps, schedule, t, noise, eps_uncond=eps_u, w=w)


@torch.no_grad()
def sample_from(eps_fn, schedule, x, t_start, *, record_every=0, generator=None, progress=None):
    """The reverse chain (Algorithm 2) from x = x_{t_start} down to x_0.

    t_start = T with x ~ N(0, I) is plain generation. Any other t_start feeds a given image into the middle of the
    chain, as the paper's section 3.1 does: the image is taken to be x_{t_start} whatever noise it really holds.
    record_every = k > 0 keeps x_t for every t divisible by k, plus the input and the final image.
    Returns (x_0, Trajectory).
    """
    if not 0 <= t_start <= schedule.T:
        raise ValueError(f"t_start must lie in 0..{schedule.T}, got {t_start}")
    traj = Trajectory(record_every)
    traj.add(t_start, x, force=True)
    next_noise = _noise_source(x, generator)
    for t in range(t_start, 0, -1):
        x = _reverse(eps_fn, schedule, x, t, next_noise)
        traj.add(t - 1, x, force=(t == 1))
        if progress is not None:
            progress.update(1)
    return x, traj


@torch.no_grad()
def sample(eps_fn, schedule, shape, *, device="cpu", record_every=0, generator=None, progress=None):
    """Generate from scratch: x_T ~ N(0, I) (Algorithm 2, line 1), then the whole chain."""
    x_T = torch.randn(shape, device=device, generator=generator)
    return sample_from(eps_fn, schedule, x_T, schedule.T, record_every=record_every, generator=generator,
                       progress=progress)


@torch.no_grad()
def repeat_step(eps_fn, schedule, x, t, k, *, record_every=1, generator=None, progress=None):
    """Apply the single reverse step at timestep t, k times in a row (Fig. 3 runs the t = 1 step 40 times).
    The trajectory records after every record_every-th repetition; its `steps` hold the repetition count."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    traj = Trajectory(record_every)
    traj.add(0, x, force=True)
    next_noise = _noise_source(x, generator)
    for i in range(1, k + 1):
        x = _reverse(eps_fn, schedule, x, t, next_noise)
        traj.add(i, x, force=(i == k))
        if progress is not None:
            progress.update(1)
    return x, traj


@torch.no_grad()
def cycles(eps_fn, schedule, x, t_start, n, *, record_every=0, generator=None, progress=None):
    """Section 3.1, "multiple cycles": run the chain from t_start, feed its output back in as x_{t_start}, n times.
    Returns the final image and one Trajectory per cycle."""
    if n < 1:
        raise ValueError(f"the number of cycles must be >= 1, got {n}")
    trajs = []
    for _ in range(n):
        x, traj = sample_from(eps_fn, schedule, x, t_start, record_every=record_every, generator=generator,
                              progress=progress)
        trajs.append(traj)
    return x, trajs


@torch.no_grad()
def ddim_sample_from(eps_fn, schedule, x, t_start, steps, *, eta=0.0, record_every=0, generator=None, progress=None):
    """DDIM (Song et al. 2020): the same trained model, a chain over `steps` timesteps instead of t_start.

    For timesteps t > s (s the next one down, s = 0 at the end):
        x0_hat  = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        sigma   = eta * sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_s)
        x_s     = sqrt(alpha_bar_s) x0_hat + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z
    eta = 0 is deterministic; eta = 1 matches the DDPM posterior variance. record_every counts DDIM steps.
    """
    if not 1 <= steps <= t_start <= schedule.T:
        raise ValueError(f"need 1 <= steps <= t_start <= T, got steps={steps}, t_start={t_start}, T={schedule.T}")
    # evenly spaced timesteps t_start = tau_1 > ... > tau_steps >= 1, then 0
    ts = torch.linspace(t_start, 1, steps).round().long().tolist() + [0]
    traj = Trajectory(record_every)
    traj.add(t_start, x, force=True)
    for i, (t, s) in enumerate(zip(ts[:-1], ts[1:]), start=1):
        eps = eps_fn(x, t)
        ab_t, ab_s = schedule.alpha_bars[t].item(), schedule.alpha_bars[s].item()
        x0_hat = (x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x = math.sqrt(ab_s) * x0_hat + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, device=x.device, generator=generator)
        if record_every and (i % record_every == 0 or s == 0):
            traj.steps.append(s)
            traj.images.append(x.detach().cpu().clone())
        if progress is not None:
            progress.update(1)
    return x, traj


if __name__ == "__main__":
    for kind in ("linear", "cosine"):
        s = Schedule(200, kind)
        print(f"{kind:6s} T=200: beta_1={s.betas[1]:.2e} beta_T={s.betas[-1]:.3f} alpha_bar_T={s.alpha_bars[-1]:.2e}")
