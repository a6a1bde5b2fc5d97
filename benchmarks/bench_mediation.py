"""Interval coverage of lb.fit_mediation over simulated datasets with known effects.

    .venv/bin/python benchmarks/bench_mediation.py [--reps 50]

Three scenarios, each ``--reps`` datasets (fresh seeds, disjoint from the tests' 3-13):
one mediator (n = 300 people in 20 teams; a = 0.5, b = 0.6, c' = 0.3, so indirect 0.30),
the sequential chain T -> L2 -> L3 -> Y (n = 300 in 30 teams, three paths; indirect 0.31), and
a binary outcome (n = 800 in 20 teams, team sd 0.5; a = 0.8, b = 0.8 and c' = 0.4 on the
log-odds scale, so about 0.12 indirect on the probability scale: each table's own truth,
simulate_binary_mediation). ``--scenarios binary`` runs one; results of the others already in
the JSON are kept.
For each: how often the 90% interval covers the truth (indirect, direct, total, each path),
mean error, mean interval width, fits that converged, seconds per fit; for the single mediator
also the largest gap between the sensitivity analysis' rho at which the indirect effect is 0
and Imai, Keele & Yamamoto's closed-form value from least squares on the same table.
Writes benchmarks/results/mediation.json and prints the Markdown of mediation.md's table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lndbayes.atomic import write_json
from lndbayes.mediation import fit_mediation
from lndbayes.mediation.testing import simulate_binary_mediation, simulate_chain, simulate_mediation

OUT = Path(__file__).resolve().parent / "results" / "mediation.json"
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "cache": False}
SEED = {"single": 710_000, "chain": 730_000, "binary": 750_000}
A, B, C = 0.5, 0.6, 0.3


def _ols_rho_tilde(df):
    X = np.column_stack([df["T"], df["x"], pd.get_dummies(df["team"]).to_numpy(float)])
    e = [y - X @ np.linalg.lstsq(X, y, rcond=None)[0] for y in (df["M"].to_numpy(), df["Y"].to_numpy())]
    return float(np.corrcoef(e[1], e[0])[0, 1])


def _score(res, truth: dict) -> dict:
    out = {}
    for name, true in truth.items():
        r = res.row(name[0], list(name[1])) if isinstance(name, tuple) else res.row(name)
        label = f"path {' -> '.join(name[1])}" if isinstance(name, tuple) else name
        out[label] = {"hit": bool(r["lower"] <= true <= r["upper"]), "err": r["mean"] - true,
                          "width": r["upper"] - r["lower"]}
    return out


def run(scenario: str, reps: int) -> dict:
    rows, gaps, secs, conv = [], [], [], 0
    for i in range(reps):
        seed = SEED[scenario] + i
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if scenario == "single":
                df = simulate_mediation(300, a=A, b=B, c_prime=C, n_groups=20, seed=seed)
                res = fit_mediation(df, treatment="T", mediator="M", outcome="Y", covariates=["x"],
                                    group="team", seed=seed, **SAMPLER)
                truth = {"indirect": A * B, "direct": C, "total": C + A * B}
                gaps.append(abs(res.sensitivity["rho_at_zero"] - _ols_rho_tilde(df)))
            elif scenario == "binary":
                df, tr = simulate_binary_mediation(800, group_sd=0.5, seed=seed)
                res = fit_mediation(df, treatment="T", mediator="M", outcome="Y", covariates=["x"],
                                    group="team", family="binary", seed=seed, **SAMPLER)
                truth = {k: tr[k] for k in ("indirect", "direct", "total")}
            else:
                df, tr = simulate_chain(300, n_groups=30, seed=seed)
                res = fit_mediation(df, treatment="T", mediator=["L2", "L3"], outcome="Y",
                                    covariates=["x"], group="team", seed=seed, **SAMPLER)
                truth = {"indirect": tr["indirect"], "direct": tr["direct"], "total": tr["total"]}
                truth.update({("indirect_path", p): v for p, v in tr["paths"].items()})
        secs.append(time.time() - t0)
        conv += res.converged
        rows.append(_score(res, truth))
        hits = " ".join(f"{k}:{'hit' if v['hit'] else 'MISS'}" for k, v in rows[-1].items())
        print(f"{scenario} {i + 1}/{reps} {secs[-1]:.1f} s converged={res.converged} {hits}", flush=True)
    names = list(rows[0])
    summary = {n: {"coverage": float(np.mean([r[n]["hit"] for r in rows])),
                   "hits": int(sum(r[n]["hit"] for r in rows)),
                   "mean_error": float(np.mean([r[n]["err"] for r in rows])),
                   "mean_width": float(np.mean([r[n]["width"] for r in rows]))} for n in names}
    out = {"reps": reps, "seed": SEED[scenario], "converged": int(conv), "estimands": summary,
           "seconds_per_fit_median": float(np.median(secs)), "seconds_total": float(np.sum(secs))}
    if gaps:
        out["rho_at_zero_vs_closed_form_max_abs_gap"] = float(np.max(gaps))
        out["rho_at_zero_vs_closed_form_mean_abs_gap"] = float(np.mean(gaps))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50, help="datasets per scenario (default 50)")
    ap.add_argument("--scenarios", default="single,chain,binary",
                    help="comma-separated scenarios to run (default single,chain,binary)")
    args = ap.parse_args()
    results = {s: run(s, args.reps) for s in args.scenarios.split(",") if s}
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    merged = {**old.get("results", {}), **{s: {**r, "command": f"benchmarks/bench_mediation.py --reps "
                                                 f"{args.reps} --scenarios {s}"} for s, r in results.items()}}
    write_json(OUT, {"command": "benchmarks/bench_mediation.py --reps N --scenarios S (per scenario: its command)",
                     "sampler": SAMPLER, "results": merged}, default=float)
    for s, r in results.items():
        print(f"\n{s}: {r['converged']}/{r['reps']} converged, median {r['seconds_per_fit_median']:.1f} s per fit")
        print("| estimand | coverage (90% interval) | mean error | mean width |\n|---|---|---|---|")
        for n, v in r["estimands"].items():
            print(f"| {n} | {v['hits']}/{r['reps']} = {v['coverage']:.0%} | {v['mean_error']:+.3f} | "
                  f"{v['mean_width']:.3f} |")
        if "rho_at_zero_vs_closed_form_max_abs_gap" in r:
            print(f"rho at zero vs closed form: max gap {r['rho_at_zero_vs_closed_form_max_abs_gap']:.3f}, "
                  f"mean {r['rho_at_zero_vs_closed_form_mean_abs_gap']:.3f}")
    print(f"written: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
