"""Blind denoising (denoise.py): the noise estimators, the sigma -> t* mapping, the chain input, the API and CLI, and
the two experiment scripts of docs/beyond.md on tiny settings."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import corruptions
import data
import denoise
from checkpoint import load_ddpm
from conftest import ROOT
from ddpm import Schedule

sys.path.insert(0, str(ROOT / "experiments"))

import blind_denoising  # noqa: E402
import sweep_noise_vs_start  # noqa: E402

SIGMAS = [0.05, 0.1, 0.2, 0.3, 0.5]


def smooth_images(n, size, seed=0):
    """Smooth test images in [-1, 1]: random low-frequency sums of sines, no edges."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = torch.zeros(n, 1, size, size)
    for i in range(n):
        f = 0.5 + 2.5 * torch.rand(4, generator=g)
        ph = 6.28 * torch.rand(4, generator=g)
        img = torch.sin(f[0] * 3.14 * xx + ph[0]) * torch.cos(f[1] * 3.14 * yy + ph[1]) + 0.5 * torch.sin(
            f[2] * 3.14 * (xx + yy) + ph[2])
        out[i, 0] = 0.9 * img / img.abs().max()
    return out


@pytest.mark.parametrize("method", ["mad", "immerkaer"])
@pytest.mark.parametrize("sigma", SIGMAS)
def test_estimators_recover_sigma_within_ten_percent_on_a_smooth_image(method, sigma):
    x = smooth_images(4, 128)
    g = torch.Generator().manual_seed(1)
    y = corruptions.gaussian_noise(x, sigma, g)
    est = denoise.estimate_sigma(y, method)
    assert est.shape == (4,)
    assert ((est - sigma).abs() / sigma < 0.10).all(), est.tolist()


