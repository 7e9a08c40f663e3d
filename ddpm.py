"""ddpm.py - the denoising diffusion probabilistic model of the paper, from scratch.

Read this file top to bottom to learn the paper: "Optimizing Diffusion Models for Image Denoising" by Iyer, Shu and
Sinha, which builds on Ho, Jain and Abbeel's "Denoising Diffusion Probabilistic Models" (2020). Everything the
experiments run is here, in plain PyTorch; nothing in this file imports anything else of the project.

The idea in four sentences. The forward process destroys an image in T small steps, each adding a little Gaussian
noise, until nothing but noise is left; any step t can be reached in one go (eq. 7). A network eps_theta(x_t, t) is
trained to look at a noisy x_t and say which noise was added (Algorithm 1). Walking back from pure noise, one small
denoising step at a time with that prediction, makes a new image (Algorithm 2). A noisy photograph is such an x_t
for the t whose noise level matches its own, so the same walk, started there, denoises it (the paper's section 3.1).

  1. Schedule          the noise schedule beta_1..beta_T and the quantities derived from it (paper, section 2.1)
     .q_sample         the forward process in closed form (eq. 7):
                       x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
     .p_step           one reverse step, Algorithm 2 line 4
  2. conditioning      classifier-free guidance on a class (section 2.2, eq. 11); a corrupted image as an extra input
                       channel (section 3.2), kept with probability p = 1 - exp(-d / tau) (section 3.3, eq. 14)
  3. training_loss     Algorithm 1: predict the noise, mean squared error (training_inputs: what it draws)
  4. EpsFunction       eps_theta(x_t, t) as the samplers see it, with that conditioning applied
  5. samplers          the full chain from N(0, I); the chain started from a given image at any step (section 3.1);
                       one step repeated k times (Fig. 3); cycles (feed the output back in); DDIM for speed
  6. checks            the argument checks of the above, kept out of the way of a first read

Notation. The paper, like Ho et al., overloads alpha: its eq. (6) writes alpha_t for the *cumulative* product. We keep
the two apart, as Ho et al.'s own code does:
    alpha_t     = 1 - beta_t                       (one step)
    alpha_bar_t = prod_{s=1}^t alpha_s             (all steps up to t; the paper's alpha_t in eqs. 6 and 7)
Timesteps are t in {1..T}; every per-step tensor has length T+1 and index 0 means "the clean image":
alpha_bar[0] = 1, beta[0] = 0.

The fast path plugs in from outside: a sampler takes the reverse step as an argument (`step=`, default
`schedule.p_step`) and EpsFunction the conditioning input (`concat=`, default `masked_concat`); the fused Triton
kernels in kernels/ have the same signatures and are checked against the definitions here.

Left out, on purpose: a learned variance (Nichol & Dhariwal) and the variational lower bound loss (the paper, like
Ho et al., trains on the simple eps loss), and self-conditioning. EMA of the weights lives in train.py.
"""

import math

import torch

# ----------------------------------------------------------------------------------------------------------------------
# 1. The noise schedule
# ----------------------------------------------------------------------------------------------------------------------


def timestep_vector(t, x):
    """A timestep as one long per image of the batch x: an int t -> (B,) filled with t; a (B,) tensor as it is."""
    if isinstance(t, int):
        return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    return t


def extract(a, t, x):
    """Pick a[t] for each image and shape it to broadcast over the batch x: (T+1,) -> (B, 1, 1, 1).
    t: a Python int (the same step for the whole batch) or a (B,) LongTensor."""
    return a.to(x.device)[timestep_vector(t, x)].float().view(-1, *([1] * (x.dim() - 1)))


