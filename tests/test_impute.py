"""Zero-shot imputation (impute.py): known pixels kept exactly, an oracle recovers the image, the resampling walk, the
mask checks, the CLI end to end, and the experiment script of docs/beyond.md on tiny settings."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

import data
import impute
from checkpoint import load_ddpm
from conftest import ROOT
from corruptions import mask_of
from ddpm import Schedule
from unet import UNet, UNetConfig

sys.path.insert(0, str(ROOT / "experiments"))

import zero_shot_imputation  # noqa: E402

UNCOND = ROOT / "checkpoints" / "mnist_uncond.pt"


class Oracle(nn.Module):
    """A 'model' that predicts the true noise of x_t, knowing the clean images x0: eps = (x_t - sqrt(ab_t) x0) /
    sqrt(1 - ab_t). A chain driven by it must end at x0."""

    def __init__(self, x0, schedule):
        super().__init__()
        self.config = UNetConfig(image_channels=x0.shape[1])
        self.x0, self.schedule = x0, schedule
        self.dummy = nn.Parameter(torch.zeros(()))  # impute finds the device from the parameters

    def forward(self, x, t, y=None):
        ab = self.schedule.alpha_bars[t].view(-1, 1, 1, 1)
        x0 = self.x0.repeat(x.shape[0] // self.x0.shape[0], 1, 1, 1)  # K chains of the N images
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


def test_walk_goes_back_and_counts_calls():
    assert impute.walk(6, 2, 2) == [6, 5, 4, 6, 5, 4, 3, 2, 4, 3, 2, 1, 0]
    assert impute.walk(5, 10, 3) == [5, 4, 3, 2, 1, 0]  # no room for a jump: the plain chain
    assert impute.walk(200, 10, 1) == list(range(200, -1, -1))
    assert impute.network_calls(200, 10, 1) == 200
    # 19 jump points (t = 10 .. 190), each adding (resample - 1) * 10 down moves
    assert impute.network_calls(200, 10, 2) == 200 + 19 * 10
    assert impute.network_calls(200, 10, 5) == 200 + 19 * 10 * 4
    with pytest.raises(impute.ImputeError, match="resample"):
        impute.walk(10, 2, 0)


@pytest.mark.parametrize("method", impute.METHODS)
@pytest.mark.parametrize("resample", [1, 3])
def test_an_oracle_model_recovers_the_image(method, resample):
    schedule = Schedule(40)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand((3, 1, 12, 12), generator=g) * 2 - 1
    mask = mask_of("random:0.6", x0.shape, g)
    r = impute.impute(x0 * mask, mask, Oracle(x0, schedule), schedule, method=method, jumps=4, resample=resample,
                      chains=2, generator=g)
    assert r.sample.shape == r.mean.shape == x0.shape
    assert (r.sample - x0).abs().max() < 1e-3 and (r.mean - x0).abs().max() < 1e-3
    assert r.calls == impute.network_calls(40, 4, resample)


@pytest.mark.parametrize("method", impute.METHODS)
def test_known_pixels_are_kept_exactly_and_odd_sizes_and_colour_run(method):
    torch.manual_seed(0)
    schedule = Schedule(10)
    grey = UNet(UNetConfig(width=8, groups=4)).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand((2, 1, 13, 10), generator=g) * 2 - 1
    mask = mask_of("block", x.shape)
    images = torch.where(mask.bool(), x, torch.tensor(float("nan")))  # missing pixels are never read
    r = impute.impute(images, mask, grey, schedule, method=method, jumps=2, resample=2, chains=3, generator=g)
    assert r.sample.shape == x.shape and torch.isfinite(r.sample).all()
    assert torch.equal(r.sample[mask.bool()], x[mask.bool()]) and torch.equal(r.mean[mask.bool()], x[mask.bool()])
    assert (r.sample[~mask.bool()] - x[~mask.bool()]).abs().max() > 0.01  # the missing ones were filled, not copied
    # (N, H, W) grey images with an (N, H, W) mask, and colour images sharing one (N, 1, H, W) mask
    r2 = impute.impute(x[:, 0], mask[:, 0], grey, schedule, method=method, resample=1, generator=g)
    assert r2.sample.shape == x.shape
    colour = UNet(UNetConfig(image_channels=3, width=8, groups=4)).eval()
    xc = torch.rand((2, 3, 8, 8), generator=g) * 2 - 1
    mc = mask_of("rows", (2, 1, 8, 8))
    rc = impute.impute(xc, mc, colour, schedule, method=method, resample=1, generator=g)
    assert torch.equal(rc.sample[mc.expand_as(xc).bool()], xc[mc.expand_as(xc).bool()])


def test_masks_and_models_are_checked():
    schedule = Schedule(10)
    model = UNet(UNetConfig(width=8, groups=4)).eval()
    x = torch.zeros(2, 1, 8, 8)
    ones = torch.ones_like(x)
    for mask, msg in ((torch.ones(2, 1, 8, 6), "shape"), (ones * 0.5, "only 0"),
                      (torch.cat([ones[:1], 0 * ones[:1]]), r"image\(s\) \[1\] have no known pixel")):
        with pytest.raises(impute.ImputeError, match=msg):
            impute.impute(x, mask, model, schedule, resample=1)
    with pytest.raises(impute.ImputeError, match="method"):
        impute.impute(x, ones, model, schedule, method="inpaint")
    with pytest.raises(impute.ImputeError, match="chains"):
        impute.impute(x, ones, model, schedule, chains=0)
    with pytest.raises(impute.ImputeError, match="1, 255|127.5"):
        impute.impute(x + 255, ones, model, schedule)
    conditioned = UNet(UNetConfig(cond_channels=1, width=8, groups=4))
    with pytest.raises(impute.ImputeError, match="unconditional"):
        impute.impute(x, ones, conditioned, schedule)
    with pytest.raises(ValueError, match="unknown mask"):
        mask_of("diagonal", (1, 1, 4, 4))
    with pytest.raises(ValueError, match="number F"):
        mask_of("random:half", (1, 1, 4, 4))


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "impute.py"), *map(str, args), "--no-progress"],
                          capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})


@pytest.fixture(scope="module")
def uncond():
    if not UNCOND.exists():
        pytest.skip("checkpoints/mnist_uncond.pt is not shipped")
    return load_ddpm(UNCOND, "cpu")[:2]


def test_cli_end_to_end(tmp_path, uncond):
    import matplotlib.pyplot as plt

    x, _ = data.load_test_images("mnist", 2)
    # the README's example: the shipped digit with a named mask
    r = run_cli(ROOT / "assets" / "digit.png", "--mask", "left-half", "--out", tmp_path / "filled.png",
                "--resample", "1", "--save-masked")
    assert r.returncode == 0, r.stderr
    assert "50% of the pixels missing" in r.stdout
    filled, digit = plt.imread(tmp_path / "filled.png")[..., 0], plt.imread(ROOT / "assets" / "digit.png")
    digit = digit[..., 0] if digit.ndim == 3 else digit
    assert filled.shape == (28, 28)
    assert np.abs(filled[:, 14:] - digit[:, 14:]).max() < 1 / 255 + 1e-6  # the known right half, as it was
    # --save-masked: the input beside the output, the known half as given, the missing half the grey checkerboard
    masked = plt.imread(tmp_path / "filled_masked.png")[..., 0]
    assert masked.shape == (28, 28) and np.abs(masked[:, 14:] - digit[:, 14:]).max() < 1 / 255 + 1e-6
    assert np.allclose(masked[:, :14], impute_checker(28, 14), atol=1 / 255)
    # a PNG mask (white = known) and .npy images and masks; DDNM; the mean of two chains
    plt.imsave(tmp_path / "mask.png", mask_of("rows", (1, 1, 28, 28))[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    r = run_cli(ROOT / "assets" / "digit.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "f.npy",
                "--method", "ddnm", "--chains", "2")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "f.npy").shape == (28, 28)
    np.save(tmp_path / "x.npy", x[:, 0].numpy())
    np.save(tmp_path / "m.npy", mask_of("random:0.5", (2, 1, 28, 28))[:, 0].numpy())
    r = run_cli(tmp_path / "x.npy", "--mask", tmp_path / "m.npy", "--out", tmp_path / "o.npy", "--resample", "1")
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "o.npy")
    assert out.shape == (2, 28, 28)
    # half the pixels of a digit from the model: far closer than an empty (black) fill of the missing ones
    m = np.load(tmp_path / "m.npy") == 0
    assert ((out - x[:, 0].numpy())[m] ** 2).mean() < ((-1 - x[:, 0].numpy())[m] ** 2).mean() / 2


def impute_checker(h, w):
    """The two greys of impute.show_missing's checkerboard (2-pixel squares), in [0, 1]."""
    squares = (np.arange(h)[:, None] // 2 + np.arange(w)[None, :] // 2) % 2
    return np.where(squares == 1, 0.625, 0.375)


def test_show_missing_marks_exactly_the_missing_pixels():
    y = torch.rand(2, 3, 6, 8) * 2 - 1
    m = (torch.rand(2, 1, 6, 8) > 0.5).float().expand_as(y)
    shown = impute.show_missing(y, m)
    assert torch.equal(shown[m.bool()], y[m.bool()])  # the known pixels, untouched
    grey = (torch.from_numpy(impute_checker(6, 8)).float() * 2 - 1).expand_as(y)  # back to [-1, 1]
    assert torch.equal(shown[~m.bool()], grey[~m.bool()])
    assert impute.masked_path("out/filled.png").as_posix() == "out/filled_masked.png"


def test_cli_errors_are_clear(tmp_path):
    digit = ROOT / "assets" / "digit.png"
    for args, msg in (((digit, "--mask", tmp_path / "none.png"), "no such mask file"),
                      ((digit, "--mask", "diagonal"), "block"),
                      ((digit, "--mask", "block", "--resample", "0"), "--resample"),
                      ((digit, "--mask", "block", "--checkpoint", ROOT / "checkpoints" / "mnist_impute.pt"),
                       "unconditional")):
        r = run_cli(*args, "--out", tmp_path / "o.png")
        assert r.returncode != 0 and msg in r.stderr, r.stderr
    np.save(tmp_path / "half.npy", np.full((28, 28), 0.5))
    r = run_cli(digit, "--mask", tmp_path / "half.npy", "--out", tmp_path / "o.png")
    assert r.returncode != 0 and "only 0 (missing) and 1 (known)" in r.stderr


def test_zero_shot_experiment_tiny(tmp_path, uncond):
    judges = [str(ROOT / "checkpoints" / f) for f in ("classifier_mnist_robust.pt", "classifier_mnist_resnet.pt")]
    report = zero_shot_imputation.main(["--n", "2", "--chains", "2", "--masks", "rows", "random:0.5", "--resample",
                                        "2", "--device", "cpu", "--out", str(tmp_path), "--no-progress",
                                        "--classifiers", *judges])
    m = report["metrics"]["rows"]
    assert set(m) == {"trained", "RePaint", "RePaint r=2", "DDNM", "blur fill", "biharmonic"}
    for method in m.values():  # every judge scored every method; the first one is class_kept
        kept = method["sample"]["class_kept_by"]
        assert set(kept) == {"classifier_mnist_robust.pt", "classifier_mnist_resnet.pt"}
        assert method["sample"]["class_kept"] == kept["classifier_mnist_robust.pt"]
    assert "Class kept by classifier_mnist_resnet.pt" in (tmp_path / "zero_shot_imputation.md").read_text()
    assert report["settings"]["network_calls_per_chain"]["RePaint r=2"] == 390
    for method in m:
        assert np.isfinite(m[method]["sample"]["psnr_missing"]["mean"])
        assert np.isfinite(m[method]["mean"]["psnr_missing"]["mean"])
    saved = json.loads((tmp_path / "zero_shot_imputation.json").read_text())
    assert set(saved["comparisons"]) == {"rows", "random:0.5"}
    for f in ("zero_shot_psnr.png", "zero_shot_examples.png", "zero_shot_imputation.md",
              "zero_shot_imputation.npz"):
        assert (tmp_path / f).stat().st_size > 0
    with pytest.raises(SystemExit):
        zero_shot_imputation.main(["--masks", "diagonal"])
