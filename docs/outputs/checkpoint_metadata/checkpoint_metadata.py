"""What each shipped DDPM checkpoint records about its own training (steps, wall time, the loss of the last step,
the training settings), written out so that checkpoints/MANIFEST.md's wall times have a source:

    python docs/outputs/checkpoint_metadata/checkpoint_metadata.py > docs/outputs/checkpoint_metadata/checkpoint_metadata.json

The per-step logs (runs/<name>/log.csv) of the checkpoints without logs in docs/outputs/training_logs/ were not
committed and are lost; the mean loss of their last 100 steps and their median step time, quoted in the manifest,
come from those logs.
"""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]


def main():
    out = {}
    for path in sorted((ROOT / "checkpoints").glob("*.pt")):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if ckpt.get("kind") != "ddpm":
            continue  # the classifiers record no training metadata
        out[path.name] = {"step": ckpt["step"], "wall_time_s": round(ckpt["wall_time_s"], 1),
                          "wall_time_min": round(ckpt["wall_time_s"] / 60, 2), "last_step_loss": ckpt["loss"],
                          "train_config": ckpt["train_config"]}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
