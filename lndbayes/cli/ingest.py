"""`lndbayes ingest`: validate and pseudonymise the raw data, print the ledger."""

from __future__ import annotations

from lndbayes import paths
from lndbayes.cli._common import data_root_option
from lndbayes.data.org import load_org
from lndbayes.data.processed import format_ledger


def configure(command: str, p) -> None:
    p.description = ("Read <root>/raw, validate it against the data contract (docs/data-contract.md), "
                     "write <root>/processed and <root>/interim/rejected, and print the ledger: per "
                     "table and source file, rows read = accepted + rejected. Always re-ingests.")
    data_root_option(p)
    p.add_argument("--seed", type=int, default=None,
                   help="seed for simulating the example organisation when it is missing (default: 0)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    org = load_org(args.data, refresh=True, seed=args.seed, progress=False)
    print(f"data root: {org.root}")
    print(format_ledger(org.ledger))
    rej = paths.rejected_dir(org.root)
    if len(org.ledger) and org.ledger["rows_rejected"].sum():
        print(f"rejected rows (with reasons): {rej}/")
    for w in org.meta.get("warnings", []):
        print(f"note: {w}")
    return 0
