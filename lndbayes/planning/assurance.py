r"""Bayesian assurance: the probability that the finished study will show that the program works.

Two priors, kept apart (O'Hagan and Stevens 2001; O'Hagan, Stevens and Campbell 2005):

* the **design prior** :math:`\delta \sim \mathrm{Normal}(\delta_0, \omega^2)` says what we believe
  about the true effect *before* the study (``effect``, ``effect_sd``; ``effect_sd=0`` is a point
  mass, and assurance is then the Bayesian power at that effect);
* the **analysis prior** :math:`\delta \sim \mathrm{Normal}(m_0, s_0^2)` is the prior the analysis
  of the finished study will use: by default the package's own ``effect_mean`` prior,
  :math:`\mathrm{Normal}(0, s)` with :math:`s` the outcome sd (normal) or 1 (logit and log links,
  lndbayes.models.priors).

A study *succeeds* when its posterior says :math:`P(\delta > 0 \mid \text{data}) > c`
(:math:`P(\delta < 0 \mid \text{data}) > c` when a decrease is good), :math:`c` = ``threshold`` =
0.95 by default. The **assurance** is the probability of success over the design prior and the
sampling of the data,

.. math::

    A = \int P\big(\text{success} \mid \delta\big)\, p_\text{design}(\delta)\, d\delta .

Computed by simulation, vectorised over ``n_sims`` studies: draw :math:`\delta` from the design
prior; draw the teams' intercepts :math:`a_j \sim N(0, \sigma_\alpha^2)` and effects
:math:`\delta_j \sim N(\delta, \sigma_\theta^2)` (``intercept_sd_team``, ``effect_sd_team``);
simulate each team x arm cell's sufficient statistics exactly (normal: the cell mean and the
pooled within-cell sum of squares; binary: a binomial count; count: a gamma-Poisson sum, i.e. a
negative binomial); analyse them with the approximate posterior below; count successes. The
Monte Carlo standard error of each assurance is :math:`\sqrt{A(1-A)/n_\text{sims}}`, at most
0.0079 with the default 4,000 simulations.

The approximate posterior (:mod:`lndbayes.planning.approx_posterior`; validated against full PyMC fits of the package's model in
benchmarks/bench_assurance.py, results in benchmarks/results/assurance.md):

1. each cell's link-scale estimate and its sampling variance: normal, the cell mean and
   :math:`\hat\sigma^2/m` (pooled within-cell sd); binary, the empirical logit
   :math:`\log\frac{y+1/2}{m-y+1/2}` and :math:`1/(m\,\bar p(1-\bar p))` with :math:`\bar p` the
   arm's pooled share; count, :math:`\log\frac{y+1/2}{E}` and :math:`1/(E\bar r) + \phi/m` with
   :math:`\bar r` the arm's pooled rate and :math:`\phi` the design overdispersion (plugged in);
2. the package's hierarchical model on these estimates, normal on the link scale:

   * plain two-arm study: :math:`\hat d = \hat\eta_T - \hat\eta_C \sim N(\delta, v)`;
   * people randomised within :math:`J` teams: team differences
     :math:`\hat d_j \sim N(\delta, \sigma_\theta^2 + v_j)`;
   * whole teams randomised: team estimates
     :math:`\hat\eta_j \sim N(\mu + \delta D_j, \sigma_\alpha^2 + \sigma_\theta^2 D_j + v_j)`,
     :math:`\mu` flat;

3. :math:`\delta` (and :math:`\mu`) integrated exactly (conjugate normal), the between-team sds
   integrated numerically on a grid under the package's priors
   (:math:`\sigma_\theta \sim \mathrm{HalfNormal}(0.5 s)`, :math:`\sigma_\alpha \sim
   \mathrm{HalfNormal}(s)`); so :math:`P(\delta > 0 \mid \text{data})` is a mixture of normal
   probabilities over the grid (Student-t with the residual degrees of freedom for the normal
   family, whose :math:`\sigma` is estimated).

Supported families: ``normal``, ``lognormal`` (normal on the log scale: ``outcome_sd`` is the sd
of the log outcome, ``effect`` a log ratio), ``binary`` (``effect`` = log odds ratio,
``base_rate`` = control probability of the event within ``base_months``), ``count`` (``effect`` =
log rate ratio, ``base_rate`` = control events per person-month, exposure = the duration).
``time_to_event`` and ``ordinal`` are not supported (a clear error says so).

Durations (months the outcome is followed): count, the exposure per person; binary, the
window of the event, :math:`p_d = 1 - (1 - p)^{d / \text{base\_months}}` (constant hazard);
normal, the outcome is a mean of :math:`d` monthly values with correlation
``month_correlation`` :math:`\rho`: sd :math:`\sigma\sqrt{\rho + (1-\rho)/d}` (the default
:math:`\rho = 1` makes the duration irrelevant).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from lndbayes import atomic
from lndbayes.errors import ModelInputError
from lndbayes.models.families import get_family
from lndbayes.planning.approx_posterior import (  # noqa: F401 - p_positive_from_data re-exported
    CHUNK,
    Cells,
    design_cells,
    estimates,
    p_positive,
    p_positive_from_data,
)

SUPPORTED = ("normal", "lognormal", "binary", "count")
NOT_SUPPORTED = {
    "time_to_event": "time-to-event outcomes are not supported by assurance yet: plan on a binary "
                     "outcome (the event within the window) instead",
    "ordinal": "ordinal outcomes are not supported by assurance yet: plan on the mean score as a "
               "normal outcome (outcome_sd = sd of the score)",
}
DEFAULT_SIMS = 4000


def _z(x):
    return stats.norm.ppf(x)


# ============================================================================ closed form
def assurance_closed_form(*, effect: float, effect_sd: float, outcome_sd: float, n_per_arm,
                          analysis_prior_mean: float = 0.0, analysis_prior_sd: float | None = None,
                          threshold: float = 0.95, direction: str = "increase"):
    r"""Assurance of a plain two-arm study with a normal outcome of known sd (O'Hagan and
    Stevens 2001). With :math:`V = 2\sigma^2/n`, the analysis prior :math:`N(m_0, s_0^2)` and
    :math:`z = \Phi^{-1}(c)`, success is :math:`\hat d > k` with
    :math:`k = V\,(z \sqrt{1/s_0^2 + 1/V} - m_0/s_0^2)`, and :math:`\hat d \sim N(\delta_0,
    \omega^2 + V)` under the design prior, so

    .. math::  A = \Phi\left(\frac{\delta_0 - k}{\sqrt{\omega^2 + V}}\right).

    ``analysis_prior_sd=None`` uses the package default (``outcome_sd``); ``math.inf`` is a
    flat prior (then :math:`A` with :math:`\omega = 0` is the one-sided z test's power).
    Decrease: the same with every sign flipped."""
    s0 = outcome_sd if analysis_prior_sd is None else analysis_prior_sd
    n = np.asarray(n_per_arm, dtype=float)
    V = 2.0 * outcome_sd ** 2 / n
    sign = 1.0 if direction == "increase" else -1.0
    p = 0.0 if math.isinf(s0) else 1.0 / s0 ** 2
    k = V * (_z(threshold) * np.sqrt(p + 1.0 / V) - sign * analysis_prior_mean * p)
    return stats.norm.cdf((sign * effect - k) / np.sqrt(effect_sd ** 2 + V))


# ============================================================================ the result
@dataclass
class AssuranceResult:
    """Assurance per design (``table``), the settings it was computed with and how to read it.

    ``table`` columns: n_per_arm, teams, duration_months, assurance, mc_se (its Monte Carlo
    standard error), n_sims, design. ``smallest(target)``: per teams x duration, the smallest
    n_per_arm of the table whose assurance reaches ``target``.
    """

    table: pd.DataFrame
    settings: dict
    target: float = 0.8
    notes: list[str] = field(default_factory=list)

    def smallest(self, target: float | None = None) -> pd.DataFrame:
        target = self.target if target is None else float(target)
        rows = []
        for (teams, dur), g in self.table.groupby(["teams", "duration_months"], dropna=False, sort=True):
            ok = g.loc[g["assurance"] >= target].sort_values("n_per_arm")
            rows.append({"teams": teams, "duration_months": dur, "target": target,
                         "n_per_arm": int(ok["n_per_arm"].iloc[0]) if len(ok) else None,
                         "assurance": float(ok["assurance"].iloc[0]) if len(ok) else None})
        out = pd.DataFrame(rows, columns=["teams", "duration_months", "target", "n_per_arm", "assurance"])
        out["n_per_arm"] = out["n_per_arm"].astype("Int64")  # None stays missing, not NaN
        out["assurance"] = out["assurance"].astype(float)
        return out

    def to_dict(self) -> dict:
        def clean(v):
            if v is None or v is pd.NA:
                return None
            if isinstance(v, (float, np.floating)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            return v

        tab = [{k: clean(v) for k, v in r.items()} for r in self.table.to_dict("records")]
        small = [{k: clean(v) for k, v in r.items()} for r in self.smallest().to_dict("records")]
        return {"assurance": tab, "smallest_sample": small, "target_assurance": self.target,
                "settings": {k: clean(v) for k, v in self.settings.items()}, "notes": self.notes}

    def to_json(self, path) -> Path:
        return atomic.write_json(Path(path), self.to_dict())

    def plot(self, ax=None):
        return plot_assurance(self, ax=ax)


def plot_assurance(res: AssuranceResult, ax=None):
    """Assurance against people per arm, one line per number of teams x duration, with a band
    of two Monte Carlo standard errors and the target assurance as a dashed line."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    groups = list(res.table.groupby(["teams", "duration_months"], dropna=False, sort=True))
    for (teams, dur), g in groups:
        g = g.sort_values("n_per_arm")
        label = []
        if pd.notna(teams):
            label.append(f"{int(teams)} teams")
        if res.table["duration_months"].nunique() > 1:
            label.append(f"{dur:g} months")
        line, = ax.plot(g["n_per_arm"], g["assurance"], marker="o", label=", ".join(label) or None)
        ax.fill_between(g["n_per_arm"], g["assurance"] - 2 * g["mc_se"],
                        g["assurance"] + 2 * g["mc_se"], color=line.get_color(), alpha=0.2, lw=0)
    ax.axhline(res.target, ls="--", color="grey", lw=1)
    ax.set_xlabel("people per arm")
    ax.set_ylabel(f"assurance: P(posterior P(works) > {res.settings['threshold']:g})")
    ax.set_ylim(0, 1)
    if any(h.get_label() and not h.get_label().startswith("_") for h in ax.get_lines()):
        ax.legend(frameon=False)
    ax.set_title(f"{res.settings['family']}: design prior N({res.settings['effect']:g}, "
                 f"{res.settings['effect_sd']:g}²)")
    return fig


# ============================================================================ inputs
def _as_list(v, name: str, integer: bool) -> list:
    if v is None:
        return [None]
    vals = [v] if np.isscalar(v) else list(v)
    if not vals:
        raise ModelInputError(f"{name} is empty. Fix: give at least one value.")
    out = []
    for x in vals:
        try:
            fx = float(x)
        except (TypeError, ValueError):
            raise ModelInputError(f"{name}: {x!r} is not a number. Fix: give numbers, e.g. 50,100,200.") from None
        if integer and fx != int(fx):
            raise ModelInputError(f"{name}: {x!r} is not a whole number. Fix: give whole numbers.")
        out.append(int(fx) if integer else fx)
    return out


def _positive(value, name: str, fix: str, allow_zero: bool = False) -> float:
    if value is None:
        raise ModelInputError(f"{name} is required for this family. Fix: {fix}")
    v = float(value)
    if not np.isfinite(v) or (v < 0 if allow_zero else v <= 0):
        raise ModelInputError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got "
                              f"{value}. Fix: {fix}")
    return v


