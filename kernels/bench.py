"""kernels/bench.py - how close the fused kernels come to the GPU's memory bandwidth, and what they buy the sampler.

    python kernels/bench.py                      # on a CUDA machine: prints the tables, writes results/benchmarks.md
    python kernels/bench.py --out docs/benchmarks.md   # the same, rewriting the committed page
    python kernels/bench.py --smoke              # anywhere: tiny sizes, CPU timer, checks the script itself runs

First the correctness checks (each kernel against its reference, the definition in ddpm.py, on fresh random inputs,
outputs poisoned with NaN; --check-only stops there, exit status 1 if one fails). Then three tables, every version
timed side by side in one run with triton.testing.do_bench (median of repeated runs):
  1. the fused reverse step (guidance combine + noise tensor z): Triton, eager PyTorch (ddpm.guided_eps, then
     Schedule.p_step), torch.compile of the eager version; at the MNIST case (B = 256, 1 x 28 x 28) and a large case
     (64M elements); the small case also under a CUDA graph, which removes the launch overhead that dominates at
     200k elements.
  2. the masked-conditioning concat (ddpm.masked_concat against the kernel), the same way; and the fused
     SiLU(GroupNorm(x + emb)) against unet.GroupNormSiLU eager and compiled, on a 28x28 ResBlock activation at
     batch 512 and a 64M-element one.
  3. the whole sampler, T = 200, B = 256, one UNet and seed: eager (ddpm.py's step), with the fused step as
     `step=`, and that with the 200-step loop captured in one CUDA graph; images per second, and the share of a step
     that is not the UNet. (The guidance combine runs in EpsFunction on every path.)
Bandwidth is counted by the bytes each operation must move (the minimum: reads of the inputs, writes of the output),
and set against a device-to-device copy measured in the same run. Without a GPU (and without --smoke) it says that
timings need one and exits cleanly.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

if "--smoke" in sys.argv:
    # the smoke run executes the Triton kernels on CPU tensors, which only Triton's interpreter can do; the flag
    # must be set before triton is imported
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cli  # noqa: E402
from ddpm import EpsFunction, Schedule, guided_eps, masked_concat, sample_from  # noqa: E402
from files import write_text  # noqa: E402
from kernels.group_norm_silu import group_norm_silu_triton  # noqa: E402
from kernels.masked_concat import masked_concat_triton  # noqa: E402
from kernels.reverse_step import fused_p_step, reverse_step_triton, step_coefficients  # noqa: E402
from unet import GroupNormSiLU, UNet, UNetConfig  # noqa: E402

SCHEDULE = Schedule(200)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "benchmarks.md"  # git-ignored: no committed file
T_CHECK = 150  # the step whose coefficients the operation benchmarks use


def reference_step(x, eps_c, eps_u, w, z, t=T_CHECK):
    """What the fused step with guidance computes, in ddpm.py's own definitions: Algorithm 2 on the guided eps."""
    return SCHEDULE.to(x.device).p_step(x, t, guided_eps(eps_c, eps_u, w), z)


