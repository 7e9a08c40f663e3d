"""unet.py - the noise-prediction network eps_theta(x_t, t, c) of the DDPM.

What is here
  UNetConfig   one dataclass with every size of the network, one commented line per field.
  UNet         a small UNet for grey or colour images (28x28 MNIST, 32x32 CIFAR-10; any H, W divisible by 4), with
               - a sinusoidal embedding of the timestep t (Ho et al. 2020, after the Transformer's),
               - an optional class embedding with one extra learned "null" class, so that a single network
                 gives both eps(x_t, c) and eps(x_t, null) for classifier-free guidance (paper, section 2.2),
               - optional extra input channels holding a (masked) corrupted image (paper, sections 3.2, 3.3).
               The network does not do the concatenation itself: the sampler builds the input
               [x_t, m * x_cond] (`ddpm.masked_concat`) and passes it whole.

The paper's network was the "context UNet" of TeaPearce's Conditional_Diffusion_MNIST: two down-sampling stages
(28 -> 14 -> 7), a 7x7 average-pool bottleneck, and the time and class embeddings *multiplied into and added to* the
decoder features. This one keeps the two stages but is closer to Ho et al.'s UNet: residual blocks with GroupNorm,
the time (+ class) embedding added inside every block, skip connections by concatenation, and no 7x7 pooling
bottleneck (a third 7x7 residual block instead). Left out to stay fast on a 2-core CPU: self-attention, dropout,
and more than one residual block per resolution; MNIST does not need them.
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class UNetConfig:
    image_channels: int = 1  # channels of x_t (and of the predicted eps): 1 grey, 3 RGB
    image_size: int = 28  # side of the square images it was trained on (it is fully convolutional: any H, W
    # divisible by 4 runs, and the scripts read this to know what to draw and what to expect)
    cond_channels: int = 0  # extra input channels for the corrupted image (0: none, 1: paper's section 3.2)
    num_classes: int = 0  # 0: no class input; else labels 0..num_classes-1, plus num_classes as the null class
    width: int = 32  # channels at full resolution; 2x width at 14x14 and 7x7
    groups: int = 8  # GroupNorm groups (must divide width)

    def to_dict(self):
        return asdict(self)


def timestep_embedding(t, dim):
    """Sinusoidal embedding of integer timesteps t (B,) -> (B, dim), half sines then half cosines:

        emb[:, i] = sin(t f_i),  emb[:, half + i] = cos(t f_i),  f_i = 10000^(-i / half),  i = 0 .. half - 1

    The frequencies run from 1 radian per step (f_0) down to about 1/10000 radian per step, so nearby t get nearby
    vectors (the slow ones) and the network can still tell t = 1 from t = 2 (the fast ones).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)  # (B, dim)


def group_norm_silu(x, add, weight, bias, groups, eps):
    """SiLU(GroupNorm(x + add)) for x (B, C, H, W) and add (B, C) or None: the normalise-then-activate that opens
    every convolution here. `add` is how the time/class embedding enters a ResBlock."""
    if add is not None:
        x = x + add[:, :, None, None]  # (B, C) -> (B, C, 1, 1): the same vector at every pixel
    return F.silu(F.group_norm(x, groups, weight, bias, eps))


