"""Noise other than white Gaussian, restored with the same unconditional DDPM (restore.py): Poisson, salt and pepper,
random-valued impulses and Gaussian noise saved to an 8-bit file, against the classical standard for each, with the
noise type and level known (the oracle) and found from the image alone (the blind path, restore.restore).

Conditions (--conditions), each on the same --n test images with its own noise draw:
  clean                                    no noise: the detector must leave it alone
  gaussian_0.1, gaussian_0.3               y = x + sigma n, unclipped (a .npy): the existing denoise.py path
  poisson_4, poisson_16                    counts k ~ Poisson(P x01), y = 2 k / P - 1 (corruptions.poisson_noise)
  salt_pepper_0.1, salt_pepper_0.3         a share q of the pixels set to -1 or 1
  random_impulse_0.1, random_impulse_0.3   a share q of the pixels set to U[-1, 1]
  clipped_gaussian_0.2, clipped_gaussian_0.4   y = x + sigma n clipped to [-1, 1] and rounded to 8 bits (a PNG)
Methods (those that fit the condition):
  noisy                 the input itself
  classical             Poisson: the generalised Anscombe transform + non-local means (scikit-image) + the exact
                        unbiased inverse; impulse: the 3x3 median and the adaptive median (window 3 to 7);
                        Gaussian and clipped Gaussian: non-local means. NLM's h = c sigma is tuned per condition on
                        --calibration held-out images, and it is given the true level: generous to it.
                        BM3D joins where the `bm3d` package is installed (never a dependency: non-commercial licence)
  oracle                type and level known: denoise.denoise at sigma, restore.restore_clipped at sigma,
                        restore.restore_poisson_matched at P (and, compared with it, restore_poisson_vst and
                        restore_poisson_prox), restore.restore_impulse with the true kind
  blind                 restore.restore told nothing: restore.detect finds the type and level, then the matching path
  today's denoise       denoise.denoise as denoise.py runs it without --sigma (Gaussian and clipped conditions)
  unclipped blind       (clipped conditions) today's denoise on the same noise draw before clipping and rounding
One chain per image (a posterior sample against a posterior sample). Scores: PSNR, SSIM, class kept by the robust
judge (checkpoints/classifier_<dataset>_robust.pt); paired differences per image with standard errors; the type
detector's confusion matrix; the impulse detector's recall and false-alarm rate; seconds per image of each path.

Images: test images from index 200 on (100-131 are the digits restore.detect's thresholds were read from), the
calibration images from index 900 on. They are processed in chunks of --chunk images, each chunk with its own seed
and its own file in --out/conditions/, written atomically as it finishes: --resume skips the chunks already there
(with the same settings), so a run cut short loses one chunk, and a larger --n with --resume runs only the new
chunks (a last partial chunk is run again at its new size).

    python experiments/other_noise.py --n 8             # every condition, 8 digits: about 4 min on the 2-core CPU
    python experiments/other_noise.py --n 500 --out results/other_noise_mnist     # about an hour
    python experiments/other_noise.py --dataset fashion --n 100 --out results/other_noise_fashion

What to see: the blind row of the figure looks like the oracle row for every noise; in the bar chart the blind bar
stands beside the oracle's and above the classical one for Poisson, impulse and clipped noise; the confusion matrix
is nearly diagonal.

Writes, in --out (default results/other_noise/): other_noise.json (settings, every table), other_noise.md (the
tables), other_noise.png (one digit per condition: clean, noisy, classical, oracle, blind), other_noise_psnr.png
(PSNR per condition and method, with standard errors), other_noise.npz (per-image PSNR of every method), and
conditions/<condition>_<chunk>.npz / .json (the chunks, for --resume).
"""

import argparse
import importlib.util
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import corruptions
import data
import denoise
import flags
import restore
from checkpoint import CheckpointError, load_ddpm
from classifier import load_classifier, predict
from devices import DEVICE_HELP, resolve_device
from fast import FLAG_HELP as FAST_HELP
from fast import fast_path
from files import FileError, read_json, write_figure, write_json, write_npz, write_text
from images import ImageFileError, read_npz
from metrics import psnr, ssim
from paths import CHECKPOINTS, JUDGES, RESULTS, ROOT

FIRST = 200  # the first test image scored (restore.detect's thresholds were read off test digits 100-131)
CALIBRATION_FIRST = 900  # the held-out images that tune NLM's h
UNCONDITIONAL = {"mnist": "mnist_uncond.pt", "fashion": "fashion_uncond.pt"}
NLM_GRID = [0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0]  # h = c sigma

