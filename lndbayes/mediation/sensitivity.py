r"""How strong would an unmeasured mediator-outcome confounder have to be? (``medsens``)

The mediation model assumes sequential ignorability: given the treatment and covariates, the
mediator's and the outcome's errors are independent. An unmeasured variable that drives both
breaks it and shows up as a correlation :math:`\rho = \mathrm{corr}(\varepsilon_M,
\varepsilon_Y)` (Imai, Keele & Yamamoto 2010, *Statistical Science* 25(1), section 5; the
``mediation`` R package's ``medsens``). For the linear-linear model their closed form is

.. math::

    \bar\delta(\rho) = \frac{a\,\sigma_1}{\sigma_2}
      \left\{\tilde\rho - \rho\sqrt{\frac{1 - \tilde\rho^2}{1 - \rho^2}}\right\}

with :math:`\sigma_1` the error sd of the regression of :math:`Y` on :math:`T` (and the
covariates), :math:`\sigma_2` that of the mediator model and :math:`\tilde\rho` the correlation
of their errors. Here the same quantity is computed from the fitted model's parameters, draw
by draw, by re-solving the outcome equation for a given :math:`\rho`: the model fitted with
:math:`\rho = 0` identifies the joint law of the errors; with :math:`\rho \neq 0` the
mediator's coefficient becomes

.. math::

    b(\rho) = b - \rho\,\frac{\sigma_Y}{\sigma_M\sqrt{1 - \rho^2}}

(which equals the closed form above: :math:`\sigma_1^2 = \sigma_Y^2 + b^2\sigma_M^2`,
:math:`\tilde\rho = b\sigma_M/\sigma_1`; tests/test_mediation.py checks the two against each
other), so :math:`\bar\delta(\rho) = \bar\delta(0) - a\,(b - b(\rho))`. The indirect effect is
0 at :math:`\rho_0 = q/\sqrt{1 + q^2}` with :math:`q = \bar\delta(0)\,\sigma_M / (a\,\sigma_Y)`
(one mediator: :math:`\rho_0 = \tilde\rho`).

A chain of mediators: :math:`\rho` is the correlation between the *last* mediator's error
(behaviour, L3) and the outcome's. The total effect is identified whatever :math:`\rho` is;
what changes is :math:`b_K`, and with it the direct effect :math:`c'(\rho) = c' + a_K(b_K -
b_K(\rho))` and the coefficients of the earlier mediators, so the total indirect effect is
:math:`\bar\delta(0) - a_K (b_K - b_K(\rho))`, with :math:`a_K` the treatment's direct
coefficient in the last mediator's equation.

In :math:`R^2` terms (medsens' other scale): :math:`\rho^2 = R^{2*}_M R^{2*}_Y` (shares of the
*unexplained* variances the confounder would explain) and :math:`\tilde R^2_M \tilde R^2_Y =
(1 - R^2_M)(1 - R^2_Y)\rho^2` (shares of the *total* variances).
"""

from __future__ import annotations

import numpy as np

from lndbayes import INTERVAL
from lndbayes.errors import ModelInputError
from lndbayes.mediation.effects import flat

#: the default grid of rho values (medsens uses steps of 0.01 too)
RHO_GRID = np.round(np.arange(-0.99, 0.9901, 0.01), 2)


def b_at_rho(b, sigma_m, sigma_y, rho):
    """The mediator's structural coefficient when its error and the outcome's correlate by ``rho``."""
    rho = np.asarray(rho, dtype=float)
    return b - rho * sigma_y / (sigma_m * np.sqrt(1.0 - rho ** 2))


def iky_closed_form(a, sigma_1, sigma_2, rho_tilde, rho):
    r"""Imai, Keele & Yamamoto (2010)'s :math:`\bar\delta(\rho)` for the linear-linear model."""
    rho = np.asarray(rho, dtype=float)
    return a * sigma_1 / sigma_2 * (rho_tilde - rho * np.sqrt((1 - rho_tilde ** 2) / (1 - rho ** 2)))


