r"""Count family: :math:`y_i \sim \mathrm{NegBinomial}(\text{exposure}_i\, e^{\eta_i},\ \alpha)`,
log link; business scale: events per unit of exposure."""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.base import Family, linear_predictor


class Count(Family):
    needs_exposure = True
    # measured: centred intercepts diverge with the negative binomial (overdispersion interacts
    # with the team-level funnel); non-centred samples cleanly
    noncentred_only = True
    aux_priors = ("overdispersion",)
    latex = (r"y_i \sim \mathrm{NegBinomial}(\mathrm{exposure}_i\, e^{\eta_i},\ "
             r"\alpha = 1/\phi)")
    business_mean_latex = r"\mu(\eta) = e^{\eta}"
    check_statistic = "events per unit of exposure"

    def _check(self, y, outcome):
        if np.any(y < 0) or np.any(y != np.round(y)):
            bad = y[(y < 0) | (y != np.round(y))][0]
            raise ModelInputError(
                f"outcome '{outcome}' uses the count family but holds a value that is not a "
                f"non-negative whole number ({bad:g}). Fix: give event counts, or use "
                "family='normal' / 'lognormal' for continuous measures."
            )

    def aggregate_window(self, values):
        # events add up over the window; the exposure is summed alongside (design.outcomes)
        return values.sum()

    def link_center(self, y, exposure, censored):
        return float(np.log(max(np.sum(y), 0.5) / np.sum(exposure)))


    def business_mean(self, eta, aux):
        return np.exp(eta)

    def raw_mean_se(self, y, exposure, censored):
        if len(y) == 0:
            return np.nan, np.nan
        e = float(np.sum(exposure))
        return float(np.sum(y) / e), float(np.sqrt(max(np.sum(y), 0.5)) / e)

    def link_estimate(self, y, exposure, censored):
        if len(y) == 0:
            return np.nan, np.inf
        s = max(float(np.sum(y)), 0.5)
        return float(np.log(s / np.sum(exposure))), float(1 / np.sqrt(s))

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see families.base.linear_predictor
        import pytensor.tensor as pt

        eta = linear_predictor(spec, d, a, beta)
        od = pm.HalfNormal("overdispersion", P("overdispersion", "sigma"))
        mu = pt.exp(eta) * d["exposure"]
        nb = pm.NegativeBinomial.dist(mu=mu, alpha=1.0 / od)
        if spec.exact:
            pm.Potential("loglik", (d["weight"] * pm.logp(nb, d["y"])).sum())
        else:
            pm.NegativeBinomial("obs", mu=mu, alpha=1.0 / od, observed=d["y"])

    def cell_keys(self, base, rows):
        # no low-dimensional sufficient statistic exists for the overdispersion: identical rows
        # (same cell, exposure and count) are merged with a weight, which is still exact
        return np.column_stack([base, rows["X"], rows["exposure"], rows["y"]])

    def cell_stats(self, rows, uniq, inv, n_base):
        K = rows["X"].shape[1]
        return {**super().cell_stats(rows, uniq, inv, n_base),
                "exposure": uniq[:, n_base + K].astype(float),
                "y": uniq[:, n_base + 1 + K].astype(float),
                "weight": np.bincount(inv, minlength=uniq.shape[0]).astype(float)}

    def arm_value(self, y, exposure):
        return float(np.sum(y) / np.sum(exposure))

    def replicate(self, cells, eta, params, s, rng):
        # a sum of w independent NB(mu, alpha) counts is NB(w mu, w alpha)
        w = cells["weight"]
        # prior draws can put eta anywhere: keep the replication finite
        mu = np.exp(np.clip(eta, -30, 30)) * cells["exposure"] * w
        alpha = w / max(float(params["overdispersion"][s]), 1e-9)
        return rng.negative_binomial(alpha, alpha / (alpha + mu)), cells["exposure"] * w

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        exposure = rng.uniform(0.5, 2.0, len(eta))
        mu = np.exp(eta) * exposure
        alpha_nb = 1 / overdispersion
        lam = rng.gamma(alpha_nb, mu / alpha_nb)  # gamma-Poisson mixture = negative binomial
        return rng.poisson(lam), {"exposure": exposure}
