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
