r"""Effects on the data's scale, draw by draw, from the standardised graph's posterior.

Continuous outcome (linear-linear): the coefficients are put back on the data's scale
(:math:`a_k s_{M_k}`, :math:`d_{kl} s_{M_k}/s_{M_l}`, :math:`b_k s_Y/s_{M_k}`, :math:`c' s_Y`)
and an indirect path :math:`T \to M_{i_1} \to \dots \to M_{i_m} \to Y` is the product of the
coefficients along it, :math:`a_{i_1} d_{i_2 i_1} \cdots b_{i_m}`. Then

* ``indirect`` = the sum over all paths (one path with one mediator: :math:`ab`);
* ``direct`` = :math:`c'`;
* ``total`` = direct + indirect (what a regression of :math:`Y` on :math:`T` alone estimates);
* ``proportion_mediated`` = indirect / total, draw by draw.

Binary outcome (one mediator): effects on the probability scale, averaged over the analysed
rows (their covariates and groups), integrating the mediator's normal error by Gauss-Hermite
quadrature: with :math:`p(t, t') = \frac1n\sum_i E[\mathrm{logit}^{-1}\eta_i(t, M_i(t'))]`,
``indirect`` = :math:`p(1,1) - p(1,0)` (the average causal mediation effect under treatment,
:math:`\bar\delta(1)` in Imai, Keele & Tingley 2010), ``direct`` = :math:`p(1,0) - p(0,0)`
(:math:`\bar\zeta(0)`), ``total`` = :math:`p(1,1) - p(0,0)`, so indirect + direct = total.
"""

from __future__ import annotations

import itertools

import numpy as np

from lndbayes.mediation.model import d_index


def flat(post, name: str) -> np.ndarray:
    """Draws of ``name`` with chains stacked: shape (S, ...)."""
    v = np.asarray(post[name].values, dtype=float)
    return v.reshape((-1,) + v.shape[2:])


def paths(K: int) -> list[tuple]:
    """Every indirect path as the mediators it passes, in causal order."""
    return [p for m in range(1, K + 1) for p in itertools.combinations(range(K), m)]


def coefficients(post, d) -> dict:
    """Data-scale coefficient draws: a (S, K), dmat (S, K, K), b (S, K), c_prime (S,)."""
    K = d.K
    a = flat(post, "a") * d.m_scale[None, :]
    b = flat(post, "b") * d.y_scale / d.m_scale[None, :]
    c = flat(post, "c_prime") * d.y_scale
    S = a.shape[0]
    dmat = np.zeros((S, K, K))
    if K > 1:
        dd = flat(post, "d")
        for (k, l_), i in d_index(K).items():
            dmat[:, k, l_] = dd[:, i] * d.m_scale[k] / d.m_scale[l_]
    return {"a": a, "dmat": dmat, "b": b, "c_prime": c}


def path_draws(co: dict, K: int) -> dict:
    """Draws of each path's indirect effect (linear case), keyed by the path tuple."""
    out = {}
    for p in paths(K):
        v = co["a"][:, p[0]].copy()
        for prev, nxt in zip(p[:-1], p[1:]):
            v = v * co["dmat"][:, nxt, prev]
        out[p] = v * co["b"][:, p[-1]]
    return out


def linear_effects(post, d) -> dict:
    co = coefficients(post, d)
    per_path = path_draws(co, d.K)
    indirect = np.sum(list(per_path.values()), axis=0)
    direct = co["c_prime"]
    return {"coefficients": co, "paths": per_path, "indirect": indirect, "direct": direct,
            "total": direct + indirect}


def _expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def binary_effects(post, d, *, nodes: int = 16, chunk_cells: int = 4_000_000) -> dict:
    """Probability-scale effects of a binary outcome with one mediator (module docstring)."""
    mu, a, b = flat(post, "mu"), flat(post, "a")[:, 0], flat(post, "b")[:, 0]
    c, sig = flat(post, "c_prime"), flat(post, "sigma")[:, 0]
    S, n = len(a), d.n
    int_m = np.repeat(mu[:, [0]], n, axis=1)
    int_y = np.repeat(mu[:, [1]], n, axis=1)
    if "dev" in post:
        dev = flat(post, "dev")                               # (S, group slots, equation)
        int_m = int_m + dev[:, d.g, 0]
        int_y = int_y + dev[:, d.g, 1]
    if d.P:
        coef = flat(post, "coef")
        int_m = int_m + coef[:, 0, :] @ d.X.T
        int_y = int_y + coef[:, 1, :] @ d.X.T
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    step = max(1, chunk_cells // max(1, n * nodes))
    p = {k: np.empty(S) for k in ((1, 1), (1, 0), (0, 0))}
    for lo in range(0, S, step):
        sl = slice(lo, min(S, lo + step))
        for (t, tm) in p:
            m_mean = int_m[sl] + a[sl, None] * tm                                  # (s, n)
            m = m_mean[:, :, None] + sig[sl, None, None] * x[None, None, :]         # (s, n, q)
            eta = (int_y[sl] + c[sl, None] * t)[:, :, None] + b[sl, None, None] * m
            p[(t, tm)][sl] = (_expit(eta) @ w).mean(axis=1)
    co = coefficients(post, d)
    return {"coefficients": co, "paths": {}, "indirect": p[(1, 1)] - p[(1, 0)],
            "direct": p[(1, 0)] - p[(0, 0)], "total": p[(1, 1)] - p[(0, 0)],
            "p_control": p[(0, 0)]}
