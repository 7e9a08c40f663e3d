"""images.py - one careful reader for the image files the command lines take: .npy arrays and PNG / JPEG pictures.

    read_array(path)        a .npy array of numbers (never a pickle), with a clear error for an empty, truncated
                            or non-numeric file
    read_npz(path)          every array of a .npz (never a pickle), loaded at once; asking for an array it does
                            not hold is an ImageFileError naming the file and the arrays it has
    open_picture(path)      a PNG / JPEG opened by Pillow, its size checked against MAX_PIXELS before any pixel is
                            decoded (a small file can hold a huge image: a 20000 x 20000 PNG of one colour is 400 kB)
    picture_values(im)      its pixels as floats in [0, 1], scaled by the file's own bit depth (a 16-bit PNG is
                            divided by 65535, not clipped at 255), with that depth
    read_picture(path)      the two together

Every failure is an ImageFileError (a ValueError) whose message names the file and the problem; the command lines
print it as one line. denoise.py, impute.py and the folder dataset (data.load_folder) read through here.
"""

import zipfile
from pathlib import Path

import numpy as np

from files import FileError

# the largest picture read, in pixels: a 6000 x 6000 photograph passes, a decompression bomb does not. A larger image
# would not fit the models here anyway (a 28 x 28 digit model runs on any size, but a chain over 36 M pixels is hours).
MAX_PIXELS = 36_000_000
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Pillow's modes of one channel, by the largest value their integers hold
GREY_DEPTHS = {"1": 1, "L": 255, "LA": 255, "I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}


class ImageFileError(FileError):
    """An image file that cannot be used: missing, empty, truncated, of another kind, or too large."""


def check_file(path):
    """The path as a Path, if it names a non-empty file; ImageFileError otherwise."""
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImageFileError(f"{path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: the file is empty (0 bytes)")
    return path


def read_array(path):
    """A .npy file as a float32 array. Pickled object arrays are refused (loading a pickle runs code)."""
    path = check_file(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # EOFError: a truncated header; ValueError: pickles, bad data
        # numpy takes any file without the .npy header for a pickle and suggests allow_pickle: never here
        why = ("it holds Python objects, not numbers, and those are never unpickled (that can run code)"
               if "Object arrays" in str(e) else
               "no .npy header: another kind of file, or a pickle, which is never loaded (that can run code)"
               if "pickle" in str(e) else str(e))
        raise ImageFileError(f"{path}: not a readable .npy array ({why})") from None
    if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ImageFileError(f"{path}: holds {getattr(arr, 'dtype', type(arr).__name__)}, not numbers")
    return arr.astype(np.float32)


class Arrays(dict):
    """The arrays of one .npz, by name; a name it does not hold is an ImageFileError, not a KeyError."""

    def __init__(self, path, arrays):
        super().__init__(arrays)
        self.path = path

    def __missing__(self, name):
        raise ImageFileError(f"{self.path}: holds no array {name!r} (it has {', '.join(sorted(self)) or 'none'})")


def read_npz(path):
    """Every array of a .npz file, read at once (pickled object arrays are refused), as an Arrays dict."""
    path = check_file(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ImageFileError(f"{path}: a single .npy array, not a .npz archive of named arrays")
        with npz:
            return Arrays(path, {name: npz[name] for name in npz.files})
    except ImageFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ImageFileError(f"{path}: not a readable .npz archive ({e})") from None


def open_picture(path, max_pixels=MAX_PIXELS):
    """A PNG / JPEG as a loaded PIL image. Its size is read from the header and checked before decoding."""
    from PIL import Image, UnidentifiedImageError

    path = check_file(path)
    try:
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
            if w * h > max_pixels:
                raise ImageFileError(f"{path}: {w} x {h} pixels is more than this project reads ({max_pixels:,}); "
                                     f"scale it down first")
            im.load()  # decodes: a truncated file fails here
            return im.copy()
    except ImageFileError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageFileError(f"{path}: refused as a decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageFileError(f"{path}: not a readable PNG or JPEG image ({e})") from None


def picture_values(im):
    """(pixels as float32 in [0, 1]: (H, W) grey or (H, W, 3) colour, the largest value of the file's levels: 255
    for 8-bit, 65535 for 16-bit, 1 for a 1-bit image). An alpha channel is dropped; a palette is looked up."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in GREY_DEPTHS:
        depth = GREY_DEPTHS[im.mode]
        a = np.asarray(im.convert("L") if im.mode == "LA" else im).astype(np.float32)  # "1": False / True -> 0 / 1
        return a / depth, depth
    if im.mode == "I":  # 32-bit integers: what Pillow makes of a 16-bit grey PNG on some versions
        a = np.asarray(im).astype(np.float64)
        depth = 255 if a.max(initial=0) <= 255 else 65535
        if a.min(initial=0) < 0 or a.max(initial=0) > 65535:
            raise ImageFileError(f"{getattr(im, 'filename', 'image')}: 32-bit values outside 0..65535")
        return (a / depth).astype(np.float32), depth
    if im.mode == "F":
        a = np.asarray(im).astype(np.float32)
        return np.clip(a, 0.0, 1.0), 1
    rgb = im.convert("RGB")  # RGB, RGBA, CMYK, YCbCr, ...: 8 bits per channel
    return np.asarray(rgb).astype(np.float32) / 255.0, 255


def read_picture(path, max_pixels=MAX_PIXELS):
    """A PNG / JPEG file as (float32 pixels in [0, 1], the largest level of its bit depth): open_picture, then
    picture_values."""
    return picture_values(open_picture(path, max_pixels))
