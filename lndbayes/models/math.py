r"""One source for the model's math and priors: the report appendix and the docstrings read it.

:func:`model_math` writes, from a fit's ``meta`` (an ``EffectResult.meta``), the model actually
fitted: its linear predictor (period and event-time terms, covariates, one or several
programs), its hierarchy (teams, departments, programs) and its family's likelihood line, as
Markdown with ``$$`` display math. :func:`priors_table` lists the priors actually used, with
their numbers. The docstring of :mod:`lndbayes.models.graph` is assembled from the same
fragments (:func:`general_model_rst`) and each family class carries its likelihood line
(``Family.latex``), so the appendix and the docstrings cannot drift.

Which terms a fit has is read from its resolved priors: every parameter of the graph has one
(``period_effect`` only with period effects, ``intercept_sd_dept`` only with a department
level, ...), so the priors are the record of the graph's structure.

Every equation is one line that matplotlib's mathtext can draw (the report is read offline).
"""

from __future__ import annotations

import pandas as pd

from lndbayes.models.families import get_family
from lndbayes.models.priors import prior_rows

#: parameter (graph name) -> its symbol in the math
SYMBOLS = {
    "intercept_mean": r"\mu_\alpha", "intercept_sd_team": r"\sigma_\alpha",
    "intercept_sd_dept": r"\sigma_{\alpha,\mathrm{dept}}", "effect_mean": r"\mu_\theta",
    "effect_sd_team": r"\sigma_\theta", "effect_sd_dept": r"\sigma_{\theta,\mathrm{dept}}",
    "effect_sd_program": r"\sigma_{\theta,\mathrm{prog}}", "beta": r"\beta",
    "sigma": r"\sigma", "overdispersion": r"\phi", "period_effect": r"\gamma",
    "event_time_sd": r"\sigma_\delta", "cutpoints": r"c",
}

# ------------------------------------------------------------------------------ fragments
INTERCEPT = r"\alpha_{j[i]}"
PERIOD = r"\gamma_{t[i]}"
COVARIATES = r"x_i^\top\beta"
EFFECT_TEAM = r"\theta_{j[i]}"
EFFECT_COMBO = r"\theta_{p[i]\,j[i]}"
EVENT = r"\delta_{e[i]}"
TEAM_INTERCEPT = r"\alpha_j \sim \mathrm{Normal}(\mu_\alpha{dept},\ \sigma_\alpha)"
TEAM_EFFECT = r"\theta_j \sim \mathrm{Normal}(\mu_\theta{dept},\ \sigma_\theta)"
COMBO_EFFECT = r"\theta_{pj} \sim \mathrm{Normal}(\mu_p{dept},\ \sigma_\theta)"
PROGRAM_MEAN = r"\mu_p \sim \mathrm{Normal}(\mu_\theta,\ \sigma_{\theta,\mathrm{prog}})"
DEPT_LEVELS = (r"a \sim \mathrm{ZeroSumNormal}(\sigma_{\alpha,\mathrm{dept}}), \qquad "
               r"b_d \sim \mathrm{Normal}(0,\ \sigma_{\theta,\mathrm{dept}})")
PERIOD_EFFECTS = r"\gamma \sim \mathrm{ZeroSumNormal}(\sigma_\gamma)"
EVENT_EFFECTS = r"\delta = \sigma_\delta\, z, \qquad z \sim \mathrm{ZeroSumNormal}(1)"
NO_INTERCEPT = r"\mu_\alpha = 0"
SUMMARY_MODEL = (
    r"\hat\theta_j \sim \mathrm{Normal}(\theta_j,\ \mathrm{se}_j)",
    r"\theta_j \sim \mathrm{Normal}(\mu + b_{d[j]},\ \tau), \qquad "
    r"b_d \sim \mathrm{Normal}(0,\ \tau_{\mathrm{dept}})",
)

#: how each design forms the effect indicator D
INDICATOR = {
    "randomized": "$D_i$ = 1 for the program's participants (treated), 0 for controls",
    "pre_post": "$D_i$ = treated $\\times$ post: the effect is carried by treated rows after the "
                "start; team intercepts absorb fixed team differences and $\\gamma_t$ the common "
                "period shocks (difference in differences)",
    "staggered": "$D_i$ = treated $\\times$ post, with the effect varying by team and by event "
                 "time $e$ (time since the team's start), so already-treated rows never act as "
                 "controls (imputation estimator, Borusyak, Jaravel and Spiess 2024)",
}


