"""Outcomes whose program covers a few teams (two to five), where the data say little or nothing
about the between-team sd: how they sample under lndbayes' parametrisation and the alternatives
tried.

Organisations: ``lndbayes simulate --employees N --seed S`` (the example's five programs on a
small head count, so that several programs reach only two teams). For each seed and each outcome
with at most ``--max-teams`` teams, the conditions of ``--modes`` (order alternating with the seed):

- ``A``: lndbayes before session 30 (the DerSimonian-Laird rule alone; under 2 degrees of
  freedom for the spread, all non-centred);
- ``B``: as A, but intercepts judged against ``intercept_sd_team``'s prior scale where the spread
  cannot be estimated (centred where ``prior_sd**2 / se_j**2 > 8``);
- ``C``: as B, and effects judged that way too (``effect_sd_team``'s prior scale, ``> 20``);
- ``D``: B's teams centred and their mean intercept sampled (``graph._intercepts_through_teams``);
- ``E``: as D, but the teams centred only where the one degree of freedom says they differ by
  far more than their standard errors (lndbayes before ``min_df`` became 4);
- ``F``: as E, also where 2 degrees of freedom remain (three teams);
- ``G``: as E, also where 2 or 3 remain (three or four teams): lndbayes now.

One line per fit appended to ``--out`` (default benchmarks/results/few_teams.jsonl); totals
printed at the end::

    .venv/bin/python benchmarks/bench_few_teams.py --seeds 11,12,13,14 --employees 400 --modes A,B,C
    .venv/bin/python benchmarks/bench_few_teams.py --seeds 11,12,13,14,15,16 --modes A,D,E
    .venv/bin/python benchmarks/bench_few_teams.py --seeds 22,23,24,25,26,27 --employees 600 --modes E,F
    .venv/bin/python benchmarks/bench_few_teams.py --seeds 31,32,33,34,35,36 --employees 800 --max-teams 5 --modes E,F,G
    .venv/bin/python benchmarks/bench_few_teams.py --seeds 41,42,43,44,45,46 --employees 200 --max-teams 2 --modes A,G

Results: benchmarks/results/target_accept.md, session 30.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-bench-cache-"))

import lndbayes as lb  # noqa: E402
import lndbayes.fitting as fitting  # noqa: E402
from lndbayes.design.panel import build_panel  # noqa: E402
from lndbayes.errors import ModelInputError  # noqa: E402
from lndbayes.example import simulate_org  # noqa: E402
from lndbayes.inference.sampling import compile_log  # noqa: E402
from lndbayes.models.centring import team_arm_stats  # noqa: E402

_lndbayes_rule = fitting.choose_centering
_intercept_mean_rule = fitting.choose_intercept_mean
_resolve_priors = fitting.resolve_priors
_state = {"mode": "A", "priors": None, "chosen": None}


def _too_few_to_estimate(se, group) -> bool:
    """What makes lndbayes' ``_kappa`` give up: under 2 degrees of freedom within groups."""
    ok = np.isfinite(se) & (se > 0)
    grp = np.zeros(len(se), int) if group is None else np.asarray(group)
    return sum(max(int((ok & (grp == g)).sum()) - 1, 0) for g in np.unique(grp[ok])) < 2


def _by_prior(se, prior_sd, threshold) -> tuple:
    with np.errstate(divide="ignore"):
        kappa = np.where(np.isfinite(se) & (se > 0), prior_sd**2 / se**2, 0.0)
    return tuple(int(j) for j in np.flatnonzero(kappa > threshold))


def _centring(family, rows, J, *, dept_of_team=None, arm_stats=None, **kwargs):
    c_int, c_eff = _lndbayes_rule(family, rows, J, dept_of_team=dept_of_team,
                                  arm_stats=arm_stats, **kwargs)
    mode, pri = _state["mode"], _state["priors"]
    if mode in "BC" and "effect_unit" not in kwargs:
        (_, s0), (_, s1) = arm_stats or team_arm_stats(family, rows, J)
        if _too_few_to_estimate(s0, dept_of_team):
            c_int = _by_prior(s0, pri["intercept_sd_team"]["sigma"], 8.0)
        se_eff = np.sqrt(s0**2 + s1**2)
        if mode == "C" and _too_few_to_estimate(se_eff, dept_of_team):
            c_eff = _by_prior(se_eff, pri["effect_sd_team"]["sigma"], 20.0)
    _state["chosen"] = (c_int, c_eff)
    return c_int, c_eff


