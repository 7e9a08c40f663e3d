"""fast.py - the fast path: a layer beside the readable code. It swaps modules and settings around a trained UNet
and hands the samplers their fused drop-ins; it never changes the lines a reader follows in ddpm.py or unet.py.

    fast = fast_path(model, schedule, device)            # prints nothing; fast.summary says what it turned on
    eps_fn = EpsFunction(fast.model, y=..., concat=fast.concat)
    x, _ = sample(eps_fn, schedule, shape, step=fast.step, ...)

The levers, each turned on only where it can run:
  bf16 autocast     the UNet's convolutions and matrix products in bfloat16 (a CUDA GPU, or a CPU with bf16); its
                    output goes back to fp32, so the chain itself (x_t, the reverse step) stays in fp32, and the
                    GroupNorm statistics are taken in fp32 (autocast runs group_norm in fp32)
  bf16 weights      the convolution and linear weights of the copy stored in bf16 once, instead of cast on every call
                    (autocast's cast cache is off, see Autocast): the same values, so the same eps, fewer copies.
                    Sampling only: training keeps its fp32 master weights (for_training)
  cudnn.benchmark   on a CUDA GPU, cuDNN times its convolution algorithms at the first call of each shape and keeps
                    the fastest (a process-wide setting)
  channels-last     the UNet's weights and inputs in NHWC memory order, which convolution kernels prefer (on a GPU,
                    and on a CPU in fp32; a CPU in bf16 is as fast or faster without it, so it is off there)
  fused GroupNorm   kernels/group_norm_silu.py for every unet.GroupNormSiLU (CUDA with Triton)
  fused step, concat   kernels/reverse_step.py and kernels/masked_concat.py (CUDA with Triton; kernels.choose)
  torch.compile     on a CUDA GPU by default (it costs tens of seconds before the first step, which the first
                    chain pays); never on a CPU unless asked (compile=True), where a short run does not win it back
  CUDA graphs       on a CUDA GPU by default: ChunkedGraphs, the samplers' `runner=`, replays the chain a stretch of
                    20 steps at a time, so it fits chains entered at any t_start, trajectories and a progress bar;
                    `captured_chain` records one whole chain (fast.py's rows that replay the chain in one graph).
                    The steps of this small UNet are bound by kernel launches on a GPU, so there bf16 and the fused
                    kernels alone do not pay and these two do (docs/benchmarks.md)
The `--fast` flag of the scripts (sample.py, denoise.py, impute.py, the figure scripts) is fast_path with its defaults
(with `--kernels torch`, without the fused kernels); sample.py and denoise.py hand its runner to the samplers, the
others run its model and step. What each lever buys is measured, side by side, by `python fast.py` (this machine)
and kernels/bench.py (a GPU), in docs/benchmarks.md.
"""

import copy
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

import cli


FLAG_HELP = ("the fast path (fast.py): bf16 autocast and weights, channels-last and, on a CUDA GPU with Triton, "
             "the fused kernels; what it turned on is printed")


