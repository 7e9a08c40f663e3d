"""Every number in the docs has a source: a committed output that the same part of the page names, and that holds it.

    python docs/check_numbers.py            # lists the numbers without a source; exit status 1 if there is one
    python docs/check_numbers.py --power    # also: how often a made-up number would have passed, page by page

What is checked. The numbers in the prose and tables of README.md, checkpoints/MANIFEST.md, the pages directly
in docs/ and the README.md beside each group of outputs in docs/outputs/ (a note a person wrote, not an output): a
decimal (24.92, 0.0098, 1.97x, 98.6%, -0.35) or an integer with a thousands separator (4,092). Plain
integers (n = 500, T = 200, 28x28) are mostly settings and are not checked; nor is anything in `code` or a fenced
block (commands and their flags are inputs), nor a heading.

Where a number's source must be. A section of a page (from one heading to the next) sees the committed outputs it
names by path, and those its parent sections name (a page that says once, on top, which run made every table
below): json, csv, log, txt, diff and markdown files, a folder standing for the text files in it, a glob allowed;
never a README.md, which is checked as a page.
Another reader-facing page counts when it is named, since its own numbers are checked against its own sources.

When a number has its source. A number written with d decimals has one when a named output holds a value v with
round(v, d) equal to it, or v * 100 (a fraction quoted as a percentage), v * 1000 or v / 1000 (s and ms, GB and
MB) or v / 60 (seconds quoted as minutes); or when it is the ratio or the difference of two numbers that have one
and are quoted on the same line or the one before or after it (a speed-up next to its two times, "by 2.7 dB" next
to 17.55 and 14.82). What none of this covers (a number from the paper, a constant the text derives, a number whose
output was lost) is listed, with the reason, in docs/numbers_from_elsewhere.md, one table row per number:
`| page | number as written | why |`. A row whose number its page does not hold is reported too (remove it).

How strong a check this is. It proves that a section names an output and that the number occurs in it; it does not
prove that the number is the right cell of it. A section that names a long output (a sweep's json, a log) holds so
many values that a typo often matches another one by chance: `--power` measures this, page by page, as the share of
made-up numbers (each quoted number with its last digit changed) that pass. On these pages it is a quarter to
three quarters, so the check catches most numbers that have no output at all, and only some typos.
"""

import argparse
import functools
import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT_SUFFIXES = {".json", ".csv", ".log", ".txt", ".md", ".diff"}
ELSEWHERE = ROOT / "docs" / "numbers_from_elsewhere.md"
# a decimal with an optional sign, or an integer with thousands separators; not a piece of a longer token (a
# version number such as 2.13.0, a file name such as fig1.png, a commit)
NUMBER = re.compile(r"(?<![\w.,/-])([+\-−]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+))(?![\w]|\.\d|,\d{3})")
ANY_NUMBER = re.compile(r"\d[\d,]*\.?\d*(?:e[+-]?\d+)?", re.I)  # any number in an output (signs dropped)
PATH = re.compile(r"[\w./*-]*/[\w./*-]*|[\w*-]+\.(?:json|csv|log|txt|md|diff)")


@functools.lru_cache(maxsize=None)
def committed():
    """The files git tracks (a clean clone has no others; outputs left in runs/ or results/ are not sources)."""
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout: every file counts
    return {(ROOT / n).resolve() for n in names.splitlines()}


def pages():
    """The pages a reader reads: the prose pages, and the README of each group of outputs (the outputs under
    docs/outputs/ are sources, not pages)."""
    return [ROOT / "README.md", ROOT / "checkpoints" / "MANIFEST.md",
            *sorted(p for p in (ROOT / "docs").glob("*.md") if p != ELSEWHERE),
            *sorted((ROOT / "docs" / "outputs").rglob("README.md"))]


def sections(page):
    """[(first line number, the section's text, the text of its parent sections)] of a page split at its headings;
    a section's parents are the nearest section above it of each higher heading level (the page's top for all)."""
    parts, start, lines, fenced = [], 1, [], False
    for i, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if line.startswith("#") and lines and not fenced:  # a "#" line in a code block is a comment, not a heading
            parts.append((start, lines))
            start, lines = i, []
        lines.append(line)
    parts.append((start, lines))
    result, open_parents = [], []  # open_parents: (heading level, text) of the sections above the current one
    for start, lines in parts:
        level = len(lines[0]) - len(lines[0].lstrip("#"))  # 0 for the text before the first heading
        open_parents = [(lv, text) for lv, text in open_parents if lv < level]
        result.append((start, "\n".join(lines), "\n".join(text for _, text in open_parents)))
        open_parents.append((level, "\n".join(lines)))
    return result