# name: (true type, level, clipped): the level is sigma (gaussian), P (poisson) or q (impulse)
CONDITIONS = {
    "clean": ("clean", None, False),
    "gaussian_0.1": ("gaussian", 0.1, False),
    "gaussian_0.3": ("gaussian", 0.3, False),
    "poisson_4": ("poisson", 4.0, False),
    "poisson_16": ("poisson", 16.0, False),
    "salt_pepper_0.1": ("salt-and-pepper", 0.1, False),
    "salt_pepper_0.3": ("salt-and-pepper", 0.3, False),
    "random_impulse_0.1": ("random", 0.1, False),
    "random_impulse_0.3": ("random", 0.3, False),
    "clipped_gaussian_0.2": ("gaussian", 0.2, True),
    "clipped_gaussian_0.4": ("gaussian", 0.4, True),
}
DETECTED = ("clean", "gaussian", "poisson", "poisson-gaussian", "impulse")  # restore.NOISE_TYPES, the columns


def family(kind):
    """The type restore.detect should name for a condition's noise kind."""
    return "impulse" if kind in restore.IMPULSE_KINDS else kind


def corrupt(x, name, g):
    """The noisy images of condition `name` and the pixels an impulse hit (None for the other noises); for a clipped
    condition also the same draw before clipping. Returns (y, hit, unclipped)."""
    kind, level, clipped = CONDITIONS[name]
    if kind == "clean":
        return x.clone(), None, None
    if kind == "gaussian":
        y = corruptions.gaussian_noise(x, level, g)
        return (corruptions.clip_and_quantise(y), None, y) if clipped else (y, None, None)
    if kind == "poisson":
        return corruptions.poisson_noise(x, level, g), None, None
    y, hit = (corruptions.salt_and_pepper if kind == "salt-and-pepper" else corruptions.random_impulse)(x, level, g)
    return y, hit, None


# ----------------------------------------------------------------------------------------------------------------------
# The classical standards
# ----------------------------------------------------------------------------------------------------------------------


def nlm(y, sigma, c):
    """scikit-image's non-local means on (N, 1, H, W) images (CPU), h = c sigma, patch 5x5, search 13x13."""
    from skimage.restoration import denoise_nl_means

    out = np.empty(y.shape, dtype=np.float32)
    for i, im in enumerate(y.numpy().astype(np.float64)):
        out[i, 0] = denoise_nl_means(im[0], h=c * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)
    return torch.from_numpy(out)


def anscombe_nlm(y, peak, c):
    """Poisson's classical standard: the generalised Anscombe transform in the model's units (restore.
    transformed_units, noise std a), NLM at sigma = a, then the exact unbiased inverse."""
    a, b = restore.transformed_units(peak)
    u = a * restore.anscombe(restore.counts_of(y, peak)) + b
    lam = restore.inverse_anscombe((nlm(u, a, c) - b) / a)
    return (2 * lam / peak - 1).clamp(-1, 1)


def adaptive_median(y, largest=7):
    """The adaptive median filter (Hwang & Haddad 1995): at each pixel grow the window (3, 5, .. largest) until its
    median lies strictly between the window's min and max (the median is no impulse); then keep the pixel if it too
    lies strictly between them, else replace it by that median. Where no window qualifies, the largest one's median.
    (N, 1, H, W) -> same."""
    N, C, H, W = y.shape
    out, done = y.clone(), torch.zeros_like(y, dtype=torch.bool)
    for size in range(3, largest + 1, 2):
        r = size // 2
        patches = F.unfold(F.pad(y.reshape(N * C, 1, H, W), (r, r, r, r), mode="replicate"), size)
        lo, hi = patches.min(1).values, patches.max(1).values  # (N C, H W)
        med = patches.median(1).values
        lo, hi, med = (v.view(N, C, H, W) for v in (lo, hi, med))
        ok = ~done & (lo < med) & (med < hi)
        keep = (lo < y) & (y < hi)
        out = torch.where(ok, torch.where(keep, y, med), out)
        done |= ok
        if size == largest:
            out = torch.where(done, out, med)
    return out


def bm3d_available():
    return importlib.util.find_spec("bm3d") is not None


