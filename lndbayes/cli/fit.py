"""`lndbayes fit` and `lndbayes fit-summary`: fit a model to a CSV table, write the result JSON.

Exit status: 0 when the fit converged, 1 when it did not (the JSON is written either way, with
``converged: false``), 2 for bad input (the message names the file or column and the fix).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lndbayes.atomic import write_text
from lndbayes.cli._common import read_csv, sampler_options, sampler_settings, written
from lndbayes.errors import ModelInputError
from lndbayes.fitting import fit_effects, fit_effects_summary
from lndbayes.models.families import FAMILIES, get_family

def _write(res, out) -> int:
    out = Path(out)
    write_text(out, json.dumps(res.to_dict(), indent=1))
    print(res.summary().drop(columns=["converged"]).to_string(index=False))
    written(out)
    return 0 if res.converged else 1


def _family(name: str) -> str:
    """--family: a registered family or one of its aliases (e.g. bernoulli), as its name."""
    try:
        return get_family(name).name
    except ModelInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _cmd_fit(args) -> int:
    res = fit_effects(read_csv(args.data), outcome=args.outcome, treatment=args.treatment,
                      group=args.group, baseline=args.baseline, family=args.family,
                      program=args.program, **sampler_settings(args))
    return _write(res, args.out)


def _cmd_fit_summary(args) -> int:
    res = fit_effects_summary(read_csv(args.data), estimate=args.estimate,
                              std_error=args.std_error, group=args.group, **sampler_settings(args))
    return _write(res, args.out)


def configure(command: str, p) -> None:
    p.description = __doc__
    if command == "fit-summary":
        _configure_summary(p)
        return
    p.add_argument("--data", required=True, help="CSV table, one row per unit")
    p.add_argument("--outcome", required=True, help="column holding the outcome (the KPI)")
    p.add_argument("--treatment", required=True,
                   help="0/1 column: 1 = in the program, 0 = control")
    p.add_argument("--group", default=None,
                   help="team column, for team effects pooled across teams (omit: one "
                        "population-wide effect)")
    p.add_argument("--baseline", default=None,
                   help="column with the outcome before the program, adjusted for (optional)")
    p.add_argument("--program", default=None,
                   help="program column: fit several programs at once (program x team effects)")
    p.add_argument("--family", default="normal", type=_family, metavar="FAMILY",
                   help="outcome family, sets the likelihood and link: "
                        f"{', '.join(FAMILIES)} (default normal)")
    sampler_options(p)
    p.add_argument("--out", required=True, help="result JSON path (written atomically)")
    p.set_defaults(func=_cmd_fit)


def _configure_summary(q) -> None:
    q.add_argument("--data", required=True, help="CSV table, one row per team")
    q.add_argument("--estimate", required=True, help="column holding each team's effect estimate")
    q.add_argument("--std-error", required=True, dest="std_error",
                   help="column holding the standard error of each estimate (positive)")
    q.add_argument("--group", required=True, help="team column (each team once)")
    sampler_options(q)
    q.add_argument("--out", required=True, help="result JSON path (written atomically)")
    q.set_defaults(func=_cmd_fit_summary)
