"""The `lndbayes` command: one place (lndbayes.cli), help on every option, light to start."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lndbayes.cli import COMMANDS, build_parser, main


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_has_help(name):
    p = _subparser(name)
    options = [a for a in p._actions if a.dest != "help"]
    assert options, f"lndbayes {name} was not configured"
    undocumented = [a.dest for a in options if not (a.help or "").strip()]
    assert undocumented == [], f"lndbayes {name}: options without help: {undocumented}"
    assert p.get_default("func") is not None


def test_top_level_help_imports_no_command_module():
    # `lndbayes --help` lists the commands from the table alone: neither PyMC nor any command
    # module is imported to print it
    code = ("import sys; from lndbayes.cli import build_parser; build_parser(None); "
            "print(sorted(m for m in sys.modules if m in ('pymc', 'duckdb', 'papermill') "
            "or m.startswith('lndbayes.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text