def bm3d_denoise(y, sigma):
    """BM3D (the `bm3d` package, where installed) on (N, 1, H, W) images at sigma."""
    import bm3d

    return torch.from_numpy(np.stack([bm3d.bm3d(im[0], sigma_psd=sigma)[None] for im in y.numpy()]).astype(np.float32))


def classical_methods(name, y, c):
    """The classical standards of condition `name` on y (CPU): {method: images}. c: NLM's tuned constant."""
    kind, level, clipped = CONDITIONS[name]
    if kind == "clean":
        return {}
    if kind == "poisson":
        out = {"Anscombe + NLM": anscombe_nlm(y, level, c)}
        if bm3d_available():
            a, b = restore.transformed_units(level)
            u = a * restore.anscombe(restore.counts_of(y, level)) + b
            lam = restore.inverse_anscombe((bm3d_denoise(u, a) - b) / a)
            out["Anscombe + BM3D"] = (2 * lam / level - 1).clamp(-1, 1)
        return out
    if kind == "gaussian":
        out = {"NLM": nlm(y, level, c)}
        if bm3d_available():
            out["BM3D"] = bm3d_denoise(y, level)
        return out
    return {"median 3x3": restore.median3(y), "adaptive median": adaptive_median(y)}


def tune_nlm(name, x_cal, g):
    """NLM's c with the best mean PSNR on the calibration images under the condition's noise (None where NLM is not
    the condition's standard)."""
    kind = CONDITIONS[name][0]
    if kind not in ("gaussian", "poisson"):
        return None
    y, _, _ = corrupt(x_cal, name, g)
    level = CONDITIONS[name][1]
    run = (lambda c: anscombe_nlm(y, level, c)) if kind == "poisson" else (lambda c: nlm(y, level, c))
    scores = [psnr(run(c), x_cal).mean().item() for c in NLM_GRID]
    return NLM_GRID[int(np.argmax(scores))]


# ----------------------------------------------------------------------------------------------------------------------
# The diffusion paths
# ----------------------------------------------------------------------------------------------------------------------


def oracle_methods(name, y, model, schedule, g, steps, fill):
    """The project's restorations told the condition's type and level: {method: images}."""
    kind, level, clipped = CONDITIONS[name]
    chain = {"steps": steps}
    if kind == "clean":
        return {}
    if kind == "gaussian" and not clipped:
        return {"oracle": denoise.denoise(y, model, schedule, sigma=level, generator=g, **chain).mean}
    if kind == "gaussian":
        return {"oracle": restore.restore_clipped(y, model, schedule, sigma=level, generator=g, **chain)[0]}
    if kind == "poisson":
        return {"oracle": restore.restore_poisson_matched(y, level, model, schedule, generator=g, **chain)[0],
                "oracle VST": restore.restore_poisson_vst(y, level, model, schedule, generator=g, **chain)[0],
                "oracle prox": restore.restore_poisson_prox(y, level, model, schedule, generator=g)[0]}
    threshold = restore.IMPULSE_THRESHOLD if kind == "salt-and-pepper" else restore.RANDOM_IMPULSE_THRESHOLD
    out, _, _ = restore.restore_impulse(y, model, schedule, kind=kind, threshold=threshold, generator=g, **fill)
    return {"oracle": out}


def seconds(fn):
    """(fn(), wall seconds)."""
    t0 = time.time()
    out = fn()
    return out, time.time() - t0


