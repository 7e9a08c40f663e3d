"""Every figure script end to end on tiny models (trained here for a step), and the npz/json contract."""

import json
import shutil
import sys

import numpy as np
import torch
import pytest

import classifier
import corruptions
import train
from conftest import ROOT, write_tiny_dataset

sys.path.insert(0, str(ROOT / "experiments"))

import metrics  # noqa: E402
import fig1_matched_timestep  # noqa: E402
import fig2_less_noise_timestep  # noqa: E402
import fig3_repeat_last_step  # noqa: E402
import fig4_wrong_timestep  # noqa: E402
import fig5_fashion_unconditional  # noqa: E402
import fig6_imputation  # noqa: E402
import fig7_denoising_probabilistic  # noqa: E402

MODELS = {
    "mnist_class": ["--dataset", "mnist", "--cond", "class"],
    "fashion_uncond": ["--dataset", "fashion", "--cond", "none"],
    "mnist_impute": ["--dataset", "mnist", "--cond", "image", "--corruption", "pixels",
                     "--corruption-level", "0.2", "--corruption-level-max", "0.8"],
    "mnist_denoise_prob": ["--dataset", "mnist", "--cond", "image", "--corruption", "noise",
                           "--corruption-level", "0.3", "--probabilistic"],
    # eq. 12: the image-conditioned models with the class as well
    "mnist_impute_class": ["--dataset", "mnist", "--cond", "image+class", "--corruption", "pixels"],
    "mnist_denoise_prob_class": ["--dataset", "mnist", "--cond", "image+class", "--corruption", "noise",
                                 "--corruption-level", "0.3", "--probabilistic"],
    "mnist_denoise_plain": ["--dataset", "mnist", "--cond", "image", "--corruption", "noise",
                            "--corruption-level", "0.3"],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    data_dir = root / "data"
    write_tiny_dataset(data_dir, "mnist", n_train=32, n_test=8)
    write_tiny_dataset(data_dir, "fashion-mnist", n_train=32, n_test=8, seed=1)
    ckpts = {}
    for name, flags in MODELS.items():
        train.main([*flags, "--steps", "1", "--width", "8", "--T", "20", "--batch-size", "8", "--no-progress",
                    "--device", "cpu", "--data-dir", str(data_dir), "--out", str(root / name)])
        ckpts[name] = root / name / "checkpoint.pt"
    for ds in ("mnist", "fashion"):
        classifier.main(["--dataset", ds, "--epochs", "1", "--batch-size", "16", "--data-dir", str(data_dir),
                         "--device", "cpu", "--out", str(root / f"clf_{ds}.pt")])
    return root, data_dir, ckpts


SCRIPTS = [
    (fig1_matched_timestep, "fig1_matched_timestep", "mnist_class", "mnist", []),
    (fig1_matched_timestep, "fig1_matched_timestep", "mnist_class", "mnist", ["--fast"]),
    (fig2_less_noise_timestep, "fig2_less_noise_timestep", "mnist_class", "mnist", ["--cycles", "2"]),
    (fig3_repeat_last_step, "fig3_repeat_last_step", "mnist_class", "mnist", ["--repeats", "5"]),
    (fig4_wrong_timestep, "fig4_wrong_timestep", "mnist_class", "mnist", []),
    (fig5_fashion_unconditional, "fig5_fashion_unconditional", "fashion_uncond", "fashion", []),
    (fig6_imputation, "fig6_imputation", "mnist_impute", "mnist", []),
    (fig7_denoising_probabilistic, "fig7_denoising_probabilistic", "mnist_denoise_prob", "mnist", []),
    (fig7_denoising_probabilistic, "fig7_denoising_plain", "mnist_denoise_plain", "mnist", ["--no-probabilistic"]),
    (fig6_imputation, "fig6_imputation", "mnist_impute_class", "mnist", []),
    (fig7_denoising_probabilistic, "fig7_denoising_probabilistic", "mnist_denoise_prob_class", "mnist", []),
    (fig7_denoising_probabilistic, "fig7_denoising_probabilistic_l2", "mnist_denoise_prob", "mnist",
     ["--distance", "l2"]),
]


@pytest.mark.parametrize("module, name, model, dataset, extra", SCRIPTS, ids=[" ".join([s[1], *s[4]]) for s in SCRIPTS])
def test_figure_script_writes_the_contract(tiny, tmp_path, capsys, module, name, model, dataset, extra):
    root, data_dir, ckpts = tiny
    module.main(["--n", "2", "--checkpoint", str(ckpts[model]), "--classifier", str(root / f"clf_{dataset}.pt"),
                 "--data-dir", str(data_dir), "--out", str(tmp_path), "--no-progress", "--device", "cpu", *extra])
    arrays = np.load(tmp_path / f"{name}.npz")
    for key in ("original", "corrupted", "final"):
        assert arrays[key].shape == (2, 1, 28, 28) and arrays[key].dtype == np.float32
    assert arrays["original"].min() >= -1 and arrays["original"].max() <= 1
    traj, steps = arrays["trajectory"], arrays["steps"]
    assert traj.ndim == 5 and traj.shape[1:] == (2, 1, 28, 28) and traj.shape[0] == len(steps)
    assert arrays["labels"].shape == (2,)
    if name.startswith("fig7"):
        p = arrays["p"]
        assert p.shape[1] == 2 and ((p >= 0) & (p <= 1)).all()
        if name.endswith("plain"):
            assert (p == 1).all()
        if name.endswith("l2"):  # eq. (14) as printed: tau / 28 keeps p near 1 (the RMS is far above 0.04 here)
            assert p.min() > 0.99
    result = json.loads((tmp_path / f"{name}.json").read_text())
    if name.startswith(("fig6", "fig7")):  # a model trained with --cond image+class is told the class (eq. 12)
        assert result["settings"]["class_input"] == model.endswith("_class")
    final = result["metrics"]["final"]
    assert np.isfinite(final["psnr"]["mean"]) and -1 <= final["ssim"]["mean"] <= 1
    assert 0 <= final["class_kept"] <= 1
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    # the printed output ends with one sentence built from the numbers it measured
    last = capsys.readouterr().out.strip().splitlines()[-1]
    score = final["psnr_missing" if name.startswith("fig6") else "psnr"]["mean"]
    assert last.endswith(".") and f"{score:.1f} dB" in last and "wrote" not in last


def test_scripts_refuse_the_wrong_model(tiny, tmp_path):
    root, data_dir, ckpts = tiny
    with pytest.raises(SystemExit, match="needs a 'class' model"):
        fig1_matched_timestep.main(["--n", "2", "--checkpoint", str(ckpts["fashion_uncond"]), "--classifier",
                                    str(root / "clf_mnist.pt"), "--data-dir", str(data_dir), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="probabilistic"):
        fig7_denoising_probabilistic.main(["--n", "2", "--checkpoint", str(ckpts["mnist_denoise_plain"]),
                                           "--classifier", str(root / "clf_mnist.pt"), "--data-dir", str(data_dir),
                                           "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        fig4_wrong_timestep.main(["--noise", "1.5"])


def test_out_naming_a_file_is_a_clear_error(tmp_path, capsys):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    for module in (fig1_matched_timestep, fig6_imputation):
        with pytest.raises(SystemExit):
            module.main(["--out", str(a_file)])
        assert "is a file; a folder is needed here" in capsys.readouterr().err
    assert a_file.read_text() == "not a folder"


def test_metrics_on_known_cases():
    import torch

    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.allclose(metrics.ssim(x, x), torch.ones(4), atol=1e-5)
    assert (metrics.psnr(x, x) > 90).all()
    noisy = x + 0.1 * torch.randn_like(x)
    # MSE 0.01 on a range of 2: 10 log10(4 / 0.01) = 26.0 dB, up to clipping
    assert abs(metrics.psnr(noisy, x).mean().item() - 26.0) < 0.6
    assert (metrics.ssim(noisy, x) < 0.99).all()
    assert torch.allclose(corruptions.gaussian_blur(torch.ones(1, 1, 28, 28)), torch.ones(1, 1, 28, 28), atol=1e-6)


def test_results_table_collects_the_json_metrics(tiny, tmp_path):
    import make_results

    root, data_dir, ckpts = tiny
    fig7_denoising_probabilistic.main(["--n", "2", "--checkpoint", str(ckpts["mnist_denoise_prob"]), "--classifier",
                                       str(root / "clf_mnist.pt"), "--data-dir", str(data_dir), "--out",
                                       str(tmp_path), "--no-progress", "--device", "cpu"])
    text = make_results.table(tmp_path, ["fig1_matched_timestep", "fig7_denoising_probabilistic"])
    rows = text.splitlines()
    assert rows[0].startswith("| figure |") and len(rows) == 2 + 3 + 1  # final, corrupted, blur, and p
    metrics = json.loads((tmp_path / "fig7_denoising_probabilistic.json").read_text())["metrics"]
    assert f"{metrics['final']['psnr']['mean']:.2f}" in rows[2]


def test_rescore_puts_every_row_in_one_unit_and_asks_every_judge(tiny, tmp_path):
    import rescore
    from ddpm import Schedule

    root, data_dir, ckpts = tiny
    common = ["--n", "3", "--classifier", str(root / "clf_mnist.pt"), "--data-dir", str(data_dir), "--out",
              str(tmp_path), "--no-progress", "--device", "cpu"]
    fig3_repeat_last_step.main(["--checkpoint", str(ckpts["mnist_class"]), "--repeats", "2", *common])
    fig6_imputation.main(["--checkpoint", str(ckpts["mnist_impute"]), *common])
    fig2_less_noise_timestep.main(["--checkpoint", str(ckpts["mnist_class"]), "--cycles", "3", *common])
    fig7_denoising_probabilistic.main(["--checkpoint", str(ckpts["mnist_denoise_plain"]), "--no-probabilistic",
                                       *common])
    judge, twin = str(root / "clf_mnist.pt"), str(tmp_path / "twin.pt")
    shutil.copy(judge, twin)  # a second judge that is the first one: they must agree on every image
    results = rescore.main([str(tmp_path), "--classifiers", judge, twin, "--calibration", "8", "--out",
                            str(tmp_path / "r")])
    assert set(results) == {"fig2_less_noise_timestep", "fig3_repeat_last_step", "fig6_imputation",
                            "fig7_denoising_plain"}
    assert any(row.startswith("NLM (tuned") for row in results["fig7_denoising_plain"])
    cycles = results["fig2_less_noise_timestep"]
    assert [r for r in cycles if r.startswith("after")] == ["after cycle 1", "after cycle 2", "after cycle 3"]
    assert cycles["after cycle 3"]["psnr"] == cycles["final"]["psnr"]  # the last cycle's output is the final image
    s = Schedule(20).alpha_bars[6].sqrt().item()  # the tiny models' T = 20: 30% noise is t = 6
    fig3 = results["fig3_repeat_last_step"]
    assert fig3["corrupted"]["divided_by"] == pytest.approx(s) and fig3["final"]["divided_by"] == pytest.approx(s)
    fig6 = results["fig6_imputation"]
    assert fig6["final"]["divided_by"] == 1.0 and "psnr_missing" in fig6["blur"]
    for row in fig3.values():
        assert row["judges_agree"] == 1.0 and row["class_kept"][judge] == row["class_kept"][twin]
    # the noisy input in image units: x_t / sqrt(alpha_bar_t) has the original's scale before clipping
    arrays = np.load(tmp_path / "fig3_repeat_last_step.npz")
    x0, xt = torch.from_numpy(arrays["original"]), torch.from_numpy(arrays["corrupted"])
    assert rescore.signal_scale(xt / s, x0).mean().item() == pytest.approx(1.0, abs=0.25)
    assert "| fig3_repeat_last_step: final |" in (tmp_path / "r" / "rescore.md").read_text()
    with pytest.raises(SystemExit, match="no figure outputs"):
        rescore.main([str(tmp_path / "r")])


def test_ssim_matches_scikit_image_with_the_same_window():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    ours = metrics.ssim(y, x, size=11, sigma=1.5)  # Wang et al.'s window, which scikit-image builds from sigma 1.5
    for i in range(3):
        a, b = (y[i, 0].double().numpy() + 1) / 2, (x[i, 0].double().numpy() + 1) / 2
        ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)


def test_the_committed_results_table_comes_from_the_committed_jsons():
    import make_results

    names = [make_results.FIGURES[k][1] for k in sorted(make_results.FIGURES)]
    run = ROOT / "docs" / "outputs" / "results_n500"  # python experiments/make_results.py --n 500 --fast
    rows = make_results.table(run, names).splitlines()
    paired = json.loads((run / "paired_psnr.json").read_text())
    rows += [line for line in make_results.paired_lines(paired).splitlines() if line]
    committed = (run / "results_table.md").read_text().splitlines()
    assert len(rows) > 20 and len(paired) == 2 and all(row in committed for row in rows)


def test_figure_rows_are_scored_in_the_clean_images_units():
    """x_t holds the digit at scale sqrt(alpha_bar_t): the noisy-input row, and Fig. 3's output (which keeps that
    scale), are divided by it before scoring, so a noise-free input at that scale scores as the digit itself."""
    from types import SimpleNamespace

    from ddpm import Schedule

    schedule = Schedule(200)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    run = SimpleNamespace(schedule=schedule, x0=x0, labels=torch.zeros(4, dtype=torch.long), classifier=None)
    scaled = schedule.alpha_bars[60].sqrt() * x0  # x_60 without its noise
    m = fig1_matched_timestep.noisy_input_metrics(run, scaled, scaled, 60, final_at_input_scale=True)
    assert m["corrupted"]["psnr"]["mean"] > 60 and m["final"]["psnr"]["mean"] > 60  # the digit, exactly
    m = fig1_matched_timestep.noisy_input_metrics(run, scaled, scaled, 60)  # a chain's output is not rescaled
    assert m["final"]["psnr"]["mean"] < 25 and m["corrupted"]["psnr"]["mean"] > 60


def test_strips_part_every_pair_of_rows(tmp_path):
    """A white gap of whole pixels between every two rows of a strip, not one that rounding drops every other row."""
    import matplotlib.image as mpimg

    import drawing

    rows = 8
    black = -torch.ones(rows, 1, 28, 28)
    drawing.draw_strip(tmp_path / "strip.png", [("original", black), ("noisy", black), ("final", black)],
                       "a title\nof two lines")
    picture = mpimg.imread(tmp_path / "strip.png")[..., :3].mean(-1)  # (H, W) in [0, 1]
    column = picture[:, drawing.MARGIN + drawing.CELL // 2]  # down the middle of the first column
    top = drawing.MARGIN + 2 * drawing.TITLE_LINE + drawing.COLUMN_TITLE
    white = column[top:len(column) - drawing.MARGIN] > 0.99
    gaps = int((white[1:] & ~white[:-1]).sum())  # dark-to-white edges from the first row's top to the last's bottom
    assert not white[0] and not white[-1] and gaps == rows - 1


def test_verdicts_follow_the_numbers():
    """Each figure's closing sentence is computed from its metrics: it names the comparison that held, by how much."""
    def rows(final, blur=15.0, noisy=8.2, kept=1.0):
        return {"final": {"psnr": {"mean": final}, "class_kept": kept}, "blur": {"psnr": {"mean": blur}},
                "corrupted": {"psnr": {"mean": noisy}}}

    verdict = fig1_matched_timestep.noisy_start_verdict
    # Fig. 4: fed in at t = T, told the class: loses to the blur, keeps the class, which is the paper's point
    fig4 = verdict(rows(9.8), 60, 200, 200, conditional=True)
    assert fig4.startswith("PSNR 9.8 dB, 5.2 dB below the blur baseline's 15.0 dB: expected, the paper's point")
    assert "another digit of the same class" in fig4 and "(100%)" in fig4
    assert "only 40%" in verdict(rows(9.8, kept=0.4), 60, 200, 200, conditional=True)
    assert "does not expect" in verdict(rows(16.0), 60, 200, 200, conditional=True)
    # Fig. 5: unconditional, the class changes
    assert "changes the class of 70%" in verdict(rows(9.0, kept=0.3), 60, 200, 200, conditional=False)
    # Figs. 1 and 2: fed in before T
    fig1 = verdict(rows(19.1), 60, 60, 200, conditional=True)
    assert fig1.startswith("Fed in at the step that expects its noise, the chain denoises better than a blur: PSNR "
                           "19.1 dB, 4.1 dB above")
    fig2 = verdict(rows(14.0, kept=0.9), 60, 50, 200, conditional=True, matched_psnr=19.1)
    assert "expects less noise" in fig2 and "does not beat a blur" in fig2 and "5.1 dB below the matched start" in fig2
    # Fig. 3: the repeated step against the noisy input and the blur
    assert "less than a blur does" in fig3_repeat_last_step.verdict(rows(12.3), 1, 40)
    assert "more noise than a blur" in fig3_repeat_last_step.verdict(rows(16.3), 1, 40)
    assert "does not even improve" in fig3_repeat_last_step.verdict(rows(7.0), 1, 40)
    # Fig. 6: the model against the best simple fill, on the missing pixels
    fills = {k: {"psnr_missing": {"mean": v}} for k, v in (("zeros", 9.0), ("mean", 14.7), ("blur", 20.7))}
    won = fig6_imputation.verdict({"final": {"psnr_missing": {"mean": 21.0}, "class_kept": 1.0}, **fills}, 0.5)
    assert "better than every simple fill" in won and "0.3 dB above the blur fill's 20.7 dB" in won
    lost = fig6_imputation.verdict({"final": {"psnr_missing": {"mean": 18.0}}, **fills}, 0.5)
    assert "the blur fill does better" in lost and "class kept" not in lost
    # Fig. 7: against the noisy input and the blur
    assert "probabilistic conditioning denoises better than a blur" in fig7_denoising_probabilistic.verdict(
        rows(20.5, blur=18.9, noisy=19.3), 0.3, True)
    assert "plain conditioning removes some noise, less than" in fig7_denoising_probabilistic.verdict(
        rows(19.0, blur=19.5, noisy=18.0), 0.3, False)


def test_results_table_goes_under_results_unless_named(tmp_path, monkeypatch):
    """make_results.py --table-only with its defaults writes into results/n<N>/, never over the committed table."""
    import make_results

    monkeypatch.setattr(make_results, "ROOT", tmp_path)  # the project root, as the default paths see it
    with pytest.raises(SystemExit, match="holds no figure results"):  # no results: no (empty) table either
        make_results.main(["--table-only", "--n", "3"])
    assert not (tmp_path / "results" / "n3" / "results_table.md").exists()
    one = {"psnr": {"mean": 20.0, "std": 1.0}, "ssim": {"mean": 0.8, "std": 0.1}}
    (tmp_path / "results" / "n3").mkdir(parents=True)
    (tmp_path / "results" / "n3" / "fig1_matched_timestep.json").write_text(
        json.dumps({"settings": {"n": 3}, "metrics": {"final": one}}))
    make_results.main(["--table-only", "--n", "3"])
    table = (tmp_path / "results" / "n3" / "results_table.md").read_text()
    assert table.startswith("# Metrics of the figure") and "| fig1_matched_timestep: final | 3 | 20.00 +- 1.00" in table
    make_results.main(["--table-only", "--n", "3", "--table", str(tmp_path / "named.md")])
    assert (tmp_path / "named.md").is_file()
