r"""One source for the model's math and priors: the report appendix and the docstrings read it.

:func:`model_math` writes, from a fit's ``meta`` (an ``EffectResult.meta``), the model actually
fitted: its linear predictor (period and event-time terms, covariates, one or several
programs), its hierarchy (teams, departments, programs), its family's likelihood line and the
definition of the average effect a manager reads (the family's business-scale mean, averaged
over the design's analysed rows), as Markdown with ``$$`` display math. The words that depend
on the design or family live on their entries (lndbayes.design.designs,
lndbayes.models.families), so adding either touches no switch here. :func:`priors_table`
lists the priors actually used, with their numbers. The docstring of
:mod:`lndbayes.models.graph` is assembled from the same fragments (:func:`general_model_rst`)
and each family class carries its likelihood line (``Family.latex``), so the appendix and the
docstrings cannot drift.

Which terms a fit has is read from its resolved priors: every parameter of the graph has one
(``period_effect`` only with period effects, ``intercept_sd_dept`` only with a department
level, ...), so the priors are the record of the graph's structure.

Every equation is one line that matplotlib's mathtext can draw (the report is read offline).
"""

from __future__ import annotations

import pandas as pd

from lndbayes.design.designs import DESIGNS
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

#: the estimands a manager reads (lndbayes.estimands.business_draws): per posterior draw, the
#: business-scale means with and without the effect term, averaged over the analysed rows A
ETA0 = r"\eta_i^{(0)} = \eta_i - D_i\,\theta_i,\qquad \eta_i^{(1)} = \eta_i^{(0)} + \theta_i"
AVERAGE_ABS = (r"\mathrm{average\_effect\_abs} = \frac{1}{|A|}\sum_{i \in A}"
               r"\,[\mu(\eta_i^{(1)}) - \mu(\eta_i^{(0)})]")
AVERAGE_REL = (r"\mathrm{average\_effect\_rel} = \mathrm{average\_effect\_abs}\ /\ "
               r"\frac{1}{|A|}\sum_{i \in A}\,\mu(\eta_i^{(0)})")


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


def covariates_text(covariates, design) -> str:
    """Which columns of $x_i$ are standardised (the baseline and numeric covariates) and which
    are 0/1 indicators (a baseline's missing indicator, the design's own controls)."""
    covs = [str(c) for c in covariates or []]
    indicators = [c for c in covs if c in getattr(design, "indicator_controls", ())
                  or (c.endswith("_missing") and c[:-len("_missing")] in covs)]
    scaled = [c for c in covs if c not in indicators]
    parts = []
    if scaled:
        parts.append("standardised (mean 0, sd 1): " + ", ".join(f"`{c}`" for c in scaled))
    if indicators:
        parts.append("0/1 indicators, unscaled: " + ", ".join(f"`{c}`" for c in indicators))
    return "Covariates $x_i$: " + ("; ".join(parts) or "yes") + "."


def estimand_text(fam, design) -> list[str]:
    """The average effect a manager reads, defined from the family's business-scale mean."""
    rows = getattr(design, "analysed_rows_text", None) or "all analysed rows"
    return [f"**Average effect** (the summary's `average_effect_abs`, in {fam.abs_label}, and "
            "`average_effect_rel`), for each posterior draw, over the analysed rows $A$: "
            f"{rows}. With $\\theta_i$ the row's effect term above and $\\mu$ the "
            f"{fam.name} family's mean on the business scale:",
            _block(fam.business_mean_latex or r"\mu(\eta) = E[y \mid \eta]"),
            _block(ETA0), _block(AVERAGE_ABS), _block(AVERAGE_REL)]


def model_math(meta: dict) -> str:
    """Markdown (prose and ``$$`` display math) of the model a fit used, from its ``meta``."""
    priors = meta.get("priors") or {}
    if meta.get("family") == "summary":  # the meta-analysis of team estimates
        return ("Meta-analysis of the team estimates $\\hat\\theta_j$ with standard errors "
                "$\\mathrm{se}_j$ (scale as given):\n\n"
                + "\n\n".join(_block(x) for x in SUMMARY_MODEL))
    fam = get_family(meta["family"])
    s = _structure(priors)
    design_name = meta.get("design", "randomized")
    design = DESIGNS.get(design_name)
    quarterly = (meta.get("panel_meta") or {}).get("time_granularity") == "quarter"
    parts = [f"**Linear predictor** for observation (or cell) $i$ in team $j[i]$"
             + (", period $t[i]$" if s["period"] else "")
             + (", event time $e[i]$" if s["event"] else "")
             + (", program $p[i]$" if s["several_programs"] else "") + ":",
             _block(linear_predictor(**{k: s[k] for k in
                                        ("period", "event", "covariates", "several_programs")})),
             (design.indicator_latex if design else f"design {design_name}") + "."]
    if quarterly and (s["period"] or s["event"]):
        # one row per person is too sparse by month (lndbayes.fitting.by_quarter)
        parts.append("One row per person, so time is counted in quarters, not months: periods $t$ "
                     "are calendar quarters"
                     + (" and event times $e$ are quarters since the team's start" if s["event"]
                        else "") + ".")
    if s["covariates"]:
        parts.append(covariates_text(meta.get("covariates"), design))
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
    parts += estimand_text(fam, design)
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
