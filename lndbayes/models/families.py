"""Outcome families: validation, link scale, business-scale mean, crude per-team link estimates.

Each family is a small object (the bambi idea): it knows

* how to check an outcome column (``validate``), raising :class:`ModelInputError` with a fix;
* the *link scale* its effects live on and the data-derived prior scale on that link scale;
* how to turn a linear predictor ``eta`` into the business-scale mean (``business_mean``);
* a crude link-scale estimate and standard error for a group of rows (``link_estimate``), used
  only to choose centred or non-centred parameters per team and for nothing inferential.

| family | likelihood | link | business scale |
|---|---|---|---|
| normal | Normal(eta, sigma) | identity | outcome units |
| lognormal | LogNormal(eta, sigma) | log (median) | currency/days, E[Y] = exp(eta + sigma^2/2) |
| binary | Bernoulli(logit^-1 eta) | logit | probability (percentage points) |
| count | NegBinomial(exposure * exp(eta), alpha) | log | events per unit of exposure |
| time_to_event | Exponential(mean exp(eta)), right censored | log mean time (AFT) | days |
| ordinal | cumulative logit, cutpoints c | latent logit | mean score sum_k k P(Y=k) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lndbayes.errors import ModelInputError

FAMILIES = ("normal", "lognormal", "binary", "count", "time_to_event", "ordinal")
N_ORDINAL = 5


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _as_float(y, outcome: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        bad = next((v for v in y if isinstance(v, (str, bytes)) or not _is_number(v)), None)
        if bad is not None:
            raise ModelInputError(
                f"outcome column '{outcome}' holds text, not numbers (for example {bad!r}). "
                "Fix: give numbers (0/1 for a binary outcome) or choose another column."
            )
    return np.asarray(y, dtype=float)


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Family:
    name: str
    link: str
    business_unit: str
    #: NUTS target acceptance of the first attempt (retries go higher, see lndbayes.inference)
    target_accept: float = 0.8

    # -- validation -------------------------------------------------------------------------
    def validate(self, y, outcome: str = "outcome") -> np.ndarray:
        y = _as_float(np.asarray(y), outcome)
        if not np.all(np.isfinite(y)):
            raise ModelInputError(f"outcome column '{outcome}' holds infinite values.")
        if y.size and np.all(y == y[0]):
            raise ModelInputError(
                f"every value of outcome '{outcome}' is {y[0]:g}: there is no variation to "
                "explain, so no effect can be estimated. Fix: check the outcome column and the "
                "rows selected."
            )
        self._check(y, outcome)
        return y

    def _check(self, y, outcome):  # family-specific
        pass

    # -- scales -----------------------------------------------------------------------------
    def link_scale(self, y, exposure, censored) -> float:
        """A typical spread on the link scale: priors are multiples of it."""
        return 1.0

    def link_center(self, y, exposure, censored) -> float:
        """Where the intercept prior is centred (the link of the overall mean)."""
        return 0.0

    def fisher_info(self, y, exposure, censored) -> float:
        return 1.0

    # -- business scale ---------------------------------------------------------------------
    def business_mean(self, eta, aux: dict):
        raise NotImplementedError

    def raw_mean_se(self, y, exposure, censored) -> tuple[float, float]:
        """Plain business-scale mean of a group of rows and its standard error."""
        n = len(y)
        if n == 0:
            return np.nan, np.nan
        sd = np.std(y, ddof=1) if n > 1 else np.nan
        return float(np.mean(y)), float(sd / np.sqrt(n)) if n > 1 else np.nan

    def link_estimate(self, y, exposure, censored) -> tuple[float, float]:
        """Crude link-scale mean and its standard error (used for parameterisation choice)."""
        raise NotImplementedError


class Normal(Family):
    def link_scale(self, y, exposure, censored):
        return float(np.std(y)) or 1.0

    def link_center(self, y, exposure, censored):
        return float(np.mean(y))

    def fisher_info(self, y, exposure, censored):
        return 1.0 / self.link_scale(y, exposure, censored) ** 2

    def business_mean(self, eta, aux):
        return eta

    def link_estimate(self, y, exposure, censored):
        n = len(y)
        sd = np.std(y, ddof=1) if n > 1 else np.nan
        return float(np.mean(y)), float(sd / np.sqrt(n)) if n > 1 else np.inf


class LogNormal(Family):
    def _check(self, y, outcome):
        if np.any(y <= 0):
            k = int(np.sum(y <= 0))
            raise ModelInputError(
                f"outcome '{outcome}' uses the lognormal family (money, durations) but {k} "
                "value(s) are zero or negative. Fix: use family='normal', or remove/correct "
                "those rows."
            )

    def link_scale(self, y, exposure, censored):
        return float(np.std(np.log(y))) or 1.0

    def link_center(self, y, exposure, censored):
        return float(np.mean(np.log(y)))

    def fisher_info(self, y, exposure, censored):
        return 1.0 / self.link_scale(y, exposure, censored) ** 2

    def business_mean(self, eta, aux):
        return np.exp(eta + 0.5 * aux["sigma"] ** 2)

    def link_estimate(self, y, exposure, censored):
        return Normal.link_estimate(self, np.log(y), exposure, censored)


class Binary(Family):
    def _check(self, y, outcome):
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise ModelInputError(
                f"outcome '{outcome}' uses the binary family but {int(bad.sum())} value(s) are "
                f"not 0 or 1 (for example {y[bad][0]:g}). Fix: code the outcome as 0/1."
            )

    def link_center(self, y, exposure, censored):
        p = np.clip(np.mean(y), 0.01, 0.99)
        return float(np.log(p / (1 - p)))

    def fisher_info(self, y, exposure, censored):
        p = np.clip(np.mean(y), 0.01, 0.99)
        return float(p * (1 - p))

    def business_mean(self, eta, aux):
        return _expit(eta)

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


class Count(Family):
    def _check(self, y, outcome):
        if np.any(y < 0) or np.any(y != np.round(y)):
            bad = y[(y < 0) | (y != np.round(y))][0]
            raise ModelInputError(
                f"outcome '{outcome}' uses the count family but holds a value that is not a "
                f"non-negative whole number ({bad:g}). Fix: give event counts, or use "
                "family='normal' / 'lognormal' for continuous measures."
            )

    def link_center(self, y, exposure, censored):
        return float(np.log(max(np.sum(y), 0.5) / np.sum(exposure)))

    def fisher_info(self, y, exposure, censored):
        m = np.mean(y)
        v = np.var(y) or m
        return float(min(m * m / max(v, 1e-9), m) or 0.1)

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


class TimeToEvent(Family):
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

    def fisher_info(self, y, exposure, censored):
        return float(max(np.mean(1 - censored), 0.05))

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


class Ordinal(Family):
    def _check(self, y, outcome):
        bad = ~np.isin(y, np.arange(1, N_ORDINAL + 1))
        if bad.any():
            raise ModelInputError(
                f"outcome '{outcome}' uses the ordinal family (scores 1..{N_ORDINAL}) but "
                f"{int(bad.sum())} value(s) are not whole numbers from 1 to {N_ORDINAL} (for "
                f"example {y[bad][0]:g}). Fix: recode the scale to 1..{N_ORDINAL}."
            )

    def fisher_info(self, y, exposure, censored):
        return 0.3

    def business_mean(self, eta, aux):
        c = aux["cutpoints"]  # (S, K-1)
        cdf = _expit(c[:, None, :] - eta[..., None]) if eta.ndim == 2 else _expit(c - eta[..., None])
        # E[Y] = 1 + sum_k P(Y > k) = 1 + sum_k (1 - cdf_k)
        return 1.0 + np.sum(1.0 - cdf, axis=-1)

    def link_estimate(self, y, exposure, censored):
        return Binary.link_estimate(self, (y > 3).astype(float), exposure, censored)


_REGISTRY = {
    "normal": Normal("normal", "identity", "outcome units"),
    "lognormal": LogNormal("lognormal", "log", "outcome units"),
    "binary": Binary("binary", "logit", "percentage points"),
    # 0.9: the negative binomial's overdispersion couples with the non-centred team levels;
    # measured on the example compliance program: 0.8 met one divergence on two of seeds 0-3
    # (each costs a ~15 s retry), 0.9 one divergence over seeds 0-5
    "count": Count("count", "log", "events per unit of exposure", target_accept=0.9),
    "time_to_event": TimeToEvent("time_to_event", "log", "days"),
    "ordinal": Ordinal("ordinal", "logit", "score points"),
}
_ALIASES = {"gaussian": "normal", "bernoulli": "binary", "binomial": "binary",
            "negative_binomial": "count", "poisson": "count", "survival": "time_to_event",
            "tte": "time_to_event", "likert": "ordinal"}


def get_family(name: str) -> Family:
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in _REGISTRY:
        raise ModelInputError(
            f"unknown family '{name}'. Fix: use one of {', '.join(FAMILIES)}."
        )
    return _REGISTRY[key]
