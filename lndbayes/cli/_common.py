"""Options and input/output shared by the subcommands (one wording, one behaviour).

Kept light (argparse, pathlib; pandas only inside :func:`read_csv`), because every subcommand
imports it and ``lndbayes --help`` should stay quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lndbayes.errors import ModelInputError

#: the sampler settings of the table-fitting commands (fit, fit-summary, mediate)
SAMPLER_DEFAULTS = {"seed": 0, "draws": 1000, "tune": 1000, "chains": 4}


def read_csv(path):
    """A user's CSV table; a missing or unreadable file is a ModelInputError naming it (exit 2)."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ModelInputError(f"{p}: file not found. Fix: give the path of a CSV table.")
    try:
        return pd.read_csv(p)
    except Exception as err:  # noqa: BLE001 -- any parse failure is the user's file
        raise ModelInputError(f"{p}: cannot read as CSV ({err}). Fix: save the table as CSV with a "
                              "header row.") from None


def sampler_options(p: argparse.ArgumentParser) -> None:
    """--seed, --draws, --tune, --chains (defaults :data:`SAMPLER_DEFAULTS`)."""
    p.add_argument("--seed", type=int, default=SAMPLER_DEFAULTS["seed"],
                   help="random seed: the same data and seed give the same numbers (default 0)")
    p.add_argument("--draws", type=int, default=SAMPLER_DEFAULTS["draws"],
                   help="posterior draws per chain after tuning (default 1000)")
    p.add_argument("--tune", type=int, default=SAMPLER_DEFAULTS["tune"],
                   help="tuning steps per chain, discarded (default 1000)")
    p.add_argument("--chains", type=int, default=SAMPLER_DEFAULTS["chains"],
                   help="independent chains; 4 lets R-hat catch a stuck chain (default 4)")


def sampler_settings(args) -> dict:
    """The sampler options of :func:`sampler_options` as keyword arguments."""
    return {k: getattr(args, k) for k in SAMPLER_DEFAULTS}


def data_root_option(p: argparse.ArgumentParser, *, used: str = "") -> None:
    """--data: the data root holding raw/ (``used``: when it is read, appended to the help)."""
    p.add_argument("--data", type=Path, default=None,
                   help="data root holding raw/ (default: data/ if data/raw/programs.yaml exists, "
                        "else the example organisation data/synthetic, simulated when missing)"
                        + (f"; {used}" if used else ""))


def names(text: str | None) -> list[str]:
    """A comma-separated list of names (columns, strata), blanks dropped: "a, b,," -> [a, b]."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def ints(text: str) -> list[int]:
    """argparse type: a comma-separated list of whole numbers (50,100,200)."""
    try:
        return [int(float(v)) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers "
                                         "(e.g. 50,100,200)") from None


def floats(text: str) -> list[float]:
    """argparse type: a comma-separated list of numbers (6,12)."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers "
                                         "(e.g. 6,12)") from None


def written(path) -> None:
    """The closing line of a command that writes a file."""
    print(f"written: {path}")
