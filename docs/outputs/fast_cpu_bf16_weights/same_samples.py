"""The fast path's bf16 weights against its per-call casts on the shipped class-conditional model: the same samples?

    python docs/outputs/fast_cpu_bf16_weights/same_samples.py --n 32 --out docs/outputs/fast_cpu_bf16_weights/same_samples.json

Both paths run the UNet under bf16 autocast; one stores the convolution and linear weights in bf16 once, the other
lets autocast cast them on every call. The values are the same, so a whole chain (T = 200, w = 2) from the same seed
should give the same images bit for bit, and so the quality guards measured for the per-call path hold for both.
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from checkpoint import load_ddpm  # noqa: E402
from ddpm import EpsFunction, sample  # noqa: E402
from fast import fast_path  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--n", type=int, default=32, help="samples per path (default: 32)")
ap.add_argument("--out", default=None, help="json to write (default: printed only)")
args = ap.parse_args()
model, schedule, _ = load_ddpm(ROOT / "checkpoints" / "mnist_class.pt", "cpu")
labels = torch.arange(args.n) % 10
result = {"command": "python docs/outputs/fast_cpu_bf16_weights/same_samples.py " + " ".join(sys.argv[1:]),
          "torch": torch.__version__, "n": args.n, "T": schedule.T, "guidance": 2.0}
images = {}
for name, held in (("per-call casts", False), ("bf16 weights", True)):
    path = fast_path(model, schedule, "cpu", fused=False, bf16_weights=held)
    g = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    images[name] = sample(EpsFunction(path.model, y=labels, guidance=2.0), schedule, (args.n, 1, 28, 28),
                          step=path.step, generator=g)[0]
    result[f"{name}: levers"] = path.turned_on
    result[f"{name}: seconds"] = round(time.perf_counter() - t0, 1)
a, b = images["per-call casts"], images["bf16 weights"]
result["identical"] = bool(torch.equal(a, b))
result["max abs difference"] = float((a - b).abs().max())
print(json.dumps(result, indent=1))
if args.out:
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