def artifacts(page, text):
    """The committed outputs a piece of a page names by path: as written from the repository's root, from the page's
    folder, from docs/ or (a bare name after a full path: "`docs/outputs/fast_cpu/a.log`, `b.csv`") from the folder of
    another path it names; a folder stands for the text files under it; never a README.md (a page, not an output)."""
    found, tracked = set(), committed()
    names = [n[2:] if n.startswith("./") else n.rstrip(".") for n in set(PATH.findall(text))]
    bases = [ROOT, page.parent, ROOT / "docs"]
    bases += sorted({(b / n).parent for n in names if "/" in n for b in bases[:3] if (b / n).parent.is_dir()})
    for name in names:
        for base in bases:
            for p in (base.glob(name) if "*" in name else [base / name]):
                p = p.resolve()
                if not p.is_relative_to(ROOT) or p == page.resolve() or p.name == "README.md":
                    continue
                if p.is_file() and p.suffix in ARTIFACT_SUFFIXES:
                    found.add(p)
                elif p.is_dir() and p not in (ROOT, ROOT / "docs", ROOT / "checkpoints"):
                    found.update(f for f in p.rglob("*")
                                 if f.is_file() and f.suffix in ARTIFACT_SUFFIXES and f.name != "README.md")
    return sorted(p for p in found if tracked is None or p in tracked)


def prose(text):
    """The lines of a text with fenced blocks, `code`, headings, link targets, software versions and section numbers
    blanked out (line numbers kept)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
        elif fenced or line.startswith("#"):
            out.append("")
        else:
            line = re.sub(r"`[^`]*`", " ", line)  # code
            line = re.sub(r"\]\([^)]*\)", "]", line)  # a link's target
            line = re.sub(r"(Python|PyTorch|torch|Triton|triton|CUDA) \d[\d.+a-z]*", " ", line)  # versions
            out.append(re.sub(r"(sections?|§) \d+(\.\d+)*", " ", line))  # the paper's section numbers
    return out


def quoted(text, first=1):
    """[(line number on the page, the number as written, its value, its decimals)] of the numbers a text quotes; the
    text's first line is line `first` of its page."""
    found = []
    for i, line in enumerate(prose(text), first):
        for m in NUMBER.finditer(line):
            written = m.group(1).replace("−", "-")
            decimals = len(written.split(".")[1]) if "." in written else 0
            found.append((i, m.group(1), float(written.replace(",", "")), decimals))
    return found


LONG = 30  # a json list of more numbers than this is per-image (or per-step) data, not a result a page quotes


def numbers_in(text):
    """The numbers written in a text (absolute values)."""
    out = []
    for token in ANY_NUMBER.findall(text):
        try:
            out.append(float(token.replace(",", "")))
        except ValueError:  # a token such as "1,2," that is not one number
            pass
    return out


@functools.lru_cache(maxsize=None)  # many sections name the same outputs
def values(path):
    """Every number in an output, as absolute values; in a json, not the numbers of a long list (per-image values:
    with thousands of them, any number would find a match)."""
    text = path.read_text(errors="replace")
    if path.suffix == ".json":
        try:
            out = []
            walk_json(json.loads(text), out)
            return out
        except ValueError:
            pass  # not valid json: read it as text
    return numbers_in(text)


