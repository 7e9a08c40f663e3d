"""classifier.py - a small CNN that tells which class an image shows: the judge of "class preservation".

The paper says its denoised digits keep (Fig. 1) or lose (Figs. 4, 5) the class of the input, by eye. We measure it:
a classifier trained on the clean training set labels each final image, and class preservation is the share of
images given the original's class. It is also the quality bar for the class-conditional DDPM (its samples must be
recognised as the class asked for).

    python classifier.py --dataset mnist --epochs 3 --out checkpoints/classifier_mnist.pt
    python classifier.py --dataset mnist --robust --arch resnet --out runs/classifier_mnist_resnet.pt
    python classifier.py --evaluate checkpoints/classifier_mnist.pt       # accuracy on clean and corrupted test images

Two networks (ClassifierConfig.arch), so that a claim resting on "class kept" can be checked by a second judge:
  cnn     two 3x3 conv blocks (16, 32 channels) with BatchNorm and max-pooling, then 128 hidden units and dropout
  resnet  a 5x5 stem, three residual blocks with GroupNorm (the second and third halve the size), global average
          pooling, one linear layer: no BatchNorm statistics, no fully connected layer over positions
Trained with Adam and light random shifts so that it does not rely on perfectly centred digits. What the experiments
feed a classifier is not always a clean digit: a chain output can stay dim (the signal of x_t is sqrt(alpha_bar_t)
x: 0.63 x at t = 60), noisy or soft. --robust trains on such views as well (`robust_view`: contrast scaled by s in
[0.3, 1], a Gaussian blur, additive noise, each at random; not the DDPM's own outputs, which would need a sampler in
the training loop), and `evaluate` reports accuracy on clean, scaled (0.63), noisy (sigma 0.3) and blurred (sigma 1)
test images. Checkpoints are of kind "classifier" and load only with weights_only=True (see checkpoint.py).
"""

import argparse
import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import cli
import data
from checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, load_weights
from corruptions import gaussian_blur
from devices import DEVICE_HELP, resolve_device


@dataclass
class ClassifierConfig:
    num_classes: int = 10
    width: int = 16  # channels of the first conv block; the second has twice as many
    dropout: float = 0.3  # cnn: dropout before the last layer
    arch: str = "cnn"  # cnn | resnet (see the module docstring)


class ResidualBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))), with a strided 1x1 shortcut where the size or width changes."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, stride, 1),
                                  nn.GroupNorm(8, c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x):
        return self.skip(x) + self.body(x)


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        w = config.width
        if config.arch == "resnet":
            self.features = nn.Sequential(
                nn.Conv2d(1, w, 5, padding=2),  # (B, w, 28, 28)
                ResidualBlock(w, w, 1), ResidualBlock(w, 2 * w, 2), ResidualBlock(2 * w, 4 * w, 2),  # (B, 4w, 7, 7)
                nn.GroupNorm(8, 4 * w), nn.SiLU())
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, config.num_classes))
            return
        if config.arch != "cnn":
            raise ValueError(f"arch must be 'cnn' or 'resnet', got {config.arch!r}")
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 7 * 7, 128), nn.ReLU(), nn.Dropout(config.dropout),
                                  nn.Linear(128, config.num_classes))

    def forward(self, x):
        """x: (B, 1, 28, 28) in [-1, 1] -> logits (B, num_classes)."""
        return self.head(self.features(x))


BLUR_WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)  # pixels: from a soft edge to a thick smear


def robust_view(x, generator):
    """What a classifier must see through, drawn per image (x: (B, 1, H, W) in [-1, 1]): with probability 1/2 the
    contrast scaled, x * s with s ~ U[0.3, 1] (a dim chain output; the background moves from -1 to -s); with
    probability 1/3 a Gaussian blur of a width from BLUR_WIDTHS; with probability 1/2 additive noise of std
    ~ U[0, 0.5]. Returns (B, 1, H, W)."""
    B = x.shape[0]
    u = torch.rand(B, 6, generator=generator)  # (B, 6): three coin flips and three levels per image
    scale = torch.where(u[:, 0] < 1 / 2, 0.3 + 0.7 * u[:, 1], torch.ones(B)).view(B, 1, 1, 1)
    x = x * scale
    width = (u[:, 3] * len(BLUR_WIDTHS)).long()  # (B,): an index into BLUR_WIDTHS
    for k, w in enumerate(BLUR_WIDTHS):  # one blur call per width, over the images that drew it
        rows = ((u[:, 2] < 1 / 3) & (width == k)).nonzero().flatten()
        if len(rows):
            x[rows] = gaussian_blur(x[rows], w)
    sigma = torch.where(u[:, 4] < 1 / 2, 0.5 * u[:, 5], torch.zeros(B)).view(B, 1, 1, 1)
    return x + sigma * torch.randn(x.shape, generator=generator)


@torch.no_grad()
def evaluate(model, x, y, seed=0):
    """Accuracy on the test images as they are and as the experiments' outputs can look: contrast 0.63 (the signal
    left at t = 60 of T = 200, sqrt(alpha_bar_60)), additive noise of std 0.3, a blur of width 1 pixel."""
    g = torch.Generator().manual_seed(seed)
    views = {"clean": x, "scaled 0.63": x * 0.63, "noisy 0.3": x + 0.3 * torch.randn(x.shape, generator=g),
             "blurred 1.0": gaussian_blur(x, 1.0)}
    return {name: (predict(model, v) == y).float().mean().item() for name, v in views.items()}


