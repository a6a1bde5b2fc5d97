"""lndbayes against what a user would otherwise pick, on the same rows in the same run.

    .venv/bin/python benchmarks/bench_peers.py [--sizes 10000 100000 1000000] [--quick]
    .venv/bin/python benchmarks/bench_peers.py --report-only     # rewrite results.md from the JSON

The data: ``y = alpha_team + (2 + effect_team) x treated + noise`` (200 teams, team intercept
sd 6, team effect sd 1, residual sd 15, randomized 50/50; ``bench_models.simulate``), written
once per size to benchmarks/_work/peers/rows_<n>.parquet and read by every contender. Each
contender runs in a fresh Python process (``--child``), so its time includes whatever it
compiles and its peak RSS is its own:

- ``lndbayes_cold``: ``fit_effects`` (sufficient statistics, nutpie, diagnostics and retry) with
  empty compile caches (PyTensor's and lndbayes' own, in new temporary folders): a new machine.
- ``lndbayes_warm``: a new process on a machine that has compiled this model structure before
  (compile folders filled once by a small fit in another process); then ``--refits`` new datasets of the same shape in that
  process (the compiled model reused in memory).
- ``mixedlm``: statsmodels MixedLM (REML, random intercept and slope per team): point
  estimate and standard error only.
- ``plain_pymc``: the same hierarchical model written plainly in PyMC on individual rows,
  PyMC's NUTS (``bench_models.plain_pymc``).
- ``bambi``: ``y ~ treated + (treated | team)`` with Bambi's default priors and sampler (PyMC).

Plain PyMC and Bambi get fewer draws above ``--full-max`` rows (they are slow; ESS per second
is what is compared, and it is printed next to the draws used). Times are wall-clock seconds;
CPU seconds (user + system, the process and its sampler subprocesses) are given next to them
because the machine may be shared. Writes benchmarks/results/peers.json and benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "peers"
RESULTS = HERE / "results"
CONTENDERS = ("lndbayes_cold", "lndbayes_warm", "mixedlm", "plain_pymc", "bambi")
ESS_VAR = {"plain_pymc": "effect_mean", "bambi": "treated"}


# ----------------------------------------------------------------------------- helpers
def _cpu() -> float:
    """User + system seconds of this process and of its finished children (PyMC's sampler
    processes)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _peak_mb() -> tuple[float, float]:
    """Peak RSS (MB) of this process and of its largest child (Linux: ru_maxrss in KB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def data_file(n: int) -> Path:
    """The rows every contender reads (simulated once per size, seed = n)."""
    path = WORK / f"rows_{n}.parquet"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        from bench_models import simulate

        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        simulate(n, seed=n).to_parquet(tmp, index=False)
        tmp.replace(path)
    return path


def _bulk_ess(idata, var: str) -> float:
    import arviz as az

    return float(az.ess(idata, var_names=[var], method="bulk")[var].values)


# ----------------------------------------------------------------------------- contenders
def _lndbayes(df, args) -> dict:
    """First fit, then refits on new data of the same shape in this process."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_models import lndbayes_fit, simulate

    from lndbayes.inference.sampling import compile_log

    row = _timed(lambda: lndbayes_fit(df, 1, args.draws, args.tune))
    row["compile"] = compile_log()
    if args.contender == "lndbayes_warm" and args.refits:
        refits = []
        for k in range(1, args.refits + 1):
            new = simulate(args.n, seed=args.n + k)
            refits.append(_timed(lambda: lndbayes_fit(new, 1 + k, args.draws, args.tune)))
        row["refits"] = refits
        row["refit_seconds_median"] = float(np.median([r["seconds"] for r in refits]))
        row["refit_ess_per_s_median"] = float(np.median([r["ess_per_s"] for r in refits]))
    return row


def _timed(fn) -> dict:
    t0, c0 = time.perf_counter(), _cpu()
    out = fn()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    out.update(seconds=wall, cpu_seconds=cpu)
    if "ess" in out:
        out["ess_per_s"] = out["ess"] / wall
    return out


def _mixedlm(df, args) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_models import mixedlm

    return _timed(lambda: mixedlm(df))


