"""How far the re-scoring of make_results.py --fast (docs/outputs/rescore_n500/) is from that of the fp32 run
(docs/outputs/rescore_n500_fp32/), over every figure, row and judge the two share.

    python docs/outputs/rescore_n500_fp32/rescore_fast_vs_fp32.py > docs/outputs/rescore_n500_fp32/rescore_fast_vs_fp32.txt
"""

import json
from pathlib import Path

OUTPUTS = Path(__file__).resolve().parent.parent


def main():
    fast = json.loads((OUTPUTS / "rescore_n500" / "rescore.json").read_text())["results"]
    fp32 = json.loads((OUTPUTS / "rescore_n500_fp32" / "rescore.json").read_text())["results"]
    gaps = {"psnr (dB)": [], "ssim": [], "class kept (points)": [], "judges agree (points)": []}
    for fig in fast.keys() & fp32.keys():
        for row in fast[fig].keys() & fp32[fig].keys():
            a, b = fast[fig][row], fp32[fig][row]
            where = f"{fig}: {row}"
            gaps["psnr (dB)"].append((abs(a["psnr"]["mean"] - b["psnr"]["mean"]), where))
            gaps["ssim"].append((abs(a["ssim"]["mean"] - b["ssim"]["mean"]), where))
            for judge in a["class_kept"].keys() & b["class_kept"].keys():
                gaps["class kept (points)"].append((100 * abs(a["class_kept"][judge] - b["class_kept"][judge]),
                                                    f"{where}, {Path(judge).name}"))
            if "judges_agree" in a and "judges_agree" in b:
                gaps["judges agree (points)"].append((100 * abs(a["judges_agree"] - b["judges_agree"]), where))
    for name, values in gaps.items():
        gap, where = max(values)
        print(f"largest |difference| of {name} over {len(values)} rows: {gap:.3f} ({where})")


if __name__ == "__main__":
    main()
