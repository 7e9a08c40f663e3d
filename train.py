"""train.py - train every DDPM of the paper with one command line (Algorithm 1).

    python train.py --dataset mnist --cond class --steps 2400 --out runs/mnist_class       # Figs. 1-4
    python train.py --dataset fashion --cond none --out runs/fashion_uncond                 # Fig. 5
    python train.py --cond image --corruption pixels --corruption-level 0.5 --out runs/impute   # Fig. 6
    python train.py --cond image --corruption noise --corruption-level 0.3 --probabilistic --out runs/denoise  # Fig. 7
    python train.py --cond image+class --corruption pixels --out runs/impute_class  # eq. 12: the class as well
    python train.py --resume runs/mnist_class/checkpoint.pt --steps 4000                   # continue, exactly
    python train.py --dataset cifar10 --cond class --out runs/cifar10_class               # colour, 32x32
    python train.py --dataset folder --data-dir my_photos --image-size 64 --out runs/mine  # your own images
    torchrun --standalone --nproc_per_node=4 train.py --dataset cifar10 --cond class       # 4 GPUs, one model

What it writes in --out: checkpoint.pt (config, raw and EMA weights, optimizer, step, RNG states; written atomically
every --ckpt-every steps and at the end) and log.csv (step, loss, seconds). A non-finite loss stops training with a
message and leaves the last good checkpoint in place. Resuming continues the same batches, noise and timesteps that
an uninterrupted run would have drawn.

Speed: --fast runs the UNet in bf16 autocast and channels-last order (fast.for_training; the weights, the optimizer
and the EMA stay fp32) and, on one CUDA GPU with --cond none or class and without --compile, replays the loop's whole
step from one CUDA graph (fast.GraphedTrainStep; it prints which); --compile wraps the training network in
torch.compile. The step itself never waits for the device: the losses stay there and are read back every
--sync-every steps (and before every checkpoint), where they are logged and checked for a non-finite value; the EMA
update is one foreach call over all the parameters.

Several processes (torchrun, DistributedDataParallel): the global batch --batch-size is split evenly over the
processes, each computing its own share of every batch; every process draws the whole batch's noise and timesteps
from the same seeded generator and keeps its rows, so the run draws the same numbers whatever the number of
processes, and a checkpoint written with one process resumes with several (and back). Only rank 0 writes.
"""

import argparse
import copy
import csv
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

import cli
import corruptions
import data
from checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, load_weights
from files import remove_stale_temporaries
from ddpm import Schedule, training_inputs, training_loss
from devices import DEVICE_HELP, resolve_device
from unet import UNet, UNetConfig, count_parameters


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # mnist | fashion | cifar10 | folder (your images: --data-dir names the folder)
    cond: str = "class"  # none | class (classifier-free guidance) | image (corrupted image as an extra channel) |
    # image+class (both: eq. 12's eps(x_t, t, c, x_cond); the label dropped with --p-uncond, as for class)
    corruption: str = "pixels"  # for cond=image: pixels (remove a fraction) | noise (additive Gaussian)
    corruption_level: float = 0.5  # fraction of pixels removed, or the noise sigma (images in [-1, 1])
    corruption_level_max: float = 0.0  # if above corruption_level: each image's level ~ U[level, level_max]
    probabilistic: bool = False  # section 3.3: keep the condition with probability 1 - exp(-d / tau)
    tau: float = 1.0  # temperature of the probabilistic conditioning
    channels: int = 0  # --dataset folder: 1 grey, 3 RGB (0: as the images are); other datasets: their own
    image_size: int = 0  # --dataset folder: side the images are cropped and resized to (0: 32); others: their own
    width: int = 32  # UNet channels at full resolution
    T: int = 200  # diffusion steps (the paper's)
    schedule: str = "linear"  # linear (rescaled to T) | cosine
    steps: int = 2400  # optimizer steps in total (about 30 min on a 2-core CPU at width 32)
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate, after a linear warm-up
    warmup: int = 100  # warm-up steps
    lr_schedule: str = "constant"  # after the warm-up: constant, or cosine (down to 0 at the last step)
    grad_clip: float = 1.0  # clip the gradient norm (0: off)
    ema: float = 0.999  # decay of the exponential moving average of the weights used for sampling
    p_uncond: float = 0.1  # cond=class: how often the label is replaced by the null class
    seed: int = 0
    limit: int = 0  # train on the first `limit` images only (0: all); for quick tests
    ckpt_every: int = 200  # write a checkpoint every this many steps
    fast: bool = False  # bf16 autocast, channels-last (fast.py; weights fp32); one CUDA GPU: the step in a CUDA graph
    compile: bool = False  # torch.compile the training network (tens of seconds before the first step; pays on a GPU)
    sync_every: int = 25  # read the losses back from the device every this many steps (and at every checkpoint)


