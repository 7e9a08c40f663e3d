"""Every command line tried the way a careless user or an attacker would: NaN, infinity, negative, zero and huge
numbers, empty, truncated and wrong kinds of file, a file where a folder belongs and paths that do not exist.

Each case calls the script's main(argv) in this process (no subprocess that imports torch again) and asserts:
SystemExit with a non-zero status, a message that names the problem, no traceback, and no file written or changed
(the case's temporary folder and every file git tracks are compared before and after). The cases that need a model
use the shipped checkpoints and fail before any chain runs. The last tests pin the documented behaviours that are
not errors: NaN allowed in missing pixels, a warning for an odd range, json without NaN, stale temporary files
removed, the data folder a resumed run uses.
"""

import contextlib
import gzip
import importlib
import io
import math
import os
import re
import struct
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pytest
import torch

from conftest import ROOT, write_tiny_dataset

sys.path.insert(0, str(ROOT / "experiments"))

CK = ROOT / "checkpoints"
HUGE_SEED = str(2**64)
TRACKED = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True).stdout.split("\0")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """The bad files, by name: f[name] is a path (a string)."""
    d = tmp_path_factory.mktemp("bad")
    good = np.zeros((2, 28, 28), dtype=np.float32) - 1
    np.save(d / "good.npy", good)
    raw = (d / "good.npy").read_bytes()
    files = {
        "empty.npy": b"", "empty.png": b"", "empty.pt": b"", "empty.json": b"", "empty.npz": b"",
        "truncated.npy": raw[: len(raw) // 2], "text.npy": b"these are not numbers\n", "text.png": b"not a png\n",
        "garbage.pt": bytes(range(256)) * 4, "bad.json": b"{not json", "a_file": b"a file, not a folder\n",
        "truncated.npz": b"PK\x03\x04" + bytes(60), "notes.txt": b"hello\n",
    }
    for name, content in files.items():
        (d / name).write_bytes(content)
    np.save(d / "nan.npy", np.full((28, 28), np.nan, dtype=np.float32))  # NaN everywhere: in known pixels too
    np.save(d / "ones_mask.npy", np.ones((28, 28), dtype=np.float32))
    np.save(d / "bright.npy", np.full((28, 28), 200.0, dtype=np.float32))  # 8-bit values
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickle
    (d / "folder").mkdir()
    (d / "bombs").mkdir()
    (d / "bombs" / "bomb.png").write_bytes(png_header(20000, 20000))  # 400 M pixels, under 100 bytes
    (d / "bomb.png").write_bytes(png_header(20000, 20000))
    (d / "empty_dir").mkdir()
    # a sweep cut short whose files were lost: an empty json and npz
    (d / "sweep_empty").mkdir()
    (d / "sweep_empty" / "sweep_noise_vs_start.json").write_bytes(b"")
    (d / "sweep_empty" / "sweep_noise_vs_start.npz").write_bytes(b"")
    (d / "sweep_truncated").mkdir()  # a readable json beside a truncated npz
    (d / "sweep_truncated" / "sweep_noise_vs_start.json").write_text('{"settings": {"models": ["class"]}}')
    (d / "sweep_truncated" / "sweep_noise_vs_start.npz").write_bytes(b"PK\x03\x04" + bytes(60))
    # a figure folder whose outputs are damaged
    (d / "figs").mkdir()
    (d / "figs" / "fig1_matched_timestep.json").write_bytes(b"")
    (d / "figs" / "fig1_matched_timestep.npz").write_bytes(b"PK\x03\x04")
    # an IDX dataset with one truncated file
    write_tiny_dataset(d / "idx", n_train=8, n_test=4)
    labels = d / "idx" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-2]))
    return {p.name: str(p) for p in d.iterdir()} | {"missing": str(d / "missing.npy"), "root": str(d),
                                                     "below_file": str(d / "a_file" / "x")}


