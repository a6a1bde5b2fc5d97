"""Recovery of planted program gains and half-life by the skill-gap model.

    .venv/bin/python benchmarks/skill_gain_recovery.py DATA_DIR KIND:H:SEED [...]

The simulator plants no program gains (lndbayes/example/skills.py), so this plants them into an
organisation's prepared skill cells: each cell mean gets the model's own gain term,
``sum over its exposure rows of share x gain x 2^(-age / H)``, on top of what it was. KIND sets
the gains of the organisation's program x skill pairs: ``none`` (all 0), ``same`` (all 0.4),
``spread`` (Normal(0.3, 0.2), drawn with SEED). Then it fits the model (4 chains x (500 tuning +
1000 draws), sampler seed SEED, no retry, no cache) and prints one JSON line: seconds, R-hat max,
divergences, leapfrog steps, the half-life's median and 90% interval, how many planted gains lie
inside their 90% intervals, the gains' mean absolute error and interval width, gain_mean's
interval, and the bulk ESS of gain_mean, the gains and the half-life.
Results: benchmarks/results/skill_gaps.md (session 27) and docs/skill-gaps.md ("What is left").
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def planted_gains(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "none":
        return np.zeros(n)
    if kind == "same":
        return np.full(n, 0.4)
    if kind == "spread":
        return rng.normal(0.3, 0.2, n)
    raise SystemExit(f"unknown KIND '{kind}': use none, same or spread")


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    import arviz as az

    import lndbayes as lb
    from lndbayes.inference.diagnostics import diagnose
    from lndbayes.inference.sampling import sample
    from lndbayes.skills import model as sm
    from lndbayes.skills.data import prepare

    data = prepare(lb.load_org(argv[0]))
    n_ps = len(data.program_skills)
    for spec in argv[1:]:
        kind, half_life, seed = spec.split(":")
        half_life, seed = float(half_life), int(seed)
        inputs = sm.model_inputs(data)
        A, C = inputs.arrays, inputs.cells
        gains = planted_gains(kind, n_ps, np.random.default_rng(seed))
        padded = np.zeros(inputs.sizes["program_skills"])
        padded[:n_ps] = gains
        age = A["age_level"][A["e_age_idx"]]
        g_cell = np.zeros(len(C["y"]))
        np.add.at(g_cell, C["e_cell"], A["e_share"] * padded[A["e_ps"]] * 2.0 ** (-age / half_life))
        slot, _ = sm.cell_slots(C["pair"], inputs.sizes["pairs"])
        y = A["y"].ravel().copy()
        y[slot] += g_cell
        A["y"] = y.reshape(A["y"].shape)      # build() reads inputs.arrays: the planted cells
        t = time.perf_counter()
        # the first fit compiles the graph with these planted cells; later ones swap theirs in
        idata = sample(sm.structure_key(inputs), lambda: sm.build_model(inputs), A,
                       draws=1000, tune=sm.DEFAULT_SETTINGS["tune"], chains=4, seed=seed)
        secs = time.perf_counter() - t
        d = diagnose(idata)
        post = idata["posterior"].to_dataset()
        g = post["gain"].values.reshape(-1, inputs.sizes["program_skills"])[:, :n_ps]
        lo, hi = np.quantile(g, [0.05, 0.95], axis=0)
        hl = post["half_life"].values.ravel()

        def ess(v, k=None):
            e = np.atleast_1d(np.asarray(az.ess(post[[v]], method="bulk")[v])).ravel()
            return round(float(np.nanmin(e[:k] if k else e)))

        print(json.dumps({
            "kind": kind, "half_life_planted": half_life, "seed": seed, "seconds": round(secs, 1),
            "rhat_max": round(d["rhat_max"], 4), "divergences": d["divergences"],
            "steps": round(float(idata["sample_stats"]["n_steps"].mean()), 1),
            "half_life": [round(float(np.quantile(hl, q)), 3) for q in (0.5, 0.05, 0.95)],
            "gains_in_90": f"{int(((gains >= lo) & (gains <= hi)).sum())} of {n_ps}",
            "gain_abs_error": round(float(np.abs(g.mean(0) - gains).mean()), 3),
            "gain_width_90": round(float((hi - lo).mean()), 3),
            "gain_mean_90": [round(float(np.quantile(post["gain_mean"].values, q)), 3) for q in (0.05, 0.95)],
            "ess_bulk": {"gain_mean": ess("gain_mean"), "gain": ess("gain", n_ps), "half_life": ess("half_life")},
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
