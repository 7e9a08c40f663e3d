"""What each MNIST judge answers for the sweep's start = 0 column (the noisy input itself, divided by sqrt(alpha_bar_t)
into the clean image's units, clamped to [-1, 1] as every judge sees it): how many of the 500 test digits it puts in
each class, and how many it gets right, at every noise level of the sweep. The noise is the sweep's own draw (its
seed per noise level), so "kept" here equals the start = 0 cells of the grid.

    DDPM_DATA_DIR=../shared/data python docs/outputs/judges_on_noise/judges_on_noise.py > docs/outputs/judges_on_noise/judges_on_noise.txt

It shows why the first classifier's grid (docs/outputs/gpu_h200/run1/sweep_noise_vs_start.json) has 8.0% in so many cells:
it calls every noisy digit an 8, and 8.0% of the first 500 test digits are 8s.
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments")]

import corruptions  # noqa: E402
import data  # noqa: E402
from checkpoint import load_ddpm  # noqa: E402
from classifier import load_classifier, predict  # noqa: E402

JUDGES = ("classifier_mnist.pt", "classifier_mnist_robust.pt", "classifier_mnist_resnet.pt")
NOISES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # the sweep's default rows
SEED = 0  # the sweep's default --seed


def main():
    torch.set_num_threads(1)
    x0, labels = data.load_test_images("mnist", 500)
    _, schedule, _ = load_ddpm(ROOT / "checkpoints" / "mnist_class.pt")  # both sweep models share this schedule
    judges = {name: load_classifier(ROOT / "checkpoints" / name)[0] for name in JUDGES}
    print(f"first 500 MNIST test digits per class: {torch.bincount(labels, minlength=10).tolist()}")
    for i, noise in enumerate(NOISES):
        g = torch.Generator().manual_seed(SEED * 1000 + i)  # the sweep's draw for row i
        x_t = corruptions.schedule_noise(x0, schedule, noise, g)[0]
        x = (x_t / schedule.alpha_bars[schedule.t_of_fraction(noise)].sqrt()).clamp(-1, 1)
        print(f"\nnoise {noise:.1f} (t = {schedule.t_of_fraction(noise)})")
        for name, judge in judges.items():
            pred = predict(judge, x)
            kept = 100 * (pred == labels).float().mean().item()
            print(f"  {name}: kept {kept:.1f}%; answers per class {torch.bincount(pred, minlength=10).tolist()}")


if __name__ == "__main__":
    main()