# ============================================================================ simulation

def _simulate(rng, S: int, fam: str, cells: Cells, p: dict, duration: float):
    """Per simulated study: the true effect (S,) and each cell's sufficient statistics (S, C),
    drawn exactly from the data-generating model (see :func:`estimates` for their use)."""
    delta = p["effect"] + p["effect_sd"] * rng.standard_normal(S)
    C = len(cells.m)
    if cells.layout == "two_arm":
        a = np.zeros((S, 1))
        b = np.zeros((S, 1))
    else:
        a = p["intercept_sd_team"] * rng.standard_normal((S, cells.J))
        b = p["effect_sd_team"] * rng.standard_normal((S, cells.J))
    eta_team = a[:, cells.team] + cells.D * (delta[:, None] + b[:, cells.team])
    m = cells.m.astype(float)
    if fam == "normal":
        sig = _normal_sd(p, duration)
        mean = eta_team + sig / np.sqrt(m) * rng.standard_normal((S, C))
        df = int(m.sum() - C)
        ss = sig ** 2 * rng.chisquare(df, S) if df >= 1 else np.zeros(S)
        return delta, {"mean": mean, "ss": ss, "df": df, "sd_known": sig if p["known_sd"] else None}
    if fam == "binary":
        p_d = 1.0 - (1.0 - p["base_rate"]) ** (duration / p["base_months"])
        eta = special.logit(p_d) + eta_team
        y = rng.binomial(cells.m.astype(np.int64), special.expit(eta)).astype(float)
        return delta, {"y": y}
    E = m * duration  # person-months of exposure per cell
    mu = E * p["base_rate"] * np.exp(eta_team)
    phi = p["overdispersion"]
    lam = rng.gamma(m / phi, phi * mu / m) if phi > 0 else mu  # a sum of NB(mu_i, phi) counts
    return delta, {"y": rng.poisson(lam).astype(float), "E": np.broadcast_to(E, lam.shape)}


