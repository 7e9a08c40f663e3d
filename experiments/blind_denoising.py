"""Blind denoising with a pretrained DDPM (denoise.py) against the oracle, the paper's conditional denoisers and
classical denoisers, for several noise levels.

Test images x in [-1, 1] (MNIST digits, or Fashion-MNIST with --dataset fashion and its unconditional model) get
plain additive noise y = x + sigma n for each sigma in --sigmas. Methods:
  noisy             the input itself
  blind sample      denoise.py with sigma estimated from y ("model" estimator): one reverse chain from t*
                    (--steps k: DDIM with at most k steps instead)
  blind mean        the average of --chains such chains (an estimate of the posterior mean, the MMSE answer)
  blind tweedie     the model's one-call posterior mean at t* (Tweedie's formula), estimated sigma
  oracle sample / oracle mean   the same with the true sigma
  cond. prob. / cond. plain     the paper's conditional denoisers of Fig. 7 (checkpoints/mnist_denoise_prob.pt and
                    mnist_denoise_plain.pt: the noisy image as an extra input channel, the full chain from T; trained on
                    sigma in [0.1, 0.5], so 0.05 lies outside their training range; MNIST only)
  NLM, TV, wavelet  scikit-image's non-local means, total-variation (Chambolle) and wavelet (BayesShrink) denoisers,
                    each given the same sigma estimate; Gaussian blur
Each classical method has one free parameter (a multiple of the sigma estimate; the blur's width in pixels), tuned
for each sigma on --calibration other test images to the best mean PSNR: generous to them.
Also measured: the estimators' error ("model", "mad" and "immerkaer": estimated vs true sigma).

    python experiments/blind_denoising.py                        # n = 32, 4 chains: 2.4 min on the 2-core dev. CPU
    python experiments/blind_denoising.py --n 500 --chains 8 --device cuda

Writes, in --out (default results/blind/): blind_denoising.json (settings and every number), blind_denoising.md (the
tables), blind_psnr_vs_sigma.png (PSNR and SSIM against sigma, every method), blind_examples.png (a few digits at
each sigma through the main methods), blind_denoising.npz (per-image PSNR of every method and sigma, estimates).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import cli
import corruptions
import data
import denoise
import flags
import kernels
import outputs
from checkpoint import CheckpointError, load_ddpm
from ddpm import EpsFunction
from devices import resolve_device
from fast import FLAG_HELP as FAST_HELP
from fast import fast_path
from fig6_imputation import conditioned_chain
from files import write_figure, write_json, write_npz, write_text
from metrics import add_class_kept, image_metrics, load_judges, psnr
from paths import CLASSIFIERS, RESULTS

CLASSICAL = {
    # name: (parameter grid, what the parameter is)
    "NLM": ([0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5], "h = c * sigma_hat (patch 5x5, search 13x13, fast mode)"),
    "TV": ([0.125, 0.25, 0.5, 1.0, 1.5, 2.0], "weight = c * sigma_hat"),
    "wavelet": ([0.5, 0.75, 1.0, 1.5, 2.0, 3.0], "sigma = c * sigma_hat (BayesShrink, soft, db1)"),
    "blur": ([0.25, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0], "Gaussian width c pixels"),
}


def classical(name, y, sigma_hat, c):
    """Apply a classical denoiser to (N, 1, H, W) images y (CPU), image by image. Returns (N, 1, H, W)."""
    if name == "blur":
        return corruptions.gaussian_blur(y, c)
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    out = np.empty(y.shape, dtype=np.float32)
    ys, ss = y.numpy().astype(np.float64), sigma_hat.tolist()
    for i in range(len(ys)):
        im, s = ys[i, 0], max(ss[i], 1e-4)
        if name == "NLM":
            out[i, 0] = denoise_nl_means(im, h=c * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True)
        elif name == "TV":
            out[i, 0] = denoise_tv_chambolle(im, weight=c * s)
        elif name == "wavelet":
            out[i, 0] = denoise_wavelet(im, sigma=c * s, method="BayesShrink", mode="soft", rescale_sigma=True)
        else:
            raise ValueError(name)
    return torch.from_numpy(out)


def tune(name, y_cal, x_cal, sigma_cal):
    """The grid value with the best mean PSNR on the calibration images."""
    grid = CLASSICAL[name][0]
    scores = [psnr(classical(name, y_cal, sigma_cal, c), x_cal).mean().item() for c in grid]
    return grid[int(np.argmax(scores))]


def conditional(loaded, y, generator, bar):
    """The Fig. 7 denoiser (`loaded`: its model, schedule, tau, probabilistic flag, step and concat): the chain from
    pure noise at T, the noisy image y as the extra input channel."""
    model, schedule, tau, probabilistic, step, concat = loaded
    eps_fn = EpsFunction(model, x_cond=y, mode="probabilistic" if probabilistic else "keep", tau=tau,
                         generator=generator, concat=concat)
    final, _ = conditioned_chain(eps_fn, schedule, schedule.T, generator, step=step, progress=bar)
    return final


UNCONDITIONAL = {"mnist": "mnist_uncond.pt", "fashion": "fashion_uncond.pt"}


def plot(path, sigmas, table, methods, n, dataset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"noisy": ("k", ":"), "blind mean": ("tab:red", "-"), "blind sample": ("tab:red", "--"),
              "blind tweedie": ("tab:pink", "-."), "oracle mean": ("tab:blue", "-"),
              "oracle sample": ("tab:blue", "--"),
              "cond. prob.": ("tab:green", "-"), "cond. plain": ("tab:olive", "-"), "NLM": ("tab:purple", "-"),
              "TV": ("tab:brown", "-"), "wavelet": ("tab:gray", "-"), "blur": ("tab:cyan", "-")}
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for m in methods:
            color, ls = styles.get(m, ("k", "-"))
            ax.plot(sigmas, [table[s][m][key]["mean"] for s in sigmas], marker="o", ms=3, color=color, ls=ls,
                    label=m)
        ax.set_xlabel("noise sigma (images in [-1, 1])")
        ax.set_ylabel(label)
        ax.set_xticks(sigmas)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    name = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}[dataset]
    fig.suptitle(f"Blind denoising of {name} test images ({n} images per sigma)", fontsize=10)
    fig.tight_layout()
    write_figure(fig, path)


def draw_examples(path, sigmas, examples, columns, rows=3):
    """For each sigma, `rows` digits: original, noisy, then each method in `columns`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from viz import show, to_unit

    names = ["original", "noisy"] + columns
    fig, axes = plt.subplots(len(sigmas) * rows, len(names), figsize=(0.95 * len(names), 0.95 * rows * len(sigmas)
                                                                      + 0.6), squeeze=False)
    for k, s in enumerate(sigmas):
        for c, name in enumerate(names):
            pics = to_unit(examples[s][name][:rows])
            for r in range(rows):
                ax = axes[k * rows + r, c]
                show(ax, pics[r])
                if k * rows + r == 0:
                    ax.set_title(name, fontsize=6)
                if c == 0 and r == 0:
                    ax.set_ylabel(f"sigma {s}", fontsize=7)
    fig.tight_layout(pad=0.2)
    write_figure(fig, path)


