"""The fast path (fast.py) on the CPU: it leaves the readable model as it is, falls back lever by lever, says what it
turned on, and changes the noise prediction only by bf16 rounding."""

import torch

import fast
from ddpm import EpsFunction, Schedule, sample
from unet import GroupNormSiLU, UNet, UNetConfig


def test_fast_path_on_the_cpu_keeps_the_model_and_predicts_the_same_eps():
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=16)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    schedule = Schedule(20)
    path = fast.fast_path(model, schedule, "cpu")
    assert any("fused kernels" in why for why in path.left_off)
    # channels-last where it pays: with bf16 on a CPU it does not (docs/fast.md)
    assert ("channels-last" in path.turned_on) == (not fast.cpu_has_bf16())
    assert path.summary.startswith("fast path: ") and path.step == schedule.p_step
    assert path.model.config == model.config
    # the original is untouched: its own modules, fp32, NCHW
    assert all(type(m) is GroupNormSiLU for m in model.modules() if isinstance(m, GroupNormSiLU))
    assert model.conv_in.weight.is_contiguous()
    x, t, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 7, 13, 20]), torch.tensor([0, 3, 9, 10])
    with torch.no_grad():
        ref, got = model(x, t, y), path.model(x, t, y)
    assert got.dtype == torch.float32 and got.is_contiguous()
    tol = 0.05 if "bf16 autocast" in path.turned_on else 1e-5  # bf16 keeps 8 bits of mantissa
    assert ((got - ref).norm() / ref.norm()).item() < tol
    # the samplers take it as they take the UNet
    out, _ = sample(EpsFunction(path.model, y=y, guidance=2.0, concat=path.concat), schedule, (4, 1, 28, 28),
                    step=path.step, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 1, 28, 28) and torch.isfinite(out).all()


def test_every_lever_off_is_the_plain_model():
    model = UNet(UNetConfig(width=8)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    path = fast.fast_path(model, Schedule(20), "cpu", bf16=False, channels_last=False, fused=False)
    assert path.turned_on == [] and path.summary == "fast path: nothing"
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 9])
    with torch.no_grad():
        assert torch.equal(path.model(x, t), model(x, t))


def test_sample_script_takes_the_fast_flag(tmp_path, capsys):
    import numpy as np

    import sample
    from conftest import ROOT

    sample.main(["--checkpoint", str(ROOT / "checkpoints" / "mnist_class.pt"), "--n", "2", "--sampler", "ddim",
                 "--steps", "3", "--fast", "--device", "cpu", "--out", str(tmp_path / "s")])
    assert "fast path: " in capsys.readouterr().out
    assert np.load(tmp_path / "s.npz")["images"].shape == (2, 1, 28, 28)


def test_train_takes_the_fast_flag(tiny_data, tmp_path):
    import train
    from checkpoint import load_ddpm

    train.main(["--dataset", "mnist", "--cond", "class", "--steps", "2", "--width", "8", "--T", "20",
                "--batch-size", "8", "--no-progress", "--device", "cpu", "--fast", "--data-dir", str(tiny_data),
                "--out", str(tmp_path / "run")])
    model, _, ckpt = load_ddpm(tmp_path / "run" / "checkpoint.pt")  # an ordinary fp32 checkpoint
    assert ckpt["train_config"]["fast"] and ckpt["step"] == 2 and ckpt["loss"] == ckpt["loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_speedrun_script_trains_samples_and_judges(tiny_data, tmp_path):
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "experiments"))
    import speedrun

    report = speedrun.main(["--steps", "2", "--width", "8", "--n", "10", "--batch-size", "8", "--device", "cpu",
                            "--data-dir", str(tiny_data), "--out", str(tmp_path / "run"), "--no-progress"])
    assert report["train_wall_s_from_process_start"] > 0 and 0 <= report["classified_as_asked"] <= 1
    assert report["passed"] == (report["classified_as_asked"] >= 0.95)
    assert (tmp_path / "run" / "speedrun.json").exists() and (tmp_path / "run" / "samples_w2.png").exists()


def test_the_chain_capture_needs_cuda():
    import pytest

    model = UNet(UNetConfig(width=8)).eval()
    with pytest.raises(RuntimeError, match="CUDA"):
        fast.captured_chain(EpsFunction(model), Schedule(20), torch.zeros(1, 1, 28, 28), 5)


