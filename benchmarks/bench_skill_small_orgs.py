"""The skill-gap model's convergence on organisations of a few hundred people (and any others).

    .venv/bin/python benchmarks/bench_skill_small_orgs.py --sizes 200 300 400 --seeds 11 12 13 14 15 16 \\
        --work /tmp/small --tag after [--org PATH ...] [--sampler-seeds 0]

For every organisation (``lndbayes simulate --employees N --seed S`` into ``--work``, made once,
or an existing data root given with ``--org``) and sampler seed: ``fit_skill_model``'s fit of the
whole history, with the retry ladder the forecast uses (no posterior cache), timed, and its
first attempt's and final diagnostics, with the four worst variables by R-hat (bulk ESS beside).
One JSON line each, appended to benchmarks/results/skill_small_orgs.jsonl with ``--tag`` and the
commit, so runs of two versions of the model can be compared (docs/skill-gaps.md, "Sampling").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "skill_small_orgs.jsonl"
WATCH = ("sd_a", "sd_dept_a", "mu", "dept_a", "a", "sd_b", "sd_dept_b", "beta", "dept_b", "b",
         "gain", "gain_mean", "half_life", "sd_q")


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "lndbayes"], capture_output=True, text=True, cwd=HERE.parent)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _org_root(work: Path, size: int, seed: int) -> Path:
    import lndbayes as lb

    root = work / f"org{size}_{seed}"
    if not (root / "raw").exists():
        lb.simulate_org(root / "raw", seed=seed, n_employees=size)
    return root


def _worst(idata, n_pairs: int, n: int = 4) -> list:
    import arviz as az

    post = idata["posterior"]
    rows = []
    for v in WATCH:
        if v not in post:
            continue
        x = post[v]
        if v in ("a", "b"):
            x = x.isel({x.dims[2]: slice(0, n_pairs)})
        if float(np.nanstd(x.values)) == 0:
            continue
        rows.append([v, round(float(np.nanmax(np.asarray(az.rhat(x)))), 4),
                     int(np.nanmin(np.asarray(az.ess(x))))])
    return sorted(rows, key=lambda r: -r[1])[:n]


def fit_one(root: Path, seed: int) -> dict:
    from lndbayes.data.org import load_org
    from lndbayes.inference.sampling import sample_with_retry
    from lndbayes.skills import model as M
    from lndbayes.skills.data import prepare

    data = prepare(load_org(root))
    inputs = M.model_inputs(data)
    t0 = time.perf_counter()
    idata, diag = sample_with_retry(M.structure_key(inputs), lambda: M.build_model(inputs), inputs.arrays,
                                    draws=1000, tune=M.DEFAULT_SETTINGS["tune"], chains=4, seed=seed, retry=True)
    seconds = time.perf_counter() - t0
    attempts = diag.get("attempts", [])
    pairs = data.pairs[data.pairs["pair"] >= 0]
    return {"org": root.name, "sampler_seed": seed, "seconds": round(seconds, 1),
            "pairs": len(pairs), "teams": int(pairs["team"].nunique()),
            "teams_per_dept_skill": {str(k): int(v) for k, v in
                                     pairs.groupby(["department", "skill"]).size().value_counts().items()},
            "first_converged": bool(attempts[0]["converged"]) if attempts else bool(diag["converged"]),
            "first_messages": [m.split(":")[0] for m in attempts[0]["messages"]] if attempts else [],
            "attempts": len(attempts) or 1, "converged": bool(diag["converged"]),
            "rhat_max": round(float(diag["rhat_max"]), 4),
            "ess_min": int(min(diag["ess_bulk_min"], diag["ess_tail_min"])),
            "divergences": int(diag["divergences"]), "worst": _worst(idata, len(pairs))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="*", default=[200, 300, 400])
    p.add_argument("--seeds", type=int, nargs="*", default=[11, 12, 13, 14, 15, 16])
    p.add_argument("--org", nargs="*", default=[], help="existing data roots (holding raw/) to fit as well")
    p.add_argument("--sampler-seeds", type=int, nargs="*", default=[0])
    p.add_argument("--work", default="/tmp/lndbayes_small_orgs")
    p.add_argument("--tag", required=True)
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    roots = [_org_root(work, n, s) for n in a.sizes for s in a.seeds] + [Path(r) for r in a.org]
    commit = _commit()
    with open(a.out, "a") as out:
        for root in roots:
            for seed in a.sampler_seeds:
                rec = {"tag": a.tag, "commit": commit, **fit_one(root, seed)}
                print(json.dumps(rec), flush=True)
                out.write(json.dumps(rec) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