class GroupNormSiLU(nn.GroupNorm):
    """group_norm_silu as a module (a GroupNorm, with its weight and bias), so that a fused kernel can stand in for
    the three operations (kernels/group_norm_silu.py)."""

    def forward(self, x, add=None):
        return group_norm_silu(x, add, self.weight, self.bias, self.num_groups, self.eps)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> 3x3 conv, twice, with the embedding added in between and a residual connection."""

    def __init__(self, c_in, c_out, emb_dim, groups):
        super().__init__()
        self.norm1 = GroupNormSiLU(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = GroupNormSiLU(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        # a 1x1 conv only where the channel count changes, so the residual can be added
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(self.norm1(x))
        # the time/class embedding, added to every pixel before the second normalisation
        h = self.conv2(self.norm2(h, add=self.emb(F.silu(emb))))
        return h + self.skip(x)


class UNet(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        c1, c2 = config.width, 2 * config.width
        emb_dim = 4 * config.width
        g = config.groups

        # t -> sinusoid -> MLP, as in Ho et al.
        self.time_mlp = nn.Sequential(nn.Linear(c1, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # one more row than classes: index num_classes is the learned "null" label of classifier-free guidance
        self.class_emb = nn.Embedding(config.num_classes + 1, emb_dim) if config.num_classes > 0 else None

        self.conv_in = nn.Conv2d(config.image_channels + config.cond_channels, c1, 3, padding=1)
        self.down1 = ResBlock(c1, c1, emb_dim, g)  # 28x28
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)  # 28 -> 14
        self.down2 = ResBlock(c1, c2, emb_dim, g)  # 14x14
        self.pool2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)  # 14 -> 7
        self.mid = ResBlock(c2, c2, emb_dim, g)  # 7x7
        self.up2 = ResBlock(c2 + c2, c2, emb_dim, g)  # 14x14, after concatenating the down2 skip
        self.up1 = ResBlock(c2 + c1, c1, emb_dim, g)  # 28x28, after concatenating the down1 skip
        self.norm_out = GroupNormSiLU(g, c1)
        self.conv_out = nn.Conv2d(c1, config.image_channels, 3, padding=1)
        # start as the zero predictor: the first loss is then E[eps^2] = 1 and training starts calm
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, y=None):
        """x: (B, image_channels + cond_channels, H, W), already holding any condition channel.
        t: (B,) long, timesteps in 1..T.  y: (B,) long labels, num_classes meaning "no label"; None for a model
        without classes. Returns eps_hat: (B, image_channels, H, W)."""
        cfg = self.config
        if x.shape[1] != cfg.image_channels + cfg.cond_channels:
            raise ValueError(
                f"UNet expects {cfg.image_channels + cfg.cond_channels} input channels "
                f"({cfg.image_channels} image + {cfg.cond_channels} condition), got {x.shape[1]}"
            )
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"UNet needs H and W divisible by 4 (two 2x down-samplings), got {tuple(x.shape[2:])}")
        emb = self.time_mlp(timestep_embedding(t, cfg.width))  # (B, emb_dim)
        if self.class_emb is not None:
            if y is None:
                # no label given: use the null class, i.e. the unconditional eps(x_t, null)
                y = torch.full_like(t, cfg.num_classes)
            emb = emb + self.class_emb(y)
        elif y is not None:
            raise ValueError("this UNet has no class input (num_classes=0) but labels were given")

        h0 = self.conv_in(x)  # (B, w, H, W)
        h1 = self.down1(h0, emb)  # (B, w, H, W)
        h2 = self.down2(self.pool1(h1), emb)  # (B, 2w, H/2, W/2)
        h = self.mid(self.pool2(h2), emb)  # (B, 2w, H/4, W/4)
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, 2w, H/2, W/2)
        h = self.up2(torch.cat([h, h2], dim=1), emb)  # (B, 2w, H/2, W/2)
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, 2w, H, W)
        h = self.up1(torch.cat([h, h1], dim=1), emb)  # (B, w, H, W)
        return self.conv_out(self.norm_out(h))  # (B, image_channels, H, W)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    # the network's size, and the time of one training step at batch 128 on this machine (median of 5)
    import statistics
    import time

    model = UNet(UNetConfig(num_classes=10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t = torch.randn(128, 1, 28, 28), torch.randint(1, 201, (128,))
    y = torch.randint(0, 11, (128,))
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        loss = (model(x, t, y) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    print(f"UNet, default config {model.config}: {count_parameters(model):,} parameters; "
          f"one training step at batch 128: {statistics.median(times[2:]):.2f} s (median of 5, after 2 warm-up), "
          f"{torch.get_num_threads()} threads")
