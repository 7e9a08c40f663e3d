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
  training graph    `train.py --fast` on one CUDA GPU: GraphedTrainStep replays the whole optimizer step (batch,
                    loss, backward, clipping, Adam, EMA) from one CUDA graph, for the same launch-bound reason
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


class GraphedTrainStep:
    """One optimizer step of train.py's loop replayed from one CUDA graph (`train.py --fast` on one CUDA GPU): the
    batch gathered by the indices in a static buffer, `batch_loss(idx)` (train.py hands in ddpm.training_loss on that
    batch, drawing from `generator`), zero_grad and backward, gradient clipping, Adam, the EMA update, and the loss
    in a static buffer. This small UNet's step is bound by kernel launches on a GPU; a replay launches them all at
    once, and the host never waits for it.

        step = GraphedTrainStep(batch_loss, model, ema, opt, gen, batch_size, grad_clip)
        loss = step(idx, lr, 1 - decay)    # this step's images, learning rate and EMA weight; loss on the device

    What changes from step to step goes in through device tensors filled before each replay (a Python number would
    be baked into the graph): the indices, the learning rate (Adam takes it as a tensor) and the EMA weight. The
    noise and timesteps come from `generator`, registered with the graph, so a replay draws what the loop would draw
    next and the generator's state, saved in checkpoints, advances as the loop's does.
    Adam is made capturable on CUDA: its 'step' counts move to the device and its bias corrections are computed
    there in fp32, not in Python doubles, so a graphed run follows the loop within float rounding, not bit for bit.
    opt.state_dict() gives the loop's form back (a float learning rate, capturable off, 'step' on the CPU), so the
    checkpoints are the loop's and resume with or without the graph. Build it after any opt.load_state_dict, which
    takes capturable and lr from the saved groups (and leaves 'step' on the CPU unless they say capturable).
    The warm-up and the capture run real steps; the state is put back after them, so the first replay is the run's
    next step. A failed capture also hands Adam and the generator back as they were, and raises: the caller can then
    run the loop as written.
    capture=False runs the same step eagerly with the same buffers (a CPU, for the tests). There Adam is not
    capturable and the learning rate is a float64 tensor, so its step size is the double the loop computes: the
    loop's weights bit for bit."""

    def __init__(self, batch_loss, model, ema, opt, generator, batch_size, grad_clip, capture=True, warmup=3):
        device = next(model.parameters()).device
        self.batch_loss, self.opt, self.generator, self.grad_clip = batch_loss, opt, generator, grad_clip
        self.params, self.ema_params = list(model.parameters()), list(ema.parameters())
        self.buffers, self.ema_buffers = list(model.buffers()), list(ema.buffers())
        self.capturable = device.type == "cuda"
        self.idx = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,) the batch's image indices
        self.lr_value = opt.param_groups[0]["lr"]  # the last learning rate as a float, for opt.state_dict()
        self.lr = torch.tensor(self.lr_value, dtype=torch.float32 if self.capturable else torch.float64, device=device)
        self.ema_weight = torch.zeros((), device=device)  # 1 - decay
        self.loss = torch.zeros((), device=device)
        self.graph = None
        for group in opt.param_groups:
            group["capturable"], group["lr"] = self.capturable, self.lr
        if self.capturable:
            for state in opt.state.values():
                state["step"] = state["step"].to(device, torch.float32)
        self.hook = opt.register_state_dict_post_hook(self.loop_form)
        if capture:
            try:
                self.capture(warmup)
            except BaseException:
                self.release()
                raise

    def __call__(self, idx, lr, ema_weight):
        """Run one step on the images `idx` (a CPU tensor) at learning rate `lr` with the EMA weight `ema_weight`;
        returns its loss, a fresh device tensor (the static buffer is overwritten by the next step)."""
        self.lr_value = lr
        self.lr.fill_(lr)
        self.ema_weight.fill_(ema_weight)
        if self.graph is None:
            self.idx.copy_(idx)
            self.step()
        else:
            self.idx.copy_(idx.pin_memory(), non_blocking=True)  # pinned: the host queues the replay and goes on
            self.graph.replay()
        return self.loss.clone()

    def step(self):
        """The loop's step, from the static buffers to the static loss: what the graph records."""
        loss = self.batch_loss(self.idx)
        self.opt.zero_grad(set_to_none=True)  # in the graph: backward writes fresh gradients, never adds to old ones
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)  # the norm and the scale stay on the device
        self.opt.step()
        with torch.no_grad():
            # ema <- ema + (1 - decay) (model - ema), the weight a tensor (a Python number would be baked in)
            torch._foreach_lerp_(self.ema_params, self.params, [self.ema_weight] * len(self.params))
            for be, bm in zip(self.ema_buffers, self.buffers):
                be.copy_(bm)
            self.loss.copy_(loss.detach())

    def capture(self, warmup):
        """Warm up on a side stream (Adam creates its state, the kernels are chosen), then record one step; the
        weights, the EMA, Adam's state and the generator are put back as they were."""
        import warnings

        if self.idx.device.type != "cuda":
            raise RuntimeError("a CUDA-graph capture needs a CUDA device")
        saved = self.state()
        # a capture that fails midway can leave the generator state it registered marked as capturing, which
        # eager draws refuse: the generator then takes this copy instead
        spare = self.generator.clone_state()
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            try:
                with torch.cuda.stream(side), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
                    for _ in range(warmup):
                        self.step()
            finally:
                torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            graph.register_generator_state(self.generator)  # each replay then advances the generator's offset
            with torch.cuda.graph(graph):
                self.step()
            self.graph = graph
        except BaseException:
            self.generator.graphsafe_set_state(spare)
            raise
        finally:
            self.set_state(saved)

    def state(self):
        """What a step changes: the generator's state, copies of the weights, the EMA and Adam's state, and which
        parameters have an Adam state yet (Adam creates it at its first step)."""
        tensors = [*self.params, *self.buffers, *self.ema_params, *self.ema_buffers]
        tensors += [v for s in self.opt.state.values() for v in s.values() if torch.is_tensor(v)]
        return self.generator.get_state(), [(t, t.detach().clone()) for t in tensors], {id(p) for p in self.opt.state}

    def set_state(self, saved):
        """Put back a state(), in place (the graph holds these tensors); an Adam state created since is zeroed,
        which is the state Adam creates."""
        generator_state, copies, had_state = saved
        with torch.no_grad():
            for t, copy_of_t in copies:
                t.copy_(copy_of_t)
            for p, s in self.opt.state.items():
                if id(p) not in had_state:
                    for v in s.values():
                        if torch.is_tensor(v):
                            v.zero_()
        self.generator.set_state(generator_state)

    def loop_form(self, opt, state_dict):
        """opt.state_dict() as the loop's Adam has it: a float learning rate, capturable off, 'step' on the CPU."""
        for group in state_dict["param_groups"]:
            group["lr"], group["capturable"] = self.lr_value, False
        state_dict["state"] = {k: {**s, "step": s["step"].cpu()} for k, s in state_dict["state"].items()}
        return state_dict

    def release(self):
        """Hand the optimizer back in the loop's form (after a failed capture)."""
        self.hook.remove()
        for group in self.opt.param_groups:
            group["lr"], group["capturable"] = self.lr_value, False
        for state in self.opt.state.values():
            state["step"] = state["step"].cpu()


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
    --compile) and that with PyTorch's fused Adam (one kernel for the whole update), and on a CUDA GPU the step of
    train.py --fast there, replayed from one CUDA graph (GraphedTrainStep, which also clips the gradient and updates
    the EMA: more work than the other rows); interleaved, each step ended by reading its loss; returns the medians
    and the ratios to fp32. The first round warms up (and compiles, or captures), its time reported apart."""
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
    graphed = {}
    if torch.device(device).type == "cuda":
        # train.py --fast on one GPU: the whole step (batch gather, loss, backward, clipping, Adam, EMA) from one
        # CUDA graph; its warm-up and capture are timed as its first step
        m = copy.deepcopy(model).train()
        net, opt = for_training(m, device), torch.optim.Adam(m.parameters(), lr=1e-4)
        ema = copy.deepcopy(m).requires_grad_(False)
        gen = torch.Generator(device=device).manual_seed(0)
        t0 = time.perf_counter()
        try:
            step = GraphedTrainStep(lambda idx: training_loss(net, schedule, x0[idx], y=y[idx], generator=gen), m, ema,
                                    opt, gen, batch, grad_clip=1.0)
            graphed["--fast, one CUDA graph"] = (step, time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001  (a failed capture is reported, the other rows still count)
            print(f"CUDA-graph capture of the training step failed: {type(e).__name__}: {e}")
    idx = torch.arange(batch)
    times = {name: [] for name in [*nets, *graphed]}
    first = {name: capture_s for name, (_, capture_s) in graphed.items()}
    for i in range(repeats + 1):  # the first round warms up
        for name, (step, _) in graphed.items():
            t0 = time.perf_counter()
            step(idx, 1e-4, 1e-3).item()
            if i:
                times[name].append(time.perf_counter() - t0)
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
    for name in times:
        print(f"training step, batch {batch}, {name:36s}: {1e3 * med[name]:8.1f} ms   {med['fp32'] / med[name]:5.2f}x"
              f"   (first step {first[name]:.1f} s)")
    return {"batch": batch, "ms per step": {k: 1e3 * v for k, v in med.items()},
            "speed-up": med["fp32"] / med["--fast"],
            "speed-ups": {k: med["fp32"] / v for k, v in med.items()},
            "first step s": first,
            "all timings ms": {k: [round(1e3 * t, 1) for t in v] for k, v in times.items()}}


if __name__ == "__main__":
    main()
