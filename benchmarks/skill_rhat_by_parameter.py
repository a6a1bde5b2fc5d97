"""Which skill-gap parameters carry the fit's maximum R-hat, at several chain lengths.

    .venv/bin/python benchmarks/skill_rhat_by_parameter.py DATA_DIR DRAWS:SEED[:TUNE] [...]

Samples the skill-gap model of the organisation in DATA_DIR (4 chains, TUNE tuning steps,
default 1000, the product's target_accept; compiled once beforehand) for each DRAWS:SEED[:TUNE]
and prints one JSON line: seconds, leapfrog steps a draw, step size, R-hat max, bulk/tail ESS
min, divergences, the posterior mean and sd of the hyper-parameters, the five variables with the
highest R-hat (value, name, flat index) and, per variable, how many of its elements exceed 1.01.
Results: benchmarks/results/skill_gaps.md (session 21: chain length; session 25: tuning length).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    import lndbayes as lb
    from lndbayes.inference.convergence import rhat_rank
    from lndbayes.inference.diagnostics import diagnose
    from lndbayes.inference.sampling import sample
    from lndbayes.skills import model as skill_model
    from lndbayes.skills.data import prepare

    inputs = skill_model.model_inputs(prepare(lb.load_org(argv[0])))
    key = skill_model.structure_key(inputs)

    def build():
        return skill_model.build_model(inputs)

    sample(key, build, inputs.arrays, draws=10, tune=10, chains=4, seed=0)     # compile once
    for spec in argv[1:]:
        draws, seed, tune = (list(map(int, spec.split(":"))) + [1000])[:3]
        t = time.perf_counter()
        idata = sample(key, build, inputs.arrays, draws=draws, tune=tune, chains=4, seed=seed)
        secs = time.perf_counter() - t
        d = diagnose(idata)
        post = idata["posterior"].to_dataset()
        top, over = [], {}
        for v in post.data_vars:
            vals = post[v].values
            if vals.std() == 0:
                continue
            r = np.atleast_1d(rhat_rank(vals)).ravel()
            if np.nansum(r > 1.01):
                over[v] = [int(np.nansum(r > 1.01)), int(r.size)]
            i = int(np.nanargmax(r))
            top.append((round(float(r[i]), 4), str(v), i))
        top.sort(reverse=True)
        stats = idata["sample_stats"]
        hyper = {f"{v}_{f}": round(float(getattr(post[v], f)()), 4)
                 for v in ("half_life", "gain_mean", "sd_a", "sd_b", "sd_q") for f in ("mean", "std")}
        print(json.dumps({"draws": draws, "seed": seed, "tune": tune, "seconds": round(secs, 1),
                          "steps": round(float(stats["n_steps"].mean()), 2),
                          "step_size": round(float(stats["step_size"].mean()), 4), **hyper,
                          "rhat_max": round(d["rhat_max"], 4), "ess_bulk_min": round(d["ess_bulk_min"]),
                          "ess_tail_min": round(d["ess_tail_min"]), "div": d["divergences"],
                          "top": top[:5], "over": over}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
