"""A fit short only of effective draws: the retry with as many chains again against the one
with chains twice as long, from the same first attempt.

``lndbayes.inference.sample_with_retry`` answers a first attempt that failed only on the ESS,
by a margin twice the draws cover (ESS 260-399), with 4 more chains of the same length kept
with the first 4 (``join_chains``); before, it sampled a new fit of 4 chains twice as long.
This takes first attempts at the product's settings (4 chains x 1000 draws after 1000 tuning
steps, each family's own target_accept) of outcome fits on the example organisation simulated
with ``--org-seeds`` (``--outcomes``), or of the skill-gap model of one organisation at
``--seeds`` (``--skills --data DIR``); where a first attempt is such a fit it samples both
retries (the next seed, as the product does) and prints one JSON line per retry: seconds (the
retry alone, compile excluded), leapfrog steps in its draws, and the final fit's R-hat max and
bulk/tail ESS min. First attempts that need no such retry print one line saying why::

    .venv/bin/python benchmarks/bench_ess_retry.py --outcomes manager_coaching/engagement --org-seeds 3,5
    .venv/bin/python benchmarks/bench_ess_retry.py --skills --data /tmp/large12 --seeds 1,3

Results: benchmarks/results/retry_tuning.md (session 21).
"""

from __future__ import annotations

import argparse
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
from lndbayes.inference.diagnostics import diagnose  # noqa: E402
from lndbayes.inference.sampling import (DEFAULT_TARGET_ACCEPT, _only_short_of_draws,  # noqa: E402
                                         join_chains, more_draws_factor, sample)


def _summary(idata) -> dict:
    d = diagnose(idata)
    return {"converged": bool(d["converged"]), "rhat_max": round(d["rhat_max"], 4),
            "ess_bulk_min": round(d["ess_bulk_min"]), "ess_tail_min": round(d["ess_tail_min"]),
            "divergences": int(d["divergences"]),
            "steps": int(idata["sample_stats"]["n_steps"].sum())}


def compare(label: dict, key: str, build, data: dict, *, seed: int, target_accept: float,
            draws: int = 1000, tune: int = 1000) -> None:
    """The first attempt, and where it is short only of draws by a factor of 2, both retries."""
    def draw(s, n):
        t = time.perf_counter()
        idata = sample(key, build, data, draws=n, tune=tune, chains=4, seed=s,
                       target_accept=target_accept)
        return idata, round(time.perf_counter() - t, 2)

    def row(**kw):
        print(json.dumps({**label, **kw}), flush=True)

    first, secs = draw(seed, draws)
    d = diagnose(first)
    row(attempt="first", seconds=secs, **_summary(first))
    if not (_only_short_of_draws(d) and more_draws_factor(min(d["ess_bulk_min"], d["ess_tail_min"])) == 2):
        row(attempt="no such retry", why="; ".join(m.split(":")[0] for m in d["messages"]) or "converged")
        return
    longer, secs = draw(seed + 1, 2 * draws)
    row(attempt="retry before: 4 new chains x 2 draws", seconds=secs, **_summary(longer))
    more, secs = draw(seed + 1, draws)
    s = _summary(join_chains(first, more))
    row(attempt="retry now: 4 more chains", seconds=secs, **{**s, "steps": _summary(more)["steps"]})


def outcome_fits(outcomes: list[str], org_seeds: list[int]) -> None:
    from lndbayes.design.panel import build_panel
    from lndbayes.example import simulate_org
    from lndbayes.fitting import fit_panel

    work = Path(tempfile.mkdtemp(prefix="lndbayes-bench-ess-"))
    original = inference.sample_with_retry
    for org_seed in org_seeds:
        simulate_org(work / f"org{org_seed}" / "raw", seed=org_seed)
        org = lb.load_org(work / f"org{org_seed}")
        for what in outcomes:
            program, outcome = what.split("/")
            seen = {}

            def capture(key, build, data, **kw):   # the product's call, its first attempt only
                seen.update(key=key, build=build, data=data, kw=kw)
                return original(key, build, data, **{**kw, "retry": False})

            inference.sample_with_retry = capture
            try:   # compiles the structure once, outside the timed attempts below
                fit_panel(build_panel(org, program, outcome), draws=10, tune=10, chains=4,
                          seed=0, cache=False, strict=False)
            finally:
                inference.sample_with_retry = original
            ta = seen["kw"].get("target_accept") or DEFAULT_TARGET_ACCEPT
            compare({"org_seed": org_seed, "fit": what, "target_accept": ta}, seen["key"],
                    seen["build"], seen["data"], seed=org_seed, target_accept=ta)


def skill_fits(data_dir: str | None, seeds: list[int]) -> None:
    from lndbayes.skills import model as skill_model
    from lndbayes.skills.data import prepare

    data = prepare(lb.load_org(data_dir) if data_dir else lb.load_org())
    inputs = skill_model.model_inputs(data)
    key = skill_model.structure_key(inputs)
    build = lambda: skill_model.build_model(inputs)  # noqa: E731
    sample(key, build, inputs.arrays, draws=10, tune=10, chains=4, seed=0)   # compile once
    for seed in seeds:
        compare({"seed": seed, "fit": "skill-gaps", "cells": len(data.cells)}, key, build,
                inputs.arrays, seed=seed, target_accept=DEFAULT_TARGET_ACCEPT)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outcomes", default="manager_coaching/engagement",
                    help="program/outcome of the example, comma-separated")
    ap.add_argument("--org-seeds", default="3,5", help="seeds of the simulated example organisations")
    ap.add_argument("--skills", action="store_true", help="the skill-gap model instead of outcome fits")
    ap.add_argument("--data", default=None, help="with --skills: organisation folder (default: the example)")
    ap.add_argument("--seeds", default="1", help="with --skills: sampling seeds")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.skills:
        skill_fits(args.data, [int(s) for s in args.seeds.split(",")])
    else:
        outcome_fits(args.outcomes.split(","), [int(s) for s in args.org_seeds.split(",")])


if __name__ == "__main__":
    main()
