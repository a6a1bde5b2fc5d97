"""Which skill-gap parameters carry the fit's maximum R-hat, at several chain lengths.

    .venv/bin/python benchmarks/skill_rhat_by_parameter.py DATA_DIR DRAWS:SEED [DRAWS:SEED ...]

Samples the skill-gap model of the organisation in DATA_DIR (4 chains, 1000 tuning steps, the
product's target_accept; compiled once beforehand) for each DRAWS:SEED and prints one JSON
line: seconds, R-hat max, bulk/tail ESS min, divergences, the five variables with the highest
R-hat (value, name, flat index) and, per variable, how many of its elements exceed 1.01.
Results: benchmarks/results/skill_gaps.md (session 21).
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
        draws, seed = map(int, spec.split(":"))
        t = time.perf_counter()
        idata = sample(key, build, inputs.arrays, draws=draws, tune=1000, chains=4, seed=seed)
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
        print(json.dumps({"draws": draws, "seed": seed, "seconds": round(secs, 1),
                          "rhat_max": round(d["rhat_max"], 4), "ess_bulk_min": round(d["ess_bulk_min"]),
                          "ess_tail_min": round(d["ess_tail_min"]), "div": d["divergences"],
                          "top": top[:5], "over": over}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
