"""Every command-line flag of every script says what it does, its choices and its default; no default output lands on a
committed file; the corruption flags keep one name per meaning (in-process: each script's parser is caught as its
main() parses, nothing runs)."""

import argparse
import importlib
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))

TOP_LEVEL = ["train", "sample", "impute", "denoise", "data", "classifier", "fast", "kernels.bench"]
HELPERS = {"paths", "flags", "loading", "metrics", "drawing", "outputs"}  # experiments/ modules without a command line
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem not in HELPERS)
IGNORED = [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip()]


class Caught(Exception):
    """Raised in place of parsing: carries the parser a script built."""


def parser_of(name, monkeypatch):
    """The argparse parser that `name`'s main() builds, caught when main() asks it to parse."""
    module = importlib.import_module(name)

    def catch(self, args=None, namespace=None):
        raise Caught(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(Caught) as caught:
        module.main([])
    return caught.value.args[0]


def parsers(ap, label):
    """(label, parser) for a parser and each of its sub-commands (data.py download / check / pack)."""
    yield label, ap
    for action in ap._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{label} {sub_name}")


def problems(ap):
    """What is missing from the help of each argument of one parser: [(flag, what), ...]."""
    found = []
    formatter = ap._get_formatter()
    for action in ap._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = "/".join(action.option_strings) or action.dest
        if isinstance(action, argparse._SubParsersAction):
            found += [(f"{flag} {c.dest}", "no help") for c in action._choices_actions if not c.help]
            continue
        text = formatter._expand_help(action) if action.help else ""
        # what it does: words beyond a bare "(default: ...)"
        if len(re.sub(r"\(?default:?[^)]*\)?", "", text).split()) < 2:
            found.append((flag, f"help says nothing but {text!r}"))
        takes_value = action.option_strings and action.nargs != 0
        if takes_value and not action.required and action.default not in (None, argparse.SUPPRESS) \
                and "default" not in text:
            found.append((flag, f"help does not give the default {action.default!r}"))
        if action.choices:
            shown = formatter._format_action_invocation(action) + " " + text
            missing = [str(c) for c in action.choices if str(c) not in shown]
            if missing:
                found.append((flag, f"choices {missing} not listed"))
    return found


@pytest.mark.parametrize("name", TOP_LEVEL + EXPERIMENTS)
def test_every_flag_says_what_it_does_with_its_choices_and_default(name, monkeypatch):
    ap = parser_of(name, monkeypatch)
    for label, p in parsers(ap, name):
        assert p.format_help()  # a stray % in a help string fails here
        assert problems(p) == [], label


def test_the_help_check_can_fail():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=int, default=3, help="default: 3")
    ap.add_argument("--b", choices=("x", "y"), metavar="B", default="x", help="which one (default: x)")
    ap.add_argument("--c", type=float, default=0.5, help="a level of something")
    assert [flag for flag, _ in problems(ap)] == ["--a", "--b", "--c"]


@pytest.mark.parametrize("name", TOP_LEVEL + EXPERIMENTS)
def test_no_default_output_is_a_committed_file(name, monkeypatch):
    """Run with its defaults, a script writes only under a git-ignored folder (results/, runs/, samples/); a committed
    page is rewritten only when its path is given."""
    ap = parser_of(name, monkeypatch)
    for label, p in parsers(ap, name):
        for action in p._actions:
            if action.dest in ("out", "table") and isinstance(action.default, str) \
                    and action.default != argparse.SUPPRESS:
                path = Path(action.default)
                path = path.relative_to(ROOT) if path.is_absolute() else path
                assert path.parts[0] in IGNORED, f"{label} --{action.dest} defaults to {path}"


def test_corruption_flags_have_one_name_per_meaning():
    import fig1_matched_timestep
    import fig6_imputation
    import fig7_denoising_probabilistic
    import flags

    def parse(module, *argv):
        return flags.figure_parser(module.__doc__, module.DEFAULTS).parse_args(list(argv))

    # Figs. 1-5: --noise, the fraction of the chain's noise
    assert parse(fig1_matched_timestep, "--noise", "0.4").noise == 0.4
    # Fig. 6: --missing, a fraction of pixels removed; Fig. 7: --sigma, an additive noise level; --noise stays
    # accepted for both, so no command breaks
    for module, dest in ((fig6_imputation, "missing"), (fig7_denoising_probabilistic, "sigma")):
        default = parse(module)
        assert getattr(default, dest) == module.DEFAULTS[dest] and not hasattr(default, "noise")
        assert getattr(parse(module, f"--{dest}", "0.4"), dest) == 0.4
        assert getattr(parse(module, "--noise", "0.2"), dest) == 0.2
        assert "old spelling" in flags.figure_parser(module.__doc__, module.DEFAULTS).format_help()
    with pytest.raises(SystemExit):
        parse(fig1_matched_timestep, "--missing", "0.5")  # not a flag of a noise figure
