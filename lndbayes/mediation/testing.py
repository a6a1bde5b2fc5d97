"""Simulated mediation tables with known effects (tests, benchmarks, docs)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_mediation(n: int = 400, *, a: float = 0.5, b: float = 0.6, c_prime: float = 0.3,
                       n_groups: int = 0, group_sd: float = 0.5, covariate: float = 0.4,
                       sigma_m: float = 1.0, sigma_y: float = 1.0, rho: float = 0.0,
                       seed: int = 0) -> pd.DataFrame:
    """One table: ``T`` (randomised 0/1, half each), ``M``, ``Y``, covariate ``x``, ``team``.

    ``M = a T + covariate x + u_M[team] + e_M``, ``Y = c' T + b M + covariate x + u_Y[team]
    + e_Y`` with ``corr(e_M, e_Y) = rho`` (rho != 0: an unmeasured mediator-outcome
    confounder). True indirect ``a*b``, direct ``c'``, total ``c' + a*b``.
    """
    rng = np.random.default_rng(seed)
    t = rng.permutation(np.arange(n) % 2).astype(float)
    x = rng.normal(0, 1, n)
    g = rng.integers(0, max(n_groups, 1), n)
    u_m = rng.normal(0, group_sd, max(n_groups, 1)) if n_groups else np.zeros(1)
    u_y = rng.normal(0, group_sd, max(n_groups, 1)) if n_groups else np.zeros(1)
    z1, z2 = rng.normal(size=(2, n))
    e_m = sigma_m * z1
    e_y = sigma_y * (rho * z1 + np.sqrt(1 - rho ** 2) * z2)
    m = 1.0 + a * t + covariate * x + u_m[g] + e_m
    y = 2.0 + c_prime * t + b * m + covariate * x + u_y[g] + e_y
    out = pd.DataFrame({"T": t.astype(int), "M": m, "Y": y, "x": x})
    if n_groups:
        out["team"] = [f"team_{i:02d}" for i in g]
    return out


def simulate_chain(n: int = 300, *, a: tuple = (0.6, 0.3), d: float = 0.5, b: tuple = (0.2, 0.5),
                   c_prime: float = 0.2, n_groups: int = 30, group_sd: float = 0.4,
                   covariate: float = 0.3, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """A chain table ``T -> L2 -> L3 -> Y`` (columns T, L2, L3, Y, x, team) and its truth.

    ``L2 = a1 T + cov x + u + e``, ``L3 = a2 T + d L2 + cov x + u + e``, ``Y = c' T + b1 L2 +
    b2 L3 + cov x + u + e`` (unit-sd errors, team intercepts sd ``group_sd``). Truth: the paths
    ``a1 d b2`` (L2 -> L3), ``a1 b1`` (L2 only), ``a2 b2`` (L3 only), their sum, ``c'``.
    """
    rng = np.random.default_rng(seed)
    t = rng.permutation(np.arange(n) % 2).astype(float)
    x = rng.normal(0, 1, n)
    g = rng.integers(0, n_groups, n)
    u = rng.normal(0, group_sd, (3, n_groups))
    e = rng.normal(0, 1, (3, n))
    l2 = a[0] * t + covariate * x + u[0, g] + e[0]
    l3 = a[1] * t + d * l2 + covariate * x + u[1, g] + e[1]
    y = c_prime * t + b[0] * l2 + b[1] * l3 + covariate * x + u[2, g] + e[2]
    df = pd.DataFrame({"T": t.astype(int), "L2": l2, "L3": l3, "Y": y, "x": x,
                       "team": [f"team_{i:02d}" for i in g]})
    paths = {("L2", "L3"): a[0] * d * b[1], ("L2",): a[0] * b[0], ("L3",): a[1] * b[1]}
    ind = sum(paths.values())
    return df, {"paths": paths, "indirect": ind, "direct": c_prime, "total": ind + c_prime}


def _expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def simulate_binary_mediation(n: int = 600, *, a: float = 0.8, b: float = 0.8, c_prime: float = 0.4,
                              intercept: float = -0.5, n_groups: int = 20, group_sd: float = 0.3,
                              covariate: float = 0.4, seed: int = 0, nodes: int = 40
                              ) -> tuple[pd.DataFrame, dict]:
    """A table with a binary outcome (columns T, M, Y in 0/1, x, team) and its truth.

    ``M = a T + covariate x + u_M[team] + e_M`` (e_M ~ N(0, 1)); ``Y ~ Bernoulli(expit(intercept
    + c' T + b M + covariate x + u_Y[team]))``. The truth is what ``fit_mediation(...,
    family="binary")`` estimates, on the probability scale and averaged over this table's rows
    (their covariates and true team effects), the mediator's error integrated by Gauss-Hermite:
    with ``p(t, t') = mean_i E[expit(eta_i(t, M_i(t')))]``, indirect ``p(1,1) - p(1,0)``, direct
    ``p(1,0) - p(0,0)``, total ``p(1,1) - p(0,0)`` (Imai, Keele & Tingley 2010's delta(1), zeta(0)).
    """
    rng = np.random.default_rng(seed)
    t = rng.permutation(np.arange(n) % 2).astype(float)
    x = rng.normal(0, 1, n)
    g = rng.integers(0, n_groups, n)
    u_m, u_y = rng.normal(0, group_sd, (2, n_groups))
    base_m = covariate * x + u_m[g]
    base_y = intercept + covariate * x + u_y[g]
    m = base_m + a * t + rng.normal(0, 1, n)
    y = (rng.random(n) < _expit(base_y + c_prime * t + b * m)).astype(int)
    q, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()

    def p(t_y: int, t_m: int) -> float:
        mm = (base_m + a * t_m)[:, None] + q[None, :]
        return float((_expit((base_y + c_prime * t_y)[:, None] + b * mm) @ w).mean())

    p11, p10, p00 = p(1, 1), p(1, 0), p(0, 0)
    df = pd.DataFrame({"T": t.astype(int), "M": m, "Y": y, "x": x,
                       "team": [f"team_{i:02d}" for i in g]})
    return df, {"indirect": p11 - p10, "direct": p10 - p00, "total": p11 - p00, "p_control": p00}
