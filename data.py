"""data.py - the datasets: MNIST and Fashion-MNIST (IDX files), CIFAR-10 (its binary version), your own folder.

What is here
  read_idx            a strict reader for the IDX format (gzip or raw): every way a file can be wrong gives a
                      DataError naming the file and the fault, never a crash deep inside numpy
  read_cifar          the same for CIFAR-10's binary batches (records of 1 label byte and 3 x 32 x 32 pixel bytes)
  load_folder         every PNG/JPEG under a folder, centre-cropped and resized; one sub-folder per class, or none
  find_dataset_dir    where the files are looked for: --data-dir, else $DDPM_DATA_DIR, else ./data
  load_dataset        images as float32 in [-1, 1], shape (N, C, H, W), and int64 labels (N,)
  download            fetch from the datasets' public homes, check the published checksums, write atomically
                      (`python data.py download mnist --data-dir data`; also fashion, cifar10)
The paper's corruptions of these images live in corruptions.py.

Layout on disk: one folder per dataset under the data root, with the standard file names:
    <root>/mnist/train-images-idx3-ubyte.gz   (or without .gz)   ... t10k-labels-idx1-ubyte.gz
    <root>/fashion-mnist/...
    <root>/cifar10/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin, test_batch.bin
Fashion-MNIST is also found in /usr/share/datasets/fashion-mnist (Debian's `dataset-fashion-mnist` package).
CIFAR-10 is read from the binary version only: its python version is pickled, and loading a pickle runs code.
"""

import argparse
import gzip
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

import cli
from files import atomic_write, write_npz

DATASETS = {"mnist": "mnist", "fashion": "fashion-mnist", "cifar10": "cifar10"}  # CLI name -> folder name
IDX_DATASETS = ("mnist", "fashion")
TRAIN_DATASETS = (*DATASETS, "folder")  # what train.py --dataset takes: these, or your own folder of images
SYSTEM_DIRS = {"fashion": [Path("/usr/share/datasets/fashion-mnist")]}
FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
# SHA-256 of the *decompressed* files (the .gz bytes differ between mirrors that recompress them)
SHA256 = {
    "mnist/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "mnist/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "mnist/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "mnist/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "fashion-mnist/train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "fashion-mnist/train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "fashion-mnist/t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "fashion-mnist/t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}

# CIFAR-10, binary version: <root>/cifar10/cifar-10-batches-bin/*.bin, each record 1 label byte + 3072 pixel bytes
# (the 32 x 32 red plane, then green, then blue, row by row); 10000 records per official file.
CIFAR_FOLDER = "cifar-10-batches-bin"
CIFAR_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR_SIDE = 32
CIFAR_RECORD = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE
# the archive and the MD5 that the dataset's page (Krizhevsky's CIFAR page) publishes for it
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


# The first PACK_SIZE test images of each dataset, shipped with the project so that the experiments run on a machine
# with no dataset at all (`python data.py pack --out assets/test_pack.npz` writes it from the full test sets; without
# --out it goes to the git-ignored results/, so that a trial run leaves the shipped file alone).
PACK_PATH = Path(__file__).resolve().parent / "assets" / "test_pack.npz"
PACK_SIZE = 1000


class DataError(Exception):
    """A dataset file is missing, truncated, corrupt or not what it claims to be."""


