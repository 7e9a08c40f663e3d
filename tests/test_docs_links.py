"""Every relative link and image in the markdown files points at a file that exists, and every #anchor at a heading
of its page, so that moving an output cannot leave a page pointing at nothing."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return text.replace(" ", "-")


def broken_links(page):
    """[(line, target)] of the links of one markdown file that resolve to nothing."""
    text = page.read_text()
    code = re.compile(r"```.*?```", re.S)
    prose = code.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    broken = []
    for i, line in enumerate(prose.splitlines(), 1):
        for target in LINK.findall(line):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, frag = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append((i, target))
            elif frag and file.suffix == ".md":
                heads = {anchor(h) for h in file.read_text().splitlines() if h.startswith("#")}
                if frag not in heads:
                    broken.append((i, target))
    return broken


def markdown_files():
    names = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_every_relative_link_and_image_resolves():
    broken = [f"{p.relative_to(ROOT)}:{i}: {t}" for p in markdown_files() for i, t in broken_links(p)]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_check_finds_a_broken_link(tmp_path):
    (tmp_path / "there.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n![a](there.png) ![b](gone.png) [c](#top) [d](#nowhere)\n\n```\n![e](in_code.png)\n```\n")
    assert broken_links(page) == [(3, "gone.png"), (3, "#nowhere")]