def _intercept_mean(*args, **kwargs):
    mode = _state["mode"]
    if mode not in "DEFG":
        return (), False
    teams, centred = _intercept_mean_rule(*args, min_df={"F": 3, "G": 4}.get(mode, 2), **kwargs)
    return teams, (True if mode == "D" else centred)


def _priors(*args, **kwargs):
    _state["priors"] = _resolve_priors(*args, **kwargs)
    return _state["priors"]


def fit(panel, mode: str, seed: int) -> dict:
    _state["mode"] = mode
    n_log, t0 = len(compile_log()), time.perf_counter()
    res = fitting.fit_panel(panel, draws=1000, tune=1000, chains=4, seed=seed, cache=False,
                            strict=False)
    compiled = sum(e["seconds"] for e in compile_log()[n_log:])
    d = res.diagnostics()
    first = ((d.get("attempts") or [{}])[0].get("messages") or [""])[0]
    effect = res.idata["posterior"]["effect_mean"].values
    return {"family": panel.meta.family, "design": panel.meta.design, "teams": panel.meta.n_teams,
            "centred": [list(c) for c in _state["chosen"]],
            "intercept_mean_teams": res.meta.get("intercept_mean_teams"),
            "intercepts_centred": res.meta.get("centred_teams", {}).get("intercept"),
            "seconds": round(time.perf_counter() - t0 - compiled, 2), "retries": d.get("retries"),
            "converged": bool(d.get("converged")), "first_failure": first.split(":")[0],
            "divergences_final": int(d.get("divergences", -1)),
            "rhat_max": round(float(d.get("rhat_max", np.nan)), 4),
            "ess_bulk_min": round(float(d.get("ess_bulk_min", np.nan))),
            "effect_mean": round(float(effect.mean()), 5), "effect_sd": round(float(effect.std()), 5)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="11,12,13,14")
    ap.add_argument("--employees", type=int, default=400)
    ap.add_argument("--max-teams", type=int, default=3)
    ap.add_argument("--modes", default="A,E", help="conditions, comma-separated (A to G)")
    ap.add_argument("--out", default=str(HERE / "results" / "few_teams.jsonl"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    fitting.choose_centering, fitting.resolve_priors = _centring, _priors
    fitting.choose_intercept_mean = _intercept_mean
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="lndbayes-bench-few-"))
    totals = collections.defaultdict(lambda: [0, 0, 0, 0, 0.0])
    with open(args.out, "a") as out:
        for seed in (int(s) for s in args.seeds.split(",")):
            root = work / f"org{seed}"
            simulate_org(root / "raw", seed=seed, n_employees=args.employees)
            org = lb.load_org(root)
            for program in org.programs:
                for outcome in program.outcomes:
                    try:
                        panel = build_panel(org, program.id, outcome.id)
                    except ModelInputError as err:  # what the report shows instead of a fit
                        print(f"skipped {program.id}/{outcome.id}: {err}", flush=True)
                        continue
                    if panel.meta.n_teams > args.max_teams:
                        continue
                    for mode in (modes if seed % 2 else modes[::-1]):
                        row = {"employees": args.employees, "seed": seed, "program": program.id,
                               "outcome": outcome.id, "mode": mode, **fit(panel, mode, seed)}
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(json.dumps(row), flush=True)
                        t = totals[mode]
                        t[0] += 1
                        t[1] += row["retries"]
                        t[2] += not row["converged"]
                        t[3] += row["divergences_final"]
                        t[4] += row["seconds"]
    print("\ncondition | fits | retries | failing in the end | divergences in kept draws | sampling s")
    for mode, (n, ret, bad, div, sec) in sorted(totals.items()):
        print(f"{mode} | {n} | {ret} | {bad} | {div} | {sec:.1f}")


if __name__ == "__main__":
    main()
