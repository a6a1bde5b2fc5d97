r"""Time to event: exponential with mean :math:`e^{\eta_i}` (accelerated failure time), right
censored; business scale: days."""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.base import Family, linear_predictor


class TimeToEvent(Family):
    needs_censored = True
    one_row_per_person = True
    latex = (r"y_i \sim \mathrm{Exponential}(\mathrm{mean}\ e^{\eta_i}),\ \mathrm{right\ censored:}\ "
             r"\log L_i = -(1 - c_i)\,\eta_i - y_i e^{-\eta_i}")
    business_mean_latex = r"\mu(\eta) = e^{\eta}"
    # replicating censoring needs each person's follow-up time, which cells do not keep
    checked = False
    no_check_reason = ("time-to-event outcomes are right censored, and replicating them needs "
                       "each person's follow-up time, which the fitted summary does not keep.")

    def _check(self, y, outcome):
        if np.any(y < 0):
            raise ModelInputError(
                f"outcome '{outcome}' is a time to event but {int(np.sum(y < 0))} value(s) are "
                "negative. Fix: times are durations (days) from the start, so check the dates "
                "that produced them."
            )

    def link_center(self, y, exposure, censored):
        d = max(float(np.sum(1 - censored)), 0.5)
        return float(np.log(np.sum(y) / d))


    def business_mean(self, eta, aux):
        return np.exp(eta)

    def raw_mean_se(self, y, exposure, censored):
        if len(y) == 0:
            return np.nan, np.nan
        d = max(float(np.sum(1 - censored)), 0.5)
        m = float(np.sum(y) / d)  # exponential maximum likelihood mean (censoring-aware)
        return m, m / np.sqrt(d)

    def link_estimate(self, y, exposure, censored):
        if len(y) == 0:
            return np.nan, np.inf
        d = max(float(np.sum(1 - censored)), 0.5)
        return float(np.log(np.sum(y) / d)), float(1 / np.sqrt(d))

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see families.base.linear_predictor
        import pytensor.tensor as pt

        eta = linear_predictor(spec, d, a, beta)
        if spec.exact:
            ev, tt = d["events"], d["total_time"]
        else:
            ev, tt = 1.0 - d["censored"], d["y"]
        # events contribute the density, censored rows the survival function exp(-t / mean)
        pm.Potential("loglik", (-ev * eta - tt * pt.exp(-eta)).sum())

    def cell_stats(self, rows, uniq, inv, n_base):
        C = uniq.shape[0]
        return {**super().cell_stats(rows, uniq, inv, n_base),
                "events": np.bincount(inv, weights=1.0 - rows["censored"], minlength=C),
                "total_time": np.bincount(inv, weights=rows["y"], minlength=C)}

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        t = rng.exponential(np.exp(eta))
        c = censor_time if censor_time is not None else float(np.quantile(t, 0.8))
        return np.minimum(t, c), {"censored": (t > c).astype(int)}
