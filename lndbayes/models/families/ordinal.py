r"""Ordinal family (a 1..5 scale): cumulative logit with ordered cutpoints :math:`c`; business
scale: the mean score :math:`\sum_k k\,P(Y = k)`."""

from __future__ import annotations

import numpy as np

from lndbayes.errors import ModelInputError
from lndbayes.models.families.base import N_ORDINAL, Family, expit, linear_predictor
from lndbayes.models.families.binary import Binary


class Ordinal(Family):
    has_intercept = False
    aux_priors = ("cutpoints",)
    latex = (r"P(y_i \leq k) = \mathrm{logit}^{-1}(c_k - \eta_i),\ k = 1..%d,\ "
             r"c_1 < \dots < c_{%d}" % (N_ORDINAL - 1, N_ORDINAL - 1))
    business_mean_latex = r"\mu(\eta) = \sum_{k=1}^{%d} k\,P(y = k \mid \eta)" % N_ORDINAL

    def _check(self, y, outcome):
        bad = ~np.isin(y, np.arange(1, N_ORDINAL + 1))
        if bad.any():
            raise ModelInputError(
                f"outcome '{outcome}' uses the ordinal family (scores 1..{N_ORDINAL}) but "
                f"{int(bad.sum())} value(s) are not whole numbers from 1 to {N_ORDINAL} (for "
                f"example {y[bad][0]:g}). Fix: recode the scale to 1..{N_ORDINAL}."
            )


    def display_scale(self, unit_label=None):
        return 1.0, unit_label or f"score points (1\u2013{N_ORDINAL})"

    def aggregate_window(self, values):
        # a score is a category: the latest one, not a mean between categories
        return values.last().round()

    def business_mean(self, eta, aux):
        c = aux["cutpoints"]  # (S, K-1)
        cdf = expit(c[:, None, :] - eta[..., None]) if eta.ndim == 2 else expit(c - eta[..., None])
        # E[Y] = 1 + sum_k P(Y > k) = 1 + sum_k (1 - cdf_k)
        return 1.0 + np.sum(1.0 - cdf, axis=-1)

    def link_estimate(self, y, exposure, censored):
        return Binary.link_estimate(self, (y > 3).astype(float), exposure, censored)

    def likelihood(self, spec, d, P, a, beta):
        import pymc as pm  # why: see families.base.linear_predictor
        import pytensor.tensor as pt

        eta = linear_predictor(spec, d, a, beta)
        cut = pm.Normal("cutpoints", P("cutpoints", "mu"), P("cutpoints", "sigma"),
                        shape=N_ORDINAL - 1, transform=pm.distributions.transforms.ordered,
                        initval=np.linspace(-2, 2, N_ORDINAL - 1))
        if spec.exact:
            # one vector per category: P(y = k) = cdf_k - cdf_{k-1} per cell, weighted by the
            # cell's count of k. Why not one (cells x categories) matrix: its concatenate, the
            # gradient's split and slice updates and the sum over cells by category are each a
            # Numba function of 0.5-4 CPU-s to compile on an empty cache; as vectors everything
            # fuses into the elementwise kernels (manager_coaching/engagement compiled cold in
            # ~16-20 CPU-s instead of ~26, 2 cores; same log density to 1e-16)
            cdf = [pm.math.sigmoid(cut[k] - eta) for k in range(N_ORDINAL - 1)]
            probs = [cdf[0], *(cdf[k] - cdf[k - 1] for k in range(1, N_ORDINAL - 1)),
                     1 - cdf[-1]]
            counts = d["cat_counts"]
            pm.Potential("loglik", sum((counts[:, k] * pt.log(pt.clip(p, 1e-300, 1))).sum()
                                       for k, p in enumerate(probs)))
        else:
            pm.OrderedLogistic("obs", eta, cut, observed=d["y_cat"])

    def cell_stats(self, rows, uniq, inv, n_base):
        counts = np.zeros((uniq.shape[0], N_ORDINAL))
        np.add.at(counts, (inv, rows["y"].astype(int) - 1), 1.0)
        return {**super().cell_stats(rows, uniq, inv, n_base), "cat_counts": counts}

    def row_stats(self, rows):
        return {"y_cat": rows["y"].astype(np.int64) - 1}

    def draw_aux(self, P, n, rng):
        # ordered, as the likelihood's ordered transform makes them
        return {"cutpoints": np.sort(rng.normal(P("cutpoints", "mu"), P("cutpoints", "sigma"),
                                                (n, N_ORDINAL - 1)), axis=1)}

    def replicate(self, cells, eta, params, s, rng):
        cdf = expit(params["cutpoints"][s][None, :] - eta[:, None])
        probs = np.clip(np.concatenate([cdf[:, :1], np.diff(cdf, axis=1), 1 - cdf[:, -1:]],
                                       axis=1), 0, 1)
        probs = probs / probs.sum(1, keepdims=True)
        n = cells["cat_counts"].sum(1).astype(np.int64)
        return rng.multinomial(n, probs) @ np.arange(1, N_ORDINAL + 1), n

    def simulate(self, eta, rng, *, sigma=1.0, overdispersion=0.5, censor_time=None):
        cut = np.array([-2.0, -0.7, 0.5, 1.8])
        u = rng.logistic(size=len(eta)) + eta
        return 1 + np.sum(u[:, None] > cut[None, :], axis=1), {}
