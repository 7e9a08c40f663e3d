"""classifier.py: the two architectures, the robust training views, and the evaluation on corrupted test images."""

import pytest
import torch

import classifier
from conftest import write_tiny_dataset


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_both_architectures_classify_a_batch(arch):
    model = classifier.Classifier(classifier.ClassifierConfig(arch=arch)).eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="arch"):
        classifier.Classifier(classifier.ClassifierConfig(arch="vit"))


def test_robust_view_dims_blurs_and_noises_some_images():
    x = torch.full((400, 1, 28, 28), -1.0)  # black images: the background shows the contrast scale
    x[:, :, 10:18, 10:18] = 1.0
    v = classifier.robust_view(x.clone(), torch.Generator().manual_seed(0))
    assert v.shape == x.shape and torch.isfinite(v).all()
    corner = v[:, 0, :3, :3].mean((1, 2))  # far from the square: -s (+ noise), untouched by the blur
    dimmed = (corner > -0.95).float().mean().item()
    assert 0.3 < dimmed < 0.75  # half the images are scaled by s in [0.3, 1], and noise moves the rest a little
    assert corner.min() > -1.5 and corner.max() < 0.0
    same = classifier.robust_view(x.clone(), torch.Generator().manual_seed(0))
    assert torch.equal(v, same)  # one generator, one result


def test_train_robust_resnet_and_evaluate(tmp_path):
    data_dir = tmp_path / "data"
    write_tiny_dataset(data_dir, "mnist", n_train=64, n_test=16)
    out = tmp_path / "clf.pt"
    trained = classifier.main(["--dataset", "mnist", "--arch", "resnet", "--robust", "--epochs", "1", "--batch-size",
                               "16", "--data-dir", str(data_dir), "--device", "cpu", "--out", str(out)])
    model, ckpt = classifier.load_classifier(out)
    assert model.config.arch == "resnet" and ckpt["robust"] is True
    assert set(ckpt["test_accuracy_views"]) == {"clean", "scaled 0.63", "noisy 0.3", "blurred 1.0"}
    results = classifier.main(["--dataset", "mnist", "--data-dir", str(data_dir), "--evaluate", str(out)])
    assert results[str(out)]["clean"] == pytest.approx(trained[str(out)]["clean"])
    assert all(0 <= a <= 1 for a in results[str(out)].values())
    with pytest.raises(SystemExit):
        classifier.main(["--dataset", "mnist", "--data-dir", str(data_dir)])  # neither --out nor --evaluate


@pytest.mark.parametrize("name", ["classifier_mnist_robust.pt", "classifier_mnist_resnet.pt"])
def test_the_shipped_robust_classifiers_read_dim_and_noisy_digits(name):
    import data
    from conftest import ROOT

    model, _ = classifier.load_classifier(ROOT / "checkpoints" / name)
    x, y = data.load_test_images("mnist", 500)
    scores = classifier.evaluate(model, x, y)
    assert scores["clean"] > 0.97 and scores["scaled 0.63"] > 0.95 and scores["noisy 0.3"] > 0.95
    shipped, _ = classifier.load_classifier(ROOT / "checkpoints" / "classifier_mnist.pt")
    assert classifier.evaluate(shipped, x, y)["scaled 0.63"] < 0.5  # the blind spot the robust ones were made for
