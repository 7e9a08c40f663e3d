"""paths.py - where the project's files are. Importing it puts the project root on sys.path, so that the scripts in
experiments/ can import the top-level modules (ddpm, unet, data, ...); every script and helper here imports it first."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHECKPOINTS = ROOT / "checkpoints"
RESULTS = ROOT / "results"
CLASSIFIERS = {"mnist": CHECKPOINTS / "classifier_mnist.pt", "fashion": CHECKPOINTS / "classifier_fashion.pt"}
