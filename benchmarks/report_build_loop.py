"""Program reports built again and again in one warm process: CPU seconds a build.

    LNDBAYES_CACHE=DIR .venv/bin/python benchmarks/report_build_loop.py --data DIR --programs p1,p2 [--reps 2]

Calls :func:`lndbayes.report.build.build_task` (what a report worker runs) for each program,
``--reps`` times, into throw-away folders, freezing the garbage collector after the first build
as the worker does, and prints CPU and wall seconds a build. Point ``LNDBAYES_CACHE`` at a copy
of a filled cache without ``figures/`` and ``monitoring/`` to see what a first run's reports
cost beyond their fits. Results: benchmarks/results/report_overhead.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="organisation folder")
    ap.add_argument("--programs", required=True, help="comma-separated program ids")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args(argv)
    from lndbayes.report.build import build_task, freeze_long_lived
    from lndbayes.report.stamps import Settings

    settings = Settings().as_params()
    for rep in range(args.reps):
        for i, program in enumerate(args.programs.split(",")):
            tmp = tempfile.mkdtemp(prefix=f"lndbayes-build-{program}-")
            c0, w0 = time.process_time(), time.perf_counter()
            st = build_task({"program": program, "data_root": args.data, "tmp": tmp,
                             "settings": settings, "stamp": "bench"})
            print(f"rep {rep} {program}: {st['status']} cpu {time.process_time() - c0:.2f} "
                  f"wall {time.perf_counter() - w0:.2f} {st.get('reason') or ''}", flush=True)
            if rep == 0 and i == 0:
                freeze_long_lived()


if __name__ == "__main__":
    main()
