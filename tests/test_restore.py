"""Noise beyond white Gaussian (corruptions.py's photon, impulse and 8-bit corruptions; restore.py): the statistics
of each corruption, the Anscombe transform and its unbiased inverse, the impulse detector, the censored-Gaussian
fit, the blind type detector on seeded digits, the errors, and restore() on a few digits with short chains."""

import math

import pytest
import torch

import corruptions
import data
import denoise
import restore
from conftest import ROOT



def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def psnr(x, ref):
    return (10 * torch.log10(4 / (x.clamp(-1, 1) - ref).pow(2).flatten(1).mean(1))).mean().item()


@pytest.fixture(scope="module")
def digits():
    x, _ = data.load_test_images("mnist", 8)
    return x


# ----------------------------------------------------------------------------------------------------------------------
# The corruptions
# ----------------------------------------------------------------------------------------------------------------------


def test_poisson_counts_have_the_mean_and_variance_of_a_poisson_law():
    x01 = 0.3
    x0 = torch.full((4, 1, 100, 100), 2 * x01 - 1)
    for peak in (4.0, 20.0):
        y = corruptions.poisson_noise(x0, peak, gen())
        k = restore.counts_of(y, peak)
        assert torch.allclose(k, k.round(), atol=1e-4)  # whole counts
        assert abs(k.mean().item() / (peak * x01) - 1) < 0.02
        assert abs(k.var().item() / (peak * x01) - 1) < 0.04  # Var = mean for a Poisson count
        assert abs(y.mean().item() - x0[0, 0, 0, 0].item()) < 0.02  # unbiased in image units
    assert (corruptions.poisson_noise(torch.full((2, 1, 8, 8), -1.0), 4.0, gen()) == -1).all()  # black stays black


def test_poisson_gaussian_variance_adds_the_two_parts():
    x0 = torch.full((4, 1, 100, 100), 0.2)  # x01 = 0.6
    y = corruptions.poisson_gaussian_noise(x0, 10.0, 0.1, gen())
    expected = 4 * 0.6 / 10 + 0.1**2
    assert abs(y.var().item() / expected - 1) < 0.04


def test_impulses_hit_the_stated_share_with_the_stated_values(digits):
    x0 = torch.zeros(4, 1, 100, 100)
    for q in (0.1, 0.3):
        y, hit = corruptions.salt_and_pepper(x0, q, gen())
        assert abs(hit.float().mean().item() - q) < 0.01
        assert (y[hit].abs() == 1).all() and (y[~hit] == 0).all()
        assert abs((y[hit] == 1).float().mean().item() - 0.5) < 0.03  # salt and pepper alike
        y, hit = corruptions.random_impulse(x0, q, gen())
        assert abs(hit.float().mean().item() - q) < 0.01
        assert abs(y[hit].mean().item()) < 0.03 and abs(y[hit].var().item() - 1 / 3) < 0.02  # U[-1, 1]
    y, hit = corruptions.salt_and_pepper(digits, 0.0, gen())
    assert torch.equal(y, digits) and not hit.any()


def test_clip_and_quantise_keeps_the_range_and_the_levels():
    y = torch.randn(10000, generator=gen()) * 2
    for bits in (2, 8):
        levels = 2**bits - 1
        c = corruptions.clip_and_quantise(y, bits)
        assert c.min() >= -1 and c.max() <= 1
        steps = (c + 1) / 2 * levels
        assert torch.allclose(steps, steps.round(), atol=1e-4)
        assert len(torch.unique(c)) == levels + 1
        assert torch.equal(corruptions.clip_and_quantise(c, bits), c)  # a file read back and saved again
    assert (corruptions.clip_and_quantise(torch.tensor([-3.0, 3.0])) == torch.tensor([-1.0, 1.0])).all()


@pytest.mark.parametrize("call, msg", [
    (lambda x: corruptions.poisson_noise(x, -1.0), "peak"),
    (lambda x: corruptions.poisson_noise(x, 0.0), "peak"),
    (lambda x: corruptions.poisson_noise(x, float("nan")), "peak"),
    (lambda x: corruptions.poisson_gaussian_noise(x, 4.0, -0.1), "sigma"),
    (lambda x: corruptions.salt_and_pepper(x, 1.5), "share"),
    (lambda x: corruptions.random_impulse(x, -0.1), "share"),
    (lambda x: corruptions.clip_and_quantise(x, 0), "bits"),
])
def test_corruptions_refuse_impossible_levels(call, msg):
    with pytest.raises(ValueError, match=msg):
        call(torch.zeros(1, 1, 8, 8))