def _root_of_curve(grid, mean):
    """rho where the curve crosses 0 (linear interpolation between grid points), else None."""
    s = np.sign(mean)
    idx = np.flatnonzero(s[:-1] * s[1:] <= 0)
    if not len(idx):
        return None
    i = idx[0]
    if mean[i] == mean[i + 1]:
        return float(grid[i])
    return float(grid[i] - mean[i] * (grid[i + 1] - grid[i]) / (mean[i + 1] - mean[i]))


def _runs(grid, mask) -> list:
    """Contiguous stretches of the grid where ``mask`` holds, as [lo, hi] pairs."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if (not m or i == len(mask) - 1) and start is not None:
            end = i if m else i - 1
            out.append([float(grid[start]), float(grid[end])])
            start = None
    return out


def sensitivity(post, d, effects: dict, *, rho=None, prob: float = INTERVAL) -> dict:
    """The indirect effect as a function of rho, draw by draw (module docstring).

    Returns a plain dict (JSON-ready): ``rho`` (grid), ``indirect_mean/lower/upper`` per rho,
    ``rho_at_zero`` (where the posterior mean crosses 0; None if it does not on the grid),
    ``rho_at_zero_draws`` (mean and interval of each draw's own zero), ``rho_where_interval_includes_0``
    (stretches of the grid, [lo, hi] pairs), ``r2_star_product_at_zero`` and
    ``r2_tilde_product_at_zero``, ``mediator`` (the last mediator, whose error rho concerns).
    """
    grid = RHO_GRID if rho is None else np.asarray(rho, dtype=float)
    if grid.ndim != 1 or not len(grid) or np.any(~np.isfinite(grid)) or np.any(np.abs(grid) >= 1):
        raise ModelInputError("rho must be a list of values strictly between -1 and 1. Fix: e.g. "
                              "rho=np.arange(-0.9, 0.91, 0.01)")
    K = d.K
    sig = flat(post, "sigma")                                # standardised scale
    sigma_m = sig[:, K - 1] * d.m_scale[K - 1]
    sigma_y = sig[:, K] * d.y_scale
    a_k = effects["coefficients"]["a"][:, K - 1]
    b_k = effects["coefficients"]["b"][:, K - 1]
    ind0 = effects["indirect"]
    curve = ind0[:, None] - a_k[:, None] * (b_k[:, None] - b_at_rho(
        b_k[:, None], sigma_m[:, None], sigma_y[:, None], grid[None, :]))
    tail = (1 - prob) / 2
    lo, hi = np.quantile(curve, [tail, 1 - tail], axis=0)
    mean = curve.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = ind0 * sigma_m / (a_k * sigma_y)
        rho0_draws = q / np.sqrt(1 + q ** 2)
    rho0_draws = rho0_draws[np.isfinite(rho0_draws)]
    root = _root_of_curve(grid, mean)
    r2_m = float(np.mean(1 - sig[:, K - 1] ** 2))
    r2_y = float(np.mean(1 - sig[:, K] ** 2))
    includes = (lo <= 0) & (hi >= 0)
    return {
        "rho": [float(r) for r in grid],
        "indirect_mean": [float(v) for v in mean],
        "indirect_lower": [float(v) for v in lo],
        "indirect_upper": [float(v) for v in hi],
        "rho_at_zero": root,
        "rho_at_zero_draws": {"mean": float(np.mean(rho0_draws)),
                              "lower": float(np.quantile(rho0_draws, tail)),
                              "upper": float(np.quantile(rho0_draws, 1 - tail))}
        if len(rho0_draws) else None,
        "rho_where_interval_includes_0": _runs(grid, includes),
        "r2_star_product_at_zero": None if root is None else root ** 2,
        "r2_tilde_product_at_zero": None if root is None else (1 - r2_m) * (1 - r2_y) * root ** 2,
        "r2_mediator_model": r2_m,
        "r2_outcome_model": r2_y,
        "mediator": None,  # filled by the caller (the name of the last mediator)
        "interval": prob,
    }
