"""classifier.py - a small CNN that tells which class an image shows: the judge of "class preservation".

The paper says its denoised digits keep (Fig. 1) or lose (Figs. 4, 5) the class of the input, by eye. We measure it:
a classifier trained on the clean training set labels each final image, and class preservation is the share of
images given the original's class. It is also the quality bar for the class-conditional DDPM (its samples must be
recognised as the class asked for).

    python classifier.py --dataset mnist --epochs 3 --out checkpoints/classifier_mnist.pt

Network: two 3x3 conv blocks (16, 32 channels) with max-pooling, then 128 hidden units and dropout; trained with
Adam and light random shifts so that it does not rely on perfectly centred digits. Checkpoints are of kind
"classifier" and load only with weights_only=True (see checkpoint.py).
"""

import argparse
import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import data
from checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, load_weights
from devices import DEVICE_HELP, resolve_device


@dataclass
class ClassifierConfig:
    num_classes: int = 10
    width: int = 16  # channels of the first conv block; the second has twice as many
    dropout: float = 0.3


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        w = config.width
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


def main(argv=None):
    ap = argparse.ArgumentParser(description="Train the class-preservation classifier.")
    ap.add_argument("--dataset", choices=sorted(data.DATASETS), default="mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--out", required=True, help="checkpoint path to write")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.limit < 0:
        raise SystemExit("error: --epochs and --batch-size must be >= 1, --lr > 0, --limit >= 0")
    device = resolve_device(args.device)
    try:
        x, y = data.load_dataset(args.dataset, "train", args.data_dir, limit=args.limit or None)
        x_test, y_test = data.load_dataset(args.dataset, "test", args.data_dir)
    except data.DataError as e:
        sys.exit(f"error: {e}")

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    model = Classifier(ClassifierConfig()).to(device)
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
            xb = random_shift(x[idx], g).to(device)
            loss = F.cross_entropy(model(xb), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    acc = (predict(model, x_test) == y_test).float().mean().item()
    print(f"{args.dataset} test accuracy: {acc:.4f} ({len(y_test)} images)")
    atomic_save({"kind": "classifier", "format": FORMAT, "dataset": args.dataset, "config": asdict(model.config),
                 "model": {k: v.cpu() for k, v in model.state_dict().items()}, "test_accuracy": acc,
                 "epochs": args.epochs}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
