"""The `lndbayes` command. Each subcommand is a thin wrapper over the package API."""

from __future__ import annotations

import argparse
import sys

from lndbayes.errors import LndbayesError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lndbayes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Subcommands are registered by the modules that own them (see _register_* below).
    for register in _REGISTRARS:
        register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LndbayesError as err:
        print(f"lndbayes {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


_REGISTRARS: list = []

if __name__ == "__main__":
    sys.exit(main())