CONDS = ("none", "class", "image", "image+class")
PROCESS_START = time.time()  # a checkpoint.pt.*.tmp older than this was left by an interrupted save, not by this run
# the largest settings taken: a width or T past these is a typo, and would fail deep inside with an allocator error
MAX_WIDTH, MAX_T, MAX_IMAGE_SIZE = 1024, 100_000, 1024

# fields that define the model or the data it learns; a resumed run may not change them
FROZEN = ("dataset", "cond", "corruption", "corruption_level", "corruption_level_max", "probabilistic", "tau",
          "channels", "image_size", "width", "T", "schedule", "batch_size", "lr", "warmup", "lr_schedule", "grad_clip",
          "ema",
          "p_uncond", "seed", "limit")


def check_config(cfg):
    """Reject out-of-range settings before any work is done."""
    checks = [
        (cfg.dataset in data.TRAIN_DATASETS, f"--dataset must be one of {', '.join(data.TRAIN_DATASETS)}"),
        (cfg.channels in (0, 1, 3), "--channels must be 1 (grey) or 3 (RGB)"),
        (cfg.image_size == 0 or (4 <= cfg.image_size <= MAX_IMAGE_SIZE and cfg.image_size % 4 == 0),
         f"--image-size must be a multiple of 4 (the UNet halves it twice), at most {MAX_IMAGE_SIZE}"),
        (cfg.dataset == "folder" or cfg.channels == cfg.image_size == 0,
         "--channels and --image-size apply to --dataset folder; the other datasets have their own"),
        (cfg.cond in CONDS, f"--cond must be one of {', '.join(CONDS)}"),
        (cfg.corruption in ("pixels", "noise"), "--corruption must be pixels or noise"),
        (cfg.corruption != "pixels" or 0 <= cfg.corruption_level <= 1,
         "--corruption-level for pixels is a fraction in [0, 1]"),
        (cfg.corruption != "pixels" or cfg.corruption_level_max <= 1, "--corruption-level-max for pixels is at most 1"),
        (cfg.corruption_level >= 0, "--corruption-level must be >= 0"),
        (cfg.tau > 0, "--tau must be > 0"),
        (not cfg.probabilistic or "image" in cfg.cond, "--probabilistic only applies to --cond image (or image+class)"),
        (8 <= cfg.width <= MAX_WIDTH and cfg.width % 8 == 0, f"--width must be a multiple of 8 in 8..{MAX_WIDTH}"),
        (2 <= cfg.T <= MAX_T, f"--T must lie in 2..{MAX_T}"),
        (cfg.schedule in ("linear", "cosine"), "--schedule must be linear or cosine"),
        (cfg.steps >= 1, "--steps must be >= 1"),
        (cfg.batch_size >= 1, "--batch-size must be >= 1"),
        (cfg.lr > 0, "--lr must be > 0"),
        (cfg.warmup >= 0, "--warmup must be >= 0"),
        (cfg.lr_schedule in ("constant", "cosine"), "--lr-schedule must be constant or cosine"),
        (cfg.grad_clip >= 0, "--grad-clip must be >= 0 (0: off)"),
        (0 <= cfg.ema < 1, "--ema must lie in [0, 1)"),
        (0 <= cfg.p_uncond < 1, "--p-uncond must lie in [0, 1)"),
        (cfg.limit >= 0, "--limit must be >= 0"),
        (cfg.ckpt_every >= 1, "--ckpt-every must be >= 1"),
        (cfg.sync_every >= 1, "--sync-every must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise SystemExit(f"error: {msg}")


def model_config(cfg, images, num_classes):
    """The UNet for this run: the channels and size of the training images (N, C, H, W), a class input for
    cond=class and image+class, a condition channel per image channel for cond=image and image+class."""
    channels, size = images.shape[1], images.shape[-1]
    return UNetConfig(
        image_channels=channels,
        image_size=size,
        cond_channels=channels if "image" in cfg.cond else 0,
        num_classes=num_classes if "class" in cfg.cond else 0,
        width=cfg.width,
    )


def load_training_data(cfg, data_dir):
    """The training images (N, C, H, W) in [-1, 1], labels (N,) and class names."""
    if cfg.dataset == "folder":
        if data_dir is None:
            raise data.DataError("--dataset folder needs --data-dir: the folder of your images")
        x, y, names = data.load_folder(data_dir, cfg.channels, cfg.image_size or 32, limit=cfg.limit or None)
    else:
        x, y = data.load_dataset(cfg.dataset, "train", data_dir, limit=cfg.limit or None)
        names = data.CLASS_NAMES[cfg.dataset]
    if "class" in cfg.cond and not names:
        raise data.DataError(f"{data_dir}: --cond class needs one sub-folder per class (at least two); these images "
                             f"have no classes, so train with --cond none")
    if x.shape[-1] % 4 or x.shape[-2] % 4:
        raise data.DataError(f"the images are {x.shape[-2]}x{x.shape[-1]}; the UNet needs sides divisible by 4")
    return x, y, names


def corrupt(cfg, x0, generator):
    """The corrupted image the model is conditioned on (cond=image), drawn fresh for every batch. With a level range,
    each image gets its own level, so one model learns to handle them all."""
    level = cfg.corruption_level
    if cfg.corruption_level_max > level:
        u = torch.rand(x0.shape[0], 1, 1, 1, device=x0.device, generator=generator)  # (B, 1, 1, 1)
        level = level + (cfg.corruption_level_max - level) * u
    if cfg.corruption == "pixels":
        return corruptions.remove_pixels(x0, level, generator)[0]
    return corruptions.gaussian_noise(x0, level, generator)


def learning_rate(cfg, step):
    """The learning rate of optimizer step `step` (0-based): a linear warm-up over cfg.warmup steps, then constant,
    or (lr_schedule cosine) lr (1 + cos(pi s)) / 2 with s the share of the steps after the warm-up done, down to 0
    at cfg.steps (a shorter run with a cosine decay reaches a lower loss than one at a constant rate)."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    if cfg.lr_schedule == "constant" or step < cfg.warmup:
        return cfg.lr * warm
    s = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, s)))


def batch_indices(step, n, batch_size, seed):
    """The images of a given step: epoch e is one permutation of the data seeded by (seed, e), cut into full batches.
    A function of the step alone, so a resumed run sees exactly the batches an uninterrupted one would."""
    per_epoch = max(1, n // batch_size)
    epoch, i = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)[i * batch_size: (i + 1) * batch_size]


def ema_decay(cfg, step):
    """The EMA's decay after optimizer step `step` (counted from 1): cfg.ema, with a short warm-up of its own."""
    return min(cfg.ema, (1 + step) / (10 + step))


def build(cfg, device, images, num_classes):
    torch.manual_seed(cfg.seed)
    model = UNet(model_config(cfg, images, num_classes)).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    return model, ema, opt, gen


def save(path, cfg, model, ema, opt, gen, step, loss, wall, data_dir, class_names):
    atomic_save({
        "kind": "ddpm",
        "format": FORMAT,
        "train_config": asdict(cfg),
        "model_config": model.config.to_dict(),
        "schedule": {"T": cfg.T, "kind": cfg.schedule, "sigma": "beta"},
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "loss": loss,
        "wall_time_s": wall,
        "rng": {"generator": gen.get_state(), "torch_cpu": torch.get_rng_state()},
        # where the data was found, so that --resume finds it again without flags
        "data_dir": str(data.data_root(data_dir).resolve()),
        "class_names": list(class_names),
    }, path)


def process_group():
    """(rank, world size, local rank): (0, 1, 0) for a plain run; under torchrun, joins the process group (NCCL on
    CUDA, gloo on the CPU) from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def share_loss(net, num_classes, schedule, x0, rows, **batch):
    """Algorithm 1's loss on this process's share of a global batch (data-parallel training). Every process draws
    the noise, timesteps and label drops of the whole batch (ddpm.training_inputs) from the same generator and keeps
    its rows, so the draws do not depend on the number of processes; DistributedDataParallel averages the gradients
    of the shares. `batch`: training_inputs' keyword arguments."""
    x_in, t, y, eps = training_inputs(schedule, x0, num_classes, **batch)
    x_in, t, eps, y = x_in[rows], t[rows], eps[rows], None if y is None else y[rows]
    # || eps - eps_theta(x_t, t) ||^2 over the share, as ddpm.training_loss over a whole batch
    return (eps - net(x_in, t, y)).pow(2).mean()


def why_not_one_graph(cfg, device, world):
    """Why --fast runs the loop's step as written rather than replayed from one CUDA graph (None: it need not)."""
    if device.type != "cuda":
        return "one CUDA graph needs a CUDA GPU"
    if world > 1:
        return "one process only: DistributedDataParallel's gradient exchange is not captured"
    if cfg.cond not in ("none", "class"):
        return "--cond none or class only: the corrupted images of --cond image are drawn outside training_loss"
    if cfg.compile:
        return "not with --compile: torch.compile's code is not captured"
    return None


def one_graph_step(cfg, device, world, net, schedule, x_all, y_all, model, ema, opt, gen):
    """--fast: the step of train()'s loop, from the batch to the EMA update, replayed from one CUDA graph
    (fast.GraphedTrainStep) where it can be. Returns (the step, or None for the loop as written; the line saying
    which). Built after any resume, as it takes over the optimizer's state; a failed capture leaves the loop as
    written to do the same step, so a run never stops for it."""
    from fast import GraphedTrainStep

    why_not = why_not_one_graph(cfg, device, world)
    if why_not:
        return None, f"training step: the loop as written ({why_not})"

    def batch_loss(idx):  # the loop's first lines, for --cond none and class
        x0, y = x_all[idx], y_all[idx]
        labels = {"y": y, "p_uncond": cfg.p_uncond} if cfg.cond == "class" else {}
        return training_loss(net, schedule, x0, generator=gen, **labels)

    capture = device.type == "cuda"  # a CPU gets here only in a test: the same step, run eagerly
    try:
        graphed = GraphedTrainStep(batch_loss, model, ema, opt, gen, cfg.batch_size, cfg.grad_clip, capture=capture)
    except Exception as e:  # noqa: BLE001  (whatever stopped the capture, the loop as written can run the step)
        return None, f"training step: the loop as written (the CUDA-graph capture failed: {type(e).__name__}: {e})"
    return graphed, "training step: one CUDA graph" if capture else "training step: GraphedTrainStep, run eagerly"


def train(cfg, out, device, resume=None, progress=True, data_dir=None):
    """Train to cfg.steps; returns the path of the final checkpoint. Under torchrun, every process calls this."""
    rank, world, local_rank = process_group()
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per process
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise SystemExit(f"error: --batch-size {cfg.batch_size} does not split evenly over {world} processes")
    share = cfg.batch_size // world
    rows = slice(rank * share, (rank + 1) * share)  # this process's rows of every global batch
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    x_all, y_all, class_names = load_training_data(cfg, data_dir)
    if cfg.batch_size > len(x_all):  # batch_indices would cut every batch to the whole data: not the batch asked for
        raise data.DataError(f"--batch-size {cfg.batch_size} is more than the {len(x_all)} training images")
    model, ema, opt, gen = build(cfg, device, x_all, len(class_names))
    step, wall = 0, 0.0
    if resume is not None:
        load_weights(model, resume["model"], "resume checkpoint")
        load_weights(ema, resume["ema"], "resume checkpoint")
        opt.load_state_dict(resume["optimizer"])
        gen.set_state(resume["rng"]["generator"])
        torch.set_rng_state(resume["rng"]["torch_cpu"])
        step, wall = resume["step"], resume["wall_time_s"]
    # --fast: the same UNet run under bf16 autocast in channels-last order (fast.Autocast; weights and optimizer fp32)
    net = model
    if cfg.fast:
        from fast import for_training

        net = for_training(model, device)
    # several processes: DistributedDataParallel averages the gradients of the shares in backward()
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    if cfg.compile:  # after DDP, as PyTorch recommends: the compiled graph then knows DDP's gradient buckets
        net = torch.compile(net)

    x_all, y_all = x_all.to(device), y_all.to(device)
    schedule = Schedule(cfg.T, cfg.schedule).to(device)
    # --fast on one CUDA GPU: the step of the loop below replayed from one CUDA graph (None: the loop as written)
    graphed, step_line = (one_graph_step(cfg, device, world, net, schedule, x_all, y_all, model, ema, opt, gen)
                          if cfg.fast else (None, None))
    writer = rank == 0  # only rank 0 writes the log, the checkpoints and the progress bar
    if writer:
        removed = remove_stale_temporaries(ckpt_path, PROCESS_START)  # what a killed run's save left behind
        if removed:
            print(f"removed {len(removed)} temporary file(s) of an interrupted save: "
                  f"{', '.join(p.name for p in removed)}", flush=True)
        print(f"UNet: {count_parameters(model):,} parameters, {model.config}; {len(x_all)} training images; "
              f"device {device}; {world} process(es), {share} images each per step; steps {step} -> {cfg.steps}",
              flush=True)
        if step_line:
            print(step_line, flush=True)
        out.mkdir(parents=True, exist_ok=True)
        log_new = not (out / "log.csv").exists()
        log = open(out / "log.csv", "a", newline="")
        rows_out = csv.writer(log)
        if log_new:
            rows_out.writerow(["step", "loss", "wall_time_s"])

    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and writer), desc="train", unit="step",
               mininterval=2.0)
    loss_val, t0 = float("nan"), time.perf_counter() - wall
    pending = []  # (step, loss on the device, wall time) not yet read back: one host sync per --sync-every steps

    def read_back():
        """Read the pending losses from the device in one go, stop on a non-finite one, log them."""
        nonlocal loss_val
        values = torch.stack([v for _, v, _ in pending]).tolist()  # the one host sync
        for (at, _, seconds), value in zip(pending, values):
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss became {value} at step {at}; stopping. The last good checkpoint ({ckpt_path}, if one was "
                    f"written) is unchanged. Try a lower --lr.")
            if writer:
                rows_out.writerow([at, f"{value:.5f}", f"{seconds:.1f}"])
        loss_val = values[-1]
        bar.set_postfix(loss=f"{loss_val:.4f}")
        pending.clear()
    try:
        while step < cfg.steps:
            if graphed is None:
                idx = batch_indices(step, len(x_all), cfg.batch_size, cfg.seed).to(device)
                x0, y = x_all[idx], y_all[idx]
                kwargs = {}
                if "class" in cfg.cond:
                    kwargs.update(y=y, p_uncond=cfg.p_uncond)
                if "image" in cfg.cond:
                    kwargs.update(x_cond=corrupt(cfg, x0, gen), probabilistic=cfg.probabilistic, tau=cfg.tau)
                if world == 1:
                    loss = training_loss(net, schedule, x0, generator=gen, **kwargs)
                else:
                    loss = share_loss(net, model.config.num_classes, schedule, x0, rows, generator=gen, **kwargs)
                for group in opt.param_groups:
                    group["lr"] = learning_rate(cfg, step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                # the loss of the whole global batch: the mean of the processes' shares
                global_loss = loss.detach().clone()
                if world > 1:
                    dist.all_reduce(global_loss)
                    global_loss /= world
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                # EMA with a short warm-up of its own, so early checkpoints are not dominated by the random init
                decay = ema_decay(cfg, step)
                with torch.no_grad():
                    # ema <- ema + (1 - decay) (model - ema), every parameter in one call (one launch on a GPU)
                    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
                    for be, bm in zip(ema.buffers(), model.buffers()):
                        be.copy_(bm)
            else:  # the lines above, from one CUDA graph: in go this step's batch, learning rate and EMA weight
                global_loss = graphed(batch_indices(step, len(x_all), cfg.batch_size, cfg.seed),
                                      learning_rate(cfg, step), 1 - ema_decay(cfg, step + 1))
                step += 1
            wall = time.perf_counter() - t0
            pending.append((step, global_loss, wall))
            bar.update(1)
            checkpoint_now = step % cfg.ckpt_every == 0 or step == cfg.steps
            if checkpoint_now or step % cfg.sync_every == 0:
                read_back()  # before any checkpoint: a non-finite loss stops the run before it is saved
            if writer and checkpoint_now:
                log.flush()
                save(ckpt_path, cfg, model, ema, opt, gen, step, loss_val, wall, data_dir, class_names)
    finally:
        bar.close()
        if writer:
            log.close()
    if writer:
        print(f"done: step {step}, loss {loss_val:.4f}, {wall / 60:.1f} min of training; wrote {ckpt_path}",
              flush=True)
    return ckpt_path


# the help of each TrainConfig flag (its default is added from the dataclass), and the values the listed ones take
HELP = {
    "dataset": "the images to learn; folder: your own, in the folder --data-dir names",
    "cond": "what the model is told: none; class (classifier-free guidance); image (the corrupted image as an extra "
            "input channel, Figs. 6 and 7); image+class (both, eq. 12)",
    "corruption": "the corrupted image of --cond image: pixels (a fraction removed) or noise (additive Gaussian)",
    "corruption_level": "the fraction of pixels removed (--corruption pixels), or the noise sigma on images in "
                        "[-1, 1] (--corruption noise)",
    "corruption_level_max": "if above --corruption-level: each image's level is drawn from U[level, level-max]",
    "probabilistic": "section 3.3: keep the condition with probability 1 - exp(-d / tau)",
    "tau": "temperature of the probabilistic conditioning (eq. 14)",
    "channels": "--dataset folder: 1 grey, 3 RGB, 0 as the images are; the other datasets have their own",
    "image_size": "--dataset folder: the side the images are cropped and resized to (0: 32); the other datasets "
                  "have their own",
    "width": "UNet channels at full resolution (a multiple of 8)",
    "T": "diffusion steps (the paper's: 200)",
    "schedule": "the beta schedule: linear (rescaled to T) or cosine",
    "steps": "optimizer steps in all",
    "batch_size": "images per optimizer step, in all (split over the processes under torchrun)",
    "lr": "Adam learning rate, after a linear warm-up",
    "warmup": "steps of the learning rate's linear warm-up",
    "lr_schedule": "the learning rate after the warm-up: constant, or cosine (decays to 0 at --steps; a resumed "
                   "run follows the curve of its new --steps)",
    "grad_clip": "clip the gradient norm at this value (0: off)",
    "ema": "decay of the exponential moving average of the weights, the weights used for sampling",
    "p_uncond": "--cond class or image+class: how often the label is replaced by the null class",
    "seed": "seed of the initial weights, the batches, the noise and the timesteps",
    "limit": "train on the first N images only (0: all); for quick tests",
    "ckpt_every": "write a checkpoint every this many steps (and at the end)",
    "fast": "bf16 autocast and channels-last for the UNet's passes (fast.py); the weights stay fp32. On one CUDA GPU "
            "with --cond none or class and without --compile, the whole step replayed from one CUDA graph",
    "compile": "torch.compile the training network (tens of seconds before the first step; pays on a GPU)",
    "sync_every": "read the losses back from the device every this many steps (and at every checkpoint)",
}
# the argparse type of each TrainConfig field that is not its default's type: seeds and finite numbers (cli.py)
TYPES = {"seed": cli.seed, **{f.name: cli.finite_float for f in fields(TrainConfig) if isinstance(f.default, float)}}
CHOICES = {"dataset": data.TRAIN_DATASETS, "cond": CONDS, "corruption": ("pixels", "noise"),
           "schedule": ("linear", "cosine"), "lr_schedule": ("constant", "cosine"), "channels": (0, 1, 3)}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], argument_default=argparse.SUPPRESS)
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text = f"{HELP[f.name]} (default: {f.default})"
        if f.type is bool or f.type == "bool":
            ap.add_argument(flag, action="store_true", help=text)
        else:
            ap.add_argument(flag, type=TYPES.get(f.name, type(f.default)), choices=CHOICES.get(f.name), help=text)
    ap.add_argument("--epochs", type=cli.positive_float,
                    help="train for this many passes over the data (sets --steps; give one or the other)")
    ap.add_argument("--out", type=cli.output_dir, help="output folder (default: runs/<dataset>_<cond>)")
    ap.add_argument("--resume", type=cli.existing_file, help="checkpoint to continue from; its settings are kept")
    ap.add_argument("--data-dir", type=cli.existing_dir,
                    help="data root, or the folder of images of --dataset folder (default: $DDPM_DATA_DIR or ./data; "
                    "a resumed run: the checkpoint's, then $DDPM_DATA_DIR)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap.parse_args(argv)


def resumable(ckpt, path):
    """CheckpointError unless the checkpoint holds what a resumed run needs: an exported one (checkpoint.export, such
    as the shipped checkpoints/*.pt) keeps only the EMA weights, for sampling."""
    missing = [k for k in ("model", "optimizer", "rng", "step", "wall_time_s") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: an exported checkpoint (EMA weights only, for sampling; no "
                              f"{', '.join(missing)}) cannot be resumed; resume from the checkpoint.pt that train.py "
                              f"wrote, or start a new run")


def resume_data_dir(data_dir, resume):
    """Where a resumed run finds its data: --data-dir, else the folder stored in the checkpoint (where it still
    exists), else $DDPM_DATA_DIR or ./data (data.data_root)."""
    if data_dir is not None:
        return data_dir
    stored = resume.get("data_dir")
    if stored and (Path(stored).is_dir() or resume["train_config"].get("dataset") == "folder"):
        return stored  # a folder dataset has no other place: a missing folder is reported by load_folder
    return None


def main(argv=None):
    args = vars(parse(argv))
    resume_path, data_dir = args.pop("resume", None), args.pop("data_dir", None)
    out, epochs = args.pop("out", None), args.pop("epochs", None)
    if epochs is not None and "steps" in args:
        raise SystemExit("error: --epochs sets --steps: give one or the other")
    device = resolve_device(args.pop("device"))
    progress = not args.pop("no_progress", False)
    resume = None
    try:
        if resume_path:
            resume = load_checkpoint(resume_path, "ddpm")
            resumable(resume, resume_path)
            cfg = TrainConfig(**resume["train_config"])
            changed = [f"--{k.replace('_', '-')} {v} (checkpoint: {getattr(cfg, k)})"
                       for k, v in args.items() if k in FROZEN and v != getattr(cfg, k)]
            if changed:
                raise SystemExit("error: a resumed run keeps the checkpoint's settings; these differ: "
                                 + ", ".join(changed))
            for k, v in args.items():
                setattr(cfg, k, v)
            out = out or str(Path(resume_path).parent)
            data_dir = resume_data_dir(data_dir, resume)
        else:
            cfg = TrainConfig(**args)
        out = cli.checked(cli.output_dir, out or f"runs/{cfg.dataset}_{cfg.cond}", "--out")  # before any data is read
        check_config(cfg)
        if epochs is not None:
            n = len(load_training_data(cfg, data_dir)[1])
            cfg.steps = max(1, math.ceil(epochs * n / cfg.batch_size))
        if resume is not None and cfg.steps <= resume["step"]:
            raise SystemExit(f"error: the checkpoint is already at step {resume['step']}; ask for more --steps")
        train(cfg, out, device, resume, progress, data_dir)
    except (data.DataError, CheckpointError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