def markdown(sigmas, table, methods, estimators, judges):
    head = "| method | " + " | ".join(f"sigma {s}" for s in sigmas) + " |"
    sep = "|---|" + "---|" * len(sigmas)
    lines = ["PSNR in dB (mean over images; in brackets: SSIM)", "", head, sep]
    for m in methods:
        cells = [f"{table[s][m]['psnr']['mean']:.2f} ({table[s][m]['ssim']['mean']:.3f})" for s in sigmas]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for judge in judges:  # one table per classifier (--classifiers)
        lines += ["", f"Class kept (share of outputs that {judge} gives the digit's own class)", "", head, sep]
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(f"{100 * table[s][m]['class_kept_by'][judge]:.1f}%" for s in sigmas)
                         + " |")
    lines += ["", "Noise estimators: mean of sigma_hat / sigma (mean |sigma_hat - sigma| / sigma)", "",
              head.replace("method", "estimator"), sep]
    for e in estimators:
        lines.append(f"| {e} | " + " | ".join(f"{estimators[e][s]['ratio']:.3f} ({estimators[e][s]['abs_rel_err']:.3f})"
                                              for s in sigmas) + " |")
    return "\n".join(lines) + "\n"


@cli.command(errors=(denoise.DenoiseError,))
def main(argv=None):
    doc = __doc__
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])
    ap.add_argument("--dataset", choices=list(UNCONDITIONAL), default="mnist",
                    help="the test images and the unconditional model (Fashion-MNIST has no conditional denoisers) "
                    "(default: mnist)")
    ap.add_argument("--n", type=flags.positive_int, default=32, help="test images per sigma (default: 32)")
    ap.add_argument("--sigmas", type=cli.positive_float, nargs="+", default=[0.05, 0.1, 0.2, 0.3, 0.5],
                    help="the additive noise levels, standard deviations on images in [-1, 1] as Fig. 7's and "
                    "denoise.py's --sigma (default: 0.05 0.1 0.2 0.3 0.5)")
    ap.add_argument("--chains", type=flags.positive_int, default=4,
                    help="chains averaged for the posterior mean (default: 4)")
    ap.add_argument("--estimator", choices=denoise.ESTIMATORS, default="model",
                    help="how the blind denoiser estimates sigma, as denoise.py's --estimator (default: model)")
    ap.add_argument("--calibration", type=flags.positive_int, default=50,
                    help="test images (after the first n) used to tune the classical methods (default: 50)")
    ap.add_argument("--steps", type=flags.positive_int, default=None,
                    help="DDIM with at most this many steps per chain (default: the full chain from t*)")
    ap.add_argument("--variance", choices=("posterior", "beta"), default="posterior",
                    help="sigma_t^2 of the denoising chains: posterior (beta tilde) or beta (see denoise.denoise) "
                    "(default: posterior)")
    ap.add_argument("--no-conditional", action="store_true", help="leave out the Fig. 7 models (200 steps each)")
    ap.add_argument("--classifiers", nargs="+", default=None,
                    help="the judges of class kept, one table each (default: the shipped classifier of the dataset); "
                         "the first one also fills the json's class_kept")
    ap.add_argument("--fast", action="store_true", help=FAST_HELP)
    flags.add_run_flags(ap, RESULTS / "blind")
    args = ap.parse_args(argv)
    if any(not (0 < s <= 2) for s in args.sigmas):
        ap.error(f"--sigmas must lie in (0, 2], got {args.sigmas}")

    device = resolve_device(args.device)
    ck = Path(args.checkpoint_dir)
    try:
        x_all, labels_all = data.load_test_images(args.dataset, args.n + args.calibration, args.data_dir)
        judges = load_judges(args.classifiers or [CLASSIFIERS[args.dataset]])
        uncond, schedule, _ = load_ddpm(ck / UNCONDITIONAL[args.dataset], device, dataset=args.dataset, cond="none")
        cond_models = {}
        if not args.no_conditional and args.dataset == "mnist":
            for name, file, prob in (("cond. prob.", "mnist_denoise_prob.pt", True),
                                     ("cond. plain", "mnist_denoise_plain.pt", False)):
                model, sched, ckpt = load_ddpm(ck / file, device, dataset="mnist", cond="image", probabilistic=prob)
                if args.fast:
                    model = fast_path(model, sched, device, fused=args.kernels != "torch").model
                cond_models[name] = (model, sched, ckpt["train_config"]["tau"], prob,
                                     *kernels.choose(args.kernels, device, sched))
        kernels.choose(args.kernels, device, schedule)  # a --kernels that cannot run here fails now, not mid-run
        if args.fast:  # the fast path swaps the models (fast.py); the reverse steps come from --kernels
            path = fast_path(uncond, schedule, device, fused=args.kernels != "torch")
            uncond = path.model
            print(path.summary)
    except (CheckpointError, data.DataError, kernels.Unavailable) as e:
        sys.exit(f"error: {e}")
    if len(x_all) < args.n + args.calibration:
        sys.exit(f"error: only {len(x_all)} test images available; need --n + --calibration")
    # the denoising chains' reverse step, built for each chain's schedule: ddpm.py's, or the fused kernel (--kernels)
    make_step = lambda chain_schedule: kernels.choose(args.kernels, device, chain_schedule)[0]  # noqa: E731
    x, labels = x_all[: args.n].to(device), labels_all[: args.n]
    x_cal = x_all[args.n:]

    table, estimators, tuned, per_image, examples, t_used = {}, {e: {} for e in denoise.ESTIMATORS}, {}, {}, {}, {}
    t0 = time.time()
    chain_steps = sum(int(denoise.t_for_sigma(schedule, s)[0]) + 2 for s in args.sigmas) * 2
    total = chain_steps + len(args.sigmas) * schedule.T * len(cond_models)
    with outputs.progress(total, "blind denoising", args) as bar:
        for k, sigma in enumerate(args.sigmas):
            g = torch.Generator(device=device).manual_seed(args.seed * 1000 + k)
            y = corruptions.gaussian_noise(x, sigma, g)  # (N, 1, 28, 28), not clipped
            y_cpu = y.cpu()
            results = {"noisy": y}
            # 1. the estimators, each computed once: the blind runs below use the chosen one's estimate
            estimates = {e: denoise.estimate_sigma(y, e, uncond, schedule) for e in denoise.ESTIMATORS}
            for e, s_hat in estimates.items():
                ratio = s_hat.cpu() / sigma
                estimators[e][sigma] = {"ratio": ratio.mean().item(), "abs_rel_err": (ratio - 1).abs().mean().item(),
                                        "median_ratio": ratio.median().item()}
            sigma_hat = estimates[args.estimator]
            # 2. blind (estimated sigma) and oracle (true sigma) denoising: posterior sample, chain mean, Tweedie
            for who, s in (("blind", sigma_hat), ("oracle", sigma)):
                r = denoise.denoise(y, uncond, schedule, sigma=s, chains=args.chains, steps=args.steps,
                                    variance=args.variance, make_step=make_step, generator=g, progress=bar)
                results[f"{who} sample"], results[f"{who} mean"] = r.sample, r.mean
                if who == "blind":
                    results["blind tweedie"] = r.tweedie
                t_used[f"{sigma}_{who}"] = torch.bincount(r.t, minlength=schedule.T + 1).nonzero().flatten().tolist()
            # 3. the paper's conditional denoisers
            for name, loaded in cond_models.items():
                results[name] = conditional(loaded, y, g, bar)
            # 4. classical denoisers, tuned on calibration images with their own noise and sigma estimate
            g_cal = torch.Generator().manual_seed(args.seed * 1000 + 500 + k)
            y_cal = corruptions.gaussian_noise(x_cal, sigma, g_cal)
            s_cal = denoise.estimate_sigma(y_cal.to(device), args.estimator, uncond, schedule).cpu()
            for name in CLASSICAL:
                c = tune(name, y_cal, x_cal, s_cal)
                tuned[f"{sigma}_{name}"] = c
                results[name] = classical(name, y_cpu, sigma_hat.cpu(), c).to(device)
            # PSNR and SSIM, then class kept by every judge (the first one's also as class_kept)
            table[sigma] = {m: add_class_kept(image_metrics(v, x), judges, v, labels) for m, v in results.items()}
            per_image[sigma] = {m: psnr(v, x).cpu().numpy() for m, v in results.items()}
            per_image[sigma]["sigma_hat"] = sigma_hat.cpu().numpy()
            examples[sigma] = {"original": x[:3].cpu(), **{m: v[:3].cpu() for m, v in results.items()}}
    wall = time.time() - t0
    methods = list(table[args.sigmas[0]])

    # paired comparisons: blind mean vs oracle mean, and vs the best classical method, per image
    paired = {}
    for s in args.sigmas:
        d = per_image[s]["blind mean"] - per_image[s]["oracle mean"]
        best_classical = max(CLASSICAL, key=lambda m: per_image[s][m].mean())
        d2 = per_image[s]["blind mean"] - per_image[s][best_classical]
        paired[s] = {"blind_minus_oracle_db": float(d.mean()), "se": float(d.std() / np.sqrt(len(d))),
                     "best_classical": best_classical, "blind_minus_best_classical_db": float(d2.mean()),
                     "se_classical": float(d2.std() / np.sqrt(len(d2)))}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out / "blind_psnr_vs_sigma.png", args.sigmas, table, methods, args.n, args.dataset)
    draw_examples(out / "blind_examples.png", args.sigmas, examples,
                  ["blind sample", "blind mean", "oracle mean", *cond_models, "NLM", "TV", "wavelet", "blur"])
    settings = {k: v for k, v in vars(args).items() if k != "no_progress"}
    settings.update(device=str(device), wall_s=wall, torch=torch.__version__,
                    device_name=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                    classical_params={k: v[1] for k, v in CLASSICAL.items()})
    report = {"settings": settings, "metrics": {str(s): table[s] for s in args.sigmas},
              "estimators": {e: {str(s): v for s, v in d.items()} for e, d in estimators.items()},
              "tuned": tuned, "t_star_used": t_used, "paired": {str(s): v for s, v in paired.items()}}
    write_json(out / "blind_denoising.json", report)
    text = markdown(args.sigmas, table, methods, estimators, list(judges))
    text += "\nPaired per image: blind mean minus oracle mean, and minus the best classical method (dB +- s.e.)\n\n"
    text += "| sigma | blind - oracle | best classical | blind - best classical |\n|---|---|---|---|\n"
    text += "".join(f"| {s} | {p['blind_minus_oracle_db']:+.2f} +- {p['se']:.2f} | {p['best_classical']} | "
                    f"{p['blind_minus_best_classical_db']:+.2f} +- {p['se_classical']:.2f} |\n"
                    for s, p in paired.items())
    write_text(out / "blind_denoising.md", text)
    write_npz(out / "blind_denoising.npz", {"sigmas": np.asarray(args.sigmas),
                                            **{f"psnr_{s}_{m.replace(' ', '_').replace('.', '')}": v
                                               for s, d in per_image.items() for m, v in d.items()}})
    print(text)
    print(f"{wall:.0f} s; wrote {out}/blind_denoising.json, .md, .npz, blind_psnr_vs_sigma.png, blind_examples.png")
    return report


if __name__ == "__main__":
    main()