def _normal_sd(p: dict, duration: float) -> float:
    """sd of a person's outcome averaged over ``duration`` months (month_correlation rho)."""
    rho = p.get("month_correlation", 1.0)
    return p["outcome_sd"] * math.sqrt(rho + (1 - rho) / duration)


# ============================================================================ the API
def assurance(family: str = "normal", *, effect: float, n_per_arm, effect_sd: float = 0.0,
              outcome_sd: float | None = None, base_rate: float | None = None,
              overdispersion: float = 0.0, teams=None, unit: str = "team",
              effect_sd_team: float = 0.0, intercept_sd_team: float = 0.0, durations=None,
              month_correlation: float = 1.0, base_months: float = 12.0,
              analysis_prior_mean: float = 0.0, analysis_prior_sd: float | None = None,
              threshold: float = 0.95, direction: str = "increase", target: float = 0.8,
              n_sims: int = DEFAULT_SIMS, seed: int = 0, known_sd: bool = False) -> AssuranceResult:
    """Assurance of a two-arm study for every combination of ``n_per_arm`` (people per arm),
    ``teams`` (None: no team structure) and ``durations`` (months); see the module docstring
    for the model, the priors and the approximation.

    ``effect``, ``effect_sd``: the design prior of the effect on the family's link scale
    (normal: outcome units; binary: log odds ratio; count: log rate ratio; lognormal: log
    ratio), signed (a decrease is negative). ``teams`` with ``unit="team"``: whole teams are
    randomised, half of them to each arm (cluster design); ``unit="employee"``: people are
    randomised within each team. ``effect_sd_team`` (:math:`\\sigma_\\theta`) and
    ``intercept_sd_team`` (:math:`\\sigma_\\alpha`): the between-team spreads of effects and of
    levels, link scale. ``analysis_prior_sd``: None for the package default, ``math.inf`` for a
    flat analysis prior. ``known_sd``: analyse a normal outcome with its sd known (the textbook
    case) instead of estimated. The same ``seed`` gives the same numbers; every design uses the
    same random stream (common random numbers), so the curve over ``n_per_arm`` is smooth.
    """
    name = str(family).lower()
    if name in NOT_SUPPORTED:
        raise ModelInputError(f"family '{name}': {NOT_SUPPORTED[name]}. Supported: {', '.join(SUPPORTED)}.")
    fam = get_family(name).name  # unknown names: the registry's error
    if fam in NOT_SUPPORTED:
        raise ModelInputError(f"family '{fam}': {NOT_SUPPORTED[fam]}. Supported: {', '.join(SUPPORTED)}.")
    sim_family = "normal" if fam == "lognormal" else fam
    if direction not in ("increase", "decrease"):
        raise ModelInputError(f"direction must be 'increase' or 'decrease', got {direction!r}.")
    if not 0.5 <= float(threshold) < 1:
        raise ModelInputError(f"threshold must be in [0.5, 1), got {threshold}. Fix: e.g. 0.95.")
    if not 0 < float(target) < 1:
        raise ModelInputError(f"target assurance must be in (0, 1), got {target}. Fix: e.g. 0.8.")
    if int(n_sims) < 100:
        raise ModelInputError(f"n_sims={n_sims} is too few for a stated Monte Carlo error. Fix: use 1000 or more.")
    if not np.isfinite(float(effect)):
        raise ModelInputError("effect must be a finite number (link scale).")
    effect_sd = _positive(effect_sd, "effect_sd", "give the design prior sd (0 = a point mass)", True)
    effect_sd_team = _positive(effect_sd_team, "effect_sd_team", "give the between-team sd of effects (0 = none)", True)
    intercept_sd_team = _positive(intercept_sd_team, "intercept_sd_team",
                                  "give the between-team sd of levels (0 = none)", True)
    params = {"effect": float(effect), "effect_sd": effect_sd, "effect_sd_team": effect_sd_team,
              "intercept_sd_team": intercept_sd_team, "month_correlation": float(month_correlation),
              "base_months": float(base_months), "known_sd": bool(known_sd),
              "overdispersion": float(overdispersion)}
    if sim_family == "normal":
        params["outcome_sd"] = _positive(outcome_sd, "outcome_sd", "give the outcome's sd between people "
                                         "(log scale for lognormal), e.g. --outcome-sd 10")
        if not 0 <= params["month_correlation"] <= 1:
            raise ModelInputError(f"month_correlation must be in [0, 1], got {month_correlation}.")
        s = math.sqrt(params["outcome_sd"] ** 2 + intercept_sd_team ** 2)
    elif sim_family == "binary":
        br = _positive(base_rate, "base_rate", "give the control group's probability of the event, e.g. --base-rate 0.2")
        if not br < 1:
            raise ModelInputError(f"base_rate must be a probability below 1 for the binary family, got {base_rate}. "
                                  "Fix: e.g. --base-rate 0.2.")
        params["base_rate"] = br
        _positive(base_months, "base_months", "months the base rate refers to, e.g. 12")
        s = 1.0
    else:
        params["base_rate"] = _positive(base_rate, "base_rate", "give the control group's events per "
                                        "person-month, e.g. --base-rate 0.3")
        _positive(overdispersion, "overdispersion", "0 is Poisson", True)
        s = 1.0
    ns = _as_list(n_per_arm, "n_per_arm", True)
    if any(n < 2 for n in ns):
        raise ModelInputError(f"n_per_arm must be at least 2 per arm, got {min(ns)}. Fix: give sample "
                              "sizes of 2 or more people per arm.")
    team_list = _as_list(teams, "teams", True)
    if unit not in ("team", "employee"):
        raise ModelInputError(f"unit must be 'team' (whole teams randomised) or 'employee' (people "
                              f"within teams), got {unit!r}.")
    for t in team_list:
        if t is None:
            continue
        if unit == "team" and t < 4:
            raise ModelInputError(f"a cluster design needs at least 4 teams (2 per arm) to tell the "
                                  f"effect from team differences, got {t}. Fix: more teams, or "
                                  "unit='employee' (people randomised within teams).")
        if unit == "employee" and t < 1:
            raise ModelInputError(f"teams must be at least 1, got {t}.")
        need = t if unit == "employee" else (t + 1) // 2
        if min(ns) < need:
            raise ModelInputError(f"{min(ns)} people per arm cannot fill {t} teams (at least one per "
                                  f"{'team and arm' if unit == 'employee' else 'team'}). Fix: larger "
                                  "n_per_arm or fewer teams.")
    durs = _as_list(durations if durations is not None else [12.0], "durations", False)
    if any(d <= 0 for d in durs):
        raise ModelInputError("durations must be positive (months). Fix: e.g. 6,12.")
    s0 = s if analysis_prior_sd is None else float(analysis_prior_sd)
    if not s0 > 0:
        raise ModelInputError(f"analysis_prior_sd must be positive (or inf for flat), got {analysis_prior_sd}.")
    p0 = 0.0 if math.isinf(s0) else 1.0 / s0 ** 2
    sign = 1.0 if direction == "increase" else -1.0
    m0 = sign * float(analysis_prior_mean)
    rows = []
    for t in team_list:
        for dur in durs:
            for n in ns:
                cells = design_cells(int(n), t, unit)
                rng = np.random.default_rng(int(seed))  # common random numbers across designs
                hits = 0
                for lo in range(0, int(n_sims), CHUNK):
                    S = min(CHUNK, int(n_sims) - lo)
                    _, st = _simulate(rng, S, sim_family, cells, params, float(dur))
                    est, var, df = estimates(sim_family, cells, st, params["overdispersion"])
                    # a decrease is good: analyse the negated link-scale estimates, so success
                    # is P(-delta > 0) > threshold under the negated analysis prior mean
                    est = sign * est
                    pp = p_positive(cells, est, var, df, m0, p0, s)
                    hits += int((pp > threshold).sum())
                a = hits / int(n_sims)
                rows.append({"n_per_arm": int(n), "teams": t, "duration_months": float(dur),
                             "assurance": a, "mc_se": math.sqrt(max(a * (1 - a), 0.25 / n_sims) / n_sims),
                             "n_sims": int(n_sims), "design": cells.layout})
    table = pd.DataFrame(rows)
    settings = {"family": fam, "effect": float(effect), "effect_sd": effect_sd,
                "direction": direction, "threshold": float(threshold),
                "analysis_prior_mean": float(analysis_prior_mean),
                "analysis_prior_sd": float(s0), "unit": unit if team_list != [None] else None,
                "effect_sd_team": effect_sd_team, "intercept_sd_team": intercept_sd_team,
                "seed": int(seed), "n_sims": int(n_sims), "known_sd": bool(known_sd),
                "effect_scale": get_family(fam).link_label,
                "p_design_effect_good": float(stats.norm.cdf(sign * float(effect) / effect_sd))
                if effect_sd > 0 else float(sign * float(effect) > 0)}
    if sim_family == "normal":
        settings["outcome_sd"] = params["outcome_sd"]
        settings["month_correlation"] = params["month_correlation"]
    else:
        settings["base_rate"] = params["base_rate"]
        if sim_family == "binary":
            settings["base_months"] = params["base_months"]
        else:
            settings["overdispersion"] = params["overdispersion"]
    notes = [f"assurance is at most P(design prior effect in the good direction) = "
             f"{settings['p_design_effect_good']:.3f}: no sample size shows an effect the design "
             "prior says may not exist"]
    if sim_family == "binary":
        meaning, warn = binary_effect_notes(float(effect), params["base_rate"])
        notes.append(meaning)
        if warn:
            notes.insert(0, "WARNING: " + warn)
            warnings.warn(warn, UserWarning, stacklevel=2)
    return AssuranceResult(table=table, settings=settings, target=float(target), notes=notes)


