"""The README's Python block runs as written, from the repository root, and gives what its comments say."""

import re

from conftest import ROOT


def test_readme_python_block_runs(monkeypatch):
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    monkeypatch.chdir(ROOT)  # the block names its checkpoints from the repository root
    monkeypatch.delenv("DDPM_DATA_DIR", raising=False)  # the shipped test images, as on a fresh clone
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["out"].sample.shape == (8, 1, 28, 28)
    assert ((scope["out"].sigma - 0.3).abs() < 0.06).all()  # the noise level found is the one added
    assert scope["digits"].shape == (10, 1, 28, 28)