class Schedule:
    """The variance schedule beta_1..beta_T and everything derived from it.

    kind="linear" (default): Ho et al.'s betas run linearly from 1e-4 to 0.02 over T = 1000 steps. The paper uses
    T = 200; with those same betas over only 200 steps alpha_bar_T is about 0.13, so x_T would still hold a third of
    the image and be far from the N(0, I) the sampler starts from. As Nichol & Dhariwal's improved-diffusion code
    does, we rescale both ends by 1000 / T (5e-4 to 0.1 at T = 200): then alpha_bar_T = 3.0e-5 at T = 200 (printed by
    `python ddpm.py`).
    kind="cosine": Nichol & Dhariwal's alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) / (same at t = 0),
    s = 0.008, betas clipped at 0.999; it destroys the image more slowly at the start of the chain.

    sigma="beta" (default, Algorithm 2 as printed and the paper's code): sigma_t^2 = beta_t.
    sigma="posterior": sigma_t^2 = beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t, the variance of the
    true posterior q(x_{t-1} | x_t, x0). Ho et al. found both give similar samples.
    Either way sigma_1 = 0: Algorithm 2, line 3 adds no noise in the last step (z = 0 at t = 1), and a zero sigma_1
    is that rule, in the one place every step reads it from.
    """

    def __init__(self, T=200, kind="linear", sigma="beta"):
        check_schedule(T, kind, sigma)
        self.T, self.kind, self.sigma_kind = T, kind, sigma
        # computed in float64 so that alpha_bar, a product of 200 factors, does not drift; stored as float32
        if kind == "linear":
            scale = 1000.0 / T
            # clipped as the cosine betas are: for T < 50 the rescaled end would reach beta = 1 (alpha_T = 0)
            beta = torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64).clamp(max=0.999)
        else:  # cosine
            s = 0.008
            steps = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            beta = (1 - f[1:] / f[:-1]).clamp(max=0.999)

        # prepend t = 0 (the clean image): beta_0 = 0, so alpha_0 = alpha_bar_0 = 1
        beta = torch.cat([torch.zeros(1, dtype=torch.float64), beta])  # (T+1,)
        # alpha_t = 1 - beta_t
        alpha = 1.0 - beta
        # alpha_bar_t = prod_{s=1}^t alpha_s
        alpha_bar = torch.cumprod(alpha, dim=0)
        # beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t,  with beta~_0 := 0
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        beta_tilde = torch.zeros_like(beta)
        beta_tilde[1:] = (1 - alpha_bar_prev[1:]) / (1 - alpha_bar[1:]) * beta[1:]
        # sigma_t of Algorithm 2: sqrt(beta_t) or sqrt(beta~_t), and sigma_1 = 0 (no noise in the last step)
        sigma_t = (beta if sigma == "beta" else beta_tilde).sqrt()
        sigma_t[1] = 0.0

        self.betas = beta.float()
        self.alphas = alpha.float()
        self.alpha_bars = alpha_bar.float()
        self.alpha_bars_prev = alpha_bar_prev.float()
        self.beta_tildes = beta_tilde.float()
        self.sigmas = sigma_t.float()

    def to(self, device):
        """Move the per-step tensors to `device` (they are tiny; the samplers index them every step)."""
        for name in ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "beta_tildes", "sigmas"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def state(self):
        """The three settings that define the schedule, stored in checkpoints."""
        return {"T": self.T, "kind": self.kind, "sigma": self.sigma_kind}

    def t_of_fraction(self, f):
        """The paper's "X% noise" and "the step that expects X% noise" (section 3.1): t = round(f * T)."""
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"a noise fraction must lie in [0, 1], got {f}")
        return int(round(f * self.T))

    def q_sample(self, x0, t, noise):
        """Sample x_t ~ q(x_t | x0) in one go (eq. 6 and 7). x0, noise: (B, C, H, W); t: int or (B,) long."""
        alpha_bar = extract(self.alpha_bars, t, x0)
        # x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps        (eq. 7)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def q_posterior_mean(self, x0, x_t, t):
        """Mean of the true posterior q(x_{t-1} | x_t, x0) (eq. 7 of Ho et al., not of this paper), which a perfect
        reverse step hits.
        (derivation: docs/derivations.md, section 3)"""
        alpha_bar, alpha_bar_prev = extract(self.alpha_bars, t, x_t), extract(self.alpha_bars_prev, t, x_t)
        beta, alpha = extract(self.betas, t, x_t), extract(self.alphas, t, x_t)
        # mu~_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x0
        #         + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
        return (alpha_bar_prev.sqrt() * beta / (1 - alpha_bar) * x0
                + alpha.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar) * x_t)

    def p_step(self, x_t, t, eps, z):
        """One reverse step (Algorithm 2, line 4), given the predicted noise eps and fresh noise z ~ N(0, I).
        x_t, eps, z: (B, C, H, W); t: int or (B,) long. sigma_1 = 0, so the last step returns the mean.

        In words, term by term:
          beta_t / sqrt(1 - alpha_bar_t) eps   the share of the predicted noise that step t added: x_t holds
                                               sqrt(1 - alpha_bar_t) eps of noise in all, and step t added beta_t
                                               of variance, so this is the part to take out now;
          1 / sqrt(alpha_t) (...)              undo the shrinking by sqrt(alpha_t) that step t applied; the two
                                               together are the mean of q(x_{t-1} | x_t, x0) when eps is right
                                               (docs/derivations.md, section 3);
          sigma_t z                            fresh noise, so that x_{t-1} is a sample and not only the mean: the
                                               chain stays on the noise level the network expects at t - 1.
        """
        beta, alpha = extract(self.betas, t, x_t), extract(self.alphas, t, x_t)
        alpha_bar, sigma = extract(self.alpha_bars, t, x_t), extract(self.sigmas, t, x_t)
        # x_{t-1} = 1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) + sigma_t z
        return (x_t - beta / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt() + sigma * z

    def predict_x0(self, x_t, t, eps):
        """The clean image that x_t and eps imply: eq. 7 solved for x0."""
        alpha_bar = extract(self.alpha_bars, t, x_t)
        # x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


# ----------------------------------------------------------------------------------------------------------------------
# 2. Conditioning: a class (guidance) and a corrupted image (an extra input channel)
# ----------------------------------------------------------------------------------------------------------------------


def guided_eps(eps_c, eps_u, w):
    """Classifier-free guidance (section 2.2, eq. 11; Ho & Salimans), from the conditional prediction eps(x_t, c) and
    the unconditional one eps(x_t, null). The paper prints "+ w" where "- w" is meant: with "+", two agreeing
    predictions would just be scaled by 1 + 2w (docs/derivations.md, section 5). w = 0 is the conditional model."""
    # eps_hat = (1 + w) eps(x_t, c) - w eps(x_t, null)
    return (1 + w) * eps_c - w * eps_u


def rms_distance(a, b):
    """d_i = sqrt(mean over pixels of (a_i - b_i)^2): (B, C, H, W) x 2 -> (B,), in float32 (float64 for float64).

    The paper's eq. (14) writes the plain L2 norm ||x_t - x_noisy||_2 over the whole image; for a 28x28 image that is
    about 28 times the RMS value, which would put p at 1 almost always with tau = 1. The claim that tau = 1 keeps p
    between 0.2 and 0.8 only holds for a distance normalised per pixel, so we use the RMS (docs/derivations.md, 6).
    """
    f = torch.promote_types(a.dtype, torch.float32)
    return (a.to(f) - b.to(f)).pow(2).flatten(1).mean(dim=1).sqrt()


def conditioning_probability(x_t, x_cond, tau=1.0):
    """Section 3.3, eq. (14): the probability that the model is shown the condition, per image: (B,).
    Far from the corrupted image (early in the reverse chain) p is high and the model sees the condition;
    close to it (late in the chain) p is low and the model relies on what it learned of clean images.
    (The paper's "/T" in eq. 14 is this temperature tau, not the number of steps: docs/derivations.md, section 6.)"""
    # p_i = 1 - exp(-d(x_t,i, x_cond,i) / tau), written -expm1(-x): no cancellation when x is small
    return -torch.expm1(-rms_distance(x_t, x_cond) / tau)


CONDITION_MODES = ("keep", "probabilistic", "drop")


def masked_concat(x_t, x_cond, mode="keep", tau=1.0, u=None):
    """The input of an image-conditioned model (sections 3.2, 3.3): x_t next to the masked condition, [x_t, m x_cond].

    mode="keep": m = 1, plain concatenation (section 3.2).
    mode="probabilistic": m_i = 1 with probability p_i of eq. (14), else 0 (section 3.3); u: (B,) uniforms in [0, 1),
        drawn by the caller, and m_i = [u_i < p_i].
    mode="drop": m = 0, the null condition.
    x_t, x_cond: (B, C, H, W). Returns (x_in (B, 2C, H, W) in the dtype of x_t, p (B,), m (B,)).
    """
    check_condition(x_t, x_cond, mode, tau, u)
    B = x_t.shape[0]
    if mode == "probabilistic":
        p = conditioning_probability(x_t, x_cond, tau)  # (B,)
        # m_i ~ Bernoulli(p_i): the paper's "masking with probability p" read as *keeping* the condition with
        # probability p, as its text around eq. (14) asks (docs/derivations.md, section 6)
        m = (u < p).to(p.dtype)
    else:
        # keep and drop are the two ends of the same rule: p = 1 and p = 0
        p = torch.full((B,), 1.0 if mode == "keep" else 0.0, dtype=torch.promote_types(x_t.dtype, torch.float32),
                       device=x_t.device)
        m = p
    masked = (x_cond * m.view(B, *([1] * (x_cond.dim() - 1)))).to(x_t.dtype)
    return torch.cat([x_t, masked], dim=1), p, m  # (B, 2C, H, W): x_t next to the masked condition


# ----------------------------------------------------------------------------------------------------------------------
# 3. Training: Algorithm 1
# ----------------------------------------------------------------------------------------------------------------------


def training_inputs(schedule, x0, num_classes, *, y=None, x_cond=None, probabilistic=False, tau=1.0, p_uncond=0.1,
                    generator=None):
    """Algorithm 1, lines 2-4, for one mini-batch: what the network is shown and the noise it must name.

    x0: (B, C, H, W) clean images in [-1, 1].
    y:  (B,) class labels, for a class-conditional model (num_classes > 0). Each label is replaced by the null class
        (index num_classes) with probability p_uncond, so that the same network also learns eps(x_t, null) for
        classifier-free guidance (Ho & Salimans).
    x_cond: (B, C, H, W) corrupted images, for an image-conditioned model (section 3.2). With probabilistic=True the
        condition channel is kept with probability p = 1 - exp(-d(x_t, x_cond)/tau) and zeroed otherwise (3.3), the
        same rule the sampler uses, so the network is trained on the inputs it will see.
    Returns (x_in (B, C or 2C, H, W), t (B,), y (B,) or None, eps (B, C, H, W)).
    """
    check_labels(y, num_classes)
    B = x0.shape[0]
    device = x0.device
    # t ~ Uniform({1, ..., T})         (Algorithm 1, line 3)
    t = torch.randint(1, schedule.T + 1, (B,), device=device, generator=generator)
    # eps ~ N(0, I)                    (line 4)
    eps = torch.randn(x0.shape, device=device, generator=generator)
    x_t = schedule.q_sample(x0, t, eps)

    x_in = x_t  # (B, C, H, W)
    if x_cond is not None:
        if probabilistic:
            u = torch.rand(B, device=device, generator=generator)
            x_in, _, _ = masked_concat(x_t, x_cond, "probabilistic", tau, u)  # (B, 2C, H, W)
        else:
            x_in, _, _ = masked_concat(x_t, x_cond, "keep")  # (B, 2C, H, W)

    if y is not None:
        drop = torch.rand(B, device=device, generator=generator) < p_uncond
        y = torch.where(drop, torch.full_like(y, num_classes), y)
    return x_in, t, y, eps


def training_loss(model, schedule, x0, **batch):
    """Algorithm 1, one mini-batch: L = || eps - eps_theta(sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, t) ||^2.
    `batch`: the keyword arguments of `training_inputs` (labels, condition, generator)."""
    x_in, t, y, eps = training_inputs(schedule, x0, model.config.num_classes, **batch)
    # gradient step on || eps - eps_theta(x_t, t) ||^2     (line 5)
    return (eps - model(x_in, t, y)).pow(2).mean()


# ----------------------------------------------------------------------------------------------------------------------
# 4. eps_theta as the samplers see it, with the paper's conditioning
# ----------------------------------------------------------------------------------------------------------------------


class EpsFunction:
    """eps_hat(x_t, t): the model's noise prediction with the conditioning of the paper applied.

    y, guidance: class labels and the guidance weight w (`guided_eps`); w = 0 is the plain conditional model.
    x_cond, mode, tau: the corrupted image and how it is shown to the model (`masked_concat`); in "probabilistic"
        mode the uniforms u are drawn from `generator`, and the p values of every call are appended to
        `self.p_history` (one (B,) tensor per step).
    concat: the function that builds the model input, `masked_concat` (default) or a drop-in with its signature
        (the fused kernel in kernels/masked_concat.py).
    """

    def __init__(self, model, *, y=None, guidance=0.0, x_cond=None, mode="keep", tau=1.0, generator=None,
                 concat=masked_concat):
        check_eps_function(model, y, guidance, x_cond, mode)
        num_classes = model.config.num_classes
        self.model, self.y, self.w = model, y, guidance
        self.null = None if y is None else torch.full_like(y, num_classes)
        self.x_cond, self.mode, self.tau, self.generator = x_cond, mode, tau, generator
        self.concat = concat
        self.p_history = []

    def model_input(self, x_t):
        """x_t, or [x_t, m * x_cond] for an image-conditioned model: (B, C, H, W) -> (B, C or 2C, H, W)."""
        if self.x_cond is None:
            return x_t
        u = None
        if self.mode == "probabilistic":
            u = torch.rand(x_t.shape[0], device=x_t.device, generator=self.generator)  # u_i ~ U[0, 1)
        x_in, p, _ = self.concat(x_t, self.x_cond, self.mode, self.tau, u)
        self.p_history.append(p)
        return x_in

    def __call__(self, x_t, t):
        t = timestep_vector(t, x_t)  # (B,)
        x_in = self.model_input(x_t)
        if self.w == 0.0:
            return self.model(x_in, t, self.y)
        # one forward pass on a doubled batch: first half with the labels, second half with the null label
        eps_c, eps_u = self.model(torch.cat([x_in, x_in]), torch.cat([t, t]), torch.cat([self.y, self.null])).chunk(2)
        return guided_eps(eps_c, eps_u, self.w)


# ----------------------------------------------------------------------------------------------------------------------
# 5. Samplers
# ----------------------------------------------------------------------------------------------------------------------


class Trajectory:
    """Snapshots of a chain. `steps[k]` is where `images[k]` sits on the chain's clock, which counts the steps still
    to run down to 0 (the output): the timestep t of x_t for the reverse chain and DDIM, the passes still to run for
    `repeat_step`. With record_every = k > 0 a chain keeps its input, its output and every position divisible by k."""

    def __init__(self, every):
        self.every = every
        self.steps, self.images = [], []

    def add(self, position, x, always=False):
        if self.every and (always or position % self.every == 0):
            self.steps.append(int(position))
            self.images.append(x.detach().cpu().clone())

    def stacked(self):
        """(images (K, B, C, H, W), steps (K,)), or (None, None) where nothing was recorded."""
        if not self.images:
            return None, None
        return torch.stack(self.images), torch.tensor(self.steps)


@torch.no_grad()
def sample_from(eps_fn, schedule, x, t_start, *, step=None, record_every=0, generator=None, progress=None,
                runner=None):
    """The reverse chain (Algorithm 2) from x = x_{t_start} down to x_0.

    t_start = T with x ~ N(0, I) is plain generation. Any other t_start feeds a given image into the middle of the
    chain, as the paper's section 3.1 does: the image is taken to be x_{t_start} whatever noise it really holds.
    step: the update x_{t-1} = step(x_t, t, eps, z); default schedule.p_step (a fused kernel may stand in).
    record_every = k > 0 keeps x_t for every t divisible by k, plus the input and the final image.
    runner: None, or something that runs this same loop another way and returns what it returns (the fast path's
    replayed CUDA graphs, fast.ChunkedGraphs); the lines below are what it runs.
    Returns (x_0, Trajectory).
    """
    if not 0 <= t_start <= schedule.T:
        raise ValueError(f"t_start must lie in 0..{schedule.T}, got {t_start}")
    if runner is not None:
        return runner(eps_fn, schedule, x, t_start, step=step, record_every=record_every, generator=generator,
                      progress=progress)
    step = step or schedule.p_step
    traj = Trajectory(record_every)
    traj.add(t_start, x, always=True)
    for t in range(t_start, 0, -1):
        eps = eps_fn(x, t)
        z = torch.randn(x.shape, device=x.device, generator=generator)  # z ~ N(0, I); sigma_1 = 0 silences it at t = 1
        x = step(x, t, eps, z)  # x_{t-1}
        traj.add(t - 1, x, always=(t == 1))
        if progress is not None:
            progress.update(1)
    return x, traj


@torch.no_grad()
def sample(eps_fn, schedule, shape, *, device="cpu", step=None, record_every=0, generator=None, progress=None,
           runner=None):
    """Generate from scratch: x_T ~ N(0, I) (Algorithm 2, line 1), then the whole chain."""
    x_T = torch.randn(shape, device=device, generator=generator)
    return sample_from(eps_fn, schedule, x_T, schedule.T, step=step, record_every=record_every, generator=generator,
                       progress=progress, runner=runner)


@torch.no_grad()
def repeat_step(eps_fn, schedule, x, t, k, *, step=None, record_every=1, generator=None, progress=None):
    """Apply the single reverse step at timestep t, k times in a row (Fig. 3 runs the t = 1 step 40 times).
    The trajectory's clock counts the passes still to run: k for the input, 0 for the output."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    step = step or schedule.p_step
    traj = Trajectory(record_every)
    traj.add(k, x, always=True)
    for left in range(k - 1, -1, -1):
        eps = eps_fn(x, t)
        z = torch.randn(x.shape, device=x.device, generator=generator)  # z ~ N(0, I); sigma_1 = 0 silences it at t = 1
        x = step(x, t, eps, z)
        traj.add(left, x, always=(left == 0))
        if progress is not None:
            progress.update(1)
    return x, traj


@torch.no_grad()
def cycles(eps_fn, schedule, x, t_start, n, **chain):
    """Section 3.1, "multiple cycles": run the chain from t_start, feed its output back in as x_{t_start}, n times.
    `chain`: sample_from's keyword arguments. Returns the final image and one Trajectory per cycle."""
    if n < 1:
        raise ValueError(f"the number of cycles must be >= 1, got {n}")
    trajs = []
    for _ in range(n):
        x, traj = sample_from(eps_fn, schedule, x, t_start, **chain)
        trajs.append(traj)
    return x, trajs


@torch.no_grad()
def ddim_sample_from(eps_fn, schedule, x, t_start, steps, *, eta=0.0, record_every=0, generator=None, progress=None):
    """DDIM (Song et al. 2020): the same trained model, a chain over `steps` timesteps instead of t_start.
    eta = 0 is deterministic; eta = 1 matches the DDPM posterior variance. record_every = k keeps the x_t whose
    timestep t is divisible by k, as in sample_from. (docs/derivations.md, section 4)"""
    if not 1 <= steps <= t_start <= schedule.T:
        raise ValueError(f"need 1 <= steps <= t_start <= T, got steps={steps}, t_start={t_start}, T={schedule.T}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    # evenly spaced timesteps t_start = tau_1 > ... > tau_steps >= 1, then 0
    ts = torch.linspace(t_start, 1, steps).round().long().tolist() + [0]
    traj = Trajectory(record_every)
    traj.add(t_start, x, always=True)
    for t, s in zip(ts[:-1], ts[1:]):
        eps = eps_fn(x, t)
        x0_hat = schedule.predict_x0(x, t, eps)
        alpha_bar_t, alpha_bar_s = schedule.alpha_bars[t].item(), schedule.alpha_bars[s].item()
        # sigma = eta sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_s)
        sigma = eta * math.sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s))
        # x_s = sqrt(alpha_bar_s) x0_hat + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z
        x = math.sqrt(alpha_bar_s) * x0_hat + math.sqrt(max(1 - alpha_bar_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, device=x.device, generator=generator)
        traj.add(s, x, always=(s == 0))
        if progress is not None:
            progress.update(1)
    return x, traj


# ----------------------------------------------------------------------------------------------------------------------
# 6. Argument checks: what the functions above refuse, gathered here so that a first read meets the algorithm
# ----------------------------------------------------------------------------------------------------------------------


def check_schedule(T, kind, sigma):
    """ValueError unless Schedule(T, kind, sigma) can be built."""
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an integer >= 2, got {T!r}")
    if kind not in ("linear", "cosine"):
        raise ValueError(f"schedule kind must be 'linear' or 'cosine', got {kind!r}")
    if sigma not in ("beta", "posterior"):
        raise ValueError(f"sigma must be 'beta' or 'posterior', got {sigma!r}")


def check_condition(x_t, x_cond, mode, tau, u):
    """ValueError unless the arguments of `masked_concat` fit together."""
    if mode not in CONDITION_MODES:
        raise ValueError(f"mode must be one of {CONDITION_MODES}, got {mode!r}")
    if x_t.shape != x_cond.shape:
        raise ValueError(f"x_t {tuple(x_t.shape)} and x_cond {tuple(x_cond.shape)} must have one shape")
    if mode == "probabilistic":
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if u is None or tuple(u.shape) != (x_t.shape[0],):
            raise ValueError("mode='probabilistic' needs u: a (B,) tensor of uniforms in [0, 1)")


def check_labels(y, num_classes):
    """ValueError if labels are given to a model without a class input."""
    if y is not None and num_classes == 0:
        raise ValueError("labels were given but the model has no class input")


def check_eps_function(model, y, guidance, x_cond, mode):
    """ValueError unless EpsFunction(model, y=y, guidance=guidance, x_cond=x_cond, mode=mode) fits the model."""
    check_labels(y, model.config.num_classes)
    if not (math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"guidance weight w must be a finite number >= 0, got {guidance}")
    if guidance != 0.0 and y is None:
        raise ValueError("guidance needs class labels y")
    if (x_cond is None) != (model.config.cond_channels == 0):
        raise ValueError(
            f"the model has {model.config.cond_channels} condition channels; "
            + ("give x_cond" if x_cond is None else "it takes no x_cond")
        )
    if mode not in CONDITION_MODES:
        raise ValueError(f"mode must be one of {CONDITION_MODES}, got {mode!r}")


if __name__ == "__main__":
    for kind in ("linear", "cosine"):
        s = Schedule(200, kind)
        print(f"{kind:6s} T=200: beta_1={s.betas[1]:.2e} beta_T={s.betas[-1]:.3f} alpha_bar_T={s.alpha_bars[-1]:.2e}")
