"""The `lndbayes` command, all in this package: one module per subcommand.

Each module ``lndbayes.cli.<name>`` defines ``register(subparsers)``, which adds its parser
(help text on every option) and sets ``func``, a thin wrapper over the package API. Only the
module of the subcommand being run is imported, so that quick commands (a no-op
``lndbayes report``) do not pay for importing PyMC.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lndbayes.errors import LndbayesError

#: subcommand -> module that registers it
COMMANDS = {
    "simulate": "lndbayes.cli.simulate",
    "ingest": "lndbayes.cli.ingest",
    "fit": "lndbayes.cli.fit",
    "fit-summary": "lndbayes.cli.fit",
    "report": "lndbayes.cli.report",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lndbayes",
        description="Estimate the business impact of training programs and write reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(sub)
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
