"""torchrun + DistributedDataParallel: two gloo processes on the CPU train the same model as one process with the
same global batch and seed, and a run started with one process resumes with two."""

import csv
import os
import subprocess
import sys

import pytest
import torch

import train
from conftest import ROOT

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")

FLAGS = ["--dataset", "mnist", "--cond", "class", "--width", "8", "--T", "20", "--batch-size", "8", "--no-progress",
         "--device", "cpu", "--ckpt-every", "2"]


def torchrun(*args):
    """train.py under torchrun with two processes on the CPU (gloo), one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRITON_INTERPRET": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(ROOT / "train.py"), *args], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


def weights(path):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt, {f"{part}.{k}": v for part in ("model", "ema") for k, v in ckpt[part].items()}


def assert_same_weights(a, b):
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=2e-5, rtol=1e-4), k


def test_two_processes_train_what_one_does_and_resume_across_process_counts(tiny_data, tmp_path):
    data_flags = ["--data-dir", str(tiny_data)]
    # one process, 4 steps of global batch 8
    train.main([*FLAGS, *data_flags, "--steps", "4", "--out", str(tmp_path / "one")])
    # two processes (4 images each per step), 4 steps from scratch
    torchrun(*FLAGS, *data_flags, "--steps", "4", "--out", str(tmp_path / "two"))
    one, w_one = weights(tmp_path / "one" / "checkpoint.pt")
    two, w_two = weights(tmp_path / "two" / "checkpoint.pt")
    assert two["step"] == 4 and abs(one["loss"] - two["loss"]) < 1e-4
    assert_same_weights(w_one, w_two)
    # only rank 0 wrote: one log line per step
    with open(tmp_path / "two" / "log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    # one process for 2 steps, then resumed by two processes up to 4: the same model again
    train.main([*FLAGS, *data_flags, "--steps", "2", "--out", str(tmp_path / "resumed")])
    torchrun("--resume", str(tmp_path / "resumed" / "checkpoint.pt"), "--steps", "4", "--no-progress", "--device",
             "cpu", *data_flags)
    resumed, w_resumed = weights(tmp_path / "resumed" / "checkpoint.pt")
    assert resumed["step"] == 4
    assert_same_weights(w_one, w_resumed)


def test_a_batch_that_does_not_split_is_refused(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "process_group", lambda: (0, 2, 0))  # as rank 0 of 2, without starting them
    with pytest.raises(SystemExit, match="does not split evenly over 2 processes"):
        train.main([*FLAGS, "--batch-size", "7", "--steps", "1", "--data-dir", str(tiny_data), "--out",
                    str(tmp_path / "x")])