# ----------------------------------------------------------------------------------------------------------------------
# The Anscombe transform and its inverse
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma_c", [0.0, 1.0])
def test_the_exact_inverse_is_unbiased_where_the_algebraic_one_is_not(sigma_c):
    for lam in (0.2, 1.0, 3.0, 10.0):
        z = torch.poisson(torch.full((200000,), lam), generator=gen()) + sigma_c * torch.randn(200000, generator=gen(1))
        D = restore.anscombe(z, sigma_c).mean().view(1)  # what an ideal denoiser of the transformed image returns
        assert abs(restore.inverse_anscombe(D, sigma_c).item() - lam) < 0.02 + 0.01 * lam
    algebraic = (D / 2) ** 2 - 3 / 8 - sigma_c**2
    assert abs(algebraic.item() - lam) > 3 * abs(restore.inverse_anscombe(D, sigma_c).item() - lam)


def test_the_transform_makes_poisson_noise_unit_variance():
    for lam in (5.0, 20.0):
        z = torch.poisson(torch.full((200000,), lam), generator=gen())
        assert abs(restore.anscombe(z).var().item() - 1) < 0.06


def test_closed_form_inverse_matches_the_tabulated_one_and_black_maps_to_zero():
    D = torch.linspace(1.3, 12, 200)
    assert (restore.inverse_anscombe_closed_form(D) - restore.inverse_anscombe(D)).abs().max() < 0.02
    black = restore.anscombe_expectation(torch.tensor([0.0]))  # 2 sqrt(3/8)
    assert math.isclose(black.item(), 2 * math.sqrt(3 / 8), rel_tol=1e-9)
    assert restore.inverse_anscombe(black.float() - 0.1).item() == 0
    assert restore.inverse_anscombe_closed_form(black.float() - 0.1).item() == 0


def test_transformed_units_send_black_and_white_to_the_ends():
    for peak, sigma_c in ((4.0, 0.0), (16.0, 0.8)):
        a, b = restore.transformed_units(peak, sigma_c)
        lo, hi = restore.anscombe_expectation(torch.tensor([0.0, peak]), sigma_c).tolist()
        assert math.isclose(a * lo + b, -1, abs_tol=1e-9) and math.isclose(a * hi + b, 1, abs_tol=1e-9)
    x = torch.linspace(-1, 1, 9)
    assert torch.allclose(2 * restore.counts_of(x, 16.0) / 16.0 - 1, x)  # counts_of inverts y = 2 k / P - 1