def test_the_lever_benchmark_runs_and_reports_every_row(tmp_path):
    """`python fast.py` itself (tiny sizes): one row per lever with its timings, the training step fp32 against
    --fast, the json written. On the CPU the fused kernels cannot run, so the --fast row keeps its name and says so."""
    import json

    out = tmp_path / "fast.json"
    result = fast.main(["--batch", "2", "--steps", "1", "--repeats", "1", "--train-batch", "2", "--device", "cpu",
                        "--out", str(out)])
    names = [r["variant"] for r in result["rows"]]
    assert names[0] == "eager fp32" and names[-1] == "--fast"
    assert ("+ bf16 weights" in names) == fast.cpu_has_bf16()
    assert all(r["ms per step"] > 0 and len(r["all timings ms"]) == 1 for r in result["rows"])
    assert result["rows"][0]["speed-up"] == 1.0
    training = result["training"]
    assert set(training["ms per step"]) == {"fp32", "--fast"} and training["speed-ups"]["fp32"] == 1.0
    assert json.loads(out.read_text())["batch"] == 2


def test_bf16_weights_give_the_eps_of_per_call_casts():
    """Weights stored in bf16 once are the values autocast casts them to on every call: the same noise prediction,
    while the GroupNorm parameters stay fp32 and the original model keeps its fp32 weights."""
    if not fast.bf16_runs_on("cpu"):
        return  # nothing to compare: without native bf16 the fast path on this CPU stays in fp32
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=16)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    cast = fast.fast_path(model, Schedule(20), "cpu", fused=False, bf16_weights=False)
    held = fast.fast_path(model, Schedule(20), "cpu", fused=False)
    assert "bf16 weights" in held.turned_on and "bf16 weights" not in cast.turned_on
    inner = held.model.model
    assert inner.conv_in.weight.dtype == torch.bfloat16 and inner.time_mlp[0].weight.dtype == torch.bfloat16
    assert all(m.weight.dtype == torch.float32 for m in inner.modules() if isinstance(m, GroupNormSiLU))
    assert model.conv_in.weight.dtype == torch.float32
    x, t, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 7, 13, 20]), torch.tensor([0, 3, 9, 10])
    with torch.no_grad():
        assert torch.equal(held.model(x, t, y), cast.model(x, t, y))


def test_chunked_runner_runs_the_readable_chain_in_stretches():
    """ChunkedGraphs replays ddpm.sample_from's own loop a stretch at a time, its timesteps shifted by a tensor; run
    eagerly (capture=False, as on a CPU) it gives the readable loop's numbers exactly, for a chain entered at any
    t_start, with its trajectory and progress; on a CPU the fast path hands the samplers no runner."""
    from ddpm import sample_from

    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10, width=8)).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.1)
    schedule = Schedule(50)
    y = torch.tensor([0, 3, 9])
    eps_fn = EpsFunction(model, y=y, guidance=2.0)
    x = torch.randn(3, 1, 28, 28)

    class Count:
        n = 0

        def update(self, k):
            self.n += k

    for t_start, every in ((50, 0), (37, 0), (7, 0), (50, 10), (23, 5), (0, 0)):
        ref, ref_traj = sample_from(eps_fn, schedule, x, t_start, record_every=every,
                                    generator=torch.Generator().manual_seed(1))
        bar = Count()
        got, traj = sample_from(eps_fn, schedule, x, t_start, record_every=every, progress=bar,
                                generator=torch.Generator().manual_seed(1),
                                runner=fast.ChunkedGraphs(chunk=10, capture=False))
        assert torch.equal(got, ref), t_start
        assert traj.steps == ref_traj.steps and all(torch.equal(a, b) for a, b in zip(traj.images, ref_traj.images))
        assert bar.n == t_start
    assert fast.fast_path(model, schedule, "cpu").runner is None
    assert "CUDA graphs" in fast.fast_path(model, schedule, "cpu", graphs=True).left_off[-1]


