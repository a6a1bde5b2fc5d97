r"""The approximate posterior of a two-arm study that makes assurance fast (module docstring of
:mod:`lndbayes.planning.assurance`, step by step), and its use on one finished study.

A study is a set of team x arm cells (:class:`Cells`: plain two-arm, people randomised within
teams, or whole teams randomised). From each cell's sufficient statistics,
:func:`estimates` gives its link-scale estimate and sampling variance (normal: the cell mean
and the pooled within-cell variance; binary: the empirical logit; count: the log rate), and
:func:`p_positive` the posterior P(effect in the good direction) under the package's
hierarchical model written on the link scale with normal likelihoods: the effect (and the
cluster design's mean level) integrated exactly, the between-team sds on a grid under the
package's priors (sigma_theta ~ HalfNormal(0.5 s), sigma_alpha ~ HalfNormal(s)). Vectorised
over simulated studies; validated against full PyMC fits in benchmarks/bench_assurance.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lndbayes.errors import ModelInputError
from lndbayes.models.families import get_family

#: grid points for the between-team sds (trapezoid rule on [0, 3 prior sds])
GRID_EFFECT_SD = 40
#: whole-team designs: a 2-D grid (intercept sd x effect sd); 20 x 12 points moved P(effect > 0)
#: by at most 0.0003 against 60 x 40 on the benchmark's cluster studies, at a twentieth of the time
GRID_INTERCEPT_SD = 20
GRID_EFFECT_SD_CLUSTER = 12
#: simulated studies per vectorised block (the cluster design's posterior uses a quarter)
CHUNK = 1000


@dataclass
class Cells:
    """The study's team x arm cells: team index, arm (D), people per cell."""

    team: np.ndarray
    D: np.ndarray
    m: np.ndarray
    J: int
    layout: str  # "two_arm", "within_teams", "cluster"