def linear_predictor(*, period: bool, event: bool, covariates: bool, several_programs: bool) -> str:
    """The linear predictor with the terms the model has."""
    base = [INTERCEPT] + ([PERIOD] if period else []) + ([COVARIATES] if covariates else [])
    eff = EFFECT_COMBO if several_programs else EFFECT_TEAM
    eff = f"({eff} + {EVENT})" if event else eff
    return r"\eta_i = " + " + ".join(base) + rf" + D_i\,{eff}"


def hierarchy(*, teams: bool, departments: bool, several_programs: bool,
              intercept: bool = True) -> list[str]:
    """The population-level equations of the team (and department, program) parameters."""
    lines = []
    if several_programs:
        lines.append(PROGRAM_MEAN)
    if teams:
        dept_a, dept_b = (r" + a_{d[j]}", r" + b_{d[j]}") if departments else ("", "")
        lines.append(TEAM_INTERCEPT.replace("{dept}", dept_a))
        lines.append((COMBO_EFFECT if several_programs else TEAM_EFFECT).replace("{dept}", dept_b))
        if departments:
            lines.append(DEPT_LEVELS)
    else:
        lines.append(r"\alpha_j = \mu_\alpha, \qquad "
                     + (r"\theta_{p} = \mu_p" if several_programs else r"\theta_j = \mu_\theta"))
    if not intercept:
        lines.append(NO_INTERCEPT)
    return lines


def _structure(priors: dict) -> dict:
    return {"period": "period_effect" in priors, "event": "event_time_sd" in priors,
            "covariates": "beta" in priors, "several_programs": "effect_sd_program" in priors,
            "teams": "intercept_sd_team" in priors or "effect_sd_team" in priors,
            "departments": "intercept_sd_dept" in priors or "effect_sd_dept" in priors}


def _block(latex: str) -> str:
    return f"$$ {latex} $$"


def model_math(meta: dict) -> str:
    """Markdown (prose and ``$$`` display math) of the model a fit used, from its ``meta``."""
    priors = meta.get("priors") or {}
    if meta.get("family") == "summary":  # the meta-analysis of team estimates
        return ("Meta-analysis of the team estimates $\\hat\\theta_j$ with standard errors "
                "$\\mathrm{se}_j$ (scale as given):\n\n"
                + "\n\n".join(_block(x) for x in SUMMARY_MODEL))
    fam = get_family(meta["family"])
    s = _structure(priors)
    design = meta.get("design", "randomized")
    parts = [f"**Linear predictor** for observation (or cell) $i$ in team $j[i]$"
             + (", period $t[i]$" if s["period"] else "")
             + (", event time $e[i]$" if s["event"] else "")
             + (", program $p[i]$" if s["several_programs"] else "") + ":",
             _block(linear_predictor(**{k: s[k] for k in
                                        ("period", "event", "covariates", "several_programs")})),
             INDICATOR.get(design, f"design {design}") + "."]
    if s["covariates"]:
        covs = meta.get("covariates") or []
        parts.append("Covariates $x_i$ (standardised): " + (", ".join(map(str, covs)) or "yes") + ".")
    parts += [f"**Likelihood** ({fam.name}, {fam.link} link):", _block(fam.latex)]
    parts.append("**Hierarchy**" + (f" ({len(meta['departments'])} departments)"
                                    if s["departments"] and meta.get("departments") else "")
                 + ":")
    parts += [_block(x) for x in hierarchy(teams=s["teams"], departments=s["departments"],
                                           several_programs=s["several_programs"],
                                           intercept=fam.has_intercept)]
    if s["period"]:
        parts.append(_block(PERIOD_EFFECTS))
    if s["event"]:
        parts.append(_block(EVENT_EFFECTS))
    parts.append("Priors on the link scale: see the priors table ("
                 + ", ".join(f"${SYMBOLS[n]}$ {n}" for n in priors if n in SYMBOLS) + ").")
    return "\n\n".join(parts)


def priors_table(priors: dict) -> pd.DataFrame:
    """The priors a fit used (``meta["priors"]``): parameter, symbol, distribution, its numbers
    (``mu``, ``sigma`` on the link scale), the default rule and why."""
    rows = prior_rows(priors)
    for r in rows:
        r["symbol"] = f"${SYMBOLS.get(r['parameter'], r['parameter'])}$"
    cols = ["parameter", "symbol", "distribution", "mu", "sigma", "default", "why"]
    return pd.DataFrame(rows, columns=cols)


def general_model_rst(several_programs: bool = False) -> str:
    """The full model (every term) as reStructuredText math, for the graph's docstring."""
    eqs = [linear_predictor(period=True, event=True, covariates=True,
                            several_programs=several_programs),
           *hierarchy(teams=True, departments=True, several_programs=several_programs),
           PERIOD_EFFECTS, EVENT_EFFECTS]
    return ".. math::\n\n" + " \\\\\n".join(f"    {e}" for e in eqs) + "\n"
