r"""Binary family: :math:`y_i \sim \mathrm{Bernoulli}(\mathrm{logit}^{-1}\eta_i)`; cells are
Binomial (successes of trials)."""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.base import Family, expit, linear_predictor


class Binary(Family):
    latex = r"y_i \sim \mathrm{Bernoulli}(\mathrm{logit}^{-1}(\eta_i))"
    business_mean_latex = r"\mu(\eta) = \mathrm{logit}^{-1}(\eta)"

    def _check(self, y, outcome):
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise ModelInputError(
                f"outcome '{outcome}' uses the binary family but {int(bad.sum())} value(s) are "
                f"not 0 or 1 (for example {y[bad][0]:g}). Fix: code the outcome as 0/1."
            )

    def display_scale(self, unit_label=None):
        # a difference of probabilities reads as percentage points, whatever the outcome's unit
        return 100.0, "percentage points"

    def aggregate_window(self, values):
        # the event happened in the window if any period recorded it
        return (values.max() > 0).astype(float)

    def link_center(self, y, exposure, censored):
        p = np.clip(np.mean(y), 0.01, 0.99)
        return float(np.log(p / (1 - p)))


    def business_mean(self, eta, aux):
        return expit(eta)

    def raw_mean_se(self, y, exposure, censored):
        n = len(y)
        if n == 0:
            return np.nan, np.nan
        p = float(np.mean(y))
        return p, float(np.sqrt(max(p * (1 - p), 0.25 / n) / n))

    def link_estimate(self, y, exposure, censored):
        n = len(y)
        if n == 0:
            return np.nan, np.inf
        p = (np.sum(y) + 0.5) / (n + 1.0)
        return float(np.log(p / (1 - p))), float(1 / np.sqrt(n * p * (1 - p)))

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see families.base.linear_predictor

        eta = linear_predictor(spec, d, a, beta)
        if spec.exact:
            pm.Binomial("obs", n=d["trials"], logit_p=eta, observed=d["successes"])
        else:
            pm.Bernoulli("obs", logit_p=eta, observed=d["y"])

    def cell_stats(self, rows, uniq, inv, n_base):
        C = uniq.shape[0]
        return {**super().cell_stats(rows, uniq, inv, n_base),
                "successes": np.bincount(inv, weights=rows["y"], minlength=C),
                "trials": np.bincount(inv, minlength=C).astype(float)}

    def replicate(self, cells, eta, params, s, rng):
        return rng.binomial(cells["trials"].astype(np.int64), expit(eta)), cells["trials"]

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        return (rng.random(len(eta)) < expit(eta)).astype(int), {}
