r"""Count family: :math:`y_i \sim \mathrm{NegBinomial}(\text{exposure}_i\, e^{\eta_i},\ \alpha)`,
log link; business scale: events per unit of exposure.

Parameters: ``overdispersion`` :math:`\phi = 1/\alpha \sim \mathrm{HalfNormal}(1)` (0 is Poisson,
1 is variance :math:`\mu + \mu^2`). With :math:`\mu_i = \text{exposure}_i e^{\eta_i}`, each cell of
:math:`w_i` identical rows adds

.. math::

    w_i\big[y_i(\log\mu_i + \log\phi - \ell_i) - \alpha\,\ell_i\big]
    + w_i\big[\log\Gamma(y_i + \alpha) - \log\Gamma(\alpha) - \log\Gamma(y_i + 1)\big],
    \qquad \ell_i = \log(1 + \phi\mu_i),

the negative binomial log pmf written out. Why written out (measured on the example, 1,440
team-month cells of compliance_training/violations, one NB log density and gradient: 471 us with
PyMC's ``NegativeBinomial`` logp, 187 us written out): the log-gamma terms depend on the count
only, so they are summed once per distinct count (``y_level``, weighted by ``y_level_weight``,
7 levels there) instead of once per cell, and :math:`\log\mu_i = \eta_i + \log
\text{exposure}_i` needs no exp/log round trip. Same values as PyMC's logp to ~1e-12 (tests); for
:math:`\alpha > 10^8` the log-gamma difference, which loses its digits there, is replaced by its
Poisson limit :math:`y\log\alpha + y(y-1)/(2\alpha)`, as PyMC does beyond :math:`10^{10}`.
The individual-row likelihood (``collapse=False``) keeps PyMC's ``NegativeBinomial``.
"""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.base import Family, linear_predictor


class Count(Family):
    needs_exposure = True
    # centred or not per team, by the data (lndbayes.models.centring), as every other family.
    # It used to be non-centred only, from an early measurement (centred levels diverged on the
    # 200-per-team simulation of tests/test_models_core.py). The cause was the crude se of
    # link_estimate, which ignored the overdispersion: that simulation's team effects looked ~20x
    # more precise than they are (kappa ~40 instead of ~2), were centred and met 17 divergences on
    # 2 chains. With the overdispersion in the se (link_estimate) its effects stay non-centred,
    # its intercepts (kappa ~40) are centred, and the recovery test passes
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
        r"""Log rate and its standard error *with* the overdispersion: with :math:`\mu_i =
        \hat r e_i`, :math:`\mathrm{se}^2 = 1/\sum y + \hat\phi \sum\mu_i^2/(\sum\mu_i)^2`, where
        :math:`\hat\phi = \max(0, \sum[(y_i - \mu_i)^2 - \mu_i] / \sum \mu_i^2)` (moments).
        Why: the Poisson se :math:`1/\sqrt{\sum y}` alone made well-counted teams look far
        more precise than they are (measured: the 200-per-team simulation of
        tests/test_models_core.py, overdispersion 0.5, centred every team's *effect* (kappa ~40
        instead of ~2) and met 17 divergences on 2 chains)."""
        if len(y) == 0:
            return np.nan, np.inf
        y, e = np.asarray(y, float), np.asarray(exposure, float)
        s = max(float(np.sum(y)), 0.5)
        mu = s / np.sum(e) * e
        phi = max(0.0, float(np.sum((y - mu) ** 2 - mu) / np.sum(mu ** 2))) if len(y) > 1 else 0.0
        var = 1.0 / s + phi * float(np.sum(mu ** 2)) / float(np.sum(mu)) ** 2
        return float(np.log(s / np.sum(e))), float(np.sqrt(var))

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see families.base.linear_predictor
        import pytensor.tensor as pt

        eta = linear_predictor(spec, d, a, beta)
        od = pm.HalfNormal("overdispersion", P("overdispersion", "sigma"))
        if not spec.exact:
            mu = pt.exp(eta) * d["exposure"]
            pm.NegativeBinomial("obs", mu=mu, alpha=1.0 / od, observed=d["y"])
            return
        # the NB log pmf written out (module docstring): per cell, then per distinct count
        alpha = 1.0 / od
        log_mu = eta + d["log_exposure"]
        y, w = d["y"], d["weight"]
        l1p = pt.log1p(pt.exp(log_mu) * od)  # log(1 + mu / alpha)
        per_cell = y * (log_mu + pt.log(od) - l1p) - alpha * l1p
        yl = d["y_level"]
        lgamma_ratio = pt.switch(alpha > 1e8, yl * pt.log(alpha) + yl * (yl - 1.0) / (2.0 * alpha),
                                 pt.gammaln(yl + alpha) - pt.gammaln(alpha))
        per_level = lgamma_ratio - pt.gammaln(yl + 1.0)
        pm.Potential("loglik", (w * per_cell).sum() + (d["y_level_weight"] * per_level).sum())

    def cell_keys(self, base, rows):
        # no low-dimensional sufficient statistic exists for the overdispersion: identical rows
        # (same cell, exposure and count) are merged with a weight, which is still exact
        return np.column_stack([base, rows["X"], rows["exposure"], rows["y"]])

    def cell_stats(self, rows, uniq, inv, n_base):
        K = rows["X"].shape[1]
        exposure = uniq[:, n_base + K].astype(float)
        y = uniq[:, n_base + 1 + K].astype(float)
        weight = np.bincount(inv, minlength=uniq.shape[0]).astype(float)
        # the distinct counts and how many rows hold each: the log-gamma terms of the
        # likelihood are summed per count, not per cell (module docstring)
        level, level_of = np.unique(y, return_inverse=True)
        return {**super().cell_stats(rows, uniq, inv, n_base),
                "exposure": exposure, "log_exposure": np.log(exposure), "y": y, "weight": weight,
                "y_level": level.astype(float),
                "y_level_weight": np.bincount(level_of.ravel(), weights=weight,
                                              minlength=len(level)).astype(float)}

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
