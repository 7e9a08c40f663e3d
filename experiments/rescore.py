"""Every figure's table rows again, from the outputs the figure scripts saved: in one unit, and with several judges.

    python experiments/rescore.py results/n500 --classifiers checkpoints/classifier_mnist.pt runs/clf_robust.pt

Reads the <name>.npz and <name>.json that each figure script (or make_results.py) wrote into the folder, and writes
rescore.json and rescore.md into --out. Nothing is sampled again: the chains' outputs are scored as they are.

One unit. Every row compares images in the clean image's units. An image that sits at the chain's scale
sqrt(alpha_bar_t) is divided by it first:
  - the noisy input of Figs. 1-5, x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (0.63 x0 at t = 60);
  - Fig. 3's output: the t = 1 step, repeated, keeps that scale (each pass multiplies it by 1 / sqrt(alpha_1),
    1.00025 at T = 200).
The blur rows are a blur of the input in those units, as the figure scripts compute them. A figure run with
--cycles K (section 3.1: the chain's output fed back in) gets a row for the output of each cycle. Each row also
reports its "signal scale", the least-squares slope of the image on the original (1 for an image in the clean
image's units), so that the rule can be checked rather than trusted, and its "sharpness", the energy of its gradient
relative to the original's (1: as sharp; below 1: softer; noise raises it). Fig. 7's rows add the classical
baselines tuned on other test images (non-local means, a blur), as experiments/blind_denoising.py tunes them.

Several judges. "Class kept" depends on the classifier; each one given in --classifiers (default: the shipped one of
the dataset) scores every row, and the table says how often the first two agree on the class of an image and how
often both keep it.
"""

import argparse
import sys
from pathlib import Path

import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
from checkpoint import CheckpointError
from classifier import load_classifier, predict
from corruptions import gaussian_blur
from ddpm import Schedule
from fig1_matched_timestep import rows_in_image_units
from fig6_imputation import baseline_fills
from files import read_json, write_json, write_text
from images import read_npz
from metrics import masked_psnr, psnr, ssim, summary
from paths import CLASSIFIERS, RESULTS

# figure -> dataset of its test images
FIGURES = {"fig1_matched_timestep": "mnist", "fig2_less_noise_timestep": "mnist", "fig3_repeat_last_step": "mnist",
           "fig4_wrong_timestep": "mnist", "fig5_fashion_unconditional": "fashion", "fig6_imputation": "mnist",
           "fig7_denoising_probabilistic": "mnist", "fig7_denoising_plain": "mnist",
           "fig7_denoising_probabilistic_l2": "mnist"}
SCHEDULE_NOISE = ("fig1", "fig2", "fig3", "fig4", "fig5")  # the figures whose input is x_t of the schedule


def signal_scale(images, original):
    """The least-squares slope a of images ~ a * original + b, per image: 1 in the clean image's units. (N,)"""
    x, r = images.flatten(1).double(), original.flatten(1).double()
    r = r - r.mean(1, keepdim=True)
    return ((x - x.mean(1, keepdim=True)) * r).sum(1) / (r * r).sum(1).clamp(min=1e-12)


def sharpness(images, original):
    """The energy of the image gradient relative to the original's, per image: sum |dx|^2 + |dy|^2 (finite
    differences) of the image over the same of the original. 1 is as sharp as the original, below 1 softer, above 1
    rougher (noise adds gradient energy). (N,)"""
    def energy(x):
        x = x.double()
        return (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1) + \
            (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).sum(1)
    return energy(images) / energy(original).clamp(min=1e-12)


def tuned_baselines(noisy, sigma, n, calibration=100, seed=1):
    """Fig. 7's classical baselines, tuned as experiments/blind_denoising.py tunes them: non-local means and a
    Gaussian blur, each with its one parameter chosen for the best mean PSNR on `calibration` other test images (the
    ones after the first n) with their own noise of the same sigma, and given the true sigma. Returns {row: images}."""
    import data
    from blind_denoising import classical, tune
    from corruptions import gaussian_noise

    x_all, _ = data.load_test_images("mnist", n + calibration)
    x_cal = x_all[n:]
    y_cal = gaussian_noise(x_cal, sigma, torch.Generator().manual_seed(seed))
    s_cal, s = torch.full((len(x_cal),), float(sigma)), torch.full((len(noisy),), float(sigma))
    out = {}
    for method in ("NLM", "blur"):
        c = tune(method, y_cal, x_cal, s_cal)
        out[f"{method} (tuned: {c})"] = classical(method, noisy, s, c)
    return out


def rows_of(name, arrays, settings, calibration=100):
    """{row: images in the clean image's units} of one figure, and the factor each row was divided by."""
    x0, corrupted, final = (torch.from_numpy(arrays[k]) for k in ("original", "corrupted", "final"))
    if name.startswith(SCHEDULE_NOISE):
        schedule = Schedule(settings["T"])
        s = schedule.alpha_bars[settings["t_noise"]].sqrt().item()  # sqrt(alpha_bar_t): the input's scale
        # the same rows as the figure scripts score (Fig. 3's output keeps the input's scale)
        rows, divided_by = rows_in_image_units(final, corrupted, s, final_at_input_scale=name.startswith("fig3"))
        out_scale = divided_by["final"]
        if settings.get("cycles", 1) > 1:  # section 3.1's cycles: each one's output is a trajectory entry at step 0
            ends = torch.from_numpy(arrays["trajectory"])[torch.from_numpy(arrays["steps"]) == 0]  # (cycles, N, ...)
            for k, images in enumerate(ends, 1):
                rows[f"after cycle {k}"], divided_by[f"after cycle {k}"] = images / out_scale, out_scale
        return rows, divided_by
    if name.startswith("fig6"):
        mask = torch.from_numpy(arrays["mask"])
        rows = {"final": final, "final_pasted": torch.where(mask.bool(), corrupted, final),
                **baseline_fills(corrupted, mask)}
        return rows, dict.fromkeys(rows, 1.0)
    rows = {"final": final, "corrupted": corrupted, "blur": gaussian_blur(corrupted),
            **tuned_baselines(corrupted, settings["sigma"], settings["n"], calibration)}
    return rows, dict.fromkeys(rows, 1.0)


