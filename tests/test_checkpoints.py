"""The checkpoints that ship with the project: each loads safely, is what its name says, and is in the manifest."""

import pytest

from checkpoint import load_checkpoint, load_ddpm
from classifier import load_classifier
from conftest import ROOT

CKPT_DIR = ROOT / "checkpoints"
# what each shipped DDPM must be, for the figure scripts that load it
EXPECTED_DDPM = {
    "mnist_class.pt": ("mnist", "class"),
    "mnist_class_speedrun.pt": ("mnist", "class"),  # the GPU speedrun (docs/benchmarks.md)
    "mnist_uncond.pt": ("mnist", "none"),
    "fashion_uncond.pt": ("fashion", "none"),
    "mnist_impute.pt": ("mnist", "image"),
    "mnist_denoise_prob.pt": ("mnist", "image"),
    "mnist_denoise_plain.pt": ("mnist", "image"),
    # eq. (12): the same three with the class as well
    "mnist_impute_class.pt": ("mnist", "image+class"),
    "mnist_denoise_prob_class.pt": ("mnist", "image+class"),
    "mnist_denoise_plain_class.pt": ("mnist", "image+class"),
}
SHIPPED = sorted(p.name for p in CKPT_DIR.glob("*.pt"))


def test_the_class_conditional_model_and_its_classifier_ship():
    assert "mnist_class.pt" in SHIPPED and "classifier_mnist.pt" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_and_is_listed(name):
    path = CKPT_DIR / name
    assert f"`{name}`" in (CKPT_DIR / "MANIFEST.md").read_text(), f"{name} is missing from MANIFEST.md"
    assert path.stat().st_size < 3_000_000  # shipped small
    kind = load_checkpoint(path, "classifier" if name.startswith("classifier") else "ddpm")["kind"]
    if kind == "classifier":
        model, ckpt = load_classifier(path)
        bar = {"mnist": 0.99, "fashion": 0.90}[ckpt["dataset"]]
        assert ckpt["test_accuracy"] >= bar
    else:
        model, schedule, ckpt = load_ddpm(path)
        assert (ckpt["train_config"]["dataset"], ckpt["train_config"]["cond"]) == EXPECTED_DDPM[name]
        assert schedule.T == 200
        if name.startswith("mnist_denoise"):
            assert ckpt["train_config"]["probabilistic"] == ("_prob" in name)
