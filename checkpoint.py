"""checkpoint.py - saving and loading checkpoints safely.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)`: a checkpoint file can never run code. Every checkpoint says what it is
(`kind`: "ddpm" or "classifier") and carries the config needed to rebuild its network, so loading one of the wrong
kind, or one that does not fit the network asked for, is a clear error instead of a wall of state-dict keys.
Writes are atomic (files.atomic_write): an interrupted save leaves the old file intact.
"""

import os
import pickle
from pathlib import Path

import torch

from files import atomic_write

FORMAT = 1  # bumped when the layout of the dict changes


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, of the wrong kind or does not fit the model."""


def atomic_save(obj, path):
    """torch.save, atomically."""
    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path, kind):
    """Load a checkpoint dict of the given kind ('ddpm' or 'classifier') on the CPU, with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes), not a checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types here (pickle, zip, EOF, runtime); all mean "not a usable file"
        # PyTorch's own message advises weights_only=False, which is what lets a malicious file run code: never here
        refused = isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e)  # a class or function
        what = ("it holds Python objects other than tensors and plain data, and is not loaded (unpickling them "
                "could run code)" if refused else "the file is truncated or of another format")
        raise CheckpointError(f"{path}: not a checkpoint of this project: {what}") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt:
        raise CheckpointError(f"{path}: not a checkpoint of this project (no 'kind' field)")
    if ckpt["kind"] != kind:
        raise CheckpointError(f"{path}: is a '{ckpt['kind']}' checkpoint, but a '{kind}' checkpoint is needed here")
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {ckpt.get('format')}, this code reads format {FORMAT}")
    return ckpt


def load_weights(model, state_dict, path="checkpoint"):
    """load_state_dict with an error that says which shapes disagree, instead of PyTorch's long key dump."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
        if wrong:
            parts.append("shape mismatch " + "; ".join(wrong[:3]))
        raise CheckpointError(f"{path}: weights do not fit the model: " + ", ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state_dict.items()})


def describe(config):
    """How a DDPM was trained, in words: "a 'class' model of mnist", "... with probabilistic=True"."""
    either = lambda v: " or ".join(map(str, v)) if isinstance(v, tuple) else v  # noqa: E731
    text = f"a '{either(config.get('cond'))}' model of {either(config.get('dataset'))}"
    if "probabilistic" in config:
        text += f" with probabilistic={either(config['probabilistic'])}"
    return text


def check_trained_as(ckpt, path, **expected):
    """CheckpointError unless the DDPM checkpoint was trained with these train_config values, for example
    dataset="mnist", cond="class"; a tuple of values allows any of them."""
    have = ckpt["train_config"]
    for key, want in expected.items():
        if have.get(key) not in (want if isinstance(want, tuple) else (want,)):
            raise CheckpointError(f"{path}: is {describe({k: have.get(k) for k in expected})}; this needs "
                                  f"{describe(expected)}")


def load_ddpm(path, device="cpu", weights="ema", **expected):
    """Rebuild a trained DDPM: (UNet in eval mode with the EMA or raw weights, its Schedule, the checkpoint dict).
    `expected` train_config values (dataset="mnist", cond="class", ...) are checked first (check_trained_as)."""
    from ddpm import Schedule  # imported here: ddpm and unet need nothing from this module
    from unet import UNet, UNetConfig

    ckpt = load_checkpoint(path, "ddpm")
    check_trained_as(ckpt, path, **expected)
    try:
        model = UNet(UNetConfig(**ckpt["model_config"]))
        schedule = Schedule(**ckpt["schedule"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its model config does not describe a UNet of this code ({e})") from None
    if weights not in ckpt:
        raise CheckpointError(f"{path}: holds no '{weights}' weights (an exported checkpoint keeps only 'ema')")
    load_weights(model, ckpt[weights], str(path))
    return model.to(device).eval(), schedule.to(device), ckpt


def export(src, dst, dtype=torch.float16):
    """A small copy of a training checkpoint for shipping: the EMA weights in fp16 and the configs, without the raw
    weights, the optimizer state or the RNG states (it can be sampled from, not resumed). About an eighth of the
    size."""
    ckpt = load_checkpoint(src, "ddpm")
    slim = {k: ckpt[k] for k in ("kind", "format", "train_config", "model_config", "schedule", "step", "loss",
                                 "wall_time_s")}
    slim["ema"] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["ema"].items()}
    atomic_save(slim, dst)
    return slim


if __name__ == "__main__":
    import argparse
    import sys

    import cli

    ap = argparse.ArgumentParser(description="Checkpoint tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write a small fp16 EMA-only copy of a training checkpoint, for shipping")
    e.add_argument("src", type=cli.existing_file, help="the checkpoint.pt that train.py wrote")
    e.add_argument("dst", type=cli.output_file(".pt"), help="where to write the small copy (.pt)")
    args = ap.parse_args()
    try:
        slim = export(args.src, args.dst)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    print(f"wrote {args.dst}: step {slim['step']}, {os.path.getsize(args.dst) / 1e6:.2f} MB")