def walk_json(obj, out):
    """Appends the numbers of a parsed json to out, skipping long lists of numbers."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        out.append(abs(float(obj)))
    elif isinstance(obj, str):
        out.extend(numbers_in(obj))
    elif isinstance(obj, dict):
        for v in obj.values():
            walk_json(v, out)
    elif isinstance(obj, list):
        if len(obj) > LONG and all(isinstance(v, (int, float)) for v in obj):
            return
        for v in obj:
            walk_json(v, out)


class Section:
    """One section of a page and what its named outputs hold."""

    def __init__(self, page, first, text, above):
        pool = set()
        for p in artifacts(page, text + "\n" + above):
            pool.update(values(p))
        pool |= {v * 100 for v in pool} | {v * 1000 for v in pool} | {v / 1000 for v in pool} | {v / 60 for v in pool}
        self.held = {d: {round(v, d) for v in pool} for d in range(7)}  # rounded once per precision
        self.numbers = quoted(text, first)

    def holds(self, value, decimals):
        d = min(decimals, 6)
        return round(abs(value), d) in self.held[d]


def elsewhere_list():
    """{(page, number as written)} from docs/numbers_from_elsewhere.md."""
    listed = set()
    if ELSEWHERE.is_file():
        for line in ELSEWHERE.read_text().splitlines():
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and line.startswith("|") and cells[0] not in ("page", "") and set(cells[0]) != {"-"}:
                listed.add((cells[0], cells[1]))
    return listed


def derived(value, decimals, line, sourced):
    """Whether |value| is, to its written precision, the ratio or the difference of two sourced numbers quoted on
    the same line or the line before or after it. sourced: {line: [absolute values]}."""
    near = sorted({v for i in (line - 1, line, line + 1) for v in sourced.get(i, [])})
    tol = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(f - abs(value)) <= tol for a, b in itertools.permutations(near, 2)
               for f in ((a / b) if b else float("inf"), a - b))


def check_page(page, listed, alter=None):
    """[(line, number as written)] of a page without a source. alter: a function that changes each number before it
    is looked up (to measure how often a made-up number would pass); the list is then of the changed ones."""
    rel = str(page.relative_to(ROOT))
    secs = [Section(page, *s) for s in sections(page)]
    sourced, pending = {}, []
    for sec in secs:
        for line, written, value, decimals in sec.numbers:
            if alter is not None:
                value = alter(value, decimals)
            if sec.holds(value, decimals) or (alter is None and (rel, written) in listed):
                sourced.setdefault(line, []).append(abs(value))
            else:
                pending.append((line, written, value, decimals))
    return [(line, written) for line, written, value, decimals in pending
            if not derived(value, decimals, line, sourced)]


def power(page, listed, trials=3, seed=0):
    """The share of made-up numbers that would pass: each quoted number with its last written digit changed (to
    another digit at random), checked as the page's numbers are. Returns (passed share, how many tried)."""
    rng = random.Random(seed)

    def alter(value, decimals):
        step = 10.0 ** -decimals
        return value + step * rng.choice([k for k in range(-9, 10) if k and 0 <= round(value / step) % 10 + k <= 9])

    n = sum(len(Section(page, *s).numbers) for s in sections(page))
    if n == 0:
        return None, 0
    failed = sum(len(check_page(page, listed, alter)) for _ in range(trials))
    return 1 - failed / (n * trials), n


def stale_rows(listed, written):
    """The rows of numbers_from_elsewhere.md whose number is not written on its page: a list of exceptions must
    not outlive the text it excuses. listed, written: sets of (page, number as written)."""
    return sorted(listed - written)


def check(show_power=False, out=sys.stdout):
    """Prints and returns [(page, line, number as written)] without a source, and the stale rows of
    numbers_from_elsewhere.md (as that file's, line 0)."""
    listed, missing, written = elsewhere_list(), [], set()
    for page in pages():
        rel = str(page.relative_to(ROOT))
        missing += [(rel, line, number) for line, number in check_page(page, listed)]
        written |= {(rel, number) for first, text, _ in sections(page) for _, number, _, _ in quoted(text, first)}
        if show_power:
            share, n = power(page, listed)
            if n:
                print(f"{rel}: {n} numbers; a made-up one (last digit changed) passes {share:.0%} of the time",
                      file=out)
    for rel, line, number in missing:
        print(f"{rel}:{line}: {number} has no source", file=out)
    print(f"{len(missing)} numbers without a source", file=out)
    stale = stale_rows(listed, written)
    for rel, number in stale:
        print(f"{ELSEWHERE.relative_to(ROOT)}: {number} is listed for {rel}, which does not have it", file=out)
    if stale:
        print(f"{len(stale)} rows of {ELSEWHERE.name} to remove", file=out)
    return missing + [(str(ELSEWHERE.relative_to(ROOT)), 0, f"{number} (listed for {rel})") for rel, number in stale]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--power", action="store_true", help="also print how often a made-up number would pass")
    sys.exit(1 if check(ap.parse_args().power) else 0)
