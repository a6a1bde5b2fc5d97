"""`lndbayes simulate`: write the built-in example organisation's raw files and truth.json."""

from __future__ import annotations

import time
from pathlib import Path

from lndbayes.example import simulate_org
from lndbayes.paths import EXAMPLE_ROOT


def configure(command: str, p) -> None:
    p.description = ("Simulate the example organisation: the raw files a user would provide (HRIS, "
                     "KPIs, xAPI statements, programs.yaml) and truth.json, the effects they were "
                     "drawn from. The same seed writes byte-identical files.")
    p.add_argument("--out", type=Path, default=None,
                   help=f"the raw/ folder to write (default: {EXAMPLE_ROOT / 'raw'}); truth.json goes beside it")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default: 0)")
    p.add_argument("--employees", type=int, default=2000, help="head count on 2024-01-01 (default: 2000)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    out = args.out if args.out is not None else EXAMPLE_ROOT / "raw"
    t0 = time.perf_counter()
    simulate_org(out, seed=args.seed, n_employees=args.employees)
    print(f"wrote the example organisation to {out} (seed {args.seed}, "
          f"{args.employees} employees) in {time.perf_counter() - t0:.1f} s; truth: {Path(out).parent / 'truth.json'}")
    return 0