#: a binary ``effect`` below this in size is more likely a difference in probability than the
#: log odds ratio it is read as: a log odds ratio of 0.1 is an odds ratio of 1.105 (0.20 -> 0.216),
#: smaller than programs are usually planned for, while risk differences of 0.01-0.1 are common
LOOKS_LIKE_RISK_DIFFERENCE = 0.1


def binary_effect_notes(effect: float, base_rate: float) -> tuple[str, str | None]:
    """(what a binary ``effect`` means, a warning or None): the effect is a log odds ratio; the
    warning comes when its size (0 < |effect| < 0.1) looks like a difference in probability,
    and gives the log odds ratio of that difference when ``base_rate + effect`` is a probability."""
    br = float(base_rate)
    treated = float(special.expit(special.logit(br) + effect))
    note = (f"effect {effect:g} is a log odds ratio (odds ratio {math.exp(effect):.3g}): with base rate "
            f"{br:g} the program arm's probability would be {treated:.3g} "
            f"({(treated - br) * 100:+.2g} percentage points)")
    if not 0 < abs(effect) < LOOKS_LIKE_RISK_DIFFERENCE:
        return note, None
    warn = (f"effect (--effect) {effect:g} looks like a difference in probability, but the binary family "
            f"reads it as a log odds ratio: {br:g} -> {treated:.3g}, only {(treated - br) * 100:+.2g} "
            "percentage points")
    if 0 < br + effect < 1:
        lor = float(special.logit(br + effect) - special.logit(br))
        warn += (f". If you meant {br:g} -> {br + effect:g} ({effect * 100:+.3g} points), give "
                 f"--effect {lor:.3f} (the log odds ratio of that change)")
    return note, warn


