"""Where the first sampling attempt should start: the whole retry ladder (lndbayes.inference.
sample_with_retry) begun at each of several target_accept values, on the example organisation's
outcome panels simulated with several seeds (other data, the same programs).

For each seed, outcome and starting value: sampling seconds (compilation excluded: it is the
same for every starting value), retries, and whether the fit passed its diagnostics in the end.
Which value goes first alternates with the seed (a compiled model or a warm cache must not favour
one). Appends one line per fit to benchmarks/results/target_accept.jsonl (``--out``) and
prints the totals of this run::

    .venv/bin/python benchmarks/bench_target_accept.py --seeds 1,2,3,4,5,6 --start 0.8,0.9
    .venv/bin/python benchmarks/bench_target_accept.py --seeds 7,8 --outcomes support_upskilling/csat
    .venv/bin/python benchmarks/bench_target_accept.py --preset large --programs 12 --seeds 0 --start family,0.9
    .venv/bin/python benchmarks/bench_target_accept.py --start family --tune 1000,500   # tuning length

``--preset large --programs K``: the large preset's organisation (20,000 employees; its
generated programs, three outcomes each) and all outcomes of its first K programs (unless
``--outcomes`` names some). A start of ``family`` is each family's own start (what lndbayes uses).

~4 s a fit on the 2-core VM (engagement ~10 s); results in benchmarks/results/target_accept.md.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-bench-cache-"))

import lndbayes as lb  # noqa: E402
import lndbayes.inference as inference  # noqa: E402
from lndbayes.design.panel import build_panel  # noqa: E402
from lndbayes.example import simulate_org  # noqa: E402
from lndbayes.fitting import fit_panel  # noqa: E402
from lndbayes.inference.sampling import compile_log  # noqa: E402

OUTCOMES = ("support_upskilling/csat", "support_upskilling/error_count", "lean_workshop/error_count",
            "compliance_training/violations", "sales_onboarding/quota_attainment",
            "sales_onboarding/time_to_first_deal", "manager_coaching/attrition_12m",
            "manager_coaching/engagement")


def fit_from(panel, start, seed: int, tune: int = 1000) -> dict:
    """One fit of ``panel`` with the ladder begun at ``start`` (the family's own start ignored;
    ``"family"``: the family's own start) after ``tune`` tuning steps; with the diagnostics and
    the posterior mean and sd of the average effect (``effect_mean``), so that two conditions'
    posteriors can be compared (their difference in posterior sds)."""
    original = inference.sample_with_retry

    def starting_at(*args, target_accept=None, **kwargs):
        return original(*args, target_accept=target_accept if start == "family" else start, **kwargs)

    inference.sample_with_retry = starting_at
    n_log, t0 = len(compile_log()), time.perf_counter()
    try:
        res = fit_panel(panel, draws=1000, tune=tune, chains=4, seed=seed, cache=False, strict=False)
    finally:
        inference.sample_with_retry = original
    compiled = sum(e["seconds"] for e in compile_log()[n_log:])
    d = res.diagnostics()
    first = (d.get("attempts") or [{}])[0].get("messages") or []
    effect = res.idata["posterior"]["effect_mean"].values
    return {"family": panel.meta.family, "design": panel.meta.design, "teams": panel.meta.n_teams,
            "seconds": round(time.perf_counter() - t0 - compiled, 2), "compile": round(compiled, 2),
            "retries": d.get("retries"), "converged": bool(d.get("converged")),
            "first_failure": first[0].split(":")[0] if first else None,
            "ess_bulk_min": round(float(d.get("ess_bulk_min", float("nan"))), 1),
            "rhat_max": round(float(d.get("rhat_max", float("nan"))), 4),
            "effect_mean": round(float(effect.mean()), 6), "effect_sd": round(float(effect.std()), 6)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5,6")
    ap.add_argument("--start", default="0.8,0.9", help="target_accept values to begin the ladder at")
    ap.add_argument("--outcomes", default=None,
                    help="program/outcome, comma-separated (default: the example's eight, or with "
                         "--preset large every outcome of the first --programs programs)")
    ap.add_argument("--tune", default="1000", help="tuning lengths of the first attempt, comma-separated")
    ap.add_argument("--preset", default="default", choices=("default", "large"))
    ap.add_argument("--programs", type=int, default=12, help="with --preset large: how many programs")
    ap.add_argument("--out", default=str(HERE / "results" / "target_accept.jsonl"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    seeds = [int(s) for s in args.seeds.split(",")]
    starts = [s if s == "family" else float(s) for s in args.start.split(",")]
    # every start x tuning length; the order alternates with the seed (see the module docstring)
    conditions = [(s, int(t)) for s in starts for t in args.tune.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lndbayes-bench-ta-"))
    rows = []
    with open(args.out, "a") as out:
        for seed in seeds:
            root = work / f"org{seed}"
            if args.preset == "large":
                simulate_org(root / "raw", seed=seed, preset="large", n_programs=args.programs)
            else:
                simulate_org(root / "raw", seed=seed)
            org = lb.load_org(root)
            if args.outcomes:
                wanted = [tuple(o.split("/")) for o in args.outcomes.split(",")]
            elif args.preset == "large":
                wanted = [(p.id, o.id) for p in org.programs for o in p.outcomes]
            else:
                wanted = [tuple(o.split("/")) for o in OUTCOMES]
            for program, outcome in wanted:
                panel = build_panel(org, program, outcome)
                for start, tune in conditions if seed % 2 else conditions[::-1]:
                    row = {"seed": seed, "preset": args.preset, "program": program, "outcome": outcome,
                           "start": start, "tune": tune, **fit_from(panel, start, seed, tune)}
                    rows.append(row)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    print(json.dumps(row), flush=True)
    total = collections.defaultdict(lambda: [0.0, 0, 0, 0])
    for r in rows:
        what = (f"{r['family']} ({r['design']})" if args.preset == "large"
                else f"{r['program']}/{r['outcome']}")
        t = total[(what, f"{r['start']}, tune {r['tune']}")]
        t[0] += r["seconds"]
        t[1] += r["retries"] > 0
        t[2] += not r["converged"]
        t[3] += 1
    print("\noutcome | start, tuning | sampling s | fits retried | fits failing in the end")
    for (o, s), (sec, ret, bad, n) in sorted(total.items()):
        print(f"{o} | {s} | {sec:.1f} | {ret}/{n} | {bad}/{n}")


if __name__ == "__main__":
    main()