def score(name, arrays, settings, judges, calibration=100):
    """The metrics of every row of one figure, with every judge."""
    x0, labels = torch.from_numpy(arrays["original"]), torch.from_numpy(arrays["labels"]).long()
    rows, divided_by = rows_of(name, arrays, settings, calibration)
    out = {}
    for row, images in rows.items():
        m = {"divided_by": divided_by[row], "psnr": summary(psnr(images, x0)), "ssim": summary(ssim(images, x0)),
             "signal_scale": summary(signal_scale(images.clamp(-1, 1), x0)),
             "sharpness": summary(sharpness(images.clamp(-1, 1), x0))}
        if name.startswith("fig6"):
            m["psnr_missing"] = summary(masked_psnr(images, x0, 1 - torch.from_numpy(arrays["mask"])))
        preds = {judge: predict(model, images.clamp(-1, 1)) for judge, model in judges.items()}
        m["class_kept"] = {judge: (p == labels).float().mean().item() for judge, p in preds.items()}
        if len(preds) >= 2:
            a, b = list(preds.values())[:2]
            m["judges_agree"] = (a == b).float().mean().item()
            m["kept_by_both"] = ((a == labels) & (b == labels)).float().mean().item()
        out[row] = m
    return out


def markdown(results, judges):
    names = list(judges)
    head = ("| figure: row | divided by | signal scale | sharpness | PSNR dB | SSIM | "
            + " | ".join(f"class kept ({Path(j).stem})" for j in names)
            + (" | judges agree | kept by both |" if len(names) >= 2 else " |"))
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, rows in results.items():
        for row, m in rows.items():
            cells = [f"{name}: {row}", f"{m['divided_by']:.3f}", f"{m['signal_scale']['mean']:.2f}",
                     f"{m['sharpness']['mean']:.2f}",
                     f"{m['psnr']['mean']:.2f} +- {m['psnr']['std']:.2f}", f"{m['ssim']['mean']:.3f}",
                     *(f"{100 * m['class_kept'][j]:.1f}%" for j in names)]
            if len(names) >= 2:
                cells += [f"{100 * m['judges_agree']:.1f}%", f"{100 * m['kept_by_both']:.1f}%"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@cli.command
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=cli.existing_dir, help="the figure scripts' outputs (<name>.npz and <name>.json)")
    ap.add_argument("--classifiers", nargs="+", type=cli.existing_file, default=None,
                    help="the judges of class kept, for MNIST figures (default: the shipped MNIST classifier); "
                    "Fig. 5 (Fashion-MNIST) is judged by --fashion-classifiers")
    ap.add_argument("--fashion-classifiers", nargs="+", type=cli.existing_file, default=None,
                    help="the judges for Fig. 5 (default: the shipped Fashion-MNIST classifier)")
    ap.add_argument("--calibration", type=cli.positive_int, default=100,
                    help="test images that tune Fig. 7's classical baselines (default: 100)")
    ap.add_argument("--out", type=cli.output_dir, default=str(RESULTS / "rescore"),
                    help="output folder (default: results/rescore/)")
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    found = [name for name in FIGURES if (folder / f"{name}.npz").is_file() and (folder / f"{name}.json").is_file()]
    if not found:
        sys.exit(f"error: {folder} holds no figure outputs (<name>.npz and <name>.json of {', '.join(FIGURES)})")
    try:
        judges = {ds: {str(p): load_classifier(p)[0] for p in (paths_ or [CLASSIFIERS[ds]])}
                  for ds, paths_ in (("mnist", args.classifiers), ("fashion", args.fashion_classifiers))}
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    results = {}
    for name in found:
        settings = read_json(folder / f"{name}.json", keys=("settings",))["settings"]
        try:
            results[name] = score(name, read_npz(folder / f"{name}.npz"), settings, judges[FIGURES[name]],
                                  args.calibration)
        except KeyError as e:  # settings of another shape than the figure scripts write
            sys.exit(f"error: {folder / name}.json: its settings have no {e}; not written by the figure scripts")
    out = Path(args.out)
    write_json(out / "rescore.json", {"folder": str(folder), "judges": {k: list(v) for k, v in judges.items()},
                                      "results": results})
    text = "".join(f"## Judged by {', '.join(judges[ds])}\n\n" + markdown(
        {n: r for n, r in results.items() if FIGURES[n] == ds}, judges[ds]) + "\n"
        for ds in ("mnist", "fashion") if any(FIGURES[n] == ds for n in results))
    write_text(out / "rescore.md", text)
    print(text + f"wrote {out}/rescore.json, rescore.md")
    return results


if __name__ == "__main__":
    main()
