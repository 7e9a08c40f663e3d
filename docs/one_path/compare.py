import json, sys, numpy as np
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for ja in sorted(a.glob("*.json")):
    jb = b / ja.name
    A, B = json.loads(ja.read_text()), json.loads(jb.read_text())
    na, nb = np.load(ja.with_suffix(".npz")), np.load(jb.with_suffix(".npz"))
    keys_same = sorted(na.files) == sorted(nb.files) and A["settings"] == B["settings"] and A["metrics"].keys() == B["metrics"].keys()
    dfinal = float(np.abs(na["final"] - nb["final"]).max())
    dtraj = float(np.abs(na["trajectory"] - nb["trajectory"]).max())
    steps_same = np.array_equal(na["steps"], nb["steps"])
    for what, m in A["metrics"].items():
        if "psnr" not in m: 
            print(f"{ja.stem:32s} {what:14s} p: {m} vs {B['metrics'][what]}")
            continue
        mb = B["metrics"][what]
        print(f"{ja.stem:32s} {what:14s} PSNR {m['psnr']['mean']:.4f} -> {mb['psnr']['mean']:.4f}  SSIM {m['ssim']['mean']:.4f} -> {mb['ssim']['mean']:.4f}  kept {m.get('class_kept')} -> {mb.get('class_kept')}")
    print(f"   keys/settings same: {keys_same}; steps same: {steps_same}; max |final diff| {dfinal:.2e}; max |traj diff| {dtraj:.2e}")