def random_shift(x, generator, max_shift=2):
    """Shift each image by up to max_shift pixels in x and y (zero-padded with the background value -1)."""
    B = x.shape[0]
    padded = F.pad(x, [max_shift] * 4, value=-1.0)  # (B, 1, 28 + 2s, 28 + 2s)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, B), generator=generator)
    return torch.stack([padded[i, :, dy[i]: dy[i] + 28, dx[i]: dx[i] + 28] for i in range(B)])


@torch.no_grad()
def predict(model, x, batch_size=1000):
    """Class predictions (N,) for images (N, 1, 28, 28) in [-1, 1]."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(x[i: i + batch_size].to(dev)).argmax(1).cpu() for i in range(0, len(x), batch_size)])


def load_classifier(path, device="cpu"):
    ckpt = load_checkpoint(path, "classifier")
    try:
        model = Classifier(ClassifierConfig(**ckpt["config"]))
    except TypeError as e:
        raise CheckpointError(f"{path}: its config does not describe a Classifier of this code ({e})") from None
    load_weights(model, ckpt["model"], str(path))
    return model.to(device).eval(), ckpt


def accuracy_table(results):
    """Markdown rows of `evaluate` results: {name: {view: accuracy}}."""
    views = list(next(iter(results.values())))
    lines = ["| classifier | " + " | ".join(views) + " |", "|---|" + "---|" * len(views)]
    for name, acc in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * acc[v]:.2f}%" for v in views) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Train the class-preservation classifier, or evaluate one.")
    # the network reads 28 x 28 grey images: the judge of the MNIST and Fashion-MNIST figures, not of CIFAR-10
    ap.add_argument("--dataset", choices=sorted(data.IDX_DATASETS), default="mnist",
                    help=f"the images it learns to classify: {', '.join(sorted(data.IDX_DATASETS))}, 28x28 grey "
                    f"(default: mnist)")
    ap.add_argument("--arch", choices=("cnn", "resnet"), default="cnn",
                    help="the network: cnn (two conv blocks) or resnet (three residual blocks), as the module "
                    "docstring describes (default: cnn)")
    ap.add_argument("--robust", action="store_true", help="train on robust_view's dim, blurred and noisy views too")
    ap.add_argument("--epochs", type=cli.positive_int, default=3, help="passes over the training set (default: 3)")
    ap.add_argument("--batch-size", type=cli.positive_int, default=128, help="images per optimizer step (default: 128)")
    ap.add_argument("--lr", type=cli.positive_float, default=1e-3,
                    help="Adam learning rate, decayed to 0 on a cosine (default: 0.001)")
    ap.add_argument("--seed", type=cli.seed, default=0,
                    help="seed of the weights, the batches and the views (default: 0)")
    ap.add_argument("--limit", type=cli.non_negative_int, default=0,
                    help="train on the first N images only (0: all) (default: 0)")
    ap.add_argument("--data-dir", type=cli.existing_dir, default=None,
                    help="data root (default: $DDPM_DATA_DIR or ./data)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--evaluate", nargs="+", metavar="CHECKPOINT", type=cli.existing_file,
                    help="only evaluate these classifiers on the --dataset test set (clean, scaled, noisy, blurred)")
    ap.add_argument("--out", type=cli.output_file(".pt"),
                    help="checkpoint path to write (training; required unless --evaluate)")
    args = ap.parse_args(argv)
    if not args.evaluate and not args.out:
        ap.error("--out is required to train (or give --evaluate CHECKPOINT ...)")
    device = resolve_device(args.device)
    try:
        x_test, y_test = data.load_dataset(args.dataset, "test", args.data_dir)
        if args.evaluate:
            results = {path: evaluate(load_classifier(path, device)[0], x_test, y_test) for path in args.evaluate}
            print(accuracy_table(results))
            return results
        x, y = data.load_dataset(args.dataset, "train", args.data_dir, limit=args.limit or None)
    except (data.DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")
    if args.batch_size > len(x):
        sys.exit(f"error: --batch-size {args.batch_size} is more than the {len(x)} training images")

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    model = Classifier(ClassifierConfig(arch=args.arch)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = max(1, len(x) // args.batch_size)
    # cosine decay of the learning rate over the whole run
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs * steps_per_epoch)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="step", mininterval=2.0)
        for i in bar:
            idx = perm[i * args.batch_size: (i + 1) * args.batch_size]
            xb = random_shift(x[idx], g)
            if args.robust:
                xb = robust_view(xb, g)
            loss = F.cross_entropy(model(xb.to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    model.eval()
    scores = evaluate(model, x_test, y_test)
    print(f"{args.dataset} test accuracy: {scores['clean']:.4f} ({len(y_test)} images)")
    print(accuracy_table({args.out: scores}))
    atomic_save({"kind": "classifier", "format": FORMAT, "dataset": args.dataset, "config": asdict(model.config),
                 "model": {k: v.cpu() for k, v in model.state_dict().items()}, "test_accuracy": scores["clean"],
                 "test_accuracy_views": scores, "robust": args.robust, "epochs": args.epochs}, args.out)
    print(f"wrote {args.out}")
    return {args.out: scores}


if __name__ == "__main__":
    main()