def png_header(width, height):
    """A PNG that claims width x height grey pixels and holds one row: a decompression bomb, as a header sees it."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b""))


def snapshot(root):
    """(path -> (size, mtime)) of every file below `root` and of every tracked file of the repository."""
    seen = {}
    for base, _, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            seen[p] = (os.path.getsize(p), os.path.getmtime(p))
    for rel in TRACKED:
        p = ROOT / rel
        if rel and p.is_file():
            seen[str(p)] = (p.stat().st_size, p.stat().st_mtime)
    return seen


# (script, argv with {name} standing for the bad files, what the message must say); one row per door and kind
CASES = [
    # train.py
    ("train", "--epochs nan", "finite number"),
    ("train", "--epochs inf", "finite number"),
    ("train", "--epochs 0", "must be > 0"),
    ("train", "--epochs -2", "must be > 0"),
    ("train", "--epochs 2 --steps 10", "give one or the other"),
    ("train", f"--seed {HUGE_SEED}", "2\\^63 - 1"),
    ("train", "--seed -1", "2\\^63 - 1"),
    ("train", "--lr nan", "finite number"),
    ("train", "--grad-clip inf", "finite number"),
    ("train", "--corruption-level-max nan", "finite number"),
    ("train", "--width 100000000", "multiple of 8 in 8..1024"),
    ("train", "--T 0", "--T must lie in"),
    ("train", "--steps 0", "--steps must be >= 1"),
    ("train", "--out {a_file}", "is a file"),
    ("train", "--out {below_file}", "is a file"),
    ("train", "--resume {empty.pt}", "empty"),
    ("train", "--resume {missing}", "no such file"),
    ("train", "--resume {folder}", "is a folder"),
    ("train", "--resume {garbage.pt}", "not a checkpoint of this project"),
    ("train", f"--resume {CK / 'mnist_class.pt'}", "exported checkpoint"),
    ("train", f"--resume {CK / 'classifier_mnist.pt'}", "'classifier' checkpoint"),
    ("train", "--data-dir {a_file}", "is a file"),
    ("train", "--data-dir {missing}", "no such folder"),
    ("train", "--dataset folder --data-dir {empty_dir} --cond none", "no PNG or JPEG"),
    ("train", "--dataset mnist --data-dir {empty_dir}", "not found"),
    ("train", "--dataset folder --data-dir {bombs} --cond none", "decompression bomb|more than this project reads"),
    # sample.py
    ("sample", "--sampler ddim --eta nan", "finite number"),
    ("sample", "--sampler ddim --eta 1.5", "in \\[0, 1\\]"),
    ("sample", "--eta -0.1", "in \\[0, 1\\]"),
    ("sample", "--guidance nan", "finite number"),
    ("sample", "--guidance inf", "finite number"),
    ("sample", "--guidance -1", ">= 0"),
    ("sample", f"--seed {HUGE_SEED}", "2\\^63 - 1"),
    ("sample", "--n 0", ">= 1"),
    ("sample", "--n 10000000000000", "more than this machine"),
    ("sample", "--batch-size 0", ">= 1"),
    ("sample", "--sampler ddim --steps 0", ">= 1"),
    ("sample", "--sampler ddim --steps 1000", "1..200"),
    ("sample", "--class 10", "0..9"),
    ("sample", "--out ''", "the path is empty"),
    ("sample", "--out {folder}", "is a folder"),
    ("sample", "--out {below_file}", "is a file"),
    ("sample", "--checkpoint {empty.pt}", "empty"),
    ("sample", "--checkpoint {garbage.pt}", "not a checkpoint of this project"),
    ("sample", "--checkpoint {missing}", "no such file"),
    ("sample", "--checkpoint {folder}", "is a folder"),
    ("sample", f"--checkpoint {CK / 'mnist_impute.pt'}", "conditioned on a corrupted image"),
    ("sample", "--classifier {garbage.pt}", "not a checkpoint of this project"),
    ("sample", f"--classifier {CK / 'mnist_class.pt'}", "'ddpm' checkpoint"),
    # denoise.py
    ("denoise", "{empty.npy} --out {root}/o.npy", "empty"),
    ("denoise", "{truncated.npy} --out {root}/o.npy", "not a readable .npy"),
    ("denoise", "{text.npy} --out {root}/o.npy", "not a readable .npy array \\(no .npy header"),
    ("denoise", "{objects.npy} --out {root}/o.npy", "Python objects, not numbers"),
    ("denoise", "{text.png} --out {root}/o.png", "not a readable PNG"),
    ("denoise", "{empty.png} --out {root}/o.png", "empty"),
    ("denoise", "{bomb.png} --out {root}/o.png", "decompression bomb|more than this project reads"),
    ("denoise", "{notes.txt} --out {root}/o.png", "expected a .png, .jpg or .npy"),
    ("denoise", "{missing} --out {root}/o.npy", "no such file"),
    ("denoise", "{folder} --out {root}/o.npy", "is a folder"),
    ("denoise", "{nan.npy} --out {root}/o.npy", "NaN"),
    ("denoise", "{bright.npy} --out {root}/o.npy", "x / 127.5 - 1"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma nan", "finite number"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma -1", ">= 0"),
    ("denoise", "{good.npy} --out {root}/o.npy --chains 0", ">= 1"),
    ("denoise", "{good.npy} --out {root}/o.npy --steps 0", ">= 1"),
    ("denoise", f"{{good.npy}} --out {{root}}/o.npy --seed {HUGE_SEED}", "2\\^63 - 1"),
    ("denoise", "{good.npy} --out {root}/o.txt", "must end in .png or .npy"),
    ("denoise", "{good.npy} --out ''", "the path is empty"),
    ("denoise", "{good.npy} --out {below_file}.png", "is a file"),
    ("denoise", "{good.npy} --out {root}/o.npy --checkpoint {garbage.pt}", "not a checkpoint of this project"),
    ("denoise", "{good.npy} --out {root}/o.npy --noise-type bad", "invalid choice: 'bad'"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 25 --units 0", "--units: must be > 0"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 25 --units nan", "--units: must be a finite number"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 25/0", "the scale after '/' must be > 0"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma nan/255", "finite number"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 25/inf", "the scale after '/' must be a finite number"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 1/2/3", "a number or A/B"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma=-25/255", ">= 0"),
    ("denoise", "{good.npy} --out {root}/o.npy --sigma 25/255 --units 255", "the scale is given twice"),
    ("denoise", "{good.npy} --out {root}/o.npy --units 255", "--sigma, which is not given"),
    ("denoise", "{good.npy} --out {root}/o.npy --peak 4", "add --noise-type poisson"),
    ("denoise", "{good.npy} --out {root}/o.npy --noise-type poisson --peak 0", "--peak: must be > 0"),
    ("denoise", "{good.npy} --out {root}/o.npy --noise-type poisson --sigma 0.1", "also needs --peak"),
    ("denoise", "{good.npy} --out {root}/o.npy --noise-type impulse --sigma 0.1", "belong to Gaussian noise"),
    ("denoise", "{good.npy} --out {root}/o.npy --noise-type poisson", "not on a Poisson count lattice"),
    ("denoise", "{good.npy} --out {root}/o.npy --resample 0", ">= 1"),
    # impute.py
    ("impute", "{good.npy} --mask {empty.npy} --out {root}/o.npy", "empty"),
    ("impute", "{good.npy} --mask {truncated.npy} --out {root}/o.npy", "not a readable .npy"),
    ("impute", "{good.npy} --mask {text.png} --out {root}/o.npy", "not a readable PNG"),
    ("impute", "{good.npy} --mask {missing} --out {root}/o.npy", "no such mask file"),
    ("impute", "{good.npy} --mask random:nan --out {root}/o.npy", "nan"),
    ("impute", "{good.npy} --mask random:2 --out {root}/o.npy", "must lie in \\[0, 1\\]"),
    ("impute", "{good.npy} --mask bogus --out {root}/o.npy", "give a .png or .npy file"),
    ("impute", "{nan.npy} --mask {ones_mask.npy} --out {root}/o.npy", "known pixel\\(s\\) \\(mask 1\\) hold NaN"),
    ("impute", "{empty.npy} --mask block --out {root}/o.npy", "empty"),
    ("impute", "{bomb.png} --mask block --out {root}/o.png", "decompression bomb|more than this project reads"),
    ("impute", "{good.npy} --mask {bomb.png} --out {root}/o.npy", "decompression bomb|more than this project reads"),
    ("impute", "{good.npy} --mask block --out {root}/o.npy --jumps 0", ">= 1"),
    ("impute", "{good.npy} --mask block --out {root}/o.npy --resample 0", ">= 1"),
    ("impute", "{good.npy} --mask block --out {root}/o.npy --resample 1000000000", "network calls per chain"),
    ("impute", "{good.npy} --mask block --out {root}/o.npy --chains 0", ">= 1"),
    ("impute", "{good.npy} --mask block --out {root}/o.npy --seed -1", "2\\^63 - 1"),
    ("impute", "{good.npy} --mask block --out {root}/o.jpg", "must end in .png or .npy"),
    ("impute", "{good.npy} --mask block --out {folder}", "must end in"),
    # data.py
    ("data", "check mnist --data-dir {a_file}", "is a file"),
    ("data", "check mnist --data-dir {missing}", "no such folder"),
    ("data", "check mnist --data-dir {empty_dir}", "not found"),
    ("data", "check mnist --data-dir {idx}", "truncated"),
    ("data", "download mnist --data-dir {a_file}", "is a file"),
    ("data", "pack --out {folder}", "must end in .npz"),
    ("data", "pack --out {root}/pack.txt", "must end in .npz"),
    ("data", "pack --out ''", "the path is empty"),
    # classifier.py
    ("classifier", "--dataset cifar10", "invalid choice: 'cifar10'"),
    ("classifier", "--epochs 0 --out {root}/c.pt", ">= 1"),
    ("classifier", "--lr nan --out {root}/c.pt", "finite number"),
    ("classifier", "--lr -1 --out {root}/c.pt", "> 0"),
    ("classifier", "--batch-size 0 --out {root}/c.pt", ">= 1"),
    ("classifier", f"--seed {HUGE_SEED} --out {{root}}/c.pt", "2\\^63 - 1"),
    ("classifier", "--limit -1 --out {root}/c.pt", ">= 0"),
    ("classifier", "--out {folder}", "must end in .pt"),
    ("classifier", "--out {below_file}.pt", "is a file"),
    ("classifier", "", "--out is required"),
    ("classifier", "--evaluate {missing}", "no such file"),
    ("classifier", "--evaluate {empty.pt}", "empty"),
    ("classifier", "--data-dir {a_file} --evaluate {garbage.pt}", "is a file"),
    # fast.py
    ("fast", "--checkpoint {garbage.pt}", "not a checkpoint of this project"),
    ("fast", "--checkpoint {empty.pt}", "empty"),
    ("fast", f"--checkpoint {CK / 'mnist_uncond.pt'}", "unconditional"),
    ("fast", f"--checkpoint {CK / 'mnist_impute.pt'}", "image-conditioned"),
    ("fast", "--steps 0", ">= 1"),
    ("fast", "--steps 100000", "1..200"),
    ("fast", "--repeats 0", ">= 1"),
    ("fast", "--batch 0", ">= 1"),
    ("fast", "--quality -1", ">= 0"),
    ("fast", "--out {folder}", "must end in .json"),
    ("fast", "--out {below_file}.json", "is a file"),
    # kernels/bench.py
    ("kernels.bench", "--out {folder}", "must end in .md"),
    ("kernels.bench", "--out {below_file}.md", "is a file"),
    ("kernels.bench", "--out ''", "the path is empty"),
    # the figure scripts
    *[(fig, argv, msg) for fig in ("fig1_matched_timestep", "fig2_less_noise_timestep", "fig3_repeat_last_step",
                                   "fig4_wrong_timestep", "fig5_fashion_unconditional")
      for argv, msg in (("--noise nan", "finite number"), ("--noise 1.5", "in \\[0, 1\\]"),
                        ("--start -0.1", "in \\[0, 1\\]"), ("--n 0", ">= 1"), (f"--seed {HUGE_SEED}", "2\\^63 - 1"),
                        ("--out {a_file}", "is a file"), ("--checkpoint {garbage.pt}", "not a checkpoint"),
                        ("--data-dir {a_file}", "is a file"), ("--snapshots 0", ">= 1"))],
    ("fig1_matched_timestep", "--guidance nan", "finite number"),
    ("fig1_matched_timestep", "--guidance -1", ">= 0"),
    ("fig1_matched_timestep", "--cycles 0", ">= 1"),
    ("fig1_matched_timestep", f"--checkpoint {CK / 'mnist_uncond.pt'}", "this needs a 'class' model"),
    ("fig1_matched_timestep", "--n 100000000", "asked for|ship with the project"),
    ("fig3_repeat_last_step", "--guidance inf", "finite number"),
    ("fig3_repeat_last_step", "--repeats 0", ">= 1"),
    ("fig6_imputation", "--missing 1.5", "in \\[0, 1\\]"),
    ("fig6_imputation", "--missing nan", "finite number"),
    ("fig6_imputation", "--checkpoint {empty.pt}", "empty"),
    ("fig7_denoising_probabilistic", "--sigma -0.1", "in \\[0, 1\\]"),
    ("fig7_denoising_probabilistic", "--sigma inf", "finite number"),
    ("fig7_denoising_probabilistic", "--no-probabilistic --distance l2", "probabilistic model only"),
    # make_results.py
    ("make_results", "--table-only --out {empty_dir} --table {root}/table.md", "holds no figure results"),
    ("make_results", "--table-only --out {figs} --table {root}/table.md", "not a readable json"),
    ("make_results", "--n 0", ">= 1"),
    ("make_results", "--out {a_file}", "is a file"),
    ("make_results", "--table {folder} --table-only", "must end in .md"),
    # rescore.py
    ("rescore", "{missing}", "no such folder"),
    ("rescore", "{a_file}", "is a file"),
    ("rescore", "{empty_dir}", "holds no figure outputs"),
    ("rescore", "{figs} --out {root}/rescored", "not a readable json"),
    ("rescore", "{figs} --calibration 0", ">= 1"),
    ("rescore", "{figs} --classifiers {garbage.pt} --out {root}/rescored", "not a checkpoint of this project"),
    ("rescore", "{figs} --out {a_file}", "is a file"),
    # speedrun.py
    ("speedrun", "--lr nan", "finite number"),
    ("speedrun", "--lr 0", "> 0"),
    ("speedrun", "--steps 0", ">= 1"),
    ("speedrun", f"--seed {HUGE_SEED}", "2\\^63 - 1"),
    ("speedrun", "--out {a_file}", "is a file"),
    ("speedrun", "--data-dir {a_file}", "is a file"),
    # sweep_noise_vs_start.py
    ("sweep_noise_vs_start", "--noises nan", "finite number"),
    ("sweep_noise_vs_start", "--starts 0:1:0.0000001", "more than 101 values"),
    ("sweep_noise_vs_start", "--starts 0:1:-0.1", "in \\[0, 1\\]"),
    ("sweep_noise_vs_start", "--n 0", ">= 1"),
    ("sweep_noise_vs_start", "--seed -1", "2\\^63 - 1"),
    ("sweep_noise_vs_start", "--resume --out {empty_dir}", "no readable sweep"),
    ("sweep_noise_vs_start", "--resume --out {sweep_empty}", "no readable sweep.*empty"),
    ("sweep_noise_vs_start", "--resume --out {sweep_truncated}", "no readable sweep.*not a readable .npz"),
    ("sweep_noise_vs_start", "--classifiers {garbage.pt} --out {root}/sweep", "not a checkpoint of this project"),
    ("sweep_noise_vs_start", "--checkpoint-dir {a_file}", "is a file"),
    # blind_denoising.py
    ("blind_denoising", "--sigmas nan", "finite number"),
    ("blind_denoising", "--sigmas 0", "> 0"),
    ("blind_denoising", "--sigmas 3", "\\(0, 2\\]"),
    ("blind_denoising", "--n 0", ">= 1"),
    ("blind_denoising", "--chains 0", ">= 1"),
    ("blind_denoising", "--calibration 0", ">= 1"),
    ("blind_denoising", "--checkpoint-dir {empty_dir} --out {root}/blind", "no such checkpoint file"),
    ("blind_denoising", "--classifiers {garbage.pt} --out {root}/blind", "not a checkpoint of this project"),
    # other_noise.py
    ("other_noise", "--n 0", ">= 1"),
    ("other_noise", "--n 100000", "at most 700 images"),
    ("other_noise", "--conditions speckle", "invalid choice: 'speckle'"),
    ("other_noise", "--chunk 0", ">= 1"),
    ("other_noise", "--calibration 0", ">= 1"),
    ("other_noise", "--resample 0", ">= 1"),
    ("other_noise", f"--seed {HUGE_SEED}", "2\\^63 - 1"),
    ("other_noise", "--out {a_file}", "is a file"),
    ("other_noise", "--checkpoint-dir {empty_dir} --out {root}/other", "no such checkpoint file"),
    # zero_shot_imputation.py
    ("zero_shot_imputation", "--masks bogus", "--masks"),
    ("zero_shot_imputation", "--masks random:nan", "--masks"),
    ("zero_shot_imputation", "--jumps 0", ">= 1"),
    ("zero_shot_imputation", "--batch 0", ">= 1"),
    ("zero_shot_imputation", "--resample 1000000000 --out {root}/zero", "network calls per chain"),
    # front_picture.py
    ("front_picture", "--index -1", ">= 0"),
    ("front_picture", "--index 100000000", "asked for|ship with the project"),
    ("front_picture", "--sigma nan", "finite number"),
    ("front_picture", "--sigma 0", "> 0"),
    ("front_picture", "--sigma 5", "\\(0, 2\\]"),
    ("front_picture", "--missing 1", "no known pixel"),
    ("front_picture", "--missing 2", "in \\[0, 1\\]"),
    ("front_picture", f"--seed {HUGE_SEED}", "2\\^63 - 1"),
    ("front_picture", "--out {a_file}", "is a file"),
    ("front_picture", "--checkpoint {garbage.pt}", "not a checkpoint of this project"),
    ("front_picture", f"--checkpoint {CK / 'mnist_class.pt'}", "this needs a 'none' model"),
]


def argv_of(template, f):
    """The argv of a case: {name} replaced by the bad file's path, '' kept as an empty argument."""
    return ["" if word == "''" else re.sub(r"\{([^}]+)\}", lambda m: f[m.group(1)], word) for word in template.split()]


