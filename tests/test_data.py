import gzip
import hashlib

import numpy as np
import pytest
import torch

import corruptions
import data
from conftest import idx_bytes, write_tiny_dataset
from ddpm import Schedule


def test_idx_roundtrip_raw_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    assert np.array_equal(data.read_idx(tmp_path / "a"), arr)
    assert np.array_equal(data.read_idx(tmp_path / "b.gz"), arr)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-7], "truncated"),
    (lambda b: b[:6], "truncated header"),
    (lambda b: b + b"xx", "trailing bytes"),
    (lambda b: b"\x01\x02" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x42" + b[3:], "unknown IDX element type"),
    (lambda b: b"", "too short"),
])
def test_idx_reader_rejects_bad_files_naming_the_file(tmp_path, mutate, message):
    good = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(data.DataError, match=message) as e:
        data.read_idx(path)
    assert str(path) in str(e.value)


def test_idx_reader_rejects_corrupt_gzip_and_missing_file(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(data.DataError, match="gzip"):
        data.read_idx(tmp_path / "cut.gz")
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF
    (tmp_path / "flip.gz").write_bytes(bytes(flipped))
    with pytest.raises(data.DataError):
        data.read_idx(tmp_path / "flip.gz")
    with pytest.raises(data.DataError, match="no such file"):
        data.read_idx(tmp_path / "nothing")


def test_load_dataset_from_flag_and_environment(tmp_path, monkeypatch):
    write_tiny_dataset(tmp_path / "root", n_train=10, n_test=4, compress=False)
    x, y = data.load_dataset("mnist", "train", tmp_path / "root")
    assert x.shape == (10, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() == 1.0
    monkeypatch.setenv("DDPM_DATA_DIR", str(tmp_path / "root"))
    x2, _ = data.load_dataset("mnist", "test")
    assert x2.shape == (4, 1, 28, 28)
    assert data.load_dataset("mnist", "train", limit=3)[0].shape[0] == 3


def test_missing_dataset_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("DDPM_DATA_DIR", raising=False)
    with pytest.raises(data.DataError, match="fashion-mnist") as e:
        data.find_dataset_dir("fashion", tmp_path / "empty")
    assert "/usr/share/datasets/fashion-mnist" in str(e.value)
    with pytest.raises(ValueError):
        data.load_dataset("cifar", "train", tmp_path)
    with pytest.raises(ValueError):
        data.load_dataset("mnist", "valid", tmp_path)


def test_images_and_labels_must_agree(tmp_path):
    d = write_tiny_dataset(tmp_path, n_train=10)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(9, dtype=np.uint8))))
    with pytest.raises(data.DataError, match="10 images but 9 labels"):
        data.load_dataset("mnist", "train", tmp_path)


def test_download_verifies_checksum_and_writes_atomically(tmp_path, monkeypatch):
    # a local "mirror" reached through file:// URLs: no network
    mirror = write_tiny_dataset(tmp_path / "mirror", n_train=5, n_test=3)
    sums = {f"mnist/{p.name[:-3]}": hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
            for p in mirror.glob("*.gz")}
    monkeypatch.setattr(data, "SHA256", sums)
    folder = data.download("mnist", tmp_path / "dest", mirrors=[mirror.as_uri() + "/"])
    assert data.load_dataset("mnist", "train", tmp_path / "dest")[0].shape == (5, 1, 28, 28)
    assert not list(folder.glob("*.tmp"))
    # a mirror serving other bytes is rejected, and nothing is written
    bad = {k: "0" * 64 for k in sums}
    monkeypatch.setattr(data, "SHA256", bad)
    with pytest.raises(data.DataError, match="does not match"):
        data.download("mnist", tmp_path / "dest2", mirrors=[mirror.as_uri() + "/"])
    assert not (tmp_path / "dest2" / "mnist").exists() or not list((tmp_path / "dest2" / "mnist").iterdir())


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    s = Schedule(200)
    xt, t = corruptions.schedule_noise(x0, s, 0.3, torch.Generator().manual_seed(1))
    assert t == 60
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(xt, s.q_sample(x0, 60, noise))
    corrupted, mask = corruptions.remove_pixels(x0, 0.4, g)
    assert abs((1 - mask).mean().item() - 0.4) < 0.01
    assert torch.all(corrupted[mask == 0] == 0) and torch.equal(corrupted[mask == 1], x0[mask == 1])
    y = corruptions.gaussian_noise(x0, 0.2, g)
    assert abs((y - x0).std().item() - 0.2) < 0.005
    with pytest.raises(ValueError):
        corruptions.remove_pixels(x0, 1.5)
    with pytest.raises(ValueError):
        corruptions.gaussian_noise(x0, -0.1)


def test_to_unit_range_maps_every_level_as_the_formula_does():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    got = data.to_unit_range(levels)
    want = torch.from_numpy(levels.astype(np.float32) / np.float32(127.5) - np.float32(1.0))
    assert got.dtype == torch.float32 and torch.equal(got, want)
    assert got.min() == -1.0 and got.max() == 1.0
