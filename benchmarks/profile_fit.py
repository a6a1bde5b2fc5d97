"""Where one lndbayes fit's time goes, stage by stage (wall and process CPU seconds).

    .venv/bin/python benchmarks/profile_fit.py [--n 1000000] [--reps 2]

The first rep in a fresh process includes compiling (or loading from the disk cache) the model;
later reps are refits on new data of the same shape. Point ``LNDBAYES_COMPILE_CACHE`` and
``PYTENSOR_FLAGS=base_compiledir=...`` at empty folders to time a new machine. The data are
bench_models.simulate's (200 teams, randomized). CPU seconds count every thread of the process
(nutpie samples 4 chains on 2 threads), so they can exceed wall time on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = [  # (module, function, label): nested stages are indented
    ("lndbayes.fitting", "build_design_matrix", "design matrix"),
    ("lndbayes.fitting", "centring_for", "centring choice"),
    ("lndbayes.fitting", "collapse_rows", "sufficient statistics"),
    ("lndbayes.inference.sampling", "_compile", "compile or load the model"),
    ("lndbayes.inference.compiled", "_make_functions", "  PyTensor graph, gradient, rewrites"),
    ("lndbayes.inference.compiled", "_callback", "  Numba callbacks (compile or load)"),
    ("nutpie", "sample", "sampling (nutpie)"),
    ("lndbayes.inference.sampling", "diagnose", "diagnostics (R-hat, ESS, E-BFMI)"),
    ("lndbayes.fitting", "build_result", "estimands and result"),
    ("lndbayes.estimands", "predictive_checks", "  predictive checks"),
]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import importlib

    import lndbayes as lb
    from bench_models import simulate

    print(f"imports {time.perf_counter() - t0:.2f} s")
    times: dict = {}

    def wrap(mod, name, label):
        f = getattr(mod, name)

        def timed(*a, **k):
            t, c = time.perf_counter(), _cpu()
            try:
                return f(*a, **k)
            finally:
                w = times.setdefault(label, [0.0, 0.0, 0])
                w[0] += time.perf_counter() - t
                w[1] += _cpu() - c
                w[2] += 1

        setattr(mod, name, timed)

    for mod, name, label in STAGES:
        wrap(importlib.import_module(mod), name, label)
    for rep in range(args.reps):
        df = simulate(args.n, seed=args.n + rep)
        times.clear()
        t, c = time.perf_counter(), _cpu()
        res = lb.fit_effects(df, outcome="y", treatment="treated", group="team",
                             family="normal", seed=1 + rep, draws=1000, tune=1000, chains=4,
                             cache=False)
        wall, cpu = time.perf_counter() - t, _cpu() - c
        steps = float(res.idata["sample_stats"]["n_steps"].mean())
        print(f"\n{'first fit' if rep == 0 else 'refit'} at {args.n:,} rows: wall {wall:.2f} s, "
              f"CPU {cpu:.2f} s, load {os.getloadavg()[0]:.1f}, retries "
              f"{res.diagnostics().get('retries')}, leapfrog steps per draw {steps:.1f}")
        print("| stage | wall (s) | CPU (s) | calls |\n|---|---|---|---|")
        for label, (w, cc, m) in times.items():
            print(f"| {label} | {w:.2f} | {cc:.2f} | {m} |")


if __name__ == "__main__":
    main()
