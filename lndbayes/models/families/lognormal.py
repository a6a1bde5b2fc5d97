r"""Lognormal family (money, durations): :math:`y_i \sim \mathrm{LogNormal}(\eta_i, \sigma)`,
log link on the median; :math:`E[Y] = e^{\eta + \sigma^2/2}`."""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.normal import Normal


class LogNormal(Normal):
    latex = r"y_i \sim \mathrm{LogNormal}(\eta_i,\ \sigma)"
    business_mean_latex = r"\mu(\eta) = e^{\eta + \sigma^2/2}"
    check_statistic = "mean log outcome"

    def _z(self, y):
        return np.log(y)

    def _check(self, y, outcome):
        if np.any(y <= 0):
            k = int(np.sum(y <= 0))
            raise ModelInputError(
                f"outcome '{outcome}' uses the lognormal family (money, durations) but {k} "
                "value(s) are zero or negative. Fix: use family='normal', or remove/correct "
                "those rows."
            )

    def business_mean(self, eta, aux):
        return np.exp(eta + 0.5 * aux["sigma"] ** 2)

    def _observe(self, eta, sigma, y):
        import pymc as pm  # why: see families.base.linear_predictor

        pm.LogNormal("obs", eta, sigma, observed=y)

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        return np.exp(eta + sigma * rng.standard_normal(len(eta))), {}
