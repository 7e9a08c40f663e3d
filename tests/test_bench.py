"""kernels/bench.py runs end to end (the smoke mode: tiny sizes, CPU timer, Triton in its interpreter)."""

import subprocess
import sys

import pytest
import torch

from conftest import ROOT

pytest.importorskip("triton")


def test_bench_smoke_writes_its_tables(tmp_path):
    out = tmp_path / "bench.md"
    # a page that already holds the CPU and GPU goals (measured elsewhere) keeps them when the script rewrites it
    out.write_text("# old page\n\n## On the CPU: goals\n\n| goal | met? |\n| a | yes |\n\n## Old table\n\nold\n"
                   "## On a GPU: goals\n\n| b | no |\n")
    r = subprocess.run([sys.executable, str(ROOT / "kernels" / "bench.py"), "--smoke", "--out", str(out)],
                       capture_output=True, text=True, timeout=600, env={"TRITON_INTERPRET": "1", "PATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    text = out.read_text()
    for name in ("reverse step: Triton", "reverse step: torch.compile", "masked concat: eager", "| kernels |",
                 "GroupNorm + SiLU: Triton", "GroupNorm + SiLU, embedding add"):
        assert name in text
    assert "smoke run: not a measurement" in text
    assert f"Command: `python kernels/bench.py --smoke --out {out}`" in text  # the page names where it was written
    assert "## On the CPU: goals\n\n| goal | met? |\n| a | yes |" in text and "Old table" not in text
    assert "## On a GPU: goals\n\n| b | no |" in text


def test_bench_writes_under_results_by_default():
    """Without --out the tables go to the git-ignored results/, never over the committed docs page."""
    import kernels.bench as bench

    assert bench.DEFAULT_OUT == ROOT / "results" / "benchmarks.md"
    assert "results/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_bench_without_gpu_says_so_and_exits_cleanly(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "kernels" / "bench.py"), "--out", str(tmp_path / "b.md")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "need a CUDA GPU" in r.stdout
    assert not (tmp_path / "b.md").exists()
