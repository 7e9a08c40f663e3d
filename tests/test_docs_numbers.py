"""Every number quoted in the docs has a committed source (docs/check_numbers.py), and the check can fail."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "docs"))
import check_numbers  # noqa: E402


def test_every_number_in_the_docs_has_a_source(capsys):
    missing = check_numbers.check(show_power=True)
    print(capsys.readouterr().out)  # the report, with how often a made-up number would pass, for the log
    assert missing == [], "numbers without a source (add the output that holds them, or list them with the reason " \
                          "in docs/numbers_from_elsewhere.md):\n" + "\n".join(f"{p}:{i}: {s}" for p, i, s in missing)


@pytest.fixture
def tiny_project(tmp_path, monkeypatch):
    """A project of one page and one output, outside git."""
    monkeypatch.setattr(check_numbers, "ROOT", tmp_path)
    monkeypatch.setattr(check_numbers, "committed", lambda: None)
    (tmp_path / "docs" / "run").mkdir(parents=True)
    (tmp_path / "docs" / "run" / "out.json").write_text('{"psnr": 24.918, "share": 0.986, "per_image": %s}'
                                                       % list(range(100, 200)))
    return tmp_path / "docs" / "page.md"


@pytest.mark.parametrize("text, bad", [
    ("From `docs/run/out.json`: 24.92 dB, 98.6% kept.", []),                    # found (a fraction as a percentage)
    ("From `docs/run/out.json`: 24.93 dB.", ["24.93"]),                         # a typo
    ("24.92 dB, and nothing says where from.", ["24.92"]),                      # no output named
    ("From `docs/run/out.json`: 150.5 dB.", ["150.5"]),                         # per-image lists are not sources
    ("From `docs/run/out.json`: 24.92 against 0.986, ratio 25.27.", []),        # a ratio of two sourced numbers
    ("From `docs/run/out.json`: 24.92 dB.\n\n## Next\n\n24.92 again.", []),     # a child section sees its parent's
    ("# Top\n\n## A\n\n`docs/run/out.json`\n\n## B\n\n24.92 dB.", ["24.92"]),   # but not its sibling's
    ("Python 3.11, section 4.3, `python x.py --noise 0.37`: 24.92 from `docs/run/out.json`.", []),  # not numbers
    ("`docs/run/out.json`\n\n```python\n# a comment, not a heading\nx = f(0.37)\n```\n\n24.92 dB.", []),  # code
])
def test_the_check_finds_numbers_without_a_source(tiny_project, text, bad):
    tiny_project.write_text(text + "\n")
    assert [s for _, s in check_numbers.check_page(tiny_project, set())] == bad


def test_a_listed_number_passes_with_its_reason(tiny_project):
    tiny_project.write_text("The paper says 0.37.\n")
    assert check_numbers.check_page(tiny_project, set()) == [(1, "0.37")]
    assert check_numbers.check_page(tiny_project, {("docs/page.md", "0.37")}) == []


def test_a_listed_number_that_left_its_page_is_reported(tiny_project, monkeypatch):
    """A row of numbers_from_elsewhere.md whose number the page does not hold fails the check, so the list of
    exceptions shrinks with the text."""
    elsewhere = tiny_project.parent / "numbers_from_elsewhere.md"
    elsewhere.write_text("| page | number | why |\n|---|---|---|\n| docs/page.md | 0.37 | the paper |\n"
                         "| docs/page.md | 0.99 | a number since removed |\n")
    monkeypatch.setattr(check_numbers, "ELSEWHERE", elsewhere)
    monkeypatch.setattr(check_numbers, "pages", lambda: [tiny_project])
    tiny_project.write_text("The paper says 0.37.\n")
    assert check_numbers.check() == [("docs/numbers_from_elsewhere.md", 0, "0.99 (listed for docs/page.md)")]


def test_a_readme_beside_outputs_is_a_page_not_a_source(tiny_project):
    """A group's README is a note a person wrote: a number in it is no source for a page that names the folder, and
    its own numbers are checked like a page's."""
    outputs = tiny_project.parent / "outputs" / "run"
    outputs.mkdir(parents=True)
    (outputs / "out.json").write_text('{"psnr": 24.918}')
    (outputs / "README.md").write_text("Made by a command; 31.4 s by a stopwatch.\n")
    tiny_project.write_text("From `docs/outputs/run/`: 24.92 dB in 31.4 s.\n")
    assert [s for _, s in check_numbers.check_page(tiny_project, set())] == ["31.4"]
    assert outputs / "README.md" in check_numbers.pages()
    assert [s for _, s in check_numbers.check_page(outputs / "README.md", set())] == ["31.4"]
