"""Are two DDPM checkpoints the same model? Compares their EMA weights tensor by tensor (after casting both to the
lower precision of the two: shipped checkpoints are fp16 exports) and the last training loss each one records.

    python checkpoint.py export runs/retrain_denoise_plain/checkpoint.pt /tmp/retrain_fp16.pt
    python docs/outputs/training_logs/compare_checkpoints.py checkpoints/mnist_denoise_plain.pt /tmp/retrain_fp16.pt \
        > docs/outputs/training_logs/retrain_vs_shipped.txt
"""

import sys

import torch


def main(a_path, b_path):
    a, b = (torch.load(p, map_location="cpu", weights_only=False) for p in (a_path, b_path))
    print(f"A: {a_path}\nB: {b_path}")
    ca, cb = a["train_config"], b["train_config"]
    differ = {k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
    print(f"train_config keys that differ (None: the key did not exist then): {differ}; step: {a['step']} / "
          f"{b['step']}")
    print(f"last-step loss: {a['loss']:.6f} / {b['loss']:.6f}")
    same, worst = 0, 0.0
    for k in a["ema"]:
        dtype = a["ema"][k].dtype if a["ema"][k].element_size() <= b["ema"][k].element_size() else b["ema"][k].dtype
        x, y = a["ema"][k].to(dtype), b["ema"][k].to(dtype)
        same += torch.equal(x, y)
        worst = max(worst, (x.float() - y.float()).abs().max().item())
    print(f"EMA tensors equal: {same} of {len(a['ema'])}; largest |difference| of a weight: {worst:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