def rel_err(a, b):
    """||a - b|| / ||b|| in float64; NaN (an element never written) stays NaN and fails every check."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp(min=1e-30)).item()


def check(device, shapes):
    """Correctness first: each Triton kernel against its reference on fresh random inputs, the output poisoned
    with NaN first so that an element the kernel never writes fails. Returns (rows, all passed)."""
    rows = []
    c_x, c_eps, sigma = step_coefficients(SCHEDULE)[T_CHECK]
    w = 2.0
    for shape in shapes:
        x, eps_c, eps_u, z = (torch.randn(shape, device=device) for _ in range(4))
        ref = reference_step(x, eps_c, eps_u, w, z)
        out = torch.full_like(x, float("nan"))
        reverse_step_triton(x, eps_c, c_x, c_eps, sigma, eps_uncond=eps_u, w=w, noise=z, out=out)
        err = rel_err(out, ref)
        rows.append({"check": "reverse step, guidance, z given", "shape": str(tuple(shape)), "value": err,
                     "passes": err < 1e-6})
        # z drawn in the kernel (Philox): not torch's bits, so check its law: (out - mean) / sigma ~ N(0, 1)
        mean = reference_step(x, eps_c, eps_u, w, torch.zeros_like(x))
        out = torch.full_like(x, float("nan"))
        reverse_step_triton(x, eps_c, c_x, c_eps, sigma, eps_uncond=eps_u, w=w, noise=12345, out=out)
        zk = ((out - mean) / sigma).double()
        tol = 6 / zk.numel() ** 0.5  # six standard errors
        ok = bool(torch.isfinite(zk).all()) and abs(zk.mean().item()) < tol and abs(zk.std().item() - 1) < 2 * tol
        rows.append({"check": "reverse step, in-kernel z: max(abs(mean z), abs(std z - 1))", "shape": str(tuple(shape)),
                     "value": max(abs(zk.mean().item()), abs(zk.std().item() - 1)), "passes": ok})
        c = 0.3 * torch.randn(shape, device=device)
        u = torch.rand(shape[0], device=device)
        ref_out, ref_p, ref_m = masked_concat(x, c, "probabilistic", 0.7, u)
        out = torch.full((shape[0], 2 * shape[1], *shape[2:]), float("nan"), device=device)
        _, p, m = masked_concat_triton(x, c, "probabilistic", 0.7, u, out=out)
        err = max(rel_err(out, ref_out), rel_err(p, ref_p))
        # a u within rounding of p may flip m; count the mismatches where |u - p| is clear of rounding
        clear = (u - ref_p).abs() > 1e-5
        ok = err < 1e-5 and bool((m[clear] == ref_m[clear]).all())
        rows.append({"check": "masked concat, probabilistic: out and p", "shape": str(tuple(shape)), "value": err,
                     "passes": ok})
    for shape in ((4, 32, 28, 28), (3, 16, 29, 31)):
        x, emb = torch.randn(shape, device=device), torch.randn(shape[:2], device=device)
        norm = GroupNormSiLU(8, shape[1]).to(device)
        torch.nn.init.normal_(norm.weight, 1.0, 0.3)
        with torch.no_grad():
            ref = norm.double()(x.double(), emb.double())
        out = torch.full_like(x, float("nan"))
        group_norm_silu_triton(x, norm.weight.float(), norm.bias.float(), 8, norm.eps, emb, out=out)
        err = rel_err(out, ref)
        rows.append({"check": "GroupNorm + SiLU, embedding add", "shape": str(shape), "value": err,
                     "passes": err < 1e-5})
    return rows, all(r["passes"] for r in rows)


def timer(fn, smoke, cuda_graph=False):
    """Median time of fn() in milliseconds: do_bench on CUDA (do_bench_cudagraph for a captured graph), else the
    median of a few perf_counter runs (--smoke only checks that everything runs)."""
    if not smoke:
        import triton.testing

        if cuda_graph:
            return triton.testing.do_bench_cudagraph(fn, rep=200, return_mode="median")
        return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def compiled(fn, smoke):
    """torch.compile of the reference (the fair "let the compiler fuse it" baseline); skipped in --smoke."""
    return fn if smoke else torch.compile(fn)


def row(name, case, ms, nbytes, copy_gbs):
    gbs = nbytes / (ms * 1e-3) / 1e9
    return {"op": name, "case": case, "us": ms * 1e3, "GB/s": gbs, "of copy": gbs / copy_gbs}


def bench_copy(n, device, smoke):
    """Device-to-device copy bandwidth, the practical ceiling: read n fp32 and write n fp32."""
    a, b = torch.randn(n, device=device), torch.empty(n, device=device)
    ms = timer(lambda: b.copy_(a), smoke)
    return 8 * n / (ms * 1e-3) / 1e9


def bench_reverse_step(cases, device, smoke, copy_gbs):
    return [r for case, shape in cases for r in reverse_step_case(case, shape, device, smoke, copy_gbs)]


def reverse_step_case(case, shape, device, smoke, copy_gbs):
    rows = []
    x, eps_c, eps_u, z = (torch.randn(shape, device=device) for _ in range(4))
    c_x, c_eps, sigma = step_coefficients(SCHEDULE)[T_CHECK]
    w = 2.0
    n = x.numel()
    nbytes = 20 * n  # read x_t, eps_c, eps_u, z; write x_{t-1}: 5 x 4 bytes
    ref = lambda: reference_step(x, eps_c, eps_u, w, z)  # noqa: E731
    comp_fn = compiled(reference_step, smoke)
    comp = lambda: comp_fn(x, eps_c, eps_u, w, z)  # noqa: E731
    tri = lambda: reverse_step_triton(x, eps_c, c_x, c_eps, sigma, eps_uncond=eps_u, w=w, noise=z)  # noqa: E731
    tri_philox = lambda: reverse_step_triton(  # noqa: E731
        x, eps_c, c_x, c_eps, sigma, eps_uncond=eps_u, w=w, noise=7)
    rows.append(row("reverse step: eager", case, timer(ref, smoke), nbytes, copy_gbs))
    rows.append(row("reverse step: torch.compile", case, timer(comp, smoke), nbytes, copy_gbs))
    rows.append(row("reverse step: Triton", case, timer(tri, smoke), nbytes, copy_gbs))
    # with z drawn in the kernel there is one tensor fewer to read: 16 bytes per element
    rows.append(row("reverse step: Triton, in-kernel z (16 B/elem)", case, timer(tri_philox, smoke),
                    16 * n, copy_gbs))
    if not smoke and case.startswith("MNIST"):
        for label, fn in (("reverse step: eager, CUDA graph", ref), ("reverse step: Triton, CUDA graph", tri)):
            rows.append(graph_row(label, case, fn, nbytes, copy_gbs))
    return rows


def graph_row(label, case, fn, nbytes, copy_gbs):
    """A row timed under CUDA-graph replay; a capture that fails is reported in the table, not fatal."""
    try:
        return row(label, case, timer(fn, False, cuda_graph=True), nbytes, copy_gbs)
    except Exception as e:  # noqa: BLE001  (any capture error: report it and go on)
        print(f"{label}: capture failed: {e}")
        return {"op": f"{label} (capture failed: {type(e).__name__})", "case": case, "us": float("nan"),
                "GB/s": float("nan"), "of copy": float("nan")}


def bench_masked_concat(cases, device, smoke, copy_gbs):
    return [r for case, shape in cases for r in masked_concat_case(case, shape, device, smoke, copy_gbs)]


def masked_concat_case(case, shape, device, smoke, copy_gbs):
    rows = []
    x = torch.randn(shape, device=device)
    c = 0.3 * torch.randn(shape, device=device)
    u = torch.rand(shape[0], device=device)
    n = x.numel()
    nbytes = 16 * n  # read x_t and x_cond, write both halves of out
    ref = lambda: masked_concat(x, c, "probabilistic", 1.0, u)  # noqa: E731
    comp_fn = compiled(masked_concat, smoke)
    comp = lambda: comp_fn(x, c, "probabilistic", 1.0, u)  # noqa: E731
    tri = lambda: masked_concat_triton(x, c, "probabilistic", 1.0, u)  # noqa: E731
    rows.append(row("masked concat: eager", case, timer(ref, smoke), nbytes, copy_gbs))
    rows.append(row("masked concat: torch.compile", case, timer(comp, smoke), nbytes, copy_gbs))
    rows.append(row("masked concat: Triton", case, timer(tri, smoke), nbytes, copy_gbs))
    if not smoke and case.startswith("MNIST"):
        rows.append(graph_row("masked concat: Triton, CUDA graph", case, tri, nbytes, copy_gbs))
    return rows


def bench_group_norm(cases, device, smoke, copy_gbs):
    """SiLU(GroupNorm(x + emb)) (unet.GroupNormSiLU) eager, compiled and fused, on UNet-shaped activations, in NCHW
    and in channels-last (NHWC) memory order (the fast path's), each read as it lies."""
    rows = []
    for case, (B, C, H, W) in cases:
        for layout, memory_format in (("", torch.contiguous_format), (", NHWC", torch.channels_last)):
            x = torch.randn(B, C, H, W, device=device).to(memory_format=memory_format)
            emb = torch.randn(B, C, device=device)
            norm = GroupNormSiLU(8, C).to(device)
            nbytes = 8 * x.numel()  # the least it must move: read x once, write out once (fp32)
            comp_fn = compiled(norm.forward, smoke)
            with torch.no_grad():
                rows.append(row(f"GroupNorm + SiLU: eager{layout}", case, timer(lambda: norm(x, emb), smoke), nbytes,
                                copy_gbs))
                rows.append(row(f"GroupNorm + SiLU: torch.compile{layout}", case,
                                timer(lambda: comp_fn(x, emb), smoke), nbytes, copy_gbs))
                rows.append(row(f"GroupNorm + SiLU: Triton{layout}", case, timer(
                    lambda: group_norm_silu_triton(x, norm.weight, norm.bias, 8, norm.eps, emb), smoke), nbytes,
                    copy_gbs))
    return rows


def bench_sampler(device, smoke, B, T):
    """Images per second of the whole class-conditional sampler (guidance w = 2), three ways."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=10)).to(device).eval()
    schedule = Schedule(T).to(device)
    y = torch.arange(B, device=device) % 10
    g = torch.Generator(device=device).manual_seed(0)
    eps_fn = EpsFunction(model, y=y, guidance=2.0)
    x_T = torch.randn(B, 1, 28, 28, device=device, generator=g)

    fused = fused_p_step(schedule)

    def chain_eager():
        # the readable chain: ddpm.py's reverse step, the guidance combine in EpsFunction
        return sample_from(eps_fn, schedule, x_T, T, generator=g)[0]

    def chain_with_kernels():
        return sample_from(eps_fn, schedule, x_T, T, step=fused, generator=g)[0]

    def unet_only():
        for t in range(T, 0, -1):
            eps_fn(x_T, t)

    results = {}
    with torch.no_grad():
        results["eager"] = timer(chain_eager, smoke)
        results["kernels"] = timer(chain_with_kernels, smoke)
        results["UNet alone"] = timer(unet_only, smoke)
        if not smoke:
            try:
                results["kernels + CUDA graph"] = time_captured_chain(eps_fn, schedule, fused, x_T)
            except Exception as e:  # noqa: BLE001  (report a failed capture, keep the other rows)
                print(f"sampler CUDA graph: capture failed: {e}")
    rows = []
    for name, ms in results.items():
        if name == "UNet alone":
            continue
        rows.append({"sampler": name, "ms per chain": ms, "images/s": B / (ms * 1e-3),
                     "non-UNet share of a step": max(0.0, 1 - results["UNet alone"] / ms)})
    return rows, results


def time_captured_chain(eps_fn, schedule, step, x_T):
    """ms per chain with all T steps captured in one CUDA graph and replayed. The kernels are already compiled
    (the "kernels" row ran first); one chain on a side stream warms the allocator up before the capture."""
    # capture all T steps in one CUDA graph: the Python loop and the launches are recorded once, replayed as one
    # unit. The noise comes from the default CUDA generator (generator=None), whose draws a graph can capture.
    static_x = x_T.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        sample_from(eps_fn, schedule, static_x, schedule.T, step=step)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        sample_from(eps_fn, schedule, static_x, schedule.T, step=step)
    return timer(graph.replay, False)


def markdown(table):
    def fmt(v):
        if not isinstance(v, float):
            return str(v)
        return f"{v:,.3g}" if abs(v) >= 1e-3 or v == 0 or v != v else f"{v:.1e}"

    keys = list(table[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in table]
    return "\n".join(lines)


# sections of the page measured elsewhere, kept on rewrite: the CPU goals (python fast.py, the CPU speedrun) and a
# GPU run's goals (experiments/run_on_gpu.sh: fast.py and the speedrun on the card, each naming its own outputs)
KEPT = ("## On the CPU", "## On a GPU")


def kept_sections(path):
    """The sections of an existing page whose heading starts with one of KEPT, each up to the next '## ' heading:
    the goals that this script does not measure and must not erase."""
    if not Path(path).is_file():
        return []
    kept, current = [], None
    for line in Path(path).read_text().splitlines(keepends=True):
        if line.startswith("## "):
            current = [] if line.startswith(KEPT) else None
            if current is not None:
                kept.append(current)
        if current is not None:
            current.append(line)
    return ["".join(k) for k in kept]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on any device, to check the script runs")
    ap.add_argument("--out", type=cli.output_file(".md"), default=str(DEFAULT_OUT),
                    help="where to write the tables; the committed page is docs/benchmarks.md, rewritten only when "
                    "named here (default: results/benchmarks.md, git-ignored)")
    ap.add_argument("--check-only", action="store_true", help="only the correctness checks (exit 1 if one fails)")
    args = ap.parse_args(argv)

    if not torch.cuda.is_available() and not args.smoke:
        print("kernels/bench.py: timings need a CUDA GPU and none is visible here; nothing was measured.")
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if args.smoke:
        cases = [("MNIST B=256", (8, 1, 28, 28)), ("large", (4, 1, 64, 64))]
        copy_n, B, T = 1 << 16, 4, 3
    else:
        cases = [("MNIST B=256", (256, 1, 28, 28)), ("large 64M", (1024, 1, 256, 256))]
        copy_n, B, T = 1 << 26, 256, 200
    checks, ok = check(device, [cases[0][1], (3, 1, 29, 31)])
    print(markdown(checks))
    if args.check_only or not ok:
        print("all checks pass" if ok else "A CHECK FAILED: no timings")
        return 0 if ok else 1
    import triton

    copy_gbs = bench_copy(copy_n, device, args.smoke)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (smoke run: not a measurement)"
    header = (f"# Kernel benchmarks\n\nDevice: {name}. Date: {datetime.date.today()}. torch {torch.__version__}, "
              f"triton {triton.__version__}, Python {sys.version.split()[0]}.\n"
              f"Command: `python kernels/bench.py{' --smoke' if args.smoke else ''}"
              f"{'' if Path(args.out) == DEFAULT_OUT else f' --out {args.out}'}`. "
              f"Device-to-device copy bandwidth measured in the same run: {copy_gbs:,.0f} GB/s.\n"
              f"The fast path end to end, lever by lever (`python fast.py`), and its CPU numbers: `docs/fast.md`.\n")
    print(header)  # the copy bandwidth and the run's set-up, in the log as well as on the page
    out = Path(args.out)
    sections = [header, *kept_sections(out),
                "## Correctness (Triton against the reference, fresh random inputs, NaN-poisoned outputs)\n\n"
                + markdown(checks) + "\n"]

    def write():
        # rewritten after every table (atomically), so that a run cut short keeps the tables it finished
        write_text(out, "\n".join(sections))

    ops = bench_reverse_step(cases, device, args.smoke, copy_gbs) + bench_masked_concat(cases, device, args.smoke,
                                                                                         copy_gbs)
    norm_cases = ([("ResBlock 28x28, B=2", (2, 32, 28, 28))] if args.smoke else
                  [("ResBlock 28x28, B=512", (512, 32, 28, 28)), ("largest UNet group 28x28, B=512", (512, 96, 28, 28)),
                   ("large 64M", (64, 64, 128, 128))])
    ops += bench_group_norm(norm_cases, device, args.smoke, copy_gbs)
    sections.append("## Fused operations (median of do_bench; GB/s by the bytes each must move)\n\n"
                    + markdown(ops) + "\n")
    write()
    print(sections[-1])
    sampler_rows, _ = bench_sampler(device, args.smoke, B, T)
    sections.append(f"## Whole sampler (T = {T}, B = {B}, guidance w = 2)\n\n" + markdown(sampler_rows) + "\n")
    write()
    print(sections[-1])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
