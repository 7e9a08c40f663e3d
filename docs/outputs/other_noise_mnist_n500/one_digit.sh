#!/usr/bin/env bash
# python denoise.py on one digit of each noise type, with its defaults, each call timed from process start to exit.
# MNIST test digit 0 saved as an 8-bit PNG: Poisson P = 4; salt and pepper 10%; random-valued impulses 10%;
# Gaussian sigma 0.2 (clipped by the file); clean. Run from the repository root:
#   bash docs/outputs/other_noise_mnist_n500/one_digit.sh > docs/outputs/other_noise_mnist_n500/denoise_one_digit.log
set -euo pipefail
PY=${PYTHON:-python}
DIR=$(mktemp -d)
$PY - "$DIR" <<'PYEOF'
import sys
import numpy as np
import torch
from PIL import Image
import corruptions, data
x, _ = data.load_test_images("mnist", 1)
g = lambda: torch.Generator().manual_seed(0)
noisy = {"poisson": corruptions.poisson_noise(x, 4.0, g()),
         "impulse": corruptions.salt_and_pepper(x, 0.1, g())[0],
         "random": corruptions.random_impulse(x, 0.1, g())[0],
         "clipped": corruptions.gaussian_noise(x, 0.2, g()),
         "clean": x}
for name, y in noisy.items():  # an 8-bit file: clipped to [-1, 1] and rounded to 256 levels
    u8 = ((y[0, 0].clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).numpy()
    Image.fromarray(u8).save(f"{sys.argv[1]}/digit_{name}.png")
PYEOF
TIMEFORMAT='%R s wall'
echo "# bash docs/outputs/other_noise_mnist_n500/one_digit.sh, $(date -u +%F), $(nproc) cores"
for name in poisson impulse random clipped clean; do
    echo "\$ python denoise.py digit_$name.png --out clean_$name.png"
    { time $PY denoise.py "$DIR/digit_$name.png" --out "$DIR/clean_$name.png" 2>&1 | sed "s#$DIR/##g" ; } 2>&1
done
rm -rf "$DIR"