def test_estimators_see_no_noise_in_a_constant_image_and_scale_linearly():
    flat = torch.full((2, 1, 28, 28), 0.3)
    for method in ("mad", "immerkaer"):
        assert denoise.estimate_sigma(flat, method).abs().max() < 1e-6
    noise = torch.randn(3, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    for method in ("mad", "immerkaer"):
        a, b = denoise.estimate_sigma(noise, method), denoise.estimate_sigma(2 * noise, method)
        assert torch.allclose(b, 2 * a, rtol=1e-5)
    with pytest.raises(denoise.DenoiseError, match="unknown estimator"):
        denoise.estimate_sigma(noise, "psychic")
    with pytest.raises(denoise.DenoiseError, match="needs the DDPM"):
        denoise.estimate_sigma(noise, "model")


def test_sigma_to_step_round_trips():
    s = Schedule(200)
    levels = denoise.sigma_of_t(s, torch.arange(201))
    # the level that step t expects maps back to t, for every t
    assert denoise.t_for_sigma(s, levels).tolist() == list(range(201))
    # any sigma lands on the first step whose level reaches it: level(t* - 1) < sigma <= level(t*)
    sig = torch.rand(1000, generator=torch.Generator().manual_seed(0)) * 3
    t = denoise.t_for_sigma(s, sig)
    assert (levels[t] >= sig - 1e-6).all() and (levels[t - 1] < sig).all()
    # (1 - ab) / ab = sigma^2 at the matched step
    t5 = int(denoise.t_for_sigma(s, 0.5))
    ab = s.alpha_bars[t5].item()
    assert math.isclose((1 - ab) / ab, levels[t5].item() ** 2, rel_tol=1e-5)
    assert denoise.t_for_sigma(s, 0.0).item() == 0 and denoise.t_for_sigma(s, 1e6).item() == 200


def test_chain_input_has_exactly_the_noise_of_its_step():
    """x_t* = sqrt(ab) y + top-up: its noise around sqrt(ab) x has variance 1 - ab, whatever the rounding."""
    s = Schedule(200)
    x = smooth_images(1, 28).expand(4000, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    for sigma in (0.05, 0.3):
        y = corruptions.gaussian_noise(x, sigma, g)
        t = denoise.t_for_sigma(s, torch.full((4000,), sigma))
        x_t = denoise.chain_input(y, torch.full((4000,), sigma), t, s, g)
        ab = s.alpha_bars[t[0]].item()
        resid = x_t - math.sqrt(ab) * x
        assert abs(resid.var().item() / (1 - ab) - 1) < 0.01


def test_check_images_gives_clear_errors():
    ok = denoise.check_images(np.zeros((28, 28), dtype=np.float32) - 1)
    assert ok.shape == (1, 1, 28, 28)
    assert denoise.check_images(torch.zeros(5, 28, 28)).shape == (5, 1, 28, 28)
    cases = [(torch.zeros(2, 3, 28, 28), "grey images"), (torch.zeros(3, 3), "at least 4x4"),
             (torch.full((28, 28), 200.0), "x / 127.5 - 1"), (torch.full((28, 28), float("nan")), "NaN"),
             ([[0.0]], "tensor or a numpy array"),
             (np.array([["a"]]), "numbers")]
    for bad, msg in cases:
        with pytest.raises(denoise.DenoiseError, match=msg):
            denoise.check_images(bad)
    with pytest.warns(denoise.RangeWarning, match="outside \\[-1, 1\\]"):  # a wrong-looking range: a warning
        denoise.check_images(torch.full((28, 28), 3.0))


def test_denoise_api_removes_noise_and_reports_sigma_and_step(uncond):
    model, schedule = uncond
    torch.manual_seed(0)
    x, _ = data.load_test_images("mnist", 16)
    g = torch.Generator().manual_seed(0)
    y = corruptions.gaussian_noise(x, 0.3, g)
    r = denoise.denoise(y, model, schedule, chains=2, generator=g)
    assert r.sample.shape == r.mean.shape == r.tweedie.shape == (16, 1, 28, 28)
    # the model's estimate of sigma is near the truth and the step matches it
    assert (r.sigma - 0.3).abs().mean() < 0.05
    assert (denoise.sigma_of_t(schedule, r.t) >= r.sigma.cpu() - 1e-6).all()
    noisy = (y.clamp(-1, 1) - x).pow(2).mean()
    for out in (r.sample, r.mean, r.tweedie):
        assert (out - x).pow(2).mean() < noisy / 3  # at least 4.8 dB better than the input
    # known sigma = 0: t* = 0, nothing to do
    r0 = denoise.denoise(x, model, schedule, sigma=0.0)
    assert r0.t.eq(0).all() and torch.equal(r0.sample, x.clamp(-1, 1))
    # DDIM with a few steps runs too
    rd = denoise.denoise(y[:4], model, schedule, sigma=0.3, steps=3, generator=g)
    assert torch.isfinite(rd.sample).all()
    for bad, msg in (({"chains": 0}, "chains"), ({"steps": 0}, "steps"), ({"variance": "x"}, "variance"),
                     ({"sigma": -1.0}, "sigma")):
        with pytest.raises(denoise.DenoiseError, match=msg):
            denoise.denoise(y[:2], model, schedule, **bad)


def test_denoise_refuses_an_image_conditioned_model():
    model, schedule, _ = load_ddpm(ROOT / "checkpoints" / "mnist_denoise_prob.pt", "cpu")
    with pytest.raises(denoise.DenoiseError, match="unconditional"):
        denoise.denoise(torch.zeros(1, 28, 28), model, schedule)


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "denoise.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})


def test_cli_end_to_end_png_and_npy(tmp_path, uncond):
    import matplotlib.pyplot as plt

    x, _ = data.load_test_images("mnist", 3)
    y = corruptions.gaussian_noise(x, 0.2, torch.Generator().manual_seed(0))
    png = tmp_path / "noisy.png"
    plt.imsave(png, ((y[0, 0].clamp(-1, 1) + 1) / 2).numpy(), cmap="gray", vmin=0, vmax=1)
    r = run_cli(png, "--out", tmp_path / "clean.png", "--chains", "2")
    assert r.returncode == 0, r.stderr
    assert "t* =" in r.stdout and "sigma" in r.stdout
    assert "clipped" in r.stderr  # a PNG cannot hold the noise below black: the CLI says so
    clean = plt.imread(tmp_path / "clean.png")
    assert clean.shape[:2] == (28, 28)
    np.save(tmp_path / "noisy.npy", y[:, 0].numpy())
    r = run_cli(tmp_path / "noisy.npy", "--out", tmp_path / "clean.npy", "--sigma", "0.2", "--output", "tweedie")
    assert r.returncode == 0, r.stderr
    assert "clipped" not in r.stderr
    out = np.load(tmp_path / "clean.npy")
    assert out.shape == (3, 28, 28)
    r = run_cli(tmp_path / "noisy.npy", "--out", tmp_path / "grid.png", "--sigma", "0.2", "--output", "tweedie")
    assert r.returncode == 0, r.stderr
    assert plt.imread(tmp_path / "grid.png").shape[:2] == (32, 92)  # three images in a row, 2-pixel gaps
    assert ((out - x[:, 0].numpy()) ** 2).mean() < ((y - x) ** 2).mean().item() / 3


def test_cli_errors_are_clear(tmp_path):
    import matplotlib.pyplot as plt

    r = run_cli(tmp_path / "missing.png", "--out", tmp_path / "o.png")
    assert r.returncode != 0 and "no such file" in r.stderr
    plt.imsave(tmp_path / "tiny.png", np.zeros((3, 3)), cmap="gray")
    r = run_cli(tmp_path / "tiny.png", "--out", tmp_path / "o.png")
    assert r.returncode != 0 and "at least 4x4" in r.stderr
    (tmp_path / "junk.png").write_bytes(b"not a png")
    r = run_cli(tmp_path / "junk.png", "--out", tmp_path / "o.png")
    assert r.returncode != 0 and "not a readable PNG" in r.stderr
    np.save(tmp_path / "u8.npy", np.full((28, 28), 255.0))
    r = run_cli(tmp_path / "u8.npy", "--out", tmp_path / "o.npy")
    assert r.returncode != 0 and "127.5" in r.stderr
    np.save(tmp_path / "ok.npy", np.zeros((28, 28)))
    r = run_cli(tmp_path / "ok.npy", "--out", tmp_path / "o.jpg")
    assert r.returncode != 0 and ".png or .npy" in r.stderr
    r = run_cli(tmp_path / "ok.npy", "--out", tmp_path / "o.npy", "--sigma", "-0.1")
    assert r.returncode != 0 and "--sigma" in r.stderr
    r = run_cli(tmp_path / "ok.npy", "--out", tmp_path / "o.npy", "--checkpoint",
                ROOT / "checkpoints" / "classifier_mnist.pt")
    assert r.returncode != 0 and "error:" in r.stderr


def test_sigma_units_parse_to_image_units_with_clear_errors():
    import argparse

    import cli

    assert cli.ratio("0.2") == (0.2, None) and cli.ratio("25/255") == (25.0, 255.0)
    assert math.isclose(cli.with_units(cli.ratio("25/255")), 50 / 255)  # 25 of 255 levels spans 2 * 25 / 255
    assert math.isclose(cli.with_units(cli.ratio("25"), 255.0), 50 / 255)
    assert cli.with_units(cli.ratio("0.3")) == 0.3  # a plain number: [-1, 1] image units, as before
    assert math.isclose(cli.with_units(cli.ratio("0.1"), 1.0), 0.2)  # on the [0, 1] scale
    for text, msg in (("25/0", "after '/' must be > 0"), ("nan", "finite"), ("-3", ">= 0"), ("x/2", "a number"),
                      ("1/2/3", "A/B")):
        with pytest.raises(argparse.ArgumentTypeError, match=msg):
            cli.ratio(text)
    with pytest.raises(argparse.ArgumentTypeError, match="given twice"):
        cli.with_units(cli.ratio("25/255"), 255.0)


def cli_in_process(capsys, *argv):
    """denoise.py's main(argv) in this process: (result, stdout, stderr)."""
    result = denoise.main([str(a) for a in argv])
    out = capsys.readouterr()
    return result, out.out, out.err


def test_cli_finds_the_noise_type_says_it_in_both_units_and_obeys_a_forced_type(tmp_path, uncond, capsys):
    from PIL import Image

    x, _ = data.load_test_images("mnist", 2)
    g = torch.Generator().manual_seed(0)
    poisson = corruptions.poisson_noise(x, 4.0, g)
    png = tmp_path / "poisson.png"  # an 8-bit file: clipped at 4 counts, every value k / 4 on the 8-bit scale
    Image.fromarray(np.round(((poisson[0, 0].clamp(-1, 1) + 1) / 2 * 255).numpy()).astype(np.uint8)).save(png)
    r, out, _ = cli_in_process(capsys, png, "--out", tmp_path / "p.png", "--steps", "3")
    assert "8-bit picture" in out and "Poisson, peak about 4 counts" in out and "restore_poisson_matched" in out
    assert r.findings[0].type == "poisson" and r.findings[0].clipped
    np.save(tmp_path / "sp.npy", corruptions.salt_and_pepper(x, 0.1, g)[0][:, 0].numpy())
    r, out, _ = cli_in_process(capsys, tmp_path / "sp.npy", "--out", tmp_path / "sp_out.npy", "--impute-method",
                               "ddnm", "--resample", "1")
    assert out.count("impulse (salt and pepper)") == 2 and "restore_impulse" in out
    np.save(tmp_path / "clean.npy", x[:, 0].numpy())
    r, out, _ = cli_in_process(capsys, tmp_path / "clean.npy", "--out", tmp_path / "c.npy")
    assert "clean, no noise found" in out and np.array_equal(np.load(tmp_path / "c.npy"), x[:, 0].numpy())
    # forced: the Poisson digits as a .npy, told the type (P read from the counts) or the type and P
    np.save(tmp_path / "p.npy", poisson[:, 0].numpy())
    r, out, _ = cli_in_process(capsys, tmp_path / "p.npy", "--out", tmp_path / "p2.npy", "--noise-type", "poisson",
                               "--steps", "3")
    assert "told poisson" in out and all(abs(f.peak - 4) < 0.1 for f in r.findings)
    r, _, _ = cli_in_process(capsys, tmp_path / "p.npy", "--out", tmp_path / "p3.npy", "--noise-type", "poisson",
                             "--peak", "16", "--steps", "3")
    assert all(f.peak == 16 for f in r.findings)
    gauss = corruptions.gaussian_noise(x, 0.2, g)
    np.save(tmp_path / "g.npy", gauss[:, 0].numpy())
    r, out, _ = cli_in_process(capsys, tmp_path / "g.npy", "--out", tmp_path / "g_out.npy", "--steps", "3")
    assert all(f.type == "gaussian" and not f.clipped for f in r.findings) and "/255)" in out


def test_cli_sigma_in_any_unit_is_todays_known_sigma_denoising(tmp_path, uncond, capsys):
    """--sigma 25/255, --sigma 25 --units 255 and --sigma 0.19607... write the same images, and those are exactly
    denoise.denoise at that sigma with the CLI's seed: the Gaussian path as it was, also under --noise-type auto."""
    model, schedule = uncond
    x, _ = data.load_test_images("mnist", 2)
    y = corruptions.gaussian_noise(x, 0.2, torch.Generator().manual_seed(0))
    np.save(tmp_path / "g.npy", y[:, 0].numpy())
    outs = []
    for i, flags in enumerate((["--sigma", "25/255"], ["--sigma", "25", "--units", "255"],
                               ["--sigma", str(50 / 255), "--noise-type", "gaussian"])):
        _, out, _ = cli_in_process(capsys, tmp_path / "g.npy", "--out", tmp_path / f"o{i}.npy", "--steps", "3", *flags)
        assert "sigma 0.1961 in [-1, 1] units (25/255) (given)" in out
        outs.append(np.load(tmp_path / f"o{i}.npy"))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    today = denoise.denoise(y, model, schedule, sigma=50 / 255, steps=3, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(outs[0], today.mean[:, 0].numpy())


def test_sweep_script_tiny(tmp_path, uncond):
    res = sweep_noise_vs_start.main(["--n", "4", "--noises", "0.1,0.2", "--starts", "0.0,0.1", "--models", "uncond",
                                     "--device", "cpu", "--out", str(tmp_path), "--no-progress"])
    grid = res["uncond"]["grids"]["psnr"]
    assert grid.shape == (2, 2)
    assert grid[0, 1] > grid[0, 0] + 3  # noise 0.1 fed in at its own step beats the noisy input itself
    for f in ("sweep_noise_vs_start.png", "sweep_examples.png", "sweep_noise_vs_start.npz",
              "sweep_noise_vs_start.json", "sweep_noise_vs_start.md"):
        assert (tmp_path / f).stat().st_size > 0
    with pytest.raises(SystemExit):
        sweep_noise_vs_start.main(["--noises", "0.1,1.5"])


def test_sweep_matched_cells_and_judges(tmp_path, uncond):
    """--cells matched runs only start = noise (NaN elsewhere, null in the json); every judge gets a grid."""
    judges = [str(ROOT / "checkpoints" / f) for f in ("classifier_mnist_robust.pt", "classifier_mnist_resnet.pt")]
    res = sweep_noise_vs_start.main(["--n", "4", "--noises", "0.1,0.2", "--starts", "0.0,0.1,0.2", "--models",
                                     "uncond", "--cells", "matched", "--classifiers", *judges, "--device", "cpu",
                                     "--out", str(tmp_path), "--no-progress"])
    g = res["uncond"]["grids"]
    run = ~np.isnan(g["psnr"])
    assert run.tolist() == [[False, True, False], [False, False, True]]
    assert set(g["class_kept_by"]) == {"classifier_mnist_robust.pt", "classifier_mnist_resnet.pt"}
    for grid in g["class_kept_by"].values():
        assert (~np.isnan(grid) == run).all() and (grid[run] >= 0).all() and (grid[run] <= 1).all()
    assert (g["class_kept"][run] == g["class_kept_by"]["classifier_mnist_robust.pt"][run]).all()
    saved = json.loads((tmp_path / "sweep_noise_vs_start.json").read_text())
    assert saved["metrics"]["uncond"]["psnr"][0][0] is None and saved["settings"]["cells"] == "matched"
    assert "classifier_mnist_resnet.pt" in (tmp_path / "sweep_noise_vs_start.md").read_text()


def test_sweep_resume_gives_the_uninterrupted_numbers(tmp_path, uncond, capsys):
    """A --cells matched run grown into the grid with --resume holds exactly the grid of one uninterrupted run; a
    resume with other settings, or from an empty folder, is refused with a clear error."""
    common = ["--n", "3", "--noises", "0.05,0.1", "--starts", "0.05,0.1", "--models", "uncond", "--device", "cpu",
              "--no-progress"]
    whole = sweep_noise_vs_start.main([*common, "--out", str(tmp_path / "whole")])["uncond"]
    sweep_noise_vs_start.main([*common, "--cells", "matched", "--out", str(tmp_path / "cut")])
    grown = sweep_noise_vs_start.main([*common, "--resume", "--out", str(tmp_path / "cut")])["uncond"]
    for key in ("psnr", "ssim", "class_kept"):
        assert not np.isnan(grown["grids"][key]).any()
        np.testing.assert_array_equal(grown["grids"][key], whole["grids"][key])
    assert torch.equal(grown["examples"], whole["examples"])
    saved = json.loads((tmp_path / "cut" / "sweep_noise_vs_start.json").read_text())
    assert saved["settings"]["cells"] == "grid" and saved["metrics"]["uncond"]["psnr"][0][0] is not None
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        sweep_noise_vs_start.main([*common[:1], "4", *common[2:], "--resume", "--out", str(tmp_path / "cut")])
    assert "other settings" in str(e.value) and "n: 3 there, 4 here" in str(e.value)
    with pytest.raises(SystemExit) as e:
        sweep_noise_vs_start.main([*common, "--resume", "--out", str(tmp_path / "empty")])
    assert "no readable sweep" in str(e.value)


def test_blind_denoising_script_tiny(tmp_path, uncond):
    judges = [str(ROOT / "checkpoints" / f) for f in ("classifier_mnist_robust.pt", "classifier_mnist_resnet.pt")]
    report = blind_denoising.main(["--n", "6", "--sigmas", "0.3", "--chains", "2", "--calibration", "6",
                                   "--no-conditional", "--device", "cpu", "--out", str(tmp_path), "--no-progress",
                                   "--classifiers", *judges])
    m = report["metrics"]["0.3"]
    for method in m.values():  # every judge scored every method; the first one is the json's class_kept
        assert set(method["class_kept_by"]) == {"classifier_mnist_robust.pt", "classifier_mnist_resnet.pt"}
        assert method["class_kept"] == method["class_kept_by"]["classifier_mnist_robust.pt"]
    assert "classifier_mnist_resnet.pt gives" in (tmp_path / "blind_denoising.md").read_text()
    for method in ("noisy", "blind sample", "blind mean", "blind tweedie", "oracle mean", "NLM", "TV", "wavelet",
                   "blur"):
        assert method in m
    assert m["blind mean"]["psnr"]["mean"] > m["noisy"]["psnr"]["mean"] + 3
    saved = json.loads((tmp_path / "blind_denoising.json").read_text())
    assert set(saved["estimators"]) == {"model", "mad", "immerkaer"}
    assert (tmp_path / "blind_psnr_vs_sigma.png").stat().st_size > 0
