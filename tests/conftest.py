"""Shared test helpers: the project root on sys.path, tiny IDX datasets written to a temporary folder."""

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pytest

# Triton kernels run in Triton's interpreter on the CPU; set before anything imports triton (TRITON_INTERPRET=0
# on a GPU machine tests the compiled kernels instead)
os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def idx_bytes(array, type_code=0x08):
    """Encode a uint8 numpy array in the IDX format."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_tiny_dataset(root, folder="mnist", n_train=64, n_test=16, seed=0, compress=True):
    """Random 28x28 'images' with a bright square whose position depends on the label, so there is something
    to learn. Returns the dataset folder."""
    rng = np.random.default_rng(seed)
    d = Path(root) / folder
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for i, lab in enumerate(labels):
            r, c = 4 + 2 * (lab // 5) * 5, 2 + 5 * (lab % 5)
            images[i, r: r + 6, c: c + 4] = 255
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            raw = idx_bytes(arr)
            name = f"{split}-{kind}-ubyte"
            if compress:
                (d / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (d / name).write_bytes(raw)
    return d


@pytest.fixture
def tiny_data(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    return tmp_path / "data"


def write_tiny_cifar(root, n_per_file=4, seed=0):
    """CIFAR-10 binary batches (1 label byte + 3 x 32 x 32 pixel bytes per record) with a bright square whose place
    depends on the label. Returns the data root."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        labels = rng.integers(0, 10, n_per_file).astype(np.uint8)
        pixels = (rng.random((n_per_file, 3, 32, 32)) * 60).astype(np.uint8)
        for i, lab in enumerate(labels):
            pixels[i, lab % 3, 3 * lab: 3 * lab + 6, 4:10] = 255
        records = np.concatenate([labels[:, None], pixels.reshape(n_per_file, -1)], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    return Path(root)


@pytest.fixture(scope="session")
def uncond():
    """The shipped unconditional MNIST DDPM and its schedule, loaded once for every test that asks."""
    from checkpoint import load_ddpm

    model, schedule, _ = load_ddpm(ROOT / "checkpoints" / "mnist_uncond.pt", "cpu")
    return model, schedule
