"""Validate the assurance approximation (lndbayes.planning.assurance) against full PyMC fits,
and time it.

For each scenario a handful of studies are simulated person by person; each is analysed twice:

* the approximation the assurance simulation uses (``p_positive_from_data``: link-scale normal
  estimates per team x arm cell, the between-team sds integrated on a grid);
* a full PyMC fit of the package's model: ``lb.fit_effects`` (plain two-arm and within-team
  designs), and for whole-team (cluster) designs the same hierarchical graph written out below,
  because ``fit_effects(group=...)`` asks every team for both arms.

Both use the same priors (effect ~ N(0, s), sigma_theta ~ HalfNormal(0.5 s), sigma_alpha ~
HalfNormal(s)). Reported: P(effect in the good direction | data) from each, their difference,
and whether they agree on success (P > 0.95). Then the time of assurance for 5 sample sizes.

Run:  .venv/bin/python benchmarks/bench_assurance.py   (about 10-20 min on 2 shared cores)
Writes benchmarks/results/assurance.md.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

os.environ.setdefault("LNDBAYES_CACHE", "/tmp/lndbayes-bench-assurance-cache")

from lndbayes.fitting import fit_effects  # noqa: E402
from lndbayes.planning.assurance import assurance, p_positive_from_data  # noqa: E402

OUT = Path(__file__).parent / "results" / "assurance.md"
N_STUDIES = int(os.environ.get("BENCH_STUDIES", 10))
SAMPLER = dict(draws=1000, tune=1000, chains=2, seed=1)

SCENARIOS = [
    # name, family, layout, teams, n per arm, truth (link scale), extras
    dict(name="normal, two arms", family="normal", layout="two_arm", teams=None, n=60,
         effect=3.0, sd=10.0),
    dict(name="normal, people within 10 teams", family="normal", layout="within", teams=10, n=100,
         effect=2.5, sd=10.0, tau=1.5, alpha=3.0),
    dict(name="binary, people within 10 teams", family="binary", layout="within", teams=10, n=200,
         effect=0.45, base=0.2, tau=0.2, alpha=0.3),
    dict(name="count, people within 10 teams", family="count", layout="within", teams=10, n=80,
         effect=-0.25, base=0.3, months=6, phi=0.3, tau=0.1, alpha=0.3, direction="decrease"),
    dict(name="normal, 12 whole teams", family="normal", layout="cluster", teams=12, n=120,
         effect=4.0, sd=10.0, tau=1.0, alpha=2.0),
    dict(name="binary, 16 whole teams", family="binary", layout="cluster", teams=16, n=240,
         effect=0.5, base=0.25, tau=0.1, alpha=0.25),
]


def simulate_people(sc: dict, rng) -> pd.DataFrame:
    """One study, one row per person: team, treated, y (and exposure for counts)."""
    T, n = sc["teams"], sc["n"]
    if sc["layout"] == "two_arm":
        team = np.zeros(2 * n, int)
        treated = np.repeat([1, 0], n)
    elif sc["layout"] == "within":
        team = np.tile(np.arange(T), 2 * n // T + 1)[: 2 * n]
        treated = np.zeros(2 * n, int)
        for j in range(T):  # half of each team to each arm
            idx = np.flatnonzero(team == j)
            treated[idx[: len(idx) // 2]] = 1
    else:
        team = np.tile(np.arange(T), 2 * n // T + 1)[: 2 * n]
        treated = (team < T // 2).astype(int)
    J = int(team.max()) + 1
    a = sc.get("alpha", 0.0) * rng.standard_normal(J)
    b = sc.get("tau", 0.0) * rng.standard_normal(J)
    eta = a[team] + treated * (sc["effect"] + b[team])
    df = pd.DataFrame({"team": [f"t{j:02d}" for j in team], "treated": treated})
    if sc["family"] == "normal":
        df["y"] = eta + sc["sd"] * rng.standard_normal(len(eta))
    elif sc["family"] == "binary":
        df["y"] = (rng.random(len(eta)) < special.expit(special.logit(sc["base"]) + eta)).astype(int)
    else:
        mu = sc["months"] * sc["base"] * np.exp(eta)
        df["y"] = rng.poisson(rng.gamma(1 / sc["phi"], sc["phi"] * mu))
        df["exposure"] = float(sc["months"])
    return df


def cluster_pymc(df: pd.DataFrame, family: str, s: float, direction: str) -> float:
    """The package's hierarchical graph for whole-team designs, written out: team intercepts
    and team effects, non-centred, the package's priors."""
    import pymc as pm

    team = pd.factorize(df["team"], sort=True)[0]
    J = int(team.max()) + 1
    tD = np.bincount(team, weights=df["treated"], minlength=J) > 0
    y = df["y"].to_numpy(dtype=float)
    with pm.Model():
        centre = float(np.mean(y)) if family == "normal" else float(special.logit(np.clip(y.mean(), .01, .99)))
        mu = pm.Normal("intercept_mean", centre, 2.5 * s)
        sa = pm.HalfNormal("intercept_sd_team", s)
        st = pm.HalfNormal("effect_sd_team", 0.5 * s)
        delta = pm.Normal("effect_mean", 0.0, s)
        za = pm.Normal("za", 0, 1, shape=J)
        zt = pm.Normal("zt", 0, 1, shape=J)
        eta_team = mu + sa * za + tD * (delta + st * zt)
        if family == "normal":
            sigma = pm.HalfNormal("sigma", s)
            pm.Normal("obs", eta_team[team], sigma, observed=y)
        else:
            succ = np.bincount(team, weights=y, minlength=J)
            trials = np.bincount(team, minlength=J)
            pm.Binomial("obs", n=trials, logit_p=eta_team, observed=succ)
        idata = pm.sample(draws=SAMPLER["draws"], tune=SAMPLER["tune"], chains=SAMPLER["chains"],
                          random_seed=SAMPLER["seed"], target_accept=0.95, progressbar=False,
                          cores=1, compute_convergence_checks=False)
    d = idata.posterior["effect_mean"].to_numpy().ravel()
    return float(np.mean(d > 0) if direction == "increase" else np.mean(d < 0))