def test_poisson_prox_solves_its_stationarity_condition():
    u_hat = torch.rand(1000, generator=gen())
    k = torch.poisson(torch.full((1000,), 3.0), generator=gen(1))
    for rho in (0.01, 0.3):
        u = restore.poisson_prox(u_hat, k, 8.0, rho)
        assert (u >= 0).all()
        positive = k > 0
        grad = (u - u_hat) / rho + 8.0 - k / u.clamp(min=1e-12)
        assert grad[positive].abs().max() < 1e-3
        assert torch.allclose(u[~positive], (u_hat - rho * 8.0).clamp(min=0)[~positive], atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Impulses and clipping
# ----------------------------------------------------------------------------------------------------------------------


def test_impulse_detector_finds_most_visible_hits_with_few_false_alarms(digits):
    y, hit = corruptions.salt_and_pepper(digits, 0.1, gen())
    changed = hit & ((y - digits).abs() > 0.5)
    found = restore.detect_impulses(y, "salt-and-pepper")
    assert (found & changed).sum() / changed.sum() > 0.9
    assert (found & ~hit).sum() / (~hit).sum() < 0.01
    y, hit = corruptions.random_impulse(digits, 0.1, gen())
    changed = hit & ((y - digits).abs() > 0.5)
    found = restore.detect_impulses(y, "random", restore.RANDOM_IMPULSE_THRESHOLD)
    assert (found & changed).sum() / changed.sum() > 0.8
    assert (found & ~hit).sum() / (~hit).sum() < 0.08
    assert not restore.detect_impulses(torch.full((1, 1, 8, 8), -1.0)).any()
    with pytest.raises(restore.RestoreError, match="impulse kind"):
        restore.detect_impulses(y, "pepper only")


def test_censored_fit_recovers_sigma_and_uncensor_restores_gaussian_noise(digits):
    for sigma in (0.2, 0.4):
        y = corruptions.clip_and_quantise(corruptions.gaussian_noise(digits, sigma, gen()))
        sigmas = torch.linspace(0.05, 1.0, 400)
        best = sigmas[restore.censored_log_likelihood(y, digits, sigmas).argmax(1)]
        assert ((best - sigma).abs() < 0.1 * sigma).all() and abs(best.mean() - sigma) < 0.02 * sigma, best.tolist()
        y_u = restore.uncensor(y, digits, torch.full((8,), sigma), gen(1))
        n = (y_u - digits) / sigma
        assert abs(n.mean().item()) < 0.03 and abs(n.std().item() - 1) < 0.03
        assert restore.is_extreme(y).float().mean() > 0.4 and restore.is_extreme(y_u).float().mean() < 0.01


# ----------------------------------------------------------------------------------------------------------------------
# The blind detector
# ----------------------------------------------------------------------------------------------------------------------


def test_detector_tells_the_noise_types_apart(digits):
    C = corruptions.clip_and_quantise
    cases = [
        ("clean", None, digits),
        ("gaussian", False, corruptions.gaussian_noise(digits, 0.2, gen())),
        ("gaussian", True, C(corruptions.gaussian_noise(digits, 0.2, gen()))),
        ("poisson", False, corruptions.poisson_noise(digits, 4.0, gen())),
        ("poisson", True, C(corruptions.poisson_noise(digits, 4.0, gen()))),
        ("poisson-gaussian", False, corruptions.poisson_gaussian_noise(digits, 4.0, 0.1, gen())),
        ("impulse", None, corruptions.salt_and_pepper(digits, 0.1, gen())[0]),
        ("impulse", None, corruptions.random_impulse(digits, 0.3, gen())[0]),
    ]
    for truth, clipped, y in cases:
        found = restore.detect(y)
        assert sum(f.type == truth for f in found) >= 7, (truth, [f.type for f in found])
        if clipped is not None:
            assert all(f.clipped == clipped for f in found if f.type == truth)
    poisson = restore.detect(corruptions.poisson_noise(digits, 4.0, gen()))
    assert all(abs(f.peak - 4) < 0.1 for f in poisson)
    salt = [f for f in restore.detect(corruptions.salt_and_pepper(digits, 0.1, gen())[0]) if f.type == "impulse"]
    assert all(f.kind == "salt-and-pepper" and 0.06 < f.q < 0.14 for f in salt), [f.q for f in salt]
    rand = [f for f in restore.detect(corruptions.random_impulse(digits, 0.3, gen())[0]) if f.type == "impulse"]
    assert all(f.kind == "random" for f in rand)


def test_a_clean_digit_on_the_poisson_lattice_is_not_called_poisson(digits):
    """A clean digit whose only greys are multiples of 1/P sits on the count lattice of peak P (a black-and-white
    digit on P = 1's, one with a half-grey border on P = 2's): its smooth strokes keep it clean, and salt and pepper
    on it stays impulse noise, while Poisson noise on it stays Poisson."""
    strokes = (digits > 0).float()
    border = torch.maximum(strokes, 0.5 * torch.nn.functional.max_pool2d(strokes, 3, 1, 1))
    for clean in (2 * strokes - 1, 2 * border - 1):
        assert (restore.lattice(clean)[1] >= restore.LATTICE_SHARE).all()
        assert all(f.type == "clean" for f in restore.detect(clean))
        salted = corruptions.salt_and_pepper(clean, 0.1, gen())[0]
        assert all(f.type == "impulse" and f.kind == "salt-and-pepper" for f in restore.detect(salted))
        counted = corruptions.clip_and_quantise(corruptions.poisson_noise(clean, 4.0, gen()))
        assert sum(f.type == "poisson" for f in restore.detect(counted)) >= 7


def test_findings_describe_themselves_in_both_units():
    assert restore.Finding("poisson", peak=5.2).describe() == "Poisson, peak about 5.2 counts"
    assert restore.Finding("impulse", q=0.12, kind="salt-and-pepper").describe() == \
        "impulse (salt and pepper), 12% of pixels"
    text = restore.Finding("gaussian", sigma=0.2, clipped=True).describe()
    assert text == "Gaussian, sigma 0.2 in [-1, 1] units (25.5/255), clipped"
    assert restore.Finding("clean").describe().startswith("clean")


def test_detector_and_restore_refuse_impossible_inputs():
    with pytest.raises(denoise.DenoiseError, match="NaN"):
        restore.detect(torch.full((1, 1, 28, 28), float("nan")))
    for noise_type, level, msg in (("poisson", -4.0, "peak"), ("poisson", float("nan"), "peak"),
                                   ("impulse", 1.5, "share"), ("gaussian", -0.1, "sigma"),
                                   ("poisson-gaussian", 4.0, "P, sigma"), ("speckle", None, "noise type")):
        with pytest.raises(restore.RestoreError, match=msg):
            restore.given_finding(noise_type, level)


# ----------------------------------------------------------------------------------------------------------------------
# restore() with the model, on a few digits with short chains
# ----------------------------------------------------------------------------------------------------------------------


def test_white_gaussian_goes_through_denoise_unchanged(uncond, digits):
    model, schedule = uncond
    y = corruptions.gaussian_noise(digits[:4], 0.2, gen())
    ours = restore.restore(y, model, schedule, generator=gen(1), steps=4)
    today = denoise.denoise(y, model, schedule, generator=gen(1), steps=4)
    assert all(f.type == "gaussian" for f in ours.findings)
    assert torch.equal(ours.output, today.mean)


def test_restore_finds_and_removes_poisson_and_impulse_noise(uncond, digits):
    model, schedule = uncond
    x = digits[:3]
    y = corruptions.poisson_noise(x, 8.0, gen())
    out = restore.restore(y, model, schedule, generator=gen(1), steps=4)
    assert all(f.type == "poisson" for f in out.findings) and "matched" in out.ran[0]
    assert psnr(out.output, x) > psnr(y, x) + 1.5
    y, _ = corruptions.salt_and_pepper(x, 0.1, gen())
    fill = {"method": "ddnm", "resample": 1}
    out = restore.restore(y, model, schedule, generator=gen(1), fill=fill)
    assert all(f.type == "impulse" for f in out.findings) and "impute" in out.ran[0]
    assert psnr(out.output, x) > psnr(y, x) + 10
    clean = restore.restore(x, model, schedule, generator=gen(1))
    assert torch.equal(clean.output, x) and clean.ran[0] == "nothing (clean)"


# ----------------------------------------------------------------------------------------------------------------------
# experiments/other_noise.py on tiny settings
# ----------------------------------------------------------------------------------------------------------------------


def test_other_noise_script_tiny_and_resumed(tmp_path, uncond, capsys):
    import sys

    sys.path.insert(0, str(ROOT / "experiments"))
    import other_noise

    argv = ["--n", "2", "--conditions", "gaussian_0.1", "--steps", "2", "--calibration", "2", "--device", "cpu",
            "--out", str(tmp_path)]
    report = other_noise.main(argv)
    c = report["conditions"]["gaussian_0.1"]
    assert {"noisy", "NLM", "oracle", "blind", "today's denoise"} <= set(c["methods"])
    assert c["methods"]["blind"]["psnr"] > c["methods"]["noisy"]["psnr"]
    assert "blind - oracle" in c["paired"] and "blind - NLM" in c["paired"]
    assert report["confusion"]["gaussian"]["gaussian"] == 2 and report["detection_accuracy"] == 1.0
    assert c["paired"]["blind - today's denoise"]["db"] == 0  # white Gaussian noise: the same chain, image for image
    for f in ("other_noise.json", "other_noise.md", "other_noise.npz", "other_noise.png", "other_noise_psnr.png",
              "conditions/gaussian_0.1_000.json", "conditions/gaussian_0.1_000.npz"):
        assert (tmp_path / f).stat().st_size > 0
    capsys.readouterr()
    again = other_noise.main([*argv, "--resume"])  # the finished chunk is kept, not run again
    assert "chunk 0 (2 images): kept" in capsys.readouterr().out
    assert again["conditions"]["gaussian_0.1"]["methods"] == c["methods"]
    other_noise.main([*argv[:1], "3", *argv[2:], "--resume"])  # a larger n: the partial chunk runs again at 3
    assert "chunk 0 (3 images): ran" in capsys.readouterr().out