def cpu_has_bf16():
    """Whether this CPU runs bfloat16 natively (AVX-512 BF16 or AMX): autocast to bf16 pays only there."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Autocast(nn.Module):
    """A UNet run under autocast (and in channels-last memory order), its output back in fp32. It keeps the UNet's
    `config`, so EpsFunction and the samplers take it as they take the UNet."""

    def __init__(self, model, dtype=torch.bfloat16, channels_last=False):
        super().__init__()
        self.model, self.dtype, self.channels_last = model, dtype, channels_last
        self.config = model.config

    def forward(self, x, t, y=None):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        # cache_enabled=False: no cache of cast weights, which a CUDA-graph capture of the chain would not allow
        with torch.autocast(device_type=x.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32,
                            cache_enabled=False):
            eps = self.model(x, t, y)
        return eps.float().contiguous()  # (B, C, H, W) fp32, NCHW: what the reverse step expects


def bf16_runs_on(device):
    """Whether bf16 autocast pays on `device`: a CUDA GPU, or a CPU with native bf16."""
    return torch.device(device).type == "cuda" or cpu_has_bf16()


def for_training(model, device):
    """The training levers of `train.py --fast`: `model` itself (its parameters stay fp32, in place) turned to
    channels-last order and wrapped in bf16 autocast where bf16 pays."""
    dtype = torch.bfloat16 if bf16_runs_on(device) else torch.float32
    return Autocast(model.to(memory_format=torch.channels_last), dtype, channels_last=True)


@dataclass
class FastPath:
    """What fast_path built: the model to call, the reverse step and conditioning input to pass the samplers, and
    the levers it turned on (and why the others are off)."""

    model: nn.Module
    step: object
    concat: object
    turned_on: list = field(default_factory=list)
    left_off: list = field(default_factory=list)
    runner: object = None  # ChunkedGraphs on a CUDA GPU (pass it to the samplers as runner=), else None

    @property
    def summary(self):
        on = ", ".join(self.turned_on) or "nothing"
        off = "; ".join(self.left_off)
        return f"fast path: {on}" + (f" (off: {off})" if off else "")


def captured_chain(eps_fn, schedule, x, t_start, step=None):
    """The whole reverse chain from t_start (ddpm.sample_from) captured in one CUDA graph: returns a function that
    replays it on a new x_{t_start} of x's shape and returns x_0. Python, the launches and the allocations are
    recorded once; each replay draws fresh noise from PyTorch's default CUDA generator (graph-safe), so `eps_fn` must
    not hold a generator of its own, and its labels and condition are fixed at capture. CUDA only."""
    from ddpm import sample_from

    if x.device.type != "cuda":
        raise RuntimeError("a CUDA-graph capture needs a CUDA device")
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # one chain outside the graph: compiles the kernels, warms the allocator up
        sample_from(eps_fn, schedule, static_x, t_start, step=step)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out, _ = sample_from(eps_fn, schedule, static_x, t_start, step=step)

    def replay(x_new):
        static_x.copy_(x_new)
        graph.replay()
        return static_out.clone()

    return replay


def shifted_chain(eps_fn, schedule, x, n, t_base, step=None, generator=None):
    """n steps of ddpm.sample_from, from x_{t_base + n} down to x_{t_base}: its loop as written, run on the timesteps
    n..1 shifted by t_base, a (B,) long tensor. The timestep lives on the device, so one captured graph of n steps
    serves every stretch of n steps of every chain."""
    from ddpm import sample_from

    step = step or schedule.p_step
    return sample_from(lambda x_t, t: eps_fn(x_t, t_base + t), schedule, x, n,
                       step=lambda x_t, t, eps, z: step(x_t, t_base + t, eps, z), generator=generator)[0]


class ChunkedGraphs:
    """A `runner` for ddpm.sample_from (and so for ddpm.sample): the same chain, its steps run `chunk` at a time, each
    stretch replayed from a CUDA graph. The stretches end on multiples of `chunk` (t = 180, 160, ... for chunk 20),
    so a chain entered at any t_start runs a first, shorter stretch down to the next multiple, then full ones; one
    graph of `chunk` steps serves every full stretch of every chain of the same eps_fn and batch shape, its timesteps
    in a device tensor (shifted_chain). Between stretches the host records the trajectory and moves the progress
    bar, so both work as in the readable loop (recording every k steps runs stretches of gcd(chunk, k)).
    Capture records Python, the launches and the allocations once; each replay draws fresh noise from a generator
    registered with the graph, seeded from the caller's generator at every call, so a seeded run is repeatable but
    draws other (equally distributed) noise than the readable loop. The labels and condition of eps_fn are read where
    they lie at capture: a new eps_fn is captured anew.
    capture=False runs the same stretches eagerly, with the caller's generator (on a CPU, for the tests: the same
    numbers as the readable loop)."""

    def __init__(self, chunk=20, capture=True):
        self.chunk, self.capture = chunk, capture
        self.eps_fn, self.graphs = None, {}  # (shape, steps) -> (graph, x buffer, t_base buffer)
        self.generator = None
        self.captured = 0  # graphs captured so far (a test and fast.py read it)

    def __call__(self, eps_fn, schedule, x, t_start, *, step=None, record_every=0, generator=None, progress=None):
        import math

        from ddpm import Trajectory

        k = math.gcd(self.chunk, record_every) if record_every else self.chunk
        if self.capture:
            self.seed(x.device, generator)
        traj = Trajectory(record_every)
        traj.add(t_start, x, always=True)
        t = t_start
        while t > 0:
            n = t % k or k  # down to the next multiple of k: only the first stretch is shorter
            x = self.stretch(eps_fn, schedule, x, n, t - n, step, generator)
            t -= n
            traj.add(t, x, always=(t == 0))
            if progress is not None:
                progress.update(n)
        return x, traj

    def seed(self, device, generator):
        """The graphs' own generator, seeded from the caller's (one draw from it) or, without one, from PyTorch's."""
        if self.generator is None:
            self.generator = torch.Generator(device=device)
        seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device if generator else "cpu")
        self.generator.manual_seed(int(seed))

    def stretch(self, eps_fn, schedule, x, n, t_base, step, generator):
        """x_{t_base + n} -> x_{t_base}: eagerly, or by replaying (capturing at first) the graph of n steps."""
        t_vec = torch.full((x.shape[0],), t_base, dtype=torch.long, device=x.device)
        if not self.capture:
            return shifted_chain(eps_fn, schedule, x, n, t_vec, step, generator)
        if eps_fn is not self.eps_fn:  # its tensors are baked into the graphs: start over
            self.eps_fn, self.graphs = eps_fn, {}
        key = (tuple(x.shape), x.dtype, n)
        if key not in self.graphs:
            self.graphs[key] = self.record(eps_fn, schedule, x, n, t_vec, step)
        graph, x_buf, t_buf = self.graphs[key]
        x_buf.copy_(x)
        t_buf.copy_(t_vec)
        graph.replay()
        return x_buf.clone()

    def record(self, eps_fn, schedule, x, n, t_vec, step):
        """Capture n steps into one CUDA graph whose input and output is the same buffer (x_buf)."""
        x_buf, t_buf = x.clone(), t_vec.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # one stretch outside the graph: compiles the kernels, warms the allocator
            shifted_chain(eps_fn, schedule, x_buf.clone(), n, t_buf, step, self.generator)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)  # each replay then advances this generator's offset
        with torch.cuda.graph(graph):
            x_buf.copy_(shifted_chain(eps_fn, schedule, x_buf, n, t_buf, step, self.generator))
        self.captured += 1
        return graph, x_buf, t_buf