def package_pymc(df: pd.DataFrame, sc: dict, s: float, direction: str) -> tuple[float, bool]:
    priors = {"effect_mean": {"mu": 0.0, "sigma": s}}
    group = None
    if sc["layout"] == "within":
        group = "team"
        priors.update({"effect_sd_team": {"sigma": 0.5 * s}, "intercept_sd_team": {"sigma": s}})
    kw = {"exposure": "exposure"} if sc["family"] == "count" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_effects(df, outcome="y", treatment="treated", group=group, family=sc["family"],
                          priors=priors, direction=direction, cache=False, **kw, **SAMPLER)
    d = res.draws("effect_mean")
    return float(np.mean(d > 0) if direction == "increase" else np.mean(d < 0)), bool(res.converged)


def validate() -> pd.DataFrame:
    rows = []
    for k, sc in enumerate(SCENARIOS):
        rng = np.random.default_rng(100 + k)
        direction = sc.get("direction", "increase")
        for i in range(N_STUDIES):
            df = simulate_people(sc, rng)
            s = float(df["y"].std(ddof=1)) if sc["family"] == "normal" else 1.0
            t0 = time.perf_counter()
            approx = p_positive_from_data(df, family=sc["family"], outcome="y", treatment="treated",
                                          group=None if sc["layout"] == "two_arm" else "team",
                                          exposure="exposure" if sc["family"] == "count" else None,
                                          prior_scale=s, overdispersion=sc.get("phi", 0.0),
                                          direction=direction)
            t_approx = time.perf_counter() - t0
            t0 = time.perf_counter()
            if sc["layout"] == "cluster":
                full, conv = cluster_pymc(df, sc["family"], s, direction), True
            else:
                full, conv = package_pymc(df, sc, s, direction)
            rows.append({"scenario": sc["name"], "study": i, "p_approx": approx, "p_pymc": full,
                         "diff": approx - full, "same_decision": (approx > 0.95) == (full > 0.95),
                         "converged": conv, "s_approx": t_approx, "s_pymc": time.perf_counter() - t0})
            print(f"{sc['name']:<34} study {i}: approx {approx:.3f}  pymc {full:.3f}", flush=True)
    return pd.DataFrame(rows)