def run_chunk(name, x, labels, model, schedule, judge, c, seed, args, fill):
    """One chunk of one condition: corrupt, restore every way, score. Returns (json record, npz arrays).
    The blind path, today's denoise and the unclipped reference draw their chains from generators seeded alike, so
    that where they run the same chain they give the same images, and their differences are paired tightly."""
    device = x.device

    def gen(offset):
        return torch.Generator(device=device).manual_seed(seed + offset)

    kind, level, clipped = CONDITIONS[name]
    y, hit, unclipped = corrupt(x, name, gen(0))
    images = {"noisy": y}
    times = {}
    for method, out in classical_methods(name, y.cpu(), c).items():
        images[method] = out.to(device)
    oracle, times["oracle"] = seconds(lambda: oracle_methods(name, y, model, schedule, gen(1), args.steps, fill))
    images.update(oracle)
    blind, times["blind"] = seconds(lambda: restore.restore(y, model, schedule, generator=gen(2), steps=args.steps,
                                                            fill=fill))
    images["blind"] = blind.output
    if kind == "gaussian":
        images["today's denoise"] = denoise.denoise(y, model, schedule, generator=gen(2), steps=args.steps).mean
    if clipped:
        images["unclipped blind"] = denoise.denoise(unclipped, model, schedule, generator=gen(2),
                                                    steps=args.steps).mean
    scores = {}
    for method, out in images.items():
        scores[method] = {"psnr": psnr(out, x).cpu().tolist(), "ssim": ssim(out, x).cpu().tolist(),
                          "kept": (predict(judge, out.clamp(-1, 1).cpu()) == labels.cpu()).tolist()}
    findings = [{"type": f.type, "clipped": f.clipped, "kind": f.kind, "peak": f.peak, "sigma": f.sigma, "q": f.q,
                 "text": f.describe()} for f in blind.findings]
    record = {"scores": scores, "findings": findings, "ran": blind.ran, "seconds": times, "size": len(x)}
    if hit is not None:  # the impulse detector on the pixels the impulse visibly changed
        threshold = restore.IMPULSE_THRESHOLD if kind == "salt-and-pepper" else restore.RANDOM_IMPULSE_THRESHOLD
        found = restore.detect_impulses(y, kind, threshold)
        changed = hit & ((y - x).abs() > 1e-6)
        record["detector"] = {"changed": int(changed.sum()), "found_changed": int((found & changed).sum()),
                              "clean": int((~hit).sum()), "false_alarms": int((found & ~hit).sum())}
    arrays = {f"ex_{method}": out[:2].cpu() for method, out in images.items()}
    arrays["ex_clean"] = x[:2].cpu()
    return record, arrays


# ----------------------------------------------------------------------------------------------------------------------
# Chunks on disk (--resume)
# ----------------------------------------------------------------------------------------------------------------------

# the settings that decide a chunk's numbers: a resumed run must share them with the chunk it keeps
DECIDING = ("dataset", "chunk", "seed", "steps", "calibration", "impute_method", "resample", "jumps", "fast",
            "device")


def chunk_path(out, name, k, suffix):
    """conditions/<name>_<k>.json or .npz (the names hold dots: gaussian_0.1_000.json)."""
    return Path(out) / "conditions" / f"{name}_{k:03d}{suffix}"


def finished_chunk(out, name, k, size, settings):
    """The record and arrays of a chunk already in --out with these settings and this size, else None."""
    try:
        record = read_json(chunk_path(out, name, k, ".json"), keys=("settings", "scores"))
        arrays = read_npz(chunk_path(out, name, k, ".npz"))
        arrays = {key: torch.from_numpy(arrays[key]) for key in arrays}
    except (FileError, ImageFileError, KeyError):
        return None
    same = all(record["settings"].get(key) == settings[key] for key in DECIDING)
    return (record, arrays) if same and record["size"] == size else None


# ----------------------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------------------


def mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def summarise(name, records):
    """The chunks of one condition joined: per method mean and s.e. of PSNR and SSIM, class kept; the paired
    differences; the findings; seconds per image; the impulse detector's rates."""
    methods = list(records[0]["scores"])
    joined = {m: {key: sum((r["scores"][m][key] for r in records), []) for key in ("psnr", "ssim", "kept")}
              for m in methods}
    table = {}
    for m, s in joined.items():
        p, p_se = mean_se(s["psnr"])
        q, q_se = mean_se(s["ssim"])
        table[m] = {"psnr": p, "psnr_se": p_se, "ssim": q, "ssim_se": q_se, "class_kept": float(np.mean(s["kept"]))}
    n = len(joined["noisy"]["psnr"])
    classical = [m for m in methods if m not in ("noisy", "blind", "today's denoise", "unclipped blind")
                 and not m.startswith("oracle")]
    best = max(classical, key=lambda m: table[m]["psnr"]) if classical else None
    pairs = [("blind", "oracle"), ("blind", best), ("blind", "today's denoise"), ("blind", "unclipped blind"),
             ("oracle VST", "oracle"), ("oracle prox", "oracle"), ("today's denoise", "unclipped blind")]
    paired = {}
    for a, b in pairs:
        if a in joined and b in joined:
            d, se = mean_se(np.subtract(joined[a]["psnr"], joined[b]["psnr"]))
            paired[f"{a} - {b}"] = {"db": d, "se": se}
    findings = sum((r["findings"] for r in records), [])
    per_image = {who: sum(r["seconds"][who] for r in records) / n for who in ("oracle", "blind")}
    summary = {"n": n, "methods": table, "best_classical": best, "paired": paired, "seconds_per_image": per_image,
               "detected": {t: sum(f["type"] == t for f in findings) for t in DETECTED},
               "clipped_called": sum(bool(f["clipped"]) for f in findings)}
    if "detector" in records[0]:
        tot = {k: sum(r["detector"][k] for r in records) for k in records[0]["detector"]}
        summary["impulse_detector"] = {"recall": tot["found_changed"] / max(tot["changed"], 1),
                                       "false_alarm_rate": tot["false_alarms"] / max(tot["clean"], 1)}
    kinds = [f["kind"] for f in findings if f["type"] == "impulse"]
    if CONDITIONS[name][0] in restore.IMPULSE_KINDS and kinds:
        summary["impulse_kind_right"] = sum(k == CONDITIONS[name][0] for k in kinds) / len(kinds)
    return summary


