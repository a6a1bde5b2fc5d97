"""Simulators with known effects, for recovery, coverage and calibration checks (tests, benchmarks).

Each returns ``(df, truth)`` where ``df`` has columns ``team, department, treated, y`` (+ design
columns) and ``truth`` holds ``effect_mean``, ``effect_sd_team`` and ``team_effects`` on the
link scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _expit(x):
    return 1 / (1 + np.exp(-x))


def simulate(family="normal", *, n_teams=8, n_per_team=100, effect_mean=0.5, effect_sd_team=0.2,
             intercept_mean=0.0, intercept_sd=0.5, sigma=1.0, seed=0, baseline=False,
             n_departments=1, overdispersion=0.5, censor_time=None):
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
        eta = eta + 0.8 * b * (sigma if family == "normal" else 1.0)
        df["baseline"] = 10 + 2 * b
    if family == "normal":
        y = eta + sigma * rng.standard_normal(n)
    elif family == "lognormal":
        y = np.exp(eta + sigma * rng.standard_normal(n))
    elif family == "binary":
        y = (rng.random(n) < _expit(eta)).astype(int)
    elif family == "count":
        exposure = rng.uniform(0.5, 2.0, n)
        mu = np.exp(eta) * exposure
        alpha_nb = 1 / overdispersion
        lam = rng.gamma(alpha_nb, mu / alpha_nb)
        y = rng.poisson(lam)
        df["exposure"] = exposure
    elif family == "time_to_event":
        t = rng.exponential(np.exp(eta))
        c = censor_time if censor_time is not None else float(np.quantile(t, 0.8))
        df["censored"] = (t > c).astype(int)
        y = np.minimum(t, c)
    elif family == "ordinal":
        cut = np.array([-2.0, -0.7, 0.5, 1.8])
        u = rng.logistic(size=n) + eta
        y = 1 + np.sum(u[:, None] > cut[None, :], axis=1)
    else:
        raise ValueError(family)
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