def timing() -> list[tuple[str, float, pd.DataFrame]]:
    out = []
    for label, kw in [
        ("normal, two arms", dict(family="normal", outcome_sd=10, effect=3, effect_sd=1)),
        ("binary, two arms", dict(family="binary", base_rate=0.2, effect=0.5, effect_sd=0.2)),
        ("normal, 20 whole teams", dict(family="normal", outcome_sd=10, effect=3, effect_sd=1,
                                        teams=20, effect_sd_team=0.5, intercept_sd_team=2)),
        ("binary, 20 teams, people within teams", dict(family="binary", base_rate=0.2, effect=0.5,
                                                      effect_sd=0.2, teams=20, unit="employee",
                                                      effect_sd_team=0.2, intercept_sd_team=0.3)),
    ]:
        t0 = time.perf_counter()
        r = assurance(n_per_arm=[50, 100, 200, 400, 800], **kw)
        out.append((label, time.perf_counter() - t0, r.table))
        print(f"timing {label}: {out[-1][1]:.1f} s", flush=True)
    return out


def main() -> int:
    t_all = time.perf_counter()
    tim = timing()
    val = validate()
    lines = ["# Assurance: the approximation against full PyMC fits, and its speed", "",
             f"Command: `.venv/bin/python benchmarks/bench_assurance.py` ({N_STUDIES} studies per "
             f"scenario; PyMC {SAMPLER['chains']} chains x {SAMPLER['draws']} draws after "
             f"{SAMPLER['tune']} tuning; {time.perf_counter() - t_all:.0f} s in all on this machine, "
             f"2 cores shared with other jobs).", "",
             "## Speed: assurance for 5 sample sizes (50-800 per arm), 4,000 simulations each", "",
             "| design | seconds |", "|---|---|"]
    lines += [f"| {lab} | {sec:.1f} |" for lab, sec, _ in tim]
    lines += ["", "## P(effect in the good direction | data): approximation vs PyMC", "",
              "Each row: one simulated study analysed both ways (same priors). PyMC's own Monte Carlo "
              "error on a probability near 0.9 is about 0.007 (2,000 draws).", "",
              "| scenario | study | approximation | PyMC | difference | same decision (> 0.95) |",
              "|---|---|---|---|---|---|"]
    for r in val.itertuples():
        lines.append(f"| {r.scenario} | {r.study} | {r.p_approx:.3f} | {r.p_pymc:.3f} | "
                     f"{r.diff:+.3f} | {'yes' if r.same_decision else '**no**'} |")
    g = val.groupby("scenario", sort=False).agg(max_abs_diff=("diff", lambda d: d.abs().max()),
                                                mean_diff=("diff", "mean"),
                                                agree=("same_decision", "mean"),
                                                pymc_s=("s_pymc", "mean"), approx_s=("s_approx", "mean"))
    lines += ["", "## Summary per scenario", "",
              "| scenario | max abs difference | mean difference | decisions agree | PyMC s/fit | approx s/study |",
              "|---|---|---|---|---|---|"]
    for name, r in g.iterrows():
        lines.append(f"| {name} | {r.max_abs_diff:.3f} | {r.mean_diff:+.3f} | {r.agree:.0%} | "
                     f"{r.pymc_s:.1f} | {r.approx_s:.4f} |")
    lines += ["", f"Overall: max |difference| {val['diff'].abs().max():.3f}, mean |difference| "
              f"{val['diff'].abs().mean():.3f}, decisions agree in {val['same_decision'].mean():.0%} "
              f"of {len(val)} studies; PyMC converged in {val['converged'].mean():.0%}.", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
