"""CIFAR-10 (binary version) and your own folder of images: readers, checks and download, on files the tests write
in the exact formats."""

import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch

import data

RNG = np.random.default_rng(0)


def cifar_bytes(n, labels=None):
    """n CIFAR-10 binary records: a label byte, then 3072 pixel bytes (R plane, G plane, B plane, row by row)."""
    labels = RNG.integers(0, 10, n) if labels is None else np.asarray(labels)
    pixels = RNG.integers(0, 256, (n, 3072))
    return np.concatenate([labels[:, None], pixels], axis=1).astype(np.uint8).tobytes(), labels, pixels


def write_cifar(root, n_per_file=3):
    folder = root / "cifar10" / data.CIFAR_FOLDER
    folder.mkdir(parents=True)
    written = {}
    for name in data.CIFAR_FILES["train"] + data.CIFAR_FILES["test"]:
        raw, labels, pixels = cifar_bytes(n_per_file)
        (folder / name).write_bytes(raw)
        written[name] = (labels, pixels)
    return written


def test_cifar_reads_records_in_order_and_planes_as_channels(tmp_path):
    written = write_cifar(tmp_path)
    x, y = data.load_dataset("cifar10", "train", tmp_path)
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (15,)
    labels = np.concatenate([written[n][0] for n in data.CIFAR_FILES["train"]])
    assert y.tolist() == labels.tolist()
    # the first record's red plane is its first 1024 pixel bytes, row by row; its blue plane the last 1024
    first = written["data_batch_1.bin"][1][0]
    assert torch.equal(((x[0, 0] + 1) * 127.5).round().to(torch.int64), torch.from_numpy(first[:1024]).view(32, 32))
    assert torch.equal(((x[0, 2] + 1) * 127.5).round().to(torch.int64), torch.from_numpy(first[2048:]).view(32, 32))
    xt, _ = data.load_dataset("cifar10", "test", tmp_path)
    assert xt.shape == (3, 3, 32, 32)
    assert len(data.CLASS_NAMES["cifar10"]) == 10 and data.CLASS_NAMES["cifar10"][3] == "cat"


def test_cifar_checks_record_size_labels_and_file_count(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar10" / data.CIFAR_FOLDER
    raw = (folder / "data_batch_2.bin").read_bytes()
    (folder / "data_batch_2.bin").write_bytes(raw[:-5])  # truncated record
    with pytest.raises(data.DataError, match="data_batch_2.bin.*whole number of 3073-byte records"):
        data.load_dataset("cifar10", "train", tmp_path)
    bad, _, _ = cifar_bytes(2, labels=[3, 11])  # a label of 11
    (folder / "data_batch_2.bin").write_bytes(bad)
    with pytest.raises(data.DataError, match="record 1 has label 11"):
        data.load_dataset("cifar10", "train", tmp_path)
    (folder / "data_batch_4.bin").unlink()
    with pytest.raises(data.DataError, match="missing data_batch_4.bin"):
        data.load_dataset("cifar10", "train", tmp_path)
    with pytest.raises(data.DataError, match="download cifar10"):
        data.load_dataset("cifar10", "train", tmp_path / "elsewhere")


def archive(members):
    """A .tar.gz in memory with the given {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def test_cifar_download_checks_the_checksum_and_unpacks_only_the_batches(tmp_path):
    names = data.CIFAR_FILES["train"] + data.CIFAR_FILES["test"]
    members = {f"{data.CIFAR_FOLDER}/{n}": cifar_bytes(2)[0] for n in names}
    members["../escape.bin"] = b"outside"  # a member whose name points outside the target: never written
    members[f"{data.CIFAR_FOLDER}/readme.html"] = b"<html>"
    raw = archive(members)
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(raw)
    with pytest.raises(data.DataError, match="does not match the published"):
        data.download_cifar(tmp_path / "root", url=path.as_uri(), md5="0" * 32)
    assert not (tmp_path / "root").exists()
    data.download_cifar(tmp_path / "root", url=path.as_uri(), md5=hashlib.md5(raw).hexdigest())
    got = sorted(p.name for p in (tmp_path / "root" / "cifar10" / data.CIFAR_FOLDER).iterdir())
    assert got == sorted(names) and not (tmp_path / "escape.bin").exists() and not (tmp_path / "root" / "escape.bin"
                                                                                    ).exists()
    x, _ = data.load_dataset("cifar10", "train", tmp_path / "root")
    assert x.shape == (10, 3, 32, 32)
    # an archive without a batch, or with a corrupt one, is refused before anything of it is written
    for broken in ({k: v for k, v in members.items() if not k.endswith("test_batch.bin")},
                   {**members, f"{data.CIFAR_FOLDER}/test_batch.bin": b"short"}):
        raw = archive(broken)
        path.write_bytes(raw)
        with pytest.raises(data.DataError, match="test_batch.bin"):
            data.download_cifar(tmp_path / "other", url=path.as_uri(), md5=hashlib.md5(raw).hexdigest())


def write_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_of_images_with_classes_centre_crop_and_resize(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(2):
            write_png(tmp_path / cls / f"{i}.png", RNG.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    x, y, names = data.load_folder(tmp_path, image_size=16)
    assert names == ["cats", "dogs"] and y.tolist() == [0, 0, 1, 1]
    assert x.shape == (4, 3, 16, 16) and -1 <= x.min() and x.max() <= 1
    # grey on request; a single-colour image stays that colour after the crop and resize
    write_png(tmp_path / "cats" / "flat.png", np.full((30, 20, 3), 200, dtype=np.uint8))
    x, y, _ = data.load_folder(tmp_path, channels=1, image_size=8)
    assert x.shape == (5, 1, 8, 8) and torch.allclose(x[2], torch.full((1, 8, 8), 200 / 127.5 - 1))


def test_folder_errors_and_the_unconditional_layout(tmp_path):
    with pytest.raises(data.DataError, match="no such folder"):
        data.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="no PNG or JPEG"):
        data.load_folder(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_png(mixed / "a.png", RNG.integers(0, 256, (8, 8), dtype=np.uint8))
    write_png(mixed / "b.png", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(data.DataError, match="mixed modes, 1 grey and 1 colour"):
        data.load_folder(mixed)
    x, y, names = data.load_folder(mixed, channels=3, image_size=8)  # loose images: no classes
    assert x.shape == (2, 3, 8, 8) and names == [] and y.tolist() == [0, 0]
    (mixed / "c.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataError, match="c.jpg: not a readable PNG or JPEG image"):
        data.load_folder(mixed, channels=3)