# ----------------------------------------------------------------------------------------------------------------------
# The IDX format: 2 zero bytes, a type byte, a byte with the number of dimensions n, n big-endian uint32 sizes, data.
# ----------------------------------------------------------------------------------------------------------------------
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def parse_idx(data, name="<bytes>"):
    """Parse IDX bytes into a numpy array, checking every field against the data's length."""
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: not an IDX file (magic number starts {data[0]:#04x} {data[1]:#04x}, expected 0 0)")
    if data[2] not in IDX_TYPES:
        raise DataError(f"{name}: unknown IDX element type {data[2]:#04x}")
    ndim = data[3]
    if ndim == 0:
        raise DataError(f"{name}: IDX header says 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{name}: {what}: header says {dims} of {dtype}, i.e. {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx(path):
    """Read an IDX file, gzip-compressed or raw, into a numpy array."""
    return parse_idx(_read_bytes(path), str(path))


# ----------------------------------------------------------------------------------------------------------------------
# Finding and loading the datasets
# ----------------------------------------------------------------------------------------------------------------------


def data_root(data_dir=None):
    """The data root: the --data-dir flag, else $DDPM_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get("DDPM_DATA_DIR") or "data")


def _check_name(dataset):
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")


def _find_file(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_dataset_dir(dataset, data_dir=None):
    """The folder holding the dataset's files (the four IDX files; CIFAR-10's six batches); a DataError listing the
    places tried if there is none, or the files missing from a CIFAR-10 folder."""
    _check_name(dataset)
    candidates = [data_root(data_dir) / DATASETS[dataset]] + SYSTEM_DIRS.get(dataset, [])
    for folder in candidates:
        if dataset == "cifar10" and (folder / CIFAR_FOLDER).is_dir():
            names = CIFAR_FILES["train"] + CIFAR_FILES["test"]
            missing = [n for n in names if not (folder / CIFAR_FOLDER / n).is_file()]
            if missing:
                raise DataError(f"{folder / CIFAR_FOLDER}: CIFAR-10 needs all {len(names)} batch files; missing "
                                f"{', '.join(missing)}")
            return folder
        if dataset != "cifar10" and all(_find_file(folder, stem) for stem in FILES.values()):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    what = f"{CIFAR_FOLDER}/ with its .bin batches" if dataset == "cifar10" else "IDX files"
    raise DataError(
        f"{dataset}: {what} not found (looked in {tried}). Pass --data-dir or set DDPM_DATA_DIR to a folder "
        f"holding {DATASETS[dataset]}/, or fetch them with `python data.py download {dataset} --data-dir data`."
    )


def load_dataset(dataset, split="train", data_dir=None, limit=None):
    """Images (N, C, H, W) float32 in [-1, 1] and labels (N,) int64: (N, 1, 28, 28) for MNIST and Fashion-MNIST,
    (N, 3, 32, 32) for CIFAR-10.

    Pixels p in {0..255} map to p / 127.5 - 1, so the background is -1 and the strokes are near +1: the same
    range as the N(0, I) noise the DDPM mixes in. limit keeps the first `limit` images.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset == "cifar10":
        images, labels = read_cifar(find_dataset_dir(dataset, data_dir), split)  # (N, 3, 32, 32), (N,)
    else:
        images, labels = read_idx_dataset(find_dataset_dir(dataset, data_dir), split)  # (N, 28, 28), (N,)
        images = images[:, None]  # (N, 1, 28, 28)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return to_unit_range(images), torch.from_numpy(labels.astype(np.int64))


def to_unit_range(images):
    """uint8 pixels (N, C, H, W) -> float32 in [-1, 1]: p / 127.5 - 1. In torch, in place on the float copy: the same
    float32 values as NumPy's, in a fraction of the time (it is most of the start-up of a short training run)."""
    return torch.tensor(images).float().div_(127.5).sub_(1.0)


def read_idx_dataset(folder, split):
    """The images (N, H, W) uint8 and labels (N,) of one split of an IDX dataset, checked against each other."""
    img_path = _find_file(folder, FILES[(split, "images")])
    lab_path = _find_file(folder, FILES[(split, "labels")])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{img_path}: expected a 3-d uint8 array of images, got {images.ndim}-d {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{lab_path}: expected a 1-d uint8 array of labels, got {labels.ndim}-d {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images, labels


# ----------------------------------------------------------------------------------------------------------------------
# CIFAR-10, binary version
# ----------------------------------------------------------------------------------------------------------------------


def parse_cifar(raw, name="<bytes>"):
    """CIFAR-10 binary records -> images (N, 3, 32, 32) uint8 and labels (N,) uint8, checking every record."""
    if len(raw) == 0 or len(raw) % CIFAR_RECORD:
        raise DataError(f"{name}: {len(raw)} bytes is not a whole number of {CIFAR_RECORD}-byte records (1 label "
                        f"byte and 3 x 32 x 32 pixel bytes each): truncated or not a CIFAR-10 binary batch")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{name}: record {bad} has label {labels[bad]}; CIFAR-10 labels are 0..9")
    return records[:, 1:].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE), labels


def read_cifar(folder, split):
    """All batches of one split (5 files for train, 1 for test), in order: (N, 3, 32, 32) uint8, (N,) uint8."""
    parts = []
    for name in CIFAR_FILES[split]:
        parts.append(parse_cifar(_read_bytes(folder / CIFAR_FOLDER / name), str(folder / CIFAR_FOLDER / name)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ----------------------------------------------------------------------------------------------------------------------
# Your own folder of images
# ----------------------------------------------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # Pillow's one-channel modes


def load_folder(folder, channels=0, image_size=32, limit=None):
    """Every PNG/JPEG under `folder` (searched recursively), as (x (N, C, S, S) in [-1, 1], labels (N,), class
    names). Each image is centre-cropped to a square and resized to S = image_size (Lanczos). channels: 1 (grey),
    3 (RGB), or 0 to follow the images (an error if grey and colour images are mixed).

    Classes follow the usual image-folder convention: if every image sits in a first-level sub-folder and there are
    at least two of them, each sub-folder is a class (named after it, in sorted order); otherwise the images have no
    classes (labels all 0, class names []) and only an unconditional model can be trained on them.
    """
    from images import ImageFileError, open_picture

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (--data-dir names the folder of images for --dataset folder)")
    if channels not in (0, 1, 3):
        raise DataError(f"--channels must be 1 (grey) or 3 (RGB), got {channels}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(f"{folder}: no PNG or JPEG images in it or below it")
    top = sorted({p.relative_to(folder).parts[0] for p in paths if len(p.relative_to(folder).parts) > 1})
    by_class = len(top) >= 2 and all(len(p.relative_to(folder).parts) > 1 for p in paths)
    class_names = top if by_class else []
    if limit is not None:
        paths = paths[:limit]
    pictures, grey = [], []
    for path in paths:
        try:
            im = open_picture(path)  # its size checked before decoding
        except ImageFileError as e:
            raise DataError(str(e)) from None
        grey.append(im.mode in GREY_MODES)
        pictures.append(as_8bit(im))
    if channels == 0:
        if any(grey) and not all(grey):
            raise DataError(f"{folder}: mixed modes, {sum(grey)} grey and {len(grey) - sum(grey)} colour images; "
                            f"choose --channels 1 (all grey) or --channels 3 (all RGB)")
        channels = 1 if all(grey) else 3
    arrays = [np.asarray(square(im, image_size).convert("L" if channels == 1 else "RGB")) for im in pictures]
    images = np.stack(arrays).reshape(len(arrays), image_size, image_size, channels).transpose(0, 3, 1, 2)
    labels = np.array([class_names.index(p.relative_to(folder).parts[0]) if by_class else 0 for p in paths])
    return to_unit_range(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)), class_names


def as_8bit(im):
    """A PIL image of 16-bit (or 32-bit integer) grey levels scaled to 8 bits, 65535 -> 255, as the training data
    is (Pillow's convert("L") would clip every level above 255 to white); other images as they are."""
    from PIL import Image

    from images import picture_values

    if im.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return im
    values, _ = picture_values(im)  # (H, W) in [0, 1], scaled by the file's own bit depth
    return Image.fromarray((values * 255).round().astype(np.uint8), mode="L")


def square(im, size):
    """The largest centred square of a PIL image, resized to size x size."""
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    left, upper = (w - side) // 2, (h - side) // 2
    im = im.crop((left, upper, left + side, upper + side))
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB" if im.mode not in GREY_MODES else "L")
    return im.resize((size, size), Image.Resampling.LANCZOS)


def make_test_pack(data_dir=None, n=PACK_SIZE, path=PACK_PATH):
    """Write the first n test images and labels of MNIST and Fashion-MNIST, as uint8, to one compressed npz."""
    arrays = {}
    for name in IDX_DATASETS:
        x, y = load_dataset(name, "test", data_dir, limit=n)
        arrays[f"{name}_images"] = ((x[:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()  # back to 0..255
        arrays[f"{name}_labels"] = y.to(torch.uint8).numpy()
    write_npz(path, arrays)
    return path


def load_test_images(dataset, n, data_dir=None):
    """The first n test images (N, C, H, W) in [-1, 1] and labels: from the full test set where one is found
    (--data-dir, $DDPM_DATA_DIR, ./data), else, for MNIST and Fashion-MNIST, from the shipped pack (the same
    images)."""
    _check_name(dataset)
    if n < 1:
        raise ValueError(f"the number of images must be >= 1, got {n}")
    try:
        x, y = load_dataset(dataset, "test", data_dir, limit=n)
    except DataError:
        if data_dir is not None or dataset not in IDX_DATASETS:
            raise  # a folder was named explicitly, or nothing ships: do not quietly use something else
    else:
        if len(x) < n:  # fewer than asked for: an error, not a run on fewer images than its settings say
            raise DataError(f"the {dataset} test set ({find_dataset_dir(dataset, data_dir)}) has {len(x)} images; "
                            f"{n} were asked for")
        return x, y
    if not PACK_PATH.is_file():
        raise DataError(f"{PACK_PATH}: the shipped test pack is missing, and no {dataset} test set was found")
    try:
        with np.load(PACK_PATH) as pack:
            images, labels = pack[f"{dataset}_images"], pack[f"{dataset}_labels"]
    except (OSError, ValueError, KeyError, zlib.error) as e:
        raise DataError(f"{PACK_PATH}: unreadable test pack ({e})") from None
    if n > len(images):
        raise DataError(f"only {len(images)} {dataset} test images ship with the project; for more, point "
                        f"--data-dir or DDPM_DATA_DIR at the full dataset")
    x = torch.from_numpy(images[:n].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(labels[:n].astype(np.int64))


# ----------------------------------------------------------------------------------------------------------------------
# Download (never used by the tests)
# ----------------------------------------------------------------------------------------------------------------------


def fetch_verified(urls, key, timeout=60):
    """Try each URL in turn; return the decompressed bytes whose SHA-256 matches SHA256[key]."""
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                raw = r.read()
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        except (OSError, EOFError, zlib.error) as e:
            errors.append(f"{url}: {e}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == SHA256[key]:
            return data
        errors.append(f"{url}: SHA-256 {digest} does not match the expected {SHA256[key]}")
    raise DataError(f"{key}: no mirror gave a valid file:\n  " + "\n  ".join(errors))


def download(dataset, data_dir=None, mirrors=None):
    """Fetch the four files of `dataset` into <root>/<folder>/, gzip-compressed, skipping files already valid.
    CIFAR-10: see download_cifar."""
    _check_name(dataset)
    if dataset == "cifar10":
        return download_cifar(data_dir)
    folder_name = DATASETS[dataset]
    folder = data_root(data_dir) / folder_name
    for stem in FILES.values():
        key = f"{folder_name}/{stem}"
        have = _find_file(folder, stem)
        if have is not None and hashlib.sha256(_read_bytes(have)).hexdigest() == SHA256[key]:
            print(f"{have}: present, checksum ok")
            continue
        urls = [m + stem + ".gz" for m in (mirrors or MIRRORS[folder_name])]
        data = fetch_verified(urls, key)
        packed = gzip.compress(data, mtime=0)
        atomic_write(folder / (stem + ".gz"), lambda f, packed=packed: f.write(packed))
        print(f"{folder / (stem + '.gz')}: downloaded, checksum ok")
    return folder


def download_cifar(data_dir=None, url=CIFAR_URL, md5=CIFAR_MD5, timeout=600):
    """Fetch CIFAR-10's binary archive, check it against the MD5 the dataset publishes, and unpack its six batch
    files into <root>/cifar10/cifar-10-batches-bin/ (atomically, each file). Only those regular files are taken
    from the archive: no member can write outside the target folder, whatever its name says."""
    folder = data_root(data_dir) / DATASETS["cifar10"] / CIFAR_FOLDER
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            raw = r.read()
    except OSError as e:
        raise DataError(f"{url}: download failed ({e})") from None
    digest = hashlib.md5(raw).hexdigest()
    if digest != md5:
        raise DataError(f"{url}: MD5 {digest} does not match the published {md5}; nothing was unpacked")
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in CIFAR_FILES["train"] + CIFAR_FILES["test"]:
                member = members.get(f"{CIFAR_FOLDER}/{name}")
                if member is None or not member.isfile():
                    raise DataError(f"{url}: the archive has no regular file {CIFAR_FOLDER}/{name}")
                batch = tar.extractfile(member).read()
                parse_cifar(batch, f"{url}:{member.name}")  # checked before it is written
                atomic_write(folder / name, lambda f, batch=batch: f.write(batch))
                print(f"{folder / name}: unpacked, {len(batch) // CIFAR_RECORD} records")
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DataError(f"{url}: not a readable .tar.gz archive ({e})") from None
    return folder.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fetch or check MNIST, Fashion-MNIST or CIFAR-10.")
    sub = ap.add_subparsers(dest="cmd", required=True, help="what to do")
    data_dir_help = "data root (default: $DDPM_DATA_DIR or ./data)"
    d = sub.add_parser("download", help="download from the datasets' public homes and verify checksums")
    d.add_argument("dataset", choices=sorted(DATASETS), help=f"which dataset: {', '.join(sorted(DATASETS))}")
    d.add_argument("--data-dir", type=cli.output_dir, default=None, help=data_dir_help)
    c = sub.add_parser("check", help="load a dataset and print its size and label counts")
    c.add_argument("dataset", choices=sorted(DATASETS), help=f"which dataset: {', '.join(sorted(DATASETS))}")
    c.add_argument("--data-dir", type=cli.existing_dir, default=None, help=data_dir_help)
    p = sub.add_parser("pack", help=f"write the first {PACK_SIZE} test images of MNIST and Fashion-MNIST to one npz")
    p.add_argument("--data-dir", type=cli.existing_dir, default=None, help=data_dir_help)
    p.add_argument("--out", type=cli.output_file(".npz"),
                   default=str(PACK_PATH.parent.parent / "results" / PACK_PATH.name),
                   help=f"where to write the npz; the shipped one is assets/{PACK_PATH.name}, rewritten only when "
                   f"named here (default: results/{PACK_PATH.name}, git-ignored)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "download":
            download(args.dataset, args.data_dir)
        elif args.cmd == "pack":
            print(f"wrote {make_test_pack(args.data_dir, path=args.out)}")
        else:
            for split in ("train", "test"):
                x, y = load_dataset(args.dataset, split, args.data_dir)
                print(f"{args.dataset} {split}: {tuple(x.shape)}, range [{x.min():.0f}, {x.max():.0f}], "
                      f"label counts {torch.bincount(y, minlength=10).tolist()}")
    except DataError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