@pytest.mark.parametrize("script,template,message", CASES, ids=[f"{s}: {t}" for s, t, _ in CASES])
def test_a_bad_input_is_one_clear_line(script, template, message, bad, capsys):
    module = importlib.import_module(script)
    argv = argv_of(template, bad)
    before = snapshot(bad["root"])
    with pytest.raises(SystemExit) as exit_:
        module.main(argv)
    out = capsys.readouterr()
    code = exit_.value.code
    assert code not in (0, None), f"exit status {code!r}"
    said = code if isinstance(code, str) else out.err  # sys.exit("error: ..."), or argparse's usage and error lines
    assert "Traceback" not in out.out + out.err + said
    assert "allow_pickle" not in said and "weights_only" not in said  # never the advice that lets a file run code
    assert len([line for line in said.strip().splitlines() if "error" in line]) == 1, said
    assert re.search(message, said), f"{message!r} not in {said!r}"
    assert snapshot(bad["root"]) == before, "a file was written or changed"


# ----------------------------------------------------------------------------------------------------------------------
# The documented behaviours that are not errors
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A folder where a killed run left temporary files (one old, one newer than this process, one of another name),
    then a one-step tiny unconditional DDPM trained into it: (folder, those three files, what train.py printed)."""
    import train

    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(root / "data", n_train=16, n_test=4)
    out = root / "run"
    out.mkdir()
    old, fresh, other = out / "checkpoint.pt.abc123.tmp", out / "checkpoint.pt.xyz.tmp", out / "notes.tmp"
    for p in (old, fresh, other):
        p.write_bytes(b"half a checkpoint")
    past, future = time.time() - 3600, time.time() + 3600  # future: newer than this process, a save under way
    for p, t in ((old, past), (other, past), (fresh, future)):
        os.utime(p, (t, t))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        train.main(["--cond", "none", "--steps", "1", "--width", "8", "--T", "20", "--batch-size", "8",
                    "--no-progress", "--device", "cpu", "--data-dir", str(root / "data"), "--out", str(out)])
    return out, (old, fresh, other), printed.getvalue()


def test_impute_cli_takes_nan_in_the_missing_pixels(tiny_run, tmp_path):
    import impute

    x = np.full((28, 28), -1.0, dtype=np.float32)
    mask = np.ones((28, 28), dtype=np.float32)
    mask[10:18, 10:18] = 0
    x[mask == 0] = np.nan  # as the API allows: missing pixels are never read
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", mask)
    result = impute.main([str(tmp_path / "x.npy"), "--mask", str(tmp_path / "m.npy"), "--out", str(tmp_path / "o.npy"),
                          "--checkpoint", str(tiny_run[0] / "checkpoint.pt"), "--method", "ddnm", "--resample", "1",
                          "--device", "cpu", "--kernels", "torch", "--no-progress"])
    out = np.load(tmp_path / "o.npy").reshape(28, 28)
    assert np.isfinite(out).all()
    assert np.array_equal(out[mask == 1], x[mask == 1])  # the known pixels as given
    assert result.calls == 20


def test_check_images_warns_where_the_range_looks_wrong_and_still_takes_the_images():
    import denoise

    for images, said in ((torch.full((28, 28), 3.0), "median"), (torch.rand(28, 28), "\\[0, 1\\]")):
        with pytest.warns(denoise.RangeWarning, match=said):
            assert denoise.check_images(images).shape == (1, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an image in [-1, 1] with noise: no warning
        denoise.check_images(torch.randn(28, 28) * 0.3 - 0.5)


def test_write_json_refuses_nan_and_infinity_and_writes_nothing(tmp_path):
    from files import NonFiniteError, write_json

    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(NonFiniteError, match="metrics.final.psnr.1 is not a finite number"):
            write_json(tmp_path / "r.json", {"metrics": {"final": {"psnr": [1.0, value]}}})
    assert list(tmp_path.iterdir()) == []
    write_json(tmp_path / "r.json", {"a": [1.0, None]})
    assert (tmp_path / "r.json").read_text() == '{\n "a": [\n  1.0,\n  null\n ]\n}'


def test_a_killed_runs_temporary_files_are_removed_at_the_next_start(tiny_run):
    out, (old, fresh, other), printed = tiny_run
    assert not old.exists() and fresh.exists() and other.exists() and (out / "checkpoint.pt").is_file()
    assert "removed 1 temporary file(s) of an interrupted save: checkpoint.pt.abc123.tmp" in printed


def test_a_resumed_run_finds_its_data_flag_then_checkpoint_then_environment(tmp_path, monkeypatch):
    import train

    monkeypatch.setenv("DDPM_DATA_DIR", str(tmp_path / "elsewhere"))
    images = tmp_path / "photos"
    images.mkdir()
    folder_run = {"data_dir": str(images), "train_config": {"dataset": "folder"}}
    assert train.resume_data_dir("given", folder_run) == "given"
    assert train.resume_data_dir(None, folder_run) == str(images)  # not $DDPM_DATA_DIR
    gone = {"data_dir": str(tmp_path / "gone"), "train_config": {"dataset": "mnist"}}
    assert train.resume_data_dir(None, gone) is None  # a moved data root: $DDPM_DATA_DIR, then ./data
    moved_folder = {"data_dir": str(tmp_path / "gone"), "train_config": {"dataset": "folder"}}
    assert train.resume_data_dir(None, moved_folder) == str(tmp_path / "gone")  # reported by load_folder