def _plain_pymc(df, args) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_models import plain_pymc

    draws, tune = _peer_draws(args)
    return _timed(lambda: plain_pymc(df, draws, tune, 3))


def _bambi(df, args) -> dict:
    import warnings

    import bambi as bmb

    draws, tune = _peer_draws(args)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bmb.Model("y ~ treated + (treated | team)", df)
            idata = model.fit(draws=draws, tune=tune, chains=4, cores=2, random_seed=3,
                              progressbar=False, compute_convergence_checks=False)
        return {"ess": _bulk_ess(idata, "treated"),
                "effect_mean": float(idata.posterior["treated"].mean()),
                "draws": draws, "tune": tune, "bambi": bmb.__version__}

    return _timed(fit)


def _peer_draws(args) -> tuple[int, int]:
    full = args.n <= args.full_max
    return (args.draws, args.tune) if full else (args.peer_draws, args.peer_draws)


RUNNERS = {"lndbayes_cold": _lndbayes, "lndbayes_warm": _lndbayes, "mixedlm": _mixedlm,
           "plain_pymc": _plain_pymc, "bambi": _bambi}


def child(args) -> None:
    """One contender in this fresh process: imports, reading the rows, the fit; one JSON line."""
    t0 = time.perf_counter()
    import numpy as np  # noqa: F401
    import pandas as pd

    if args.contender.startswith("lndbayes"):
        import lndbayes  # noqa: F401
        import nutpie  # noqa: F401
        import pymc  # noqa: F401
    elif args.contender == "mixedlm":
        import statsmodels.formula.api  # noqa: F401
    elif args.contender == "bambi":
        import bambi  # noqa: F401
    else:
        import pymc  # noqa: F401
    imports = time.perf_counter() - t0
    rss_imports = _peak_mb()[0]
    t0 = time.perf_counter()
    df = pd.read_parquet(data_file(args.n))
    read = time.perf_counter() - t0
    row = RUNNERS[args.contender](df, args)
    if args.contender.startswith("lndbayes"):
        row["collapse"] = _collapse_rate(df)
    peak, peak_child = _peak_mb()
    row.update(contender=args.contender, n=args.n, import_seconds=imports, read_seconds=read,
               rows_read_per_s=args.n / read, rss_after_imports_mb=rss_imports,
               peak_rss_mb=peak, peak_rss_child_mb=peak_child)
    print(json.dumps(row, default=str))


def _collapse_rate(df) -> dict:
    """lndbayes' own ingestion of the rows into the model: the design matrix and the exact
    sufficient statistics (what the fit does before any sampling)."""
    from lndbayes.design.matrix import Columns, build_design_matrix
    from lndbayes.models.sufficient import collapse

    t0 = time.perf_counter()
    m = build_design_matrix(df, Columns(outcome="y", treatment="treated", group="team"),
                            "normal", "randomized")
    cells = collapse("normal", m.rows)
    s = time.perf_counter() - t0
    return {"seconds": s, "rows_per_s": len(df) / s, "cells": int(len(cells["c_team"]))}