def store_in_bf16(model):
    """The weights and biases of every convolution and linear layer of `model` in bf16, in place (the GroupNorm
    parameters stay fp32). Under bf16 autocast these are the values autocast would cast them to on every call."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.to(torch.bfloat16)
    return model


def fast_path(model, schedule, device, *, bf16=True, channels_last=None, fused=True, compile=None,
              bf16_weights=True, graphs=None, chunk=20):
    """The fast version of a trained UNet (a copy: `model` itself is left as it is) and the samplers' drop-ins, with
    every lever that can run on `device` (see the module docstring). Falls back lever by lever, never fails.
    channels_last=None: where it pays, on a CUDA GPU and on a CPU in fp32; a CPU in bf16 runs the UNet as fast or
    faster without it (docs/fast.md times both on the development CPU). compile=None and graphs=None: on a CUDA
    GPU, where together they measure best (docs/benchmarks.md), torch.compile and the chain replayed from CUDA graphs
    of `chunk` steps (ChunkedGraphs, handed to the samplers as `runner=`); off on a CPU. compile may also name a
    torch.compile mode."""
    import ddpm
    import kernels

    device = torch.device(device)
    fast = copy.deepcopy(model).eval()
    turned_on, left_off = [], []
    has_triton = importlib.util.find_spec("triton") is not None
    on_cuda = device.type == "cuda"
    compile = on_cuda if compile is None else compile
    graphs = on_cuda if graphs is None else graphs

    step, concat = schedule.p_step, ddpm.masked_concat
    if fused and on_cuda and has_triton:
        from kernels.group_norm_silu import fuse_group_norms

        fuse_group_norms(fast)
        step, concat = kernels.choose("triton", device, schedule)
        turned_on.append("fused GroupNorm + SiLU, reverse step and concat (Triton)")
    elif fused:
        left_off.append("fused kernels: need a CUDA GPU and Triton")

    dtype = torch.float32
    if channels_last is None:
        channels_last = on_cuda or not (bf16 and bf16_runs_on(device))
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        turned_on.append("channels-last")
    if bf16 and bf16_runs_on(device):
        dtype = torch.bfloat16
        turned_on.append("bf16 autocast")
        if bf16_weights:
            store_in_bf16(fast)
            turned_on.append("bf16 weights")
    elif bf16:
        left_off.append("bf16 autocast: this CPU has no native bf16")
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        turned_on.append("cudnn.benchmark")
    wrapped = Autocast(fast, dtype, channels_last)
    if compile:
        mode = compile if isinstance(compile, str) else None  # a mode name: "max-autotune-no-cudagraphs", ...
        wrapped.model = torch.compile(wrapped.model, mode=mode)
        turned_on.append("torch.compile" + (f" ({mode})" if mode else ""))
    runner = None
    if graphs and on_cuda:
        runner = ChunkedGraphs(chunk)
        step = schedule.p_step  # the fused step takes a Python int timestep; a replayed stretch holds a tensor
        turned_on.append(f"CUDA graphs of {chunk} steps")
    elif graphs:
        left_off.append("CUDA graphs: need a CUDA GPU")
    return FastPath(wrapped, step, concat, turned_on, left_off, runner)


ROOT = Path(__file__).resolve().parent


@cli.command
def main(argv=None):
    """Measure the levers on this machine, side by side in one run: the class-conditional sampler's time per step
    (guidance w = 2, so each step is one UNet pass over 2B images) for eager fp32 and each lever added in turn, and
    the quality guard: the share of samples the classifier assigns the class asked for, fp32 against fast."""
    import argparse
    import functools
    import platform
    import statistics
    import time

    from checkpoint import load_ddpm
    from classifier import load_classifier, predict
    from ddpm import EpsFunction, sample, sample_from
    from devices import DEVICE_HELP, resolve_device
    from files import write_json

    ap = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=cli.existing_file, default=str(ROOT / "checkpoints" / "mnist_class.pt"),
                    help="the class-conditional DDPM whose sampler is timed (default: checkpoints/mnist_class.pt)")
    ap.add_argument("--batch", type=cli.positive_int, default=256, help="images per chain (default: 256)")
    ap.add_argument("--steps", type=cli.positive_int, default=5, help="reverse steps per timing (default: 5)")
    ap.add_argument("--repeats", type=cli.positive_int, default=5,
                    help="timings per variant, interleaved (default: 5)")
    ap.add_argument("--quality", type=cli.non_negative_int, default=0,
                    help="samples per path for the quality guard (default: 0, no guard)")
    ap.add_argument("--compile", action="store_true",
                    help="add torch.compile rows beside the --fast row (their compile time is reported)")
    ap.add_argument("--anchor", action="store_true",
                    help="on a CUDA GPU, add the stock-PyTorch anchor: bf16 weights, channels-last, cudnn.benchmark, "
                    "torch.compile max-autotune (minutes of autotuning), the chain in one CUDA graph")
    ap.add_argument("--profile", type=cli.output_file(".md"), default=None,
                    help="profile one eager fp32 sampler step and one training step first, and write the operator "
                    "tables (markdown) here")
    ap.add_argument("--train-batch", type=cli.non_negative_int, default=0,
                    help="also time training steps (Algorithm 1, Adam) at this batch, fp32 against --fast "
                    "(default: 0, none)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--kernels", choices=("auto", "torch"), default="auto",
                    help="auto: the fused kernels in the --fast rows where they can run; torch: leave them out of "
                    "every row (where their checks failed) (default: auto)")
    ap.add_argument("--out", type=cli.output_file(".json"), default=None,
                    help="write the results as json here (default: printed only)")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    model, schedule, _ = load_ddpm(args.checkpoint, device)
    if model.config.num_classes == 0 or model.config.cond_channels:
        kind = "image-conditioned" if model.config.cond_channels else "unconditional"
        raise SystemExit(f"error: {args.checkpoint}: fast.py times the class-conditional sampler (guidance w = 2); "
                         f"this model is {kind}")
    if args.steps > schedule.T:
        raise SystemExit(f"error: --steps must lie in 1..{schedule.T} (the model's T), got {args.steps}")
    clf = None
    if args.quality:  # the judge, loaded (and checked to read this model's images) before any timing
        clf, _ = load_classifier(ROOT / "checkpoints" / "classifier_mnist.pt")
        if (model.config.image_channels, model.config.image_size) != (1, 28):
            raise SystemExit("error: --quality judges with the MNIST classifier, which reads 28x28 grey images")
    if args.profile:
        write_profile(args.profile, model, schedule, device, args.batch, args.train_batch or 128,
                      fast=fast_path(model, schedule, device, fused=args.kernels != "torch", compile=False,
                                     graphs=False))
    # each lever added in turn (torch.compile and the CUDA graphs off: they are rows of their own), then --fast as
    # the scripts run it (on a CUDA GPU that adds torch.compile and the chain replayed from CUDA graphs)
    plain = dict(fused=False, compile=False, graphs=False)
    variants = {"eager fp32": fast_path(model, schedule, device, bf16=False, channels_last=False, **plain),
                "+ channels-last": fast_path(model, schedule, device, bf16=False, channels_last=True, **plain),
                "+ bf16 autocast": fast_path(model, schedule, device, channels_last=True, bf16_weights=False,
                                             **plain),
                "+ bf16 weights": fast_path(model, schedule, device, channels_last=True, **plain),
                "bf16 autocast, no channels-last": fast_path(model, schedule, device, channels_last=False,
                                                             bf16_weights=False, **plain),
                "bf16 weights, no channels-last": fast_path(model, schedule, device, channels_last=False, **plain),
                "+ fused kernels (GPU)": fast_path(model, schedule, device, fused=args.kernels != "torch",
                                                   compile=False, graphs=False)}
    compile_s = {}
    if args.compile:
        # torch.compile alone on the plain fp32 UNet (what a user gets without this file), then on top of the levers
        variants["torch.compile only (fp32)"] = fast_path(model, schedule, device, bf16=False, channels_last=False,
                                                          fused=False, compile=True, graphs=False)
        variants["+ torch.compile"] = fast_path(model, schedule, device, fused=args.kernels != "torch", compile=True,
                                                graphs=False)
    if args.anchor and device.type == "cuda":
        # the fair anchor: what stock PyTorch does with the same UNet, none of this project's kernels (its chain is
        # captured whole in one CUDA graph below)
        variants["stock anchor"] = fast_path(model, schedule, device, fused=False, graphs=False,
                                             compile="max-autotune-no-cudagraphs")
    variants["--fast"] = fast_path(model, schedule, device, fused=args.kernels != "torch")
    # a lever that cannot run here (the fused kernels without a GPU) adds nothing: where two rows have the same
    # levers, keep the row in the earlier place under the later name (the --fast row keeps its name; its levers
    # column says what --fast turned on on this machine)
    by_levers = {}
    for name, v in variants.items():
        by_levers[tuple(v.turned_on)] = (name, v)  # a dict keeps a key's first place and takes its last value
    variants = dict(by_levers.values())
    fast_name = "--fast"  # what the scripts' --fast flag builds on this device
    g = torch.Generator(device=device).manual_seed(0)
    y = torch.arange(args.batch, device=device) % model.config.num_classes
    x = torch.randn(args.batch, model.config.image_channels, model.config.image_size, model.config.image_size,
                    device=device, generator=g)

    def chain(v):
        eps_fn = EpsFunction(v.model, y=y, guidance=2.0, concat=v.concat)
        return lambda: sample_from(eps_fn, schedule, x, args.steps, step=v.step, generator=g, runner=v.runner)[0]

    # name -> (a function that runs --steps reverse steps, the levers it has on)
    runs = {name: (chain(v), v.turned_on) for name, v in variants.items()}
    for name, (run, levers) in runs.items():  # warm-up (and, for torch.compile, the compile; for graphs, capture)
        t0 = time.perf_counter()
        run()
        if any(lever.startswith(("torch.compile", "CUDA graphs")) for lever in levers):
            compile_s[name] = time.perf_counter() - t0
    if device.type == "cuda":
        # rows with their whole chain of --steps steps replayed from one CUDA graph: eager fp32 so replayed is its
        # pure GPU time (a host-bound baseline would flatter every ratio); the noise comes from the default
        # generator there, so these rows draw other (equally distributed) noise than the others
        graphed = [("eager fp32", "eager fp32 replayed in a CUDA graph"),
                   ("+ fused kernels (GPU)", "+ fused kernels + CUDA graph of the chain"),
                   ("torch.compile only (fp32)", "torch.compile (fp32) + CUDA graph of the chain"),
                   ("+ torch.compile", "+ torch.compile + CUDA graph of the chain"),
                   ("stock anchor", "stock anchor: + CUDA graph of the chain")]
        for base_name, name in graphed:
            if base_name not in variants:
                continue
            v = variants[base_name]
            try:
                replay = captured_chain(EpsFunction(v.model, y=y, guidance=2.0, concat=v.concat), schedule, x,
                                        args.steps, v.step)
                runs[name] = (functools.partial(replay, x), [*v.turned_on, "CUDA graph"])
            except Exception as e:  # noqa: BLE001  (a failed capture is reported, the other rows still count)
                print(f"CUDA-graph capture of {base_name!r} failed: {type(e).__name__}: {e}")
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (run, _) in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(times["eager fp32"])
    rows = []
    for name, (_, levers) in runs.items():
        s = statistics.median(times[name])
        rows.append({"variant": name, "levers": levers, "ms per step": 1e3 * s,
                     "images/s (T = 200 chain)": args.batch / (s * schedule.T), "speed-up": base / s,
                     "all timings ms": [round(1e3 * t, 2) for t in times[name]]})
        print(f"{name:28s} {1e3 * s:9.1f} ms per step   {base / s:5.2f}x   ({', '.join(levers) or 'nothing'})")
    result = {"command": "python fast.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
              "device": str(device), "machine": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "torch": torch.__version__, "batch": args.batch,
              "steps_timed": args.steps, "repeats": args.repeats, "compile_s": compile_s, "rows": rows}
    if args.train_batch:
        result["training"] = time_training(model, schedule, device, args.train_batch, args.repeats, args.compile)
    if args.quality:
        labels = torch.arange(args.quality, device=device) % model.config.num_classes
        result["quality"] = {}
        for name in ("eager fp32", fast_name):
            v = variants[name]
            gq = torch.Generator(device=device).manual_seed(1)
            eps_fn = EpsFunction(v.model, y=labels, guidance=2.0, concat=v.concat)
            shape = (args.quality, model.config.image_channels, model.config.image_size, model.config.image_size)
            images = sample(eps_fn, schedule, shape, device=device, step=v.step, generator=gq, runner=v.runner)[0]
            kept = (predict(clf, images.clamp(-1, 1).cpu()) == labels.cpu()).float().mean().item()
            result["quality"][name] = {"n": args.quality, "classified_as_asked": kept}
            print(f"quality, {name}: {100 * kept:.1f}% of {args.quality} samples at w = 2 classified as asked")
    if args.out:
        write_json(args.out, result)
    return result


def write_profile(path, model, schedule, device, batch, train_batch, top=12, fast=None):
    """Where the time goes: torch.profiler over one guided sampler step (eager fp32, w = 2: one UNet pass over 2B
    images), the same step on `fast` (a FastPath without torch.compile and graphs, so that its operators show) and
    one training step, operators sorted by their own time; markdown tables to `path`. The fast step's table is
    followed by the count of layout conversions in it (aten::contiguous, aten::copy_ and aten::to calls that copy
    a whole activation between NCHW and NHWC): the fused kernels read channels-last input as it lies."""
    from torch.profiler import ProfilerActivity, profile

    from ddpm import EpsFunction, sample_from, training_loss
    from files import write_text

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    shape = (model.config.image_channels, model.config.image_size, model.config.image_size)
    g = torch.Generator(device=device).manual_seed(0)
    y = torch.arange(batch, device=device) % model.config.num_classes
    x = torch.randn(batch, *shape, device=device, generator=g)
    eps_fn = EpsFunction(model, y=y, guidance=2.0)
    trainee = copy.deepcopy(model).train()
    opt = torch.optim.Adam(trainee.parameters(), lr=1e-4)
    x0 = torch.rand(train_batch, *shape, device=device, generator=g) * 2 - 1
    y0 = torch.randint(0, model.config.num_classes, (train_batch,), device=device, generator=g)

    def train_step():
        loss = training_loss(trainee, schedule, x0, y=y0, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    text = [f"# Where the time goes ({device}, torch {torch.__version__}, {torch.get_num_threads()} threads)\n",
            "Command: `python fast.py --profile ...`; torch.profiler, one step after one warm-up step, operators by "
            "their own time.\n"]
    steps = [(f"One sampler step, eager fp32, batch {batch} with guidance (one UNet pass over {2 * batch} images)",
              lambda: sample_from(eps_fn, schedule, x, 1, generator=g))]
    if fast is not None:
        fast_eps = EpsFunction(fast.model, y=y, guidance=2.0, concat=fast.concat)
        steps.append((f"The same step on the fast path ({', '.join(fast.turned_on) or 'nothing'})",
                      lambda: sample_from(fast_eps, schedule, x, 1, step=fast.step, generator=g)))
    steps.append((f"One training step, eager fp32, batch {train_batch} (loss, backward, Adam)", train_step))
    for title, fn in steps:
        fn()  # warm-up
        with profile(activities=activities) as prof:
            fn()
        table = prof.key_averages().table(sort_by=sort, row_limit=top, max_name_column_width=40)
        text += [f"## {title}\n", "```", table.strip(), "```\n"]
        if title.startswith("The same step"):
            calls = {e.key: e.count for e in prof.key_averages() if e.key in ("aten::contiguous", "aten::copy_",
                                                                              "aten::to", "aten::clone")}
            text.append("Layout and dtype copies in this step (calls): "
                        + (", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none") + "\n")
    write_text(path, "\n".join(text))
    print(f"wrote {path}")


def time_training(model, schedule, device, batch, repeats, compile=False):
    """Seconds per training step (loss, backward, Adam step) of a fresh copy of `model`, fp32 against bf16 autocast
    with channels-last (train.py --fast), and, with compile=True, --fast with torch.compile (train.py --fast
    --compile) and that with PyTorch's fused Adam (one kernel for the whole update); interleaved; returns the
    medians and the ratios to fp32. The first round warms up (and compiles), its time reported apart."""
    import statistics
    import time

    from ddpm import training_loss

    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.rand(batch, model.config.image_channels, model.config.image_size, model.config.image_size,
                    device=device, generator=g) * 2 - 1
    y = torch.randint(0, model.config.num_classes, (batch,), device=device, generator=g)
    settings = [("fp32", False, False, False), ("--fast", True, False, False)]
    if compile:
        settings += [("--fast + torch.compile", True, True, False),
                     ("--fast + torch.compile + fused Adam", True, True, True)]
    nets = {}
    for name, fast, compiled, fused in settings:
        m = copy.deepcopy(model).train()
        net = for_training(m, device) if fast else m
        opt = torch.optim.Adam(m.parameters(), lr=1e-4, fused=True if fused else None)  # None: PyTorch's default
        nets[name] = (torch.compile(net) if compiled else net, opt)
    times = {name: [] for name in nets}
    first = {}
    for i in range(repeats + 1):  # the first round warms up
        for name, (net, opt) in nets.items():
            t0 = time.perf_counter()
            loss = training_loss(net, schedule, x0, y=y, generator=g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            if i:
                times[name].append(time.perf_counter() - t0)
            else:
                first[name] = time.perf_counter() - t0
    med = {name: statistics.median(v) for name, v in times.items()}
    for name in nets:
        print(f"training step, batch {batch}, {name:36s}: {1e3 * med[name]:8.1f} ms   {med['fp32'] / med[name]:5.2f}x"
              f"   (first step {first[name]:.1f} s)")
    return {"batch": batch, "ms per step": {k: 1e3 * v for k, v in med.items()},
            "speed-up": med["fp32"] / med["--fast"],
            "speed-ups": {k: med["fp32"] / v for k, v in med.items()},
            "first step s": first,
            "all timings ms": {k: [round(1e3 * t, 1) for t in v] for k, v in times.items()}}


if __name__ == "__main__":
    main()