def test_graphed_train_step_undoes_its_warm_up_and_hands_adam_back_after_a_failed_capture():
    """What GraphedTrainStep does around a capture, on a CPU: state() and set_state() undo steps exactly (weights,
    EMA, generator, and an Adam state created since, zeroed as Adam creates it), so the step after the warm-up is
    the run's next step; a capture that cannot run raises and leaves the optimizer as the loop keeps it."""
    import copy

    import pytest

    from ddpm import training_loss

    schedule = Schedule(20)
    x_all, y_all = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))

    def fresh():
        torch.manual_seed(0)
        model = UNet(UNetConfig(num_classes=10, width=8))
        ema = copy.deepcopy(model).requires_grad_(False)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(0)
        loss = lambda idx: training_loss(model, schedule, x_all[idx], y=y_all[idx], generator=gen)  # noqa: E731
        return loss, model, ema, opt, gen

    def graphed(capture=False):
        loss, model, ema, opt, gen = fresh()
        return fast.GraphedTrainStep(loss, model, ema, opt, gen, 4, 1.0, capture=capture), model, ema, opt

    batches = [torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 7]), torch.tensor([7, 0, 3, 1])]
    (plain, model_a, ema_a, opt_a), (undone, model_b, ema_b, opt_b) = graphed(), graphed()
    for start in (0, 2):  # from a fresh Adam (no state yet), then from one with a state
        saved = undone.state()
        for i in (2, 0, 1):  # a warm-up on other batches and weights
            undone(batches[i], 5e-3, 0.5)
        undone.set_state(saved)
        for i in range(start, start + 2):
            assert torch.equal(plain(batches[i % 3], 1e-3 * (i + 1), 0.2), undone(batches[i % 3], 1e-3 * (i + 1), 0.2))
    for a, b in zip([*model_a.parameters(), *ema_a.parameters()], [*model_b.parameters(), *ema_b.parameters()]):
        assert torch.equal(a, b)
    assert all(torch.equal(opt_a.state[a][k], opt_b.state[b][k])
               for a, b in zip(model_a.parameters(), model_b.parameters()) for k in ("step", "exp_avg", "exp_avg_sq"))
    assert opt_a.state[next(model_a.parameters())]["step"].item() == 4

    loss, model, ema, opt, gen = fresh()
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        fast.GraphedTrainStep(loss, model, ema, opt, gen, 4, 1.0, capture=True)
    assert opt.param_groups[0]["lr"] == 1e-3 and type(opt.param_groups[0]["lr"]) is float
    assert opt.param_groups[0]["capturable"] is False


def test_train_on_a_cuda_gpu_replays_the_step_from_one_graph(tiny_data, tmp_path, monkeypatch, capsys):
    """On a CUDA GPU (skipped elsewhere): train.py --fast says it runs the step from one CUDA graph, draws the loop's
    noise (the same generator state), reaches the loop's weights within float rounding (capturable Adam, cuDNN's
    atomics), and resumed halfway reaches the uninterrupted run's."""
    import pytest

    import train
    from checkpoint import load_checkpoint

    if not torch.cuda.is_available():
        pytest.skip("a CUDA-graph capture needs a CUDA GPU")

    def run(name, *extra):
        train.main(["--dataset", "mnist", "--cond", "class", "--width", "8", "--T", "20", "--batch-size", "8",
                    "--lr", "1e-2", "--warmup", "4", "--no-progress", "--device", "cuda", "--fast",
                    "--data-dir", str(tiny_data), "--out", str(tmp_path / name), *extra])
        return load_checkpoint(tmp_path / name / "checkpoint.pt", "ddpm")

    graphed = run("graphed", "--steps", "6")
    assert "training step: one CUDA graph" in capsys.readouterr().out
    run("half", "--steps", "3")
    train.main(["--resume", str(tmp_path / "half" / "checkpoint.pt"), "--steps", "6", "--no-progress",
                "--device", "cuda"])
    resumed = load_checkpoint(tmp_path / "half" / "checkpoint.pt", "ddpm")
    monkeypatch.setattr(train, "why_not_one_graph", lambda *a: "the loop, for this test")
    loop = run("loop", "--steps", "6")
    assert "training step: the loop as written (the loop, for this test)" in capsys.readouterr().out
    for other in (resumed, loop):
        assert torch.equal(graphed["rng"]["generator"], other["rng"]["generator"])
        for part in ("model", "ema"):
            for k, v in graphed[part].items():
                torch.testing.assert_close(v, other[part][k], rtol=1e-3, atol=1e-4)
    assert type(graphed["optimizer"]["param_groups"][0]["lr"]) is float
