"""`lndbayes report`: write every program's impact report and reports/index.html (incremental)."""

from __future__ import annotations

import sys

from pathlib import Path

from lndbayes.paths import REPORTS_DIR, default_data_root
from lndbayes.report.process_env import DEFAULT_JOBS
from lndbayes.report.stamps import Settings


def _default(text: str) -> str:
    return f"{text} (default %(default)s)"


def configure(command: str, p) -> None:
    p.description = ("Run the report notebook of each program (only those whose inputs changed) "
                     "and write reports/<program>/ and reports/index.html. Ctrl-C stops the run at "
                     "any moment and keeps the previous complete reports.")
    p.add_argument("--program", action="append", metavar="ID",
                   help="only this program (repeatable); default: every program")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="data root holding raw/ (default: data/ or the example organisation)")
    p.add_argument("--out", metavar="DIR", default=str(REPORTS_DIR), help=_default("output folder"))
    p.add_argument("--jobs", "-j", type=int, default=DEFAULT_JOBS, metavar="N",
                   help=_default("programs built in parallel worker processes"))
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the builds on this Dask cluster (tcp://host:8786 or a scheduler file; "
                        "docs/scaling.md)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run the builds on a local Dask cluster of N one-thread workers")
    p.add_argument("--force", action="store_true",
                   help="re-run the selected programs even when nothing they depend on changed")
    p.add_argument("--draws", type=int, default=Settings.draws, help=_default("posterior draws per chain"))
    p.add_argument("--tune", type=int, default=Settings.tune, help=_default("tuning steps per chain of the "
                                                                          "program outcome fits"))
    p.add_argument("--skill-tune", type=int, default=None, metavar="N",
                   help="tuning steps per chain of the skill-gap forecast and backtest "
                        "(default: the skill model's 500)")
    p.add_argument("--chains", type=int, default=Settings.chains, help=_default("chains"))
    p.add_argument("--seed", type=int, default=Settings.seed, help=_default("random seed"))
    p.set_defaults(func=_run)


def _start_workers_early(args) -> bool:
    """Start the report workers' fork server now, before this process imports the runner
    (pandas, the data layer: ~1.3 s on the 2-core VM), when the raw data changed since their
    last ingest: such a run ingests and builds reports, and the server's imports (~3.5 s of a
    core) then overlap this process's imports as well as the ingestion. Otherwise the runner
    starts it when it needs workers, as before; on Dask (--workers, --scheduler) none is used."""
    if args.scheduler or args.workers:
        return False
    from lndbayes.data.raw_state import raw_changed_since_ingest
    from lndbayes.report import worker_server
    from lndbayes.report.process_env import worker_env

    root = Path(args.data).resolve() if args.data else default_data_root()
    if not raw_changed_since_ingest(root):
        return False
    with worker_env():
        worker_server.launch()
    return True


def _run(args) -> int:
    settings = Settings(seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains,
                        skill_tune=args.skill_tune)
    _start_workers_early(args)
    from lndbayes.report.runner import run_reports

    summary = run_reports(data_root=args.data, out_dir=args.out, programs=args.program,
                          jobs=args.jobs, force=args.force, settings=settings,
                          scheduler=args.scheduler, workers=args.workers)
    print()
    print(summary.table())
    if summary.index:
        print(f"\nIndex: {summary.index}" + ("" if summary.index_rebuilt else " (up to date)"))
    print(f"Finished in {summary.seconds:.1f} s.")
    if summary.failed:
        print(f"{len(summary.failed)} program(s) failed; see the reasons above and reports/index.html.",
              file=sys.stderr)
    return summary.exit_code