def confusion(summaries):
    """Rows: the true type of each condition's noise (clean, gaussian, poisson, impulse); columns: what
    restore.detect called it; counts of images."""
    rows = {}
    for name, s in summaries.items():
        truth = family(CONDITIONS[name][0])
        row = rows.setdefault(truth, {t: 0 for t in DETECTED})
        for t, count in s["detected"].items():
            row[t] += count
    correct = sum(rows[t][t] for t in rows)
    total = sum(sum(r.values()) for r in rows.values())
    return rows, correct / max(total, 1)


def markdown(summaries, rows, accuracy, settings):
    name = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}[settings["dataset"]]
    lines = [f"{name} test images from index {FIRST}, one chain per image; mean over images (+- standard error)", ""]
    lines += ["| condition | n | method | PSNR (dB) | SSIM | class kept |", "|---|---|---|---|---|---|"]
    for cond, s in summaries.items():
        for m, v in s["methods"].items():
            lines.append(f"| {cond} | {s['n']} | {m} | {v['psnr']:.2f} +- {v['psnr_se']:.2f} | {v['ssim']:.3f} | "
                         f"{100 * v['class_kept']:.1f}% |")
    lines += ["", "Paired per image (dB, +- standard error of the mean difference)", "",
              "| condition | difference | dB |", "|---|---|---|"]
    for cond, s in summaries.items():
        for pair, v in s["paired"].items():
            lines.append(f"| {cond} | {pair} | {v['db']:+.2f} +- {v['se']:.2f} |")
    lines += ["", f"Type detector (restore.detect): images of each true type (rows) by the type found (columns); "
              f"{100 * accuracy:.1f}% right", "", "| true type | " + " | ".join(DETECTED) + " |",
              "|---|" + "---|" * len(DETECTED)]
    for truth, row in rows.items():
        lines.append(f"| {truth} | " + " | ".join(str(row[t]) for t in DETECTED) + " |")
    lines += ["", "Per condition: images called clipped, impulse kind right, impulse detector (recall of the visibly "
              "changed pixels, false alarms among the untouched), seconds per image (oracle; blind)", "",
              "| condition | called clipped | kind right | recall | false alarms | s/image oracle | s/image blind |",
              "|---|---|---|---|---|---|---|"]
    for cond, s in summaries.items():
        det = s.get("impulse_detector")
        kind = s.get("impulse_kind_right")
        recall = "" if det is None else f"{100 * det['recall']:.1f}%"
        false_alarms = "" if det is None else f"{100 * det['false_alarm_rate']:.2f}%"
        kind = "" if kind is None else f"{100 * kind:.0f}%"
        lines.append(f"| {cond} | {s['clipped_called']}/{s['n']} | {kind} | {recall} | {false_alarms} | "
                     f"{s['seconds_per_image']['oracle']:.2f} | {s['seconds_per_image']['blind']:.2f} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------------------

SHOWN = ("clean", "noisy", "classical", "oracle", "blind")


def draw_examples(path, examples, summaries):
    """One row per condition, one digit: clean, noisy, the best classical method, the oracle, the blind path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from viz import show, to_unit

    names = list(examples)
    fig, axes = plt.subplots(len(names), len(SHOWN), figsize=(1.1 * len(SHOWN) + 1.6, 1.05 * len(names) + 0.3),
                             squeeze=False)
    for r, cond in enumerate(names):
        best = summaries[cond]["best_classical"]
        for c, col in enumerate(SHOWN):
            ax = axes[r, c]
            key = {"classical": best}.get(col, col)
            if key is None or key not in examples[cond]:
                key = "noisy" if col == "oracle" else None  # clean: the oracle has nothing to do
            if key is None:
                ax.axis("off")
            else:
                show(ax, to_unit(examples[cond][key][:1])[0])
            if r == 0:
                ax.set_title(col, fontsize=8)
            if c == 0:
                kind, _, level = cond.rpartition("_")  # "random_impulse_0.1" -> "random impulse" over "0.1"
                label = f"{kind.replace('_', ' ')}\n{level}" if kind else cond
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.2)
    fig.subplots_adjust(left=0.2)  # room for the row labels, which tight_layout does not count beside images
    write_figure(fig, path)


def draw_bars(path, summaries, title):
    """PSNR of noisy, the best classical method, the oracle and the blind path per condition, with standard errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = [c for c in summaries if CONDITIONS[c][0] != "clean"]
    bars = (("noisy", "0.7"), ("classical", "tab:purple"), ("oracle", "tab:blue"), ("blind", "tab:red"))
    fig, ax = plt.subplots(figsize=(1.0 * len(conds) + 2, 3.6))
    width = 0.8 / len(bars)
    for j, (who, color) in enumerate(bars):
        vals, errs = [], []
        for c in conds:
            m = summaries[c]["best_classical"] if who == "classical" else who
            v = summaries[c]["methods"].get(m) if m else None
            vals.append(v["psnr"] if v else 0.0)
            errs.append(v["psnr_se"] if v else 0.0)
        ax.bar(np.arange(len(conds)) + (j - 1.5) * width, vals, width, yerr=errs, color=color, label=who,
               capsize=1.5)
    ax.set_xticks(np.arange(len(conds)))
    ax.set_xticklabels([c.replace("_", "\n") for c in conds], fontsize=7)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    write_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------------


def parse(argv):
    doc = __doc__
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])
    ap.add_argument("--dataset", choices=list(UNCONDITIONAL), default="mnist",
                    help="the test images, the unconditional model and the robust judge (default: mnist)")
    ap.add_argument("--n", type=cli.positive_int, default=8, help="test images per condition (default: 8)")
    ap.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS), metavar="NAME",
                    help="which noises to run, of: " + ", ".join(CONDITIONS) + " (default: all)")
    ap.add_argument("--chunk", type=cli.positive_int, default=32,
                    help="images per chunk: each chunk has its own seed and its own file, the unit --resume keeps "
                    "(default: 32)")
    ap.add_argument("--calibration", type=cli.positive_int, default=16,
                    help="held-out test images (from index 900) on which NLM's h is tuned (default: 16)")
    ap.add_argument("--steps", type=cli.positive_int, default=None,
                    help="DDIM with at most this many steps in the Gaussian and Poisson chains, as denoise.py's "
                    "--steps (default: the full chain from t*)")
    ap.add_argument("--impute-method", choices=("repaint", "ddnm"), default=denoise.DEFAULT_IMPUTE_METHOD,
                    help="how the impulse pixels are filled in, as impute.py's --method (default: %(default)s)")
    ap.add_argument("--resample", type=cli.positive_int, default=denoise.DEFAULT_RESAMPLE,
                    help="RePaint's passes over the chain, as impute.py's --resample (default: %(default)s)")
    ap.add_argument("--jumps", type=cli.positive_int, default=10,
                    help="steps each RePaint resampling jump goes back, as impute.py's --jumps (default: 10)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the chunks already in --out that were made with the same settings; run the rest")
    ap.add_argument("--checkpoint-dir", type=cli.existing_dir, default=str(CHECKPOINTS),
                    help=f"where the checkpoints are (default: {CHECKPOINTS.relative_to(ROOT)}/)")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed of every random draw: noise and chains "
                    "(default: %(default)s)")
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--data-dir", type=cli.existing_dir, default=None,
                    help="full datasets (default: $DDPM_DATA_DIR, ./data, else the shipped pack of test images)")
    ap.add_argument("--out", type=flags.output_dir, default=str(RESULTS / "other_noise"),
                    help="output folder (default: results/other_noise/)")
    ap.add_argument("--no-progress", action="store_true", help="no line per finished chunk")
    args = ap.parse_args(argv)
    if FIRST + args.n > CALIBRATION_FIRST:
        ap.error(f"--n: at most {CALIBRATION_FIRST - FIRST} images (test images {FIRST} to {CALIBRATION_FIRST - 1}; "
                 f"the ones after are the calibration set)")
    return args


