"""train.py and sample.py end to end on a tiny synthetic dataset (in-process, a few seconds)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import sample
import train
from checkpoint import CheckpointError, load_checkpoint, load_ddpm, load_weights
from unet import UNet, UNetConfig

TINY = ["--width", "8", "--batch-size", "16", "--T", "50", "--no-progress", "--device", "cpu"]


def run_train(tiny_data, out, *extra):
    train.main(["--data-dir", str(tiny_data), "--out", str(out), *TINY, *extra])
    return load_checkpoint(out / "checkpoint.pt", "ddpm")


def test_train_then_resume_continues_exactly(tiny_data, tmp_path, monkeypatch):
    monkeypatch.delenv("DDPM_DATA_DIR", raising=False)  # the resumed run must find its data through the checkpoint
    full = run_train(tiny_data, tmp_path / "full", "--steps", "6", "--ckpt-every", "3")
    part = run_train(tiny_data, tmp_path / "part", "--steps", "3")
    assert part["step"] == 3 and np.isfinite(part["loss"])
    train.main(["--resume", str(tmp_path / "part" / "checkpoint.pt"), "--steps", "6", "--no-progress"])
    resumed = load_checkpoint(tmp_path / "part" / "checkpoint.pt", "ddpm")
    assert resumed["step"] == 6
    # the same batches, timesteps and noise as the uninterrupted run: identical weights
    for k in full["model"]:
        assert torch.equal(full["model"][k], resumed["model"][k]), k
    lines = (tmp_path / "part" / "log.csv").read_text().splitlines()
    assert lines[0] == "step,loss,wall_time_s" and [ln.split(",")[0] for ln in lines[1:]] == list("123456")


def test_every_variant_trains(tiny_data, tmp_path):
    for i, extra in enumerate([["--cond", "none"],
                               ["--cond", "image", "--corruption", "pixels"],
                               ["--cond", "image", "--corruption", "noise", "--corruption-level", "0.3",
                                "--probabilistic"]]):
        ck = run_train(tiny_data, tmp_path / str(i), "--steps", "2", *extra)
        assert np.isfinite(ck["loss"]) and ck["step"] == 2


def test_resume_rejects_changed_settings_and_mismatched_weights(tiny_data, tmp_path):
    run_train(tiny_data, tmp_path / "a", "--steps", "1")
    ckpt = tmp_path / "a" / "checkpoint.pt"
    with pytest.raises(SystemExit, match="width"):
        train.main(["--resume", str(ckpt), "--width", "16", "--steps", "2", "--no-progress"])
    with pytest.raises(SystemExit, match="already at step"):
        train.main(["--resume", str(ckpt), "--steps", "1", "--no-progress"])
    with pytest.raises(CheckpointError, match="do not fit"):
        load_weights(UNet(UNetConfig(width=16)), load_checkpoint(ckpt, "ddpm")["model"])
    with pytest.raises(CheckpointError, match="'classifier' checkpoint is needed"):
        load_checkpoint(ckpt, "classifier")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project: the file is truncated"):
        load_checkpoint(tmp_path / "junk.pt", "ddpm")


def test_checkpoint_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"kind": "ddpm", "format": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project") as caught:
        load_checkpoint(tmp_path / "evil.pt", "ddpm")
    assert "weights_only" not in str(caught.value)  # never the advice that would let the file run code


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tiny_data, tmp_path, monkeypatch):
    run_train(tiny_data, tmp_path / "a", "--steps", "2")
    before = load_checkpoint(tmp_path / "a" / "checkpoint.pt", "ddpm")
    monkeypatch.setattr(train, "training_loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(SystemExit, match="loss became nan at step 3"):
        train.main(["--resume", str(tmp_path / "a" / "checkpoint.pt"), "--steps", "4", "--no-progress"])
    after = load_checkpoint(tmp_path / "a" / "checkpoint.pt", "ddpm")
    assert after["step"] == 2 and torch.equal(after["model"]["conv_in.weight"], before["model"]["conv_in.weight"])


def test_bad_flags_are_clear_errors(tiny_data, tmp_path, capsys):
    for extra, msg in ((["--steps", "0"], "--steps"), (["--probabilistic"], "--probabilistic"),
                       (["--width", "12"], "--width")):
        with pytest.raises(SystemExit, match=msg):
            run_train(tiny_data, tmp_path / "x", *extra)
    with pytest.raises(SystemExit):  # a value outside --cond's choices: argparse names the flag and the choices
        run_train(tiny_data, tmp_path / "x", "--cond", "text")
    assert "--cond: invalid choice: 'text'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a data folder that is not there: argparse names the flag and the problem
        train.main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y"), *TINY, "--steps", "1"])
    assert "--data-dir: " in (err := capsys.readouterr().err) and "no such folder" in err


def test_sample_defaults_to_the_shipped_model_and_the_ignored_samples_folder():
    from conftest import ROOT

    args = sample.parse([])
    assert Path(args.checkpoint) == ROOT / "checkpoints" / "mnist_class.pt" and Path(args.checkpoint).is_file()
    assert Path(args.out).parts[0] == "samples" and "samples/" in (ROOT / ".gitignore").read_text().splitlines()


def test_sample_cli_is_reproducible_and_checks_its_flags(tiny_data, tmp_path, capsys):
    run_train(tiny_data, tmp_path / "m", "--steps", "2")
    ckpt = str(tmp_path / "m" / "checkpoint.pt")
    capsys.readouterr()
    for name, quiet in (("a", []), ("b", ["--no-progress"])):
        sample.main(["--checkpoint", ckpt, "--n", "4", "--seed", "1", "--out", str(tmp_path / name), "--device", "cpu",
                     *quiet])
        bar = "sampling 4 images" in capsys.readouterr().err
        assert bar != bool(quiet)  # a progress bar, unless --no-progress (as in every other script)
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["images"].shape == (4, 1, 28, 28) and np.array_equal(a["images"], b["images"])
    assert (tmp_path / "a.png").stat().st_size > 0
    sample.main(["--checkpoint", ckpt, "--n", "3", "--class", "7", "--sampler", "ddim", "--steps", "5",
                 "--out", str(tmp_path / "c"), "--device", "cpu"])
    assert np.load(tmp_path / "c.npz")["labels"].tolist() == [7, 7, 7]
    for extra, msg in ((["--n", "0"], "--n"), (["--class", "10"], "--class"), (["--guidance", "-1"], "--guidance"),
                       (["--sampler", "ddim", "--steps", "500"], "--steps")):
        with pytest.raises(SystemExit) as e:  # sys.exit("error: ...") or argparse's error on stderr
            sample.main(["--checkpoint", ckpt, "--out", str(tmp_path / "d"), "--device", "cpu", *extra])
        said = e.value.code if isinstance(e.value.code, str) else capsys.readouterr().err
        assert msg in said
    (tmp_path / "e.png").mkdir()
    with pytest.raises(SystemExit, match="is a folder"):
        sample.main(["--checkpoint", ckpt, "--out", str(tmp_path / "e"), "--device", "cpu"])
    model, schedule, _ = load_ddpm(ckpt)
    assert schedule.T == 50 and not model.training


def test_learning_rate_warms_up_then_stays_or_decays_to_zero():
    constant = train.TrainConfig(lr=1e-3, warmup=10, steps=100)
    cosine = train.TrainConfig(lr=1e-3, warmup=10, steps=100, lr_schedule="cosine")
    for cfg in (constant, cosine):
        assert train.learning_rate(cfg, 0) == pytest.approx(1e-4) and train.learning_rate(cfg, 9) == pytest.approx(1e-3)
    assert all(train.learning_rate(constant, s) == pytest.approx(1e-3) for s in range(10, 100))
    decay = [train.learning_rate(cosine, s) for s in range(10, 100)]
    assert decay[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(decay, decay[1:]))
    assert decay[-1] < 1e-6 and train.learning_rate(cosine, 55) == pytest.approx(5e-4)
    with pytest.raises(SystemExit, match="lr-schedule"):
        train.check_config(train.TrainConfig(lr_schedule="linear"))


def same_run(a, b):
    """Two checkpoints of the same run: equal weights, EMA, optimizer state (in the loop's form), generator and step."""
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    for i, state in a["optimizer"]["state"].items():
        for k, v in state.items():
            w = b["optimizer"]["state"][i][k]
            assert torch.equal(v, w) and (v.dtype, v.device) == (w.dtype, w.device), (i, k)
    assert torch.equal(a["rng"]["generator"], b["rng"]["generator"]) and a["step"] == b["step"]


def test_graphed_step_run_eagerly_is_the_loop_and_resumes_exactly(tiny_data, tmp_path, monkeypatch, capsys):
    """fast.GraphedTrainStep run eagerly (what a CPU can run of the step train.py --fast replays from one CUDA
    graph): the loop's weights, EMA, optimizer state, generator and losses bit for bit, for --cond class and none;
    its checkpoints are the loop's (a float learning rate, capturable off), and a resumed run continues exactly,
    with the graphed step or with the loop."""
    def run(out, graphed, *extra):
        with monkeypatch.context() as m:
            if graphed:  # as on one CUDA GPU, but eager: capture needs CUDA
                m.setattr(train, "why_not_one_graph", lambda *a: None)
            return run_train(tiny_data, out, "--fast", *extra)

    def resume(out, graphed):
        with monkeypatch.context() as m:
            if graphed:
                m.setattr(train, "why_not_one_graph", lambda *a: None)
            train.main(["--resume", str(out / "checkpoint.pt"), "--steps", "6", "--no-progress", "--device", "cpu"])
        return load_checkpoint(out / "checkpoint.pt", "ddpm")

    graphed_runs = {}
    for cond, steps in (("class", "6"), ("none", "3")):
        loop = run(tmp_path / cond / "loop", False, "--cond", cond, "--steps", steps)
        graphed = run(tmp_path / cond / "graphed", True, "--cond", cond, "--steps", steps)
        assert "training step: GraphedTrainStep, run eagerly" in capsys.readouterr().out
        same_run(loop, graphed)
        group = graphed["optimizer"]["param_groups"][0]
        assert type(group["lr"]) is float and group["capturable"] is False
        assert graphed["optimizer"]["state"][0]["step"].device.type == "cpu"
        losses = [[ln.split(",")[1] for ln in (tmp_path / cond / name / "log.csv").read_text().splitlines()]
                  for name in ("loop", "graphed")]
        assert losses[0] == losses[1] and len(losses[0]) == int(steps) + 1
        graphed_runs[cond] = graphed
    run(tmp_path / "part", True, "--steps", "3")
    shutil.copytree(tmp_path / "part", tmp_path / "part_loop")
    same_run(graphed_runs["class"], resume(tmp_path / "part", True))  # resumed with the graphed step
    same_run(graphed_runs["class"], resume(tmp_path / "part_loop", False))  # resumed with the loop as written


def test_fast_training_on_the_cpu_runs_the_loop_as_written(tiny_data, tmp_path, monkeypatch, capsys):
    """train.py --fast on a CPU never builds the graphed step and says so; where a capture fails, the run says why
    in one line and trains with the loop as written, to the loop's weights."""
    import fast

    def refuse(*args, **kwargs):
        raise RuntimeError("capture refused")

    monkeypatch.setattr(fast, "GraphedTrainStep", refuse)
    plain = run_train(tiny_data, tmp_path / "plain", "--fast", "--steps", "2")
    assert "training step: the loop as written (one CUDA graph needs a CUDA GPU)" in capsys.readouterr().out
    monkeypatch.setattr(train, "why_not_one_graph", lambda *a: None)
    failed = run_train(tiny_data, tmp_path / "failed", "--fast", "--steps", "2")
    out = capsys.readouterr().out
    assert "training step: the loop as written (the CUDA-graph capture failed: RuntimeError: capture refused)" in out
    same_run(plain, failed)