def smallest_sample_size(target: float = 0.8, *, n_max: int = 20000, **kw) -> dict:
    """The smallest number of people per arm whose assurance reaches ``target``, by bisection
    over whole numbers (``kw``: as :func:`assurance`, with at most one ``teams`` and one
    duration). Every evaluation uses the same seed (common random numbers), so the assurance
    is nearly monotone in n; the answer is exact up to the Monte Carlo error of the assurance
    near ``target`` (its ``mc_se`` is returned). ``reached`` is False when even ``n_max``
    falls short (the design prior's P(effect in the good direction) may be the ceiling)."""
    teams = kw.get("teams")
    if teams is not None and not np.isscalar(teams) and len(teams) != 1:
        raise ModelInputError("smallest_sample_size takes one number of teams. Fix: call it per teams value.")
    durs = kw.get("durations")
    if durs is not None and not np.isscalar(durs) and len(durs) != 1:
        raise ModelInputError("smallest_sample_size takes one duration. Fix: call it per duration.")
    t = None if teams is None else int(teams if np.isscalar(teams) else teams[0])
    # the smallest n that fills every team (and leaves the normal family's sd estimable)
    lo = 2 if t is None else (t + 1 if kw.get("unit", "team") == "employee" else max(2, t // 2 + 1))
    kw = {k: v for k, v in kw.items() if k not in ("n_per_arm", "target")}

    def at(n):
        return assurance(n_per_arm=[n], target=target, **kw).table.iloc[0]

    top = at(int(n_max))
    if top["assurance"] < target:
        return {"target": target, "n_per_arm": None, "reached": False, "assurance": float(top["assurance"]),
                "mc_se": float(top["mc_se"]), "n_max": int(n_max)}
    first = at(lo)
    if first["assurance"] >= target:
        return {"target": target, "n_per_arm": lo, "reached": True, "assurance": float(first["assurance"]),
                "mc_se": float(first["mc_se"]), "n_max": int(n_max)}
    hi, best = int(n_max), top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = at(mid)
        if r["assurance"] >= target:
            hi, best = mid, r
        else:
            lo = mid
    return {"target": target, "n_per_arm": hi, "reached": True, "assurance": float(best["assurance"]),
            "mc_se": float(best["mc_se"]), "n_max": int(n_max)}