# ----------------------------------------------------------------------------- driver
def run_child(contender: str, n: int, args, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", contender, "--n", str(n), "--draws",
           str(args.draws), "--tune", str(args.tune), "--peer-draws", str(args.peer_draws),
           "--full-max", str(args.full_max), "--refits", str(args.refits)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"contender": contender, "n": n, "error": f"timed out after {args.timeout} s",
                "load_avg_before": load}
    if out.returncode:
        return {"contender": contender, "n": n, "load_avg_before": load,
                "error": f"exit {out.returncode}: {out.stderr.strip()[-600:]}"}
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row.update(load_avg_before=load, load_avg_after=os.getloadavg()[0],
               process_seconds=time.perf_counter() - t0,
               utc=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
    return row


def _env(contender: str, args) -> dict:
    """The cold run gets empty PyTensor and lndbayes compile folders (a new machine); the warm
    run folders where this model structure was compiled before (by a small fit in its own
    process, done once per folder: the compiled model does not depend on the number of rows)."""
    if not contender.startswith("lndbayes"):
        return dict(os.environ)
    WORK.mkdir(parents=True, exist_ok=True)
    caches = (Path(tempfile.mkdtemp(prefix="cold_", dir=WORK)) if contender == "lndbayes_cold"
              else WORK / "warm_caches")
    env = dict(os.environ, LNDBAYES_COMPILE_CACHE=str(caches / "lndbayes"),
               PYTENSOR_FLAGS=f"base_compiledir={caches / 'pytensor'}")
    if contender == "lndbayes_warm" and not (caches / "ready").exists():
        print("   compiling the model structure once for the warm runs ...", flush=True)
        subprocess.run([sys.executable, __file__, "--child", "lndbayes_cold", "--n", "20000",
                        "--draws", "100", "--tune", "100", "--refits", "0"],
                       env=env, check=True, capture_output=True)
        (caches / "ready").touch()
    return env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=CONTENDERS, dest="contender", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--full-max", type=int, default=10_000,
                    help="largest size at which plain PyMC and Bambi get --draws/--tune")
    ap.add_argument("--peer-draws", type=int, default=200,
                    help="draws and tuning steps of plain PyMC and Bambi above --full-max")
    ap.add_argument("--refits", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per contender and size")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 5,000 and 20,000 rows, 200 draws (minutes, not figures)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--json", type=Path, default=RESULTS / "peers.json",
                    help="where this run's figures go (another file lets two runs go at once)")
    ap.add_argument("--combine", type=Path, nargs="+", default=[],
                    help="with --report-only: rows of these files replace those of --json")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of results/peers.json that this run does not redo (each "
                         "row says when it ran)")
    args = ap.parse_args()
    if args.contender:
        child(args)
        return
    if args.report_only:
        import bench_peers_report

        meta = json.loads(args.json.read_text())
        for other in args.combine:
            more = json.loads(other.read_text())
            redo = {(r["contender"], r["n"]) for r in more["rows"]}
            meta["rows"] = [r for r in meta["rows"] if (r["contender"], r["n"]) not in redo]
            meta["rows"] += more["rows"]
            meta["command"] += " ; then " + more["command"]
            meta["started_utc"] += " (with " + more["started_utc"] + ")"
        args.json.write_text(json.dumps(meta, indent=1, default=str))
        bench_peers_report.write(meta)
        return
    if args.quick:
        args.sizes, args.draws, args.tune, args.peer_draws, args.refits = [5000, 20000], 200, 200, 100, 1
    started = time.perf_counter()
    meta = {"machine": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "command": "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:]),
            "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "draws": args.draws, "tune": args.tune, "peer_draws": args.peer_draws,
            "full_max": args.full_max, "chains": 4, "rows": []}
    if args.merge and args.json.exists():
        old = json.loads(args.json.read_text())
        redo = {(c, n) for c in args.only for n in args.sizes}
        meta["rows"] = [r for r in old["rows"] if (r["contender"], r["n"]) not in redo]
        meta["command"] = old["command"] + " ; then " + meta["command"]
        meta["started_utc"] = old["started_utc"] + " (merged with " + meta["started_utc"] + ")"
    for n in args.sizes:
        t0 = time.perf_counter()
        data_file(n)
        print(f"n={n:,}: data ready ({time.perf_counter() - t0:.1f} s)", flush=True)
        for c in args.only:
            print(f"n={n:,}: {c} ...", flush=True)
            row = run_child(c, n, args, _env(c, args))
            meta["rows"].append(row)
            brief = row.get("error") or (f"{row['seconds']:.1f} s, CPU {row['cpu_seconds']:.1f} s, "
                                         f"peak {row['peak_rss_mb']:.0f} MB")
            print(f"n={n:,}: {c}: {brief} (load {row['load_avg_before']:.1f})", flush=True)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(meta, indent=1, default=str))
    meta["total_seconds"] = time.perf_counter() - started
    args.json.write_text(json.dumps(meta, indent=1, default=str))
    sys.path.insert(0, str(HERE))
    import bench_peers_report

    print(bench_peers_report.write(meta))


if __name__ == "__main__":
    main()
