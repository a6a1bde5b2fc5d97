"""Weakly informative default priors, scaled to the data, overridable by name.

Every prior is written on the link scale as a multiple of a data-derived scale ``s``
(``s`` = sd of the outcome for ``normal``, sd of log outcome for ``lognormal``, 1 for the logit
and log links) and centred, where it has a centre, on the link of the overall mean ``m``.

Override by name: ``priors={"effect_mean": {"sigma": 0.5}, "effect_sd_team": {"sigma": 0.2}}``.
Values given by the user are taken literally (on the link scale), not multiplied by ``s``.
Prior parameters enter the model as data, so changing them never recompiles the model.
"""

from __future__ import annotations

import pandas as pd

from lndbayes.errors import ModelInputError
from lndbayes.models.families import get_family

#: name -> (distribution, {param: (default multiple of s or "m" for the centre)}, rationale)
PRIOR_SPECS: dict[str, tuple[str, dict, str]] = {
    "intercept_mean": ("Normal", {"mu": "m", "sigma": 2.5},
                       "centred on the overall outcome level; 2.5 scale units lets any plausible level through"),
    "intercept_sd_team": ("HalfNormal", {"sigma": 1.0},
                          "teams' baseline levels rarely differ by more than about two outcome sds (or 2 on the logit/log scale)"),
    "intercept_sd_dept": ("HalfNormal", {"sigma": 1.0},
                          "department baseline differences on the same footing as team differences"),
    "effect_mean": ("Normal", {"mu": 0.0, "sigma": 1.0},
                    "centred on no effect; a training effect beyond ~2 outcome sds (or an odds/rate ratio beyond e^2) is implausible"),
    "effect_sd_team": ("HalfNormal", {"sigma": 0.5},
                       "teams usually differ in effect by less than the size of a large effect; shrinks toward a common effect"),
    "effect_sd_dept": ("HalfNormal", {"sigma": 0.5},
                       "departments differ in effect no more than teams do"),
    "effect_sd_program": ("HalfNormal", {"sigma": 0.5},
                          "programs' mean effects differ by less than the size of a large effect; pools each program toward the portfolio mean (several programs only)"),
    "beta": ("Normal", {"mu": 0.0, "sigma": 1.0},
             "covariates are standardised: one sd of a covariate moves the outcome by at most ~2 outcome sds"),
    "sigma": ("HalfNormal", {"sigma": 1.0},
              "residual sd of the same order as the outcome's sd (normal, lognormal)"),
    "overdispersion": ("HalfNormal", {"sigma": 1.0},
                       "1/alpha of the negative binomial; 0 is Poisson, 1 is variance mu + mu^2 (count)"),
    "period_effect": ("ZeroSumNormal", {"sigma": 1.0},
                      "common period shocks (difference in differences) of up to ~2 scale units, summing to zero"),
    "event_time_sd": ("HalfNormal", {"sigma": 0.5},
                      "effects change with time since start by less than a large effect (staggered)"),
    "cutpoints": ("Normal (ordered)", {"mu": 0.0, "sigma": 2.5},
                  "latent-logit thresholds of the 1-5 scale; wide enough for any category mix (ordinal)"),
}


def relevant_priors(family: str, *, has_group: bool, has_dept: bool, n_cov: int,
                    has_period: bool, has_event: bool, has_program: bool = False) -> list[str]:
    fam = get_family(family)
    names = ["effect_mean"]
    if fam.has_intercept:
        names.insert(0, "intercept_mean")
    if has_group:
        names += ["intercept_sd_team", "effect_sd_team"]
        if has_dept:
            names += ["intercept_sd_dept", "effect_sd_dept"]
    if has_program:
        names.append("effect_sd_program")
    if n_cov:
        names.append("beta")
    names += list(fam.aux_priors)  # sigma, overdispersion, cutpoints
    if has_period:
        names.append("period_effect")
    if has_event:
        names.append("event_time_sd")
    return names


def resolve_priors(names: list[str], scale: float, center: float, overrides: dict | None) -> dict:
    """Default parameters (scaled) merged with the user's overrides; unknown names are errors."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ModelInputError(
            f"unknown prior name(s) {', '.join(map(repr, unknown))} for this model. "
            f"Fix: use one of {', '.join(names)}."
        )
    out = {}
    for name in names:
        dist, params, _ = PRIOR_SPECS[name]
        vals = {}
        for p, v in params.items():
            if v == "m":
                vals[p] = float(center)
            elif p == "mu":
                vals[p] = float(v)
            else:
                vals[p] = float(v) * float(scale)
        user = overrides.get(name, {})
        if not isinstance(user, dict):
            raise ModelInputError(
                f"prior override for '{name}' must be a dict such as {{'sigma': 0.5}}, got {user!r}."
            )
        bad = sorted(set(user) - set(vals))
        if bad:
            raise ModelInputError(
                f"prior '{name}' ({dist}) has no parameter {', '.join(map(repr, bad))}. "
                f"Fix: use {', '.join(vals)}."
            )
        for p, v in user.items():
            v = float(v)
            if p == "sigma" and not v > 0:
                raise ModelInputError(f"prior '{name}': sigma must be positive, got {v}.")
            vals[p] = v
        out[name] = {"dist": dist, **vals}
    return out


def _default_rule(params: dict) -> str:
    return ", ".join(f"{p}={'link(mean)' if v == 'm' else (v if p == 'mu' else f'{v:g}*s')}"
                     for p, v in params.items())


def prior_rows(priors: dict) -> list[dict]:
    """One row per prior actually used (resolved, as in a fit's ``meta["priors"]``): its
    numbers, the default rule they come from and why."""
    rows = []
    for name, vals in priors.items():
        dist, params, why = PRIOR_SPECS.get(name, (vals.get("dist", ""), {}, ""))
        rows.append({"parameter": name, "distribution": vals.get("dist", dist),
                     "mu": float(vals["mu"]) if "mu" in vals else float("nan"),
                     "sigma": float(vals["sigma"]) if "sigma" in vals else float("nan"),
                     "default": _default_rule(params), "why": why})
    return rows


def priors_table(family: str | None = None) -> pd.DataFrame:
    """Every prior with its default (in units of the data scale ``s``) and a one-line rationale
    (the priors a fit used, with their numbers: :func:`lndbayes.models.math.priors_table`)."""
    rows = []
    for name, (dist, params, why) in PRIOR_SPECS.items():
        if family is not None:
            fam_names = relevant_priors(family, has_group=True, has_dept=True, n_cov=1,
                                        has_period=True, has_event=True, has_program=True)
            if name not in fam_names:
                continue
        rows.append({"prior": name, "distribution": dist, "default": _default_rule(params),
                     "rationale": why})
    return pd.DataFrame(rows)
