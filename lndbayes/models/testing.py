"""Simulators with known effects, for recovery, coverage and calibration checks (tests, benchmarks).

Each simulator returns ``(df, truth)`` where ``df`` has columns ``team, department, treated, y``
(+ design columns) and ``truth`` holds ``effect_mean``, ``effect_sd_team`` and ``team_effects``
on the link scale.

Simulation-based calibration pieces: :func:`simulate_from_prior`, :func:`sbc_rank` and
:func:`sbc_uniformity_pvalue`; the drivers that fit (``run_sbc``, ``run_coverage``) are in
:mod:`lndbayes.calibration`, above the fitting layer this package must not import.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
import pandas as pd

from lndbayes.models.families import get_family


def simulate(family="normal", *, n_teams=8, n_per_team=100, effect_mean=0.5, effect_sd_team=0.2,
             intercept_mean=0.0, intercept_sd=0.5, sigma=1.0, seed=0, baseline=False,
             n_departments=1, overdispersion=0.5, censor_time=None):
    fam = get_family(family)
    rng = np.random.default_rng(seed)
    team = np.repeat(np.arange(n_teams), n_per_team)
    n = len(team)
    alpha = intercept_mean + intercept_sd * rng.standard_normal(n_teams)
    theta = effect_mean + effect_sd_team * rng.standard_normal(n_teams)
    treated = np.tile(np.arange(n_per_team) % 2, n_teams)
    rng.shuffle(treated)
    # make every team hold both arms
    for j in range(n_teams):
        s = team == j
        if treated[s].min() == treated[s].max():
            idx = np.flatnonzero(s)
            treated[idx[0]] = 1 - treated[idx[0]]
    eta = alpha[team] + theta[team] * treated
    df = pd.DataFrame({"team": [f"team_{j:02d}" for j in team],
                       "department": [f"dept_{j % n_departments}" for j in team],
                       "treated": treated})
    if baseline:
        b = rng.standard_normal(n)
        eta = eta + 0.8 * b * (sigma if fam.link == "identity" else 1.0)
        df["baseline"] = 10 + 2 * b
    y, extra = fam.simulate(eta, rng, sigma=sigma, overdispersion=overdispersion,
                            censor_time=censor_time)
    for col, values in extra.items():  # exposure, censored
        df[col] = values
    df["y"] = y
    truth = {"effect_mean": effect_mean, "effect_sd_team": effect_sd_team,
             "team_effects": {f"team_{j:02d}": float(theta[j]) for j in range(n_teams)},
             "intercept_team": alpha}
    return df, truth


def simulate_panel(design="pre_post", *, n_teams=10, n_periods=8, n_per_cell=20, effect_mean=1.0,
                   effect_sd_team=0.3, event_slope=0.0, seed=0, sigma=1.0):
    """Team x period panel of a normal outcome with period shocks.

    pre_post: half the teams start at period n_periods // 2. staggered: treated teams start at
    different periods (some never); the effect grows by ``event_slope`` per period since start
    (the situation where two-way fixed effects is biased).
    """
    rng = np.random.default_rng(seed)
    alpha = rng.normal(0, 1, n_teams)
    theta = effect_mean + effect_sd_team * rng.standard_normal(n_teams)
    gamma = np.cumsum(rng.normal(0, 0.3, n_periods))
    if design == "pre_post":
        start = np.where(np.arange(n_teams) % 2 == 0, n_periods // 2, -1)
    else:
        choices = [2, 4, 6, -1]
        start = np.array([choices[j % len(choices)] for j in range(n_teams)])
    recs = []
    for j in range(n_teams):
        for t in range(n_periods):
            treated = int(start[j] >= 0)
            post = int(treated and t >= start[j])
            et = (t - start[j]) if treated else np.nan
            eff = (theta[j] + event_slope * (et - 2)) if post else 0.0
            y = alpha[j] + gamma[t] + eff + sigma * rng.standard_normal(n_per_cell)
            for v in y:
                recs.append((f"team_{j:02d}", f"2025-{t + 1:02d}", treated, post, et, v))
    df = pd.DataFrame(recs, columns=["team", "period", "treated", "post", "event_time", "y"])
    return df, {"effect_mean": effect_mean, "effect_sd_team": effect_sd_team,
                "team_effects": {f"team_{j:02d}": float(theta[j]) for j in range(n_teams)}}


# ------------------------------------------------------------------ simulation-based calibration
def simulate_from_prior(family, priors, *, n_teams=10, n_per_team=20, seed=0):
    """One simulation-based-calibration (SBC) data set: parameters drawn from ``priors``.

    ``priors`` has the form of ``fit_effects(priors=...)`` and must give every prior the
    randomized design with ``group`` uses, explicitly: ``intercept_mean`` ({"mu", "sigma"}),
    ``intercept_sd_team``, ``effect_mean`` ({"mu", "sigma"}), ``effect_sd_team`` and, for
    ``normal``, ``sigma`` (HalfNormal {"sigma"}). Explicit priors matter: the defaults are
    scaled to the data, so drawing from them is not drawing from the prior the model then uses.
    Fit the returned data with the *same* ``priors`` (and ``group="team"``), then rank each
    true value among the posterior draws with :func:`sbc_rank`.

    Returns ``(df, truth)``: ``df`` as :func:`simulate`; ``truth`` holds the drawn
    ``intercept_mean``, ``intercept_sd_team``, ``effect_mean``, ``effect_sd_team`` (and
    ``sigma``) as floats and ``effect_team`` / ``intercept_team`` as arrays in team order
    (teams are labelled ``team_00``, ``team_01``, ... so sorted order is index order).
    """
    if family not in ("normal", "binary"):
        raise ValueError("simulate_from_prior supports the normal and binary families")
    need = ["intercept_mean", "intercept_sd_team", "effect_mean", "effect_sd_team"]
    need += ["sigma"] if get_family(family).has_sigma else []
    missing = [k for k in need if k not in priors]
    if missing:
        raise ValueError(f"give these priors explicitly: {', '.join(missing)}")
    rng = np.random.default_rng([int(seed), 1])

    def normal(name):
        return float(rng.normal(priors[name].get("mu", 0.0), priors[name]["sigma"]))

    def half_normal(name):
        return float(abs(rng.normal(0.0, priors[name]["sigma"])))

    truth = {"intercept_mean": normal("intercept_mean"),
             "intercept_sd_team": half_normal("intercept_sd_team"),
             "effect_mean": normal("effect_mean"),
             "effect_sd_team": half_normal("effect_sd_team")}
    if "sigma" in need:
        truth["sigma"] = half_normal("sigma")
    df, sim = simulate(family, n_teams=n_teams, n_per_team=n_per_team,
                       effect_mean=truth["effect_mean"], effect_sd_team=truth["effect_sd_team"],
                       intercept_mean=truth["intercept_mean"],
                       intercept_sd=truth["intercept_sd_team"], sigma=truth.get("sigma", 1.0),
                       seed=int(rng.integers(2**31)))
    truth["effect_team"] = np.array([sim["team_effects"][f"team_{j:02d}"] for j in range(n_teams)])
    truth["intercept_team"] = np.asarray(sim["intercept_team"], dtype=float)
    return df, truth


def sbc_rank(draws, true_value, n_keep=99) -> int:
    """Rank of ``true_value`` among ``n_keep`` evenly thinned ``draws`` (0 .. n_keep).

    Thinning (e.g. 1,000 draws to 99) makes the kept draws roughly independent, which the
    uniformity of SBC ranks assumes (Talts et al. 2018); with a calibrated model and sampler the
    rank is uniform on ``0 .. n_keep``.
    """
    x = np.asarray(draws, dtype=float).reshape(-1)
    if x.size < n_keep:
        raise ValueError(f"need at least {n_keep} draws, got {x.size}")
    idx = np.round(np.linspace(0, x.size - 1, n_keep)).astype(int)
    return int(np.sum(x[idx] < true_value))


def sbc_uniformity_pvalue(ranks, n_keep=99, bins=10) -> float:
    """Chi-square p-value of SBC ranks (from :func:`sbc_rank`) against the discrete uniform.

    The ``n_keep + 1`` possible ranks are pooled into ``bins`` equal-width bins, so
    ``n_keep + 1`` must be a multiple of ``bins``; use at least ~5 replications per bin.
    """
    r = np.asarray(ranks, dtype=int)
    if (n_keep + 1) % bins:
        raise ValueError("n_keep + 1 must be a multiple of bins")
    if r.min() < 0 or r.max() > n_keep:
        raise ValueError("ranks outside 0 .. n_keep")
    counts = np.bincount(r * bins // (n_keep + 1), minlength=bins)
    return float(stats.chisquare(counts).pvalue)
