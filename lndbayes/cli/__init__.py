"""The `lndbayes` command, all in this package: one module per subcommand.

The table below names every subcommand, its module and its one-line help, so ``lndbayes
--help`` imports none of them. Each module defines ``configure(command, parser)``, which adds
the options (help text on every one) and sets ``func``, a thin wrapper over the package API.
Only the module of the subcommand being run is imported, so quick commands (a no-op
``lndbayes report``) do not pay for importing PyMC, and each module imports what it runs at
its top.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lndbayes.errors import LndbayesError

#: subcommand -> (module that configures it, one-line help)
COMMANDS = {
    "simulate": ("lndbayes.cli.simulate", "write the built-in example organisation's raw files"),
    "ingest": ("lndbayes.cli.ingest", "validate and pseudonymise raw data; print the ledger"),
    "fit": ("lndbayes.cli.fit", "fit a hierarchical effect model to a CSV table"),
    "fit-summary": ("lndbayes.cli.fit", "meta-analyse team-level estimates from a CSV"),
    "forecast": ("lndbayes.cli.forecast", "forecast skill gaps per team x skill x quarter (P(gap), shortfall, programs)"),
    "report": ("lndbayes.cli.report",
               "write every program's impact report and reports/index.html (incremental)"),
    "design": ("lndbayes.cli.design", "randomise a population into treatment and control; write assignments.csv"),
    "assurance": ("lndbayes.cli.assurance", "probability that a planned study shows the program works"),
    "mediate": ("lndbayes.cli.mediate", "how much of an effect runs through learning and behaviour (mediation)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lndbayes",
        description="Estimate the business impact of training programs and write reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == only:
            importlib.import_module(module).configure(name, p)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(first).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LndbayesError as err:
        print(f"lndbayes {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lndbayes: interrupted; files already written are complete, nothing half-written was kept.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
