"""`lndbayes simulate`: write the built-in example organisation's raw files and truth.json."""

from __future__ import annotations

import time
from pathlib import Path

from lndbayes.data.pseudonym import ensure_example_key
from lndbayes.example import simulate_org
from lndbayes.example.simulate import PRESETS
from lndbayes.paths import EXAMPLE_ROOT


def configure(command: str, p) -> None:
    p.description = ("Simulate the example organisation: the raw files a user would provide (HRIS, "
                     "KPIs, xAPI statements, programs.yaml) and truth.json, the effects they were "
                     "drawn from. The same seed writes byte-identical files.")
    p.add_argument("--out", type=Path, default=None,
                   help=f"the raw/ folder to write (default: {EXAMPLE_ROOT / 'raw'}); truth.json goes beside it")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default: 0)")
    p.add_argument("--preset", choices=list(PRESETS), default="default",
                   help="default: 2,000 employees and the five example programs; large: 20,000 employees "
                        "and 100 generated programs with three outcomes each, to measure scaling "
                        "(docs/example-organisation.md)")
    p.add_argument("--employees", type=int, default=None,
                   help="head count on 2024-01-01 (default: the preset's, 2000 or 20000)")
    p.add_argument("--programs", type=int, default=None, metavar="N",
                   help="large preset only: number of generated programs (default 100); the first N "
                        "programs are the same whatever N")
    p.set_defaults(func=_run)


def _run(args) -> int:
    out = args.out if args.out is not None else EXAMPLE_ROOT / "raw"
    if args.programs is not None and args.preset != "large":
        print("--programs is for --preset large (the default preset has its five programs)")
        return 2
    t0 = time.perf_counter()
    simulate_org(out, seed=args.seed, n_employees=args.employees, preset=args.preset, n_programs=args.programs)
    if Path(out).name == "raw":          # a data root: simulated people get the seed's key
        ensure_example_key(Path(out).parent, args.seed)
    n = PRESETS[args.preset] if args.employees is None else args.employees
    extra = "" if args.preset == "default" else f", preset {args.preset}"
    print(f"wrote the example organisation to {out} (seed {args.seed}, "
          f"{n} employees{extra}) in {time.perf_counter() - t0:.1f} s; truth: {Path(out).parent / 'truth.json'}")
    return 0
