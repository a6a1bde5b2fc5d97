"""Simulation-based calibration of the skill-gap model's half-life (and the gains' mean).

    .venv/bin/python benchmarks/skill_half_life_sbc.py DATA_DIR N [--seed S] [--out FILE.jsonl]
    .venv/bin/python benchmarks/skill_half_life_sbc.py --summary FILE.jsonl [...]

Why: planted into an organisation's cells, a 3-year half-life came out short in 5 of 8 fits
(benchmarks/results/skill_gaps.md, session 27). Either the model's posterior is miscalibrated
(a bug, or a sampler that does not explore), or a fixed 3 years is a place where these data
cannot tell a slow fade from a team's drift and the posterior leans on the rest of the model.
Simulation-based calibration (Talts et al. 2018) tells the two apart: draw every parameter from
the prior, simulate the organisation's cells from the model (same teams, skills, quarters,
completions, measurement errors), fit, and record where the true value ranks among the
posterior draws. For a calibrated model and sampler the ranks are uniform whatever the prior
draw, so the 50% and 90% intervals cover 50% and 90% of the true values.

What it keeps from DATA_DIR: the prepared cells' layout and everything the model reads as data
(``lndbayes.skills.model.model_inputs``), except the cell means, which it replaces with
``theta + Normal(0, sqrt(se^2 + sd_q^2))`` for each prior draw. Each fit: 4 chains x (500
tuning + 1000 draws), no retry (unconverged fits are kept: dropping them would break the ranks'
uniformity), no cache; the model is compiled once. One JSON line per draw:
the true values, their ranks among 1000 thinned draws (of 4000), the posterior median and 90%
interval of the half-life, R-hat max, divergences, seconds.
Results: benchmarks/results/skill_gaps.md (session 29).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRACKED = ("half_life", "gain_mean", "sd_b", "sd_q")


def prior_draws(model, n: int, seed: int) -> dict:
    """``n`` joint draws of the model's parameters from the prior (PyMC's prior sampling; the
    likelihood is a Potential, which prior sampling leaves out)."""
    import pymc as pm

    with model:
        pri = pm.sample_prior_predictive(draws=n, random_seed=seed, var_names=["a", "b", "gain", *TRACKED])
    p = pri["prior"]
    return {k: np.asarray(p[k].values)[0] for k in ("a", "b", "gain", *TRACKED)}


def simulate_cells(arrays: dict, draw: dict, rng: np.random.Generator) -> np.ndarray:
    """The cell means (pairs x slots) the model implies for one prior draw, with their noise."""
    A = arrays
    contrib = (A["e_share"] * draw["gain"][A["e_ps"]]
               * np.exp2(-A["age_level"] / draw["half_life"])[A["e_age_idx"]])
    mask = A["cell_mask"]
    g = np.zeros(mask.size)
    np.add.at(g, A["e_slot"], contrib)
    theta = draw["a"][:, None] + draw["b"][:, None] * A["t"] + g.reshape(mask.shape)
    sd = np.sqrt(A["se2"] + draw["sd_q"] ** 2)
    y = theta + sd * rng.standard_normal(mask.shape)
    return np.where(mask > 0, y, A["y"])        # empty slots keep what the data had there


def check_simulator(model, arrays: dict, seed: int) -> float:
    """Largest relative difference between the model's own log-likelihood (its Potential,
    evaluated by PyMC at a prior draw) and the Gaussian log-density of the cells around
    :func:`simulate_cells`' noise-free means, over 3 prior draws: the simulator must be the
    model, or the ranks test the simulator instead of the posterior."""
    import pymc as pm

    with model:
        pri = pm.sample_prior_predictive(draws=3, random_seed=seed,
                                         var_names=[v.name for v in model.free_RVs] + ["a", "b", "gain"])
    f = model.compile_fn(model.replace_rvs_by_values([model.potentials[0]])[0], inputs=model.value_vars,
                         on_unused_input="ignore")
    A, worst = arrays, 0.0

    class _NoNoise:
        def standard_normal(self, shape):
            return np.zeros(shape)

    for i in range(3):
        val = {k: np.asarray(v.values)[0, i] for k, v in pri["prior"].data_vars.items()}
        point = {}
        for rv in model.free_RVs:
            tr = model.rvs_to_transforms.get(rv)
            point[model.rvs_to_values[rv].name] = (val[rv.name] if tr is None else
                                                   np.asarray(tr.forward(val[rv.name], *rv.owner.inputs).eval()))
        theta = simulate_cells(A, val, _NoNoise())
        var = A["se2"] + val["sd_q"] ** 2
        ours = -0.5 * (A["cell_mask"] * ((A["y"] - theta) ** 2 / var + np.log(var) + np.log(2 * np.pi))).sum()
        theirs = float(f(point))
        worst = max(worst, abs(ours - theirs) / abs(theirs))
    return worst


def summarise(rows: list[dict]) -> list[str]:
    """The tables of benchmarks/results/skill_gaps.md (session 29) from the JSON lines."""
    def cover(rs, name, lo, hi):
        return np.mean([lo <= r[name]["rank"] / r[name]["of"] <= hi for r in rs])

    out = [f"{len(rows)} fits (no retry); not converged (R-hat > 1.01 or a divergence), kept: "
           f"{sum(r['rhat_max'] > 1.01 or r['divergences'] > 0 for r in rows)}",
           "| parameter | rank quintiles | chi-square (4 df) | 50% interval covers | 90% interval covers |",
           "|---|---|---|---|---|"]
    for name in TRACKED:
        u = np.array([r[name]["rank"] / r[name]["of"] for r in rows])
        h = np.histogram(u, bins=5, range=(0, 1))[0]
        chi = float(((h - len(u) / 5) ** 2 / (len(u) / 5)).sum())
        out.append(f"| `{name}` | {', '.join(map(str, h))} | {chi:.1f} | {cover(rows, name, 0.25, 0.75):.2f} "
                   f"| {cover(rows, name, 0.05, 0.95):.2f} |")
    out += ["", "| true half-life (years) | fits | 90% interval covers | posterior median below the truth "
            "| median of posterior median / truth |", "|---|---|---|---|---|"]
    for lo, hi in [(0, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, np.inf)]:
        rs = [r for r in rows if lo <= r["half_life"]["true"] < hi]
        if rs:
            below = np.mean([r["half_life"]["median"] < r["half_life"]["true"] for r in rs])
            ratio = np.median([r["half_life"]["median"] / r["half_life"]["true"] for r in rs])
            out.append(f"| {lo}-{hi} | {len(rs)} | {cover(rs, 'half_life', 0.05, 0.95):.2f} | {below:.2f} | {ratio:.2f} |")
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--summary"]:
        rows = [json.loads(line) for f in argv[1:] for line in open(f) if line.strip()]
        print("\n".join(summarise(rows)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--label", default=None, help="written as 'org' in every line (default: DATA_DIR)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import lndbayes as lb
    from lndbayes.inference.diagnostics import diagnose
    from lndbayes.inference.sampling import sample
    from lndbayes.skills import model as sm
    from lndbayes.skills.data import prepare

    inputs = sm.model_inputs(prepare(lb.load_org(args.data_dir)))
    prior_model = sm.build_model(inputs)     # for the check and the prior draws; fits compile their own
    mismatch = check_simulator(prior_model, inputs.arrays, args.seed)
    if mismatch > 1e-9:
        raise SystemExit(f"the simulator is not the model: log-likelihoods differ by {mismatch:.2e} (relative)")
    print(f"simulator = model: log-likelihoods agree within {mismatch:.1e} (relative) at 3 prior draws", flush=True)
    original = dict(inputs.arrays)
    A = inputs.arrays          # in place: the first fit compiles build_model(inputs), which reads them
    truth = prior_draws(prior_model, args.n, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    for k in range(args.n):
        draw = {name: v[k] for name, v in truth.items()}
        A["y"] = simulate_cells(original, draw, rng).astype(original["y"].dtype)
        t = time.perf_counter()
        idata = sample(sm.structure_key(inputs), lambda: sm.build_model(inputs), A,
                       draws=1000, tune=sm.DEFAULT_SETTINGS["tune"], chains=4, seed=args.seed * 1000 + k)
        secs = time.perf_counter() - t
        d = diagnose(idata)
        post = idata["posterior"]
        row = {"org": args.label or args.data_dir, "k": k, "seed": args.seed, "seconds": round(secs, 1),
               "rhat_max": round(d["rhat_max"], 4), "divergences": d["divergences"]}
        for name in TRACKED:
            x = np.asarray(post[name].values).ravel()[::4]          # 1000 of 4000: less autocorrelated
            row[name] = {"true": round(float(draw[name]), 4), "rank": int((x < draw[name]).sum()),
                         "of": len(x), "median": round(float(np.median(x)), 4),
                         "q05": round(float(np.quantile(x, 0.05)), 4),
                         "q95": round(float(np.quantile(x, 0.95)), 4)}
        line = json.dumps(row)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as out:      # line by line: a stopped run keeps its fits
                out.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