def design_cells(n: int, teams: int | None, unit: str) -> Cells:
    """The cells of a design with ``n`` people per arm: no teams (two cells), people randomised
    within ``teams`` (``unit="employee"``: each team has both arms), or whole teams randomised
    (``unit="team"``: half the teams, rounded down, in the program arm); people spread evenly."""
    def spread(total, k):
        base = np.full(k, total // k)
        base[: total % k] += 1
        return base

    if teams is None:
        return Cells(np.zeros(2, int), np.array([1, 0]), np.array([n, n]), 1, "two_arm")
    if unit == "employee":
        m = spread(n, teams)
        return Cells(np.concatenate([np.arange(teams)] * 2), np.repeat([1, 0], teams),
                     np.concatenate([m, m]), teams, "within_teams")
    jt = teams // 2
    jc = teams - jt
    m = np.concatenate([spread(n, jt), spread(n, jc)])
    return Cells(np.arange(teams), np.concatenate([np.ones(jt, int), np.zeros(jc, int)]), m,
                 teams, "cluster")


def estimates(fam: str, cells: Cells, st: dict, overdispersion: float = 0.0):
    """Link-scale estimate and sampling variance of each cell (S, C) from its sufficient
    statistics, and the residual degrees of freedom (normal family, None otherwise)."""
    m = cells.m.astype(float)
    if fam == "normal":
        df = st["df"]
        if st.get("sd_known") is not None:
            s2, df = np.full((st["mean"].shape[0], 1), st["sd_known"] ** 2), None
        elif df >= 1:
            s2 = (st["ss"] / df)[:, None]
        else:
            raise ModelInputError("one person per cell leaves no degrees of freedom for the outcome's "
                                  "sd. Fix: at least 2 people per team and arm.")
        return st["mean"], s2 / m, df
    y = st["y"]
    if fam == "binary":
        est = np.log((y + 0.5) / (m - y + 0.5))
        pbar = np.empty_like(y)
        for arm in (0, 1):
            k = cells.D == arm
            pbar[:, k] = ((y[:, k].sum(1) + 0.5) / (m[k].sum() + 1.0))[:, None]
        return est, 1.0 / (m * pbar * (1 - pbar)), None
    E = st["E"]
    est = np.log((y + 0.5) / E)
    rbar = np.empty_like(y)
    for arm in (0, 1):
        k = cells.D == arm
        rbar[:, k] = ((y[:, k].sum(1) + 0.5) / E[:, k].sum(1))[:, None]
    return est, 1.0 / (E * rbar) + overdispersion / m, None


def p_positive_from_data(df: pd.DataFrame, *, family: str, outcome: str, treatment: str,
                         group: str | None = None, exposure: str | None = None,
                         analysis_prior_mean: float = 0.0, analysis_prior_sd: float | None = None,
                         prior_scale: float | None = None, overdispersion: float = 0.0,
                         direction: str = "increase") -> float:
    """The approximate posterior P(effect in the good direction | data) of one finished study
    (one row per person), as the assurance simulation computes it: ``group`` None is a plain
    two-arm study; teams holding both arms, people randomised within teams; teams holding one
    arm each, a cluster design. ``prior_scale``: the ``s`` of the package's priors (default: the
    outcome's sd for normal, 1 otherwise). Used to validate the approximation against PyMC
    (benchmarks/bench_assurance.py) and the fast simulation against a direct one (tests)."""
    fam = get_family(family).name
    fam = "normal" if fam == "lognormal" else fam
    y = pd.to_numeric(df[outcome]).to_numpy(dtype=float)
    if get_family(family).name == "lognormal":
        y = np.log(y)
    D = pd.to_numeric(df[treatment]).to_numpy().astype(int)
    team = np.zeros(len(df), int) if group is None else pd.factorize(df[group], sort=True)[0]
    J = int(team.max()) + 1
    arms_per_team = np.bincount(team, weights=D, minlength=J), np.bincount(team, minlength=J)
    cluster = group is not None and np.all((arms_per_team[0] == 0) | (arms_per_team[0] == arms_per_team[1]))
    if cluster:
        key = team
        tD = (arms_per_team[0] > 0).astype(int)
        cells = Cells(np.arange(J), tD, arms_per_team[1], J, "cluster")
    else:
        # cells: treated cells of every team first, then control cells (the layout design_cells uses)
        key = np.where(D == 1, team, J + team)
        m = np.bincount(key, minlength=2 * J)
        cells = Cells(np.concatenate([np.arange(J)] * 2), np.repeat([1, 0], J), m, J,
                      "two_arm" if group is None else "within_teams")
    C = len(cells.m)
    if fam == "normal":
        sums = np.bincount(key, weights=y, minlength=C)
        mean = sums / cells.m
        ss = float(((y - mean[key]) ** 2).sum())
        st = {"mean": mean[None, :], "ss": np.array([ss]), "df": int(len(y) - C), "sd_known": None}
        s = float(np.std(y, ddof=1)) if prior_scale is None else prior_scale
    elif fam == "binary":
        st = {"y": np.bincount(key, weights=y, minlength=C)[None, :]}
        s = 1.0 if prior_scale is None else prior_scale
    else:
        E = pd.to_numeric(df[exposure]).to_numpy(dtype=float)
        st = {"y": np.bincount(key, weights=y, minlength=C)[None, :],
              "E": np.bincount(key, weights=E, minlength=C)[None, :]}
        s = 1.0 if prior_scale is None else prior_scale
    est, var, dof = estimates(fam, cells, st, overdispersion)
    sign = 1.0 if direction == "increase" else -1.0
    s0 = s if analysis_prior_sd is None else float(analysis_prior_sd)
    p0 = 0.0 if math.isinf(s0) else 1.0 / s0 ** 2
    return float(p_positive(cells, sign * est, var, dof, sign * analysis_prior_mean, p0, s)[0])


def _trapezoid(G: int, upper: float):
    grid = np.linspace(0.0, upper, G)
    w = np.full(G, grid[1] - grid[0])
    w[[0, -1]] /= 2
    return grid, w


def _tail(z, df):
    """P(delta > 0) from a standardised posterior mean: normal, or Student-t with df."""
    return stats.norm.cdf(z) if df is None else stats.t.cdf(z, df)


def p_positive(cells: Cells, est, var, df, m0: float, p0: float, s: float) -> np.ndarray:
    """P(delta > 0 | data) per simulated study (the approximate posterior of the module
    docstring); ``p0`` = analysis prior precision (0 = flat), ``s`` the prior scale."""
    S = est.shape[0]
    if cells.layout == "two_arm":
        d = est[:, 0] - est[:, 1]
        v = var[:, 0] + var[:, 1]
        A = p0 + 1.0 / v
        mean = (p0 * m0 + d / v) / A
        return _tail(mean * np.sqrt(A), df)
    if cells.layout == "within_teams":
        J = cells.J
        d = est[:, :J] - est[:, J:]  # team differences (treated cells first)
        v = var[:, :J] + var[:, J:]
        tau, wq = _trapezoid(GRID_EFFECT_SD, 3 * 0.5 * s)
        prior = wq * stats.halfnorm.pdf(tau, scale=0.5 * s)
        W = 1.0 / (v[:, :, None] + tau[None, None, :] ** 2)  # (S, J, G)
        r = d[:, :, None] - m0
        sw = W.sum(1)
        swr = (W * r).sum(1)
        A = p0 + sw
        logml = (-0.5 * np.log(1.0 / W).sum(1) - 0.5 * np.log(A)
                 - 0.5 * ((W * r * r).sum(1) - swr ** 2 / A))
        mean = m0 + swr / A
        logw = logml + np.log(prior)[None, :]
        logw -= logw.max(1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(1, keepdims=True)
        return (w * _tail(mean * np.sqrt(A), df)).sum(1)
    # cluster: team estimates, mu flat, delta ~ N(m0, 1/p0), (sigma_alpha, sigma_theta) on a grid
    sa, wa = _trapezoid(GRID_INTERCEPT_SD, 3 * s)
    st, wt = _trapezoid(GRID_EFFECT_SD_CLUSTER, 3 * 0.5 * s)
    prior = (wa * stats.halfnorm.pdf(sa, scale=s))[:, None] * (wt * stats.halfnorm.pdf(st, scale=0.5 * s))[None, :]
    prior = prior.ravel()
    SA = np.repeat(sa, len(st))
    ST = np.tile(st, len(sa))
    D = cells.D.astype(bool)
    out = np.empty(S)
    for lo in range(0, S, max(1, CHUNK // 4)):
        hi = min(S, lo + max(1, CHUNK // 4))
        y = est[lo:hi, :, None]
        tot = var[lo:hi, :, None] + SA[None, None, :] ** 2 + np.where(D[None, :, None], ST[None, None, :] ** 2, 0.0)
        W = 1.0 / tot
        S0 = W[:, ~D].sum(1)
        S1 = W[:, D].sum(1)
        Y0 = (W * y)[:, ~D].sum(1)
        Y1 = (W * y)[:, D].sum(1)
        b0, b1 = Y0 + Y1, Y1 + p0 * m0
        a00, a01, a11 = S0 + S1, S1, S1 + p0
        det = a00 * a11 - a01 ** 2
        mean = (a00 * b1 - a01 * b0) / det
        vdel = a00 / det
        quad = (W * y * y).sum(1) + p0 * m0 ** 2 - (a11 * b0 ** 2 - 2 * a01 * b0 * b1 + a00 * b1 ** 2) / det
        logml = -0.5 * np.log(tot).sum(1) - 0.5 * np.log(det) - 0.5 * quad
        logw = logml + np.log(prior)[None, :]
        logw -= logw.max(1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(1, keepdims=True)
        out[lo:hi] = (w * _tail(mean / np.sqrt(vdel), df)).sum(1)
    return out
