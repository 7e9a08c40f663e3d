"""Past MNIST: an RGB 32x32 model trains a few steps on CIFAR-10 files the test writes, samples a colour grid with
class names and denoises colour images larger than its training size; a folder of your own images trains too; the
figure machinery (metrics, strips) takes colour."""

import sys

import numpy as np
import pytest
import torch

import corruptions
import denoise
import sample
import train
from checkpoint import load_ddpm
from conftest import ROOT, write_tiny_cifar

sys.path.insert(0, str(ROOT / "experiments"))

import drawing  # noqa: E402
import metrics  # noqa: E402

TINY = ["--width", "8", "--T", "20", "--batch-size", "8", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def cifar_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_tiny_cifar(root / "data")
    train.main(["--dataset", "cifar10", "--cond", "class", "--steps", "2", *TINY, "--data-dir", str(root / "data"),
                "--out", str(root / "run")])
    return root / "run" / "checkpoint.pt"


def test_rgb_model_trains_samples_and_denoises(cifar_model, tmp_path):
    model, schedule, ckpt = load_ddpm(cifar_model)
    assert model.config.image_channels == 3 and model.config.image_size == 32 and model.config.num_classes == 10
    assert ckpt["class_names"][3] == "cat"
    sample.main(["--checkpoint", str(cifar_model), "--n", "20", "--device", "cpu", "--out", str(tmp_path / "s")])
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (20, 3, 32, 32)
    assert (tmp_path / "s.png").stat().st_size > 1000  # two columns of ten classes, each row named
    # colour images of another size than the training one: padded to sides divisible by 4, cropped back
    y = torch.rand(2, 3, 37, 42) * 2 - 1
    out = denoise.denoise(y, model, schedule, sigma=0.2, generator=torch.Generator().manual_seed(0))
    assert out.sample.shape == out.tweedie.shape == (2, 3, 37, 42) and out.t.tolist()[0] > 0
    assert denoise.estimate_sigma(y, "immerkaer").shape == (2,)
    with pytest.raises(denoise.DenoiseError, match="3, H, W"):
        denoise.denoise(torch.zeros(2, 32, 32), model, schedule, sigma=0.1)
    np.save(tmp_path / "noisy.npy", y.numpy())
    r = denoise.main([str(tmp_path / "noisy.npy"), "--out", str(tmp_path / "clean.npy"), "--checkpoint",
                      str(cifar_model), "--sigma", "0.2", "--device", "cpu"])
    assert np.load(tmp_path / "clean.npy").shape == (2, 3, 37, 42) and r.sigma.shape == (2,)
    denoise.main([str(tmp_path / "noisy.npy"), "--out", str(tmp_path / "clean.png"), "--checkpoint", str(cifar_model),
                  "--sigma", "0.2", "--device", "cpu"])
    import matplotlib.pyplot as plt

    assert plt.imread(tmp_path / "clean.png").shape[2] in (3, 4)  # a colour PNG


def test_folder_of_images_trains_and_refuses_classes_it_does_not_have(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    train.main(["--dataset", "folder", "--data-dir", str(tmp_path), "--cond", "none", "--image-size", "16",
                "--steps", "1", *TINY, "--batch-size", "4", "--out", str(tmp_path / "run")])
    model, _, _ = load_ddpm(tmp_path / "run" / "checkpoint.pt")
    assert model.config.image_channels == 3 and model.config.image_size == 16
    with pytest.raises(SystemExit, match="one sub-folder per class"):
        train.main(["--dataset", "folder", "--data-dir", str(tmp_path), "--cond", "class", "--steps", "1", *TINY,
                    "--out", str(tmp_path / "run2")])
    with pytest.raises(SystemExit, match="apply to --dataset folder"):
        train.main(["--dataset", "mnist", "--channels", "3", "--steps", "1", *TINY, "--out", str(tmp_path / "r3")])
    with pytest.raises(SystemExit, match="needs --data-dir"):
        train.main(["--dataset", "folder", "--cond", "none", "--steps", "1", *TINY, "--out", str(tmp_path / "r4")])


def test_metrics_and_strips_take_colour(tmp_path):
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert torch.allclose(metrics.ssim(x, x), torch.ones(3), atol=1e-5)
    noisy = x + 0.2 * torch.randn_like(x)
    assert (metrics.ssim(noisy, x) < 0.95).all() and corruptions.gaussian_blur(noisy).shape == x.shape
    # a grey image repeated over three channels scores as the grey image does
    g = x[:, :1]
    assert torch.allclose(metrics.ssim(g.expand(-1, 3, -1, -1), noisy[:, :1].expand(-1, 3, -1, -1)),
                          metrics.ssim(g, noisy[:, :1]), atol=1e-6)
    drawing.draw_strip(tmp_path / "strip.png", [("original", x), ("noisy", noisy)], "colour")
    assert (tmp_path / "strip.png").stat().st_size > 1000