@cli.command(errors=(denoise.DenoiseError,))
def main(argv=None):
    args = parse(argv)
    device = resolve_device(args.device)
    try:
        x_all, labels_all = data.load_test_images(args.dataset, CALIBRATION_FIRST + args.calibration, args.data_dir)
        model, schedule, _ = load_ddpm(Path(args.checkpoint_dir) / UNCONDITIONAL[args.dataset], device,
                                       dataset=args.dataset, cond="none")
        judge, _ = load_classifier(JUDGES[args.dataset])
    except (CheckpointError, data.DataError) as e:
        sys.exit(f"error: {e}")
    if len(x_all) < CALIBRATION_FIRST + args.calibration:
        sys.exit(f"error: only {len(x_all)} test images; need {CALIBRATION_FIRST + args.calibration}")
    if args.fast:  # the fast path swaps the model (fast.py)
        path = fast_path(model, schedule, device, fused=False)
        model = path.model
        print(path.summary)
    x, labels = x_all[FIRST: FIRST + args.n].to(device), labels_all[FIRST: FIRST + args.n]
    x_cal = x_all[CALIBRATION_FIRST:]
    fill = {"method": args.impute_method, "resample": args.resample, "jumps": args.jumps}
    settings = {k: v for k, v in vars(args).items() if k not in ("no_progress", "resume", "out")}
    settings.update(device=str(device), torch=torch.__version__, first_image=FIRST, bm3d=bm3d_available())
    out = Path(args.out)

    t0 = time.time()
    summaries, examples, tuned, per_image = {}, {}, {}, {}
    for name in args.conditions:
        g_cal = torch.Generator().manual_seed(args.seed * 7919 + zlib.crc32(f"{name} calibration".encode()))
        tuned[name] = tune_nlm(name, x_cal, g_cal)
        records = []
        for k, lo in enumerate(range(0, args.n, args.chunk)):
            hi = min(lo + args.chunk, args.n)
            done = finished_chunk(out, name, k, hi - lo, settings) if args.resume else None
            if done is None:
                seed = args.seed * 1_000_003 + zlib.crc32(f"{name} {k}".encode())
                record, arrays = run_chunk(name, x[lo:hi], labels[lo:hi], model, schedule, judge, tuned[name], seed,
                                           args, fill)
                record.update(settings=settings, nlm_c=tuned[name])
                write_npz(chunk_path(out, name, k, ".npz"), arrays)
                write_json(chunk_path(out, name, k, ".json"), record)  # last: the chunk is finished
                how = "ran"
            else:
                record, arrays = done
                how = "kept"
            records.append(record)
            if k == 0:
                examples[name] = {key[3:]: v for key, v in arrays.items()}
            if not args.no_progress:
                print(f"{name} chunk {k} ({hi - lo} images): {how}, blind {record['seconds']['blind']:.1f} s, "
                      f"oracle {record['seconds']['oracle']:.1f} s; {time.time() - t0:.0f} s so far", flush=True)
        summaries[name] = summarise(name, records)
        per_image[name] = {m: sum((r["scores"][m]["psnr"] for r in records), []) for m in records[0]["scores"]}
    wall = time.time() - t0

    rows, accuracy = confusion(summaries)
    settings.update(wall_s=wall, nlm_grid=NLM_GRID)
    report = {"settings": settings, "conditions": summaries, "confusion": rows, "detection_accuracy": accuracy,
              "nlm_c": tuned}
    write_json(out / "other_noise.json", report)
    text = markdown(summaries, rows, accuracy, settings)
    write_text(out / "other_noise.md", text)
    write_npz(out / "other_noise.npz", {f"psnr_{c}_{m.replace(' ', '_')}": np.asarray(v, dtype=np.float32)
                                        for c, d in per_image.items() for m, v in d.items()})
    name = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}[args.dataset]
    draw_examples(out / "other_noise.png", examples, summaries)
    draw_bars(out / "other_noise_psnr.png", summaries, f"{name}, {args.n} test images per condition, one chain each")
    print(text)
    print(f"{wall:.0f} s; wrote {out}/other_noise.json, .md, .npz, other_noise.png, other_noise_psnr.png")
    return report


if __name__ == "__main__":
    main()
