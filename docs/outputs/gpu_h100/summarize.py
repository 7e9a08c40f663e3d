"""The H100 runs of experiments/run_on_gpu.sh in one table each: the fast path lever by lever, the training step, the speedruns.

    python3 docs/outputs/gpu_h100/summarize.py > docs/outputs/gpu_h100/summary.txt

Reads the committed outputs of `experiments/run_on_gpu.sh` (STAGES="1 5 6 7") in docs/outputs/gpu_h100/run*/ (run 3: fast.py
alone, see its run.log): fast.json (python fast.py), benchmarks.md (kernels/bench.py) and, per speedrun, speedrun.json
and log.csv (the training log: step, loss, seconds since the training loop started). Standard library only; prints,
writes nothing.
"""

import csv
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fast_table(run):
    d = json.loads((run / "fast.json").read_text())
    print(f"## {run.name}: python fast.py, batch {d['batch']} with guidance w = 2 (one UNet pass over "
          f"{2 * d['batch']} images per step), {d['steps_timed']} steps a timing, {d['repeats']} timings, medians")
    print(f"{'variant':45s} {'ms/step':>8s} {'vs eager':>8s} {'images/s':>9s}  levers")
    for r in d["rows"]:
        print(f"{r['variant']:45s} {r['ms per step']:8.2f} {r['speed-up']:7.2f}x {r['images/s (T = 200 chain)']:9.0f}"
              f"  {', '.join(r['levers']) or '-'}")
    compile_s = d["compile_s"]
    if isinstance(compile_s, dict):
        for name, s in compile_s.items():
            print(f"compile time (first chain of {name!r}): {s:.1f} s")
    elif compile_s is not None:
        print(f"compile time (first chain of '+ torch.compile'): {compile_s:.1f} s")
    t = d.get("training")
    if t:
        print(f"training step, batch {t['batch']} (loss, backward, Adam), medians:")
        ups = t.get("speed-ups", {"fp32": 1.0, "--fast": t["speed-up"]})
        for name, ms in t["ms per step"].items():
            first = t.get("first step s", {}).get(name)
            extra = f"   first step {first:.1f} s" if first is not None else ""
            print(f"  {name:40s} {ms:7.2f} ms  {ups[name]:5.2f}x{extra}")
    for name, q in d.get("quality", {}).items():
        share = 100 * q["classified_as_asked"]
        print(f"quality: {name}: {share:.1f}% of {q['n']} samples at w = 2 classified as asked")
    print()


def speedruns(run):
    folders = sorted(p for p in run.glob("speedrun*") if p.is_dir())
    if not folders:
        return
    print(f"## {run.name}: speedruns (experiments/speedrun.py --device cuda)")
    print(f"{'folder':12s} {'batch':>5s} {'steps':>5s} {'lr':>8s} {'s from start':>12s} {'s in loop':>9s} "
          f"{'ms/step':>8s} {'loss(last100)':>13s} {'asked':>6s}  bar")
    for f in folders:
        s = json.loads((f / "speedrun.json").read_text())
        rows = list(csv.DictReader(open(f / "log.csv")))
        wall = [float(r["wall_time_s"]) for r in rows]
        per_step = (wall[-1] - wall[0]) / (len(wall) - 1)  # the loop's own pace, after its first step
        loss = statistics.mean(float(r["loss"]) for r in rows[-100:])
        st = s["settings"]
        print(f"{f.name:12s} {st['batch_size']:5d} {st['steps']:5d} {st['lr']:8.5f} "
              f"{s['train_wall_s_from_process_start']:12.1f} {wall[-1]:9.1f} {1e3 * per_step:8.1f} {loss:13.4f} "
              f"{100 * s['classified_as_asked']:5.1f}%  {'passes' if s['passed'] else 'misses'}")
    print()


def derived(run):
    """Numbers the benchmarks page derives from the tables: the sampler goal in ms per step, and the fused GroupNorm
    kernel's bandwidth counted by the bytes it does move (it reads its input twice: 12 bytes per fp32 element, where
    the table counts the 8 that a single pass would move)."""
    d = json.loads((run / "fast.json").read_text())
    eager = next(r for r in d["rows"] if r["variant"] == "eager fp32")["ms per step"]
    print(f"## {run.name}: derived")
    print(f"sampler goal: 5x eager fp32 = {eager / 5:.2f} ms per step, 8x = {eager / 8:.2f} ms per step")
    if not (run / "benchmarks.md").is_file():  # a run without kernels/bench.py
        print()
        return
    page = (run / "benchmarks.md").read_text()
    copy = float(page.split("copy bandwidth measured in the same run: ")[1].split(" GB/s")[0].replace(",", ""))
    for line in page.splitlines():
        if line.startswith("| GroupNorm + SiLU: Triton | large 64M |"):
            us, gbs = (float(v) for v in line.split("|")[3:5])
            print(f"GroupNorm + SiLU, Triton, large 64M: {us:g} us, {gbs:g} GB/s counted at 8 bytes per element; "
                  f"at the 12 it moves: {gbs * 12 / 8:,.0f} GB/s = {gbs * 12 / 8 / copy:.2f} of the copy "
                  f"({copy:,.0f} GB/s)")
    print()


def main():
    for run in sorted(p for p in HERE.glob("run*") if p.is_dir()):
        fast_table(run)
        speedruns(run)
        derived(run)


if __name__ == "__main__":
    main()
