"""`lndbayes design`: randomise a population into treatment and control and write the
assignment file (the assignments.csv contract) and its balance table.

Either a programs.yaml program's population (``--program ID``, from ``--data``) or any table of
people (``--people FILE --program ID``). Same seed and same people give a byte-identical file.
Exit status 2 for bad input (the message names the file or column and the fix).
"""

from __future__ import annotations

from pathlib import Path

from lndbayes.cli._common import data_root_option, names
from lndbayes.planning.assignment import design_experiment


def configure(command: str, p) -> None:
    p.description = __doc__
    p.add_argument("--program", required=True,
                   help="program id: a program of programs.yaml (its population is split), or, with "
                        "--people, the id written in the file")
    p.add_argument("--people", type=Path, default=None,
                   help="CSV with one row per person (id and team columns, any attributes); "
                        "default: the program's population from --data")
    data_root_option(p, used="used without --people")
    p.add_argument("--unit", choices=("employee", "team"), default=None,
                   help="'employee': people randomised within teams (stratified); 'team': whole teams "
                        "randomised (cluster design). Default: the program's design.unit, or employee")
    p.add_argument("--strata", default="",
                   help="extra stratification columns, comma-separated (e.g. department,role); "
                        "with --unit team they are team attributes (a team takes its most common value)")
    p.add_argument("--balance-on", default=None,
                   help="attributes compared in the balance table, comma-separated (default: "
                        "department, role, level, tenure_years where present, and the strata)")
    p.add_argument("--id-column", default="employee_id",
                   help="the people table's id column (default: employee_id)")
    p.add_argument("--team-column", default="team", help="the people table's team column (default: team)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the randomisation: the same seed and people give the same file (default 0)")
    p.add_argument("--start-date", default=None,
                   help="start date written in the file, YYYY-MM-DD (default: the program's design.start; "
                        "with --people: empty); also the day the population must be employed on")
    p.add_argument("--out", type=Path, required=True,
                   help="assignment file to write (CSV, the assignments.csv contract); the balance "
                        "table goes beside it as <name>_balance.csv")
    p.add_argument("--balance-out", type=Path, default=None,
                   help="where to write the balance table instead (CSV)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    balance_on = names(args.balance_on) if args.balance_on is not None else None
    kw = dict(program=args.program, unit=args.unit, strata=names(args.strata),
              balance_on=balance_on, seed=args.seed, start_date=args.start_date)
    if args.people is not None:
        res = design_experiment(args.people, id_column=args.id_column,
                                team_column=args.team_column, **kw)
    else:
        res = design_experiment(org=args.data, **kw)
    path, bpath = res.write(args.out, args.balance_out)
    print(res.summary())
    print(f"written: {path} (assignments) and {bpath} (balance)")
    return 0
