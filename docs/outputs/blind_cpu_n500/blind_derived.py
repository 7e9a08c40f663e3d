"""The differences docs/beyond.md quotes from a blind-denoising run, printed from its json so that each has an output.

    python docs/outputs/blind_cpu_n500/blind_derived.py docs/outputs/blind_cpu_n500/blind_denoising.json \
        docs/outputs/gpu_h200/run2/blind_denoising.json > docs/outputs/blind_cpu_n500/derived.txt

A second json (another run of the same command) adds how far the two runs are apart.

Every difference is between two rows of the same run on the same images and noise, so a difference of the mean
PSNRs is also the mean of the per-image differences. Rows that a run does not have (the conditional models of
--no-conditional, --dataset fashion) are left out.
"""

import json
import sys


def against(report, path):
    """The largest gap between two runs: mean PSNR of any method and sigma, and the paired differences."""
    other = json.load(open(path))
    m, o = report["metrics"], other["metrics"]
    gaps = [(abs(m[s][k]["psnr"]["mean"] - o[s][k]["psnr"]["mean"]), s, k) for s in m if s in o for k in m[s]
            if k in o[s]]
    print(f"# against {path}")
    gap, s, k = max(gaps)
    print(f"largest |PSNR difference| over {len(gaps)} (sigma, method) cells: {gap:.3f} dB ({k}, sigma {s})")
    for key in ("blind_minus_oracle_db", "blind_minus_best_classical_db"):
        d = [abs(report["paired"][s][key] - other["paired"][s][key]) for s in report["paired"] if s in other["paired"]]
        print(f"largest |difference| of {key}: {max(d):.3f} dB")


def main(path, other=None):
    report = json.load(open(path))
    m = report["metrics"]
    sigmas = list(m)
    psnr = {s: {k: v["psnr"]["mean"] for k, v in m[s].items()} for s in sigmas}
    pairs = [("blind mean", "blind sample"), ("blind tweedie", "blind sample"), ("blind tweedie", "blind mean"),
             ("oracle mean", "oracle sample"), ("blind sample", "cond. plain"), ("blind sample", "cond. prob."),
             ("blind mean", "cond. plain"), ("blind mean", "cond. prob."), ("blind sample", "noisy"),
             ("cond. prob.", "noisy"), ("cond. plain", "noisy"), ("blind sample", "NLM"), ("blind tweedie", "NLM")]
    print(f"# PSNR differences (dB), from {path}")
    print("| difference | " + " | ".join(f"sigma {s}" for s in sigmas) + " |")
    print("|---|" + "---|" * len(sigmas))
    for a, b in pairs:
        if all(a in psnr[s] and b in psnr[s] for s in sigmas):
            print(f"| {a} - {b} | " + " | ".join(f"{psnr[s][a] - psnr[s][b]:+.2f}" for s in sigmas) + " |")
    print()
    print("# class kept (%), the lowest and highest over sigma, per judge and method")
    judges = list(next(iter(m[sigmas[0]].values())).get("class_kept_by", {"class_kept": None}))
    for judge in judges:
        print(f"## {judge}")
        for method in m[sigmas[0]]:
            kept = [100 * (m[s][method]["class_kept_by"][judge] if "class_kept_by" in m[s][method]
                           else m[s][method]["class_kept"]) for s in sigmas]
            print(f"{method}: {min(kept):.1f} to {max(kept):.1f}")
    print()
    print("# the noise estimate: mean sigma_hat / sigma - 1 (%), per sigma")
    est = report["estimators"]
    for name, by_sigma in est.items():
        print(f"{name}: " + ", ".join(f"{100 * (by_sigma[s]['ratio'] - 1):+.1f}" for s in sigmas
                                      if s in by_sigma))
    if other:
        print()
        against(report, other)


if __name__ == "__main__":
    main(*sys.argv[1:3])
