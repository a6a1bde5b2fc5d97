r"""Normal family: :math:`y_i \sim \mathrm{Normal}(\eta_i, \sigma)`, identity link."""

from __future__ import annotations

import numpy as np

from lndbayes.models.families.base import Family, linear_predictor


class Normal(Family):
    has_sigma = True
    gaussian_sums = True
    aux_priors = ("sigma",)
    latex = r"y_i \sim \mathrm{Normal}(\eta_i,\ \sigma)"
    business_mean_latex = r"\mu(\eta) = \eta"

    def _z(self, y):
        """The scale on which the outcome is Gaussian."""
        return y

    def link_scale(self, y, exposure, censored):
        return float(np.std(self._z(y))) or 1.0

    def link_center(self, y, exposure, censored):
        return float(np.mean(self._z(y)))


    def business_mean(self, eta, aux):
        return eta

    def link_estimate(self, y, exposure, censored):
        z = self._z(y)
        n = len(z)
        sd = np.std(z, ddof=1) if n > 1 else np.nan
        return float(np.mean(z)), float(sd / np.sqrt(n)) if n > 1 else np.inf

    def _observe(self, eta, sigma, y):
        import pymc as pm  # why: see linear_predictor

        pm.Normal("obs", eta, sigma, observed=y)

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see linear_predictor
        import pytensor.tensor as pt

        sigma = pm.HalfNormal("sigma", P("sigma", "sigma"))
        if not spec.exact:
            self._observe(linear_predictor(spec, d, a, beta), sigma, d["y"])
            return
        # cell sums: sum_i (z_i - a - x_i'beta)^2 from (n, Sz, Szz, Sx, Sxx, Sxz), see sufficient
        n, Sz, Szz = d["n"], d["Sz"], d["Szz"]
        sse = Szz - 2 * a * Sz + n * a**2
        if spec.K:
            Sx, Sxx, Sxz = d["Sx"], d["Sxx"], d["Sxz"]
            sse = (sse - 2 * (Sxz * beta).sum(-1) + 2 * a * (Sx * beta).sum(-1)
                   + ((Sxx * beta[None, None, :]).sum(-1) * beta).sum(-1))
        pm.Potential("loglik", (-n * pt.log(sigma) - sse / (2 * sigma**2)).sum())

    def cell_keys(self, base, rows):
        return base  # the covariates enter through their sums

    def cell_stats(self, rows, uniq, inv, n_base):
        X = rows["X"]
        C, K = uniq.shape[0], X.shape[1]
        z = self._z(rows["y"])
        out = {"n": np.bincount(inv, minlength=C).astype(float),
               "Sz": np.bincount(inv, weights=z, minlength=C),
               "Szz": np.bincount(inv, weights=z * z, minlength=C)}
        Sx, Sxx, Sxz = np.zeros((C, K)), np.zeros((C, K, K)), np.zeros((C, K))
        if K:
            np.add.at(Sx, inv, X)
            np.add.at(Sxx, inv, X[:, :, None] * X[:, None, :])
            np.add.at(Sxz, inv, X * z[:, None])
        out.update(Sx=Sx, Sxx=Sxx, Sxz=Sxz)
        return out

    def arm_value(self, y, exposure):
        return float(np.mean(self._z(y)))

    def replicate(self, cells, eta, params, s, rng):
        n = cells["n"]
        mean_sum = n * eta
        if params.get("beta") is not None and cells["Sx"].shape[1]:
            mean_sum = mean_sum + cells["Sx"] @ params["beta"][s]
        return rng.normal(mean_sum, np.sqrt(n) * params["sigma"][s]), n

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        return eta + sigma * rng.standard_normal(len(eta)), {}
