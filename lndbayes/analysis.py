"""One program's analysis, computed once: panels, fits, estimands, decisions and team tables.

::

    an = lb.analyse_program(org, "manager_coaching", seed=0)
    an.recommendation, an.outcomes["attrition_12m"].decision.p_works
    an.save("reports/manager_coaching")          # analysis.json, summary.json, posterior/<outcome>/
    an = lb.load_analysis("reports/manager_coaching")   # the same object, nothing refitted

Everything a report, the portfolio, an explorer or a model review shows is here; they read
this object (or its saved form) and compute nothing. Each outcome's panel is built once and
passed to :func:`lndbayes.fit_panel`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lndbayes import INTERVAL, __version__, progress
from lndbayes import decisions as dc
from lndbayes import roi as roi_mod
from lndbayes import value_of_information as voi
from lndbayes.analysis_context import enrolment_context, ledger_tables, outcome_title, team_people
from lndbayes.atomic import write_json
from lndbayes.design.balance import balance_table
from lndbayes.design.panel import build_panel
from lndbayes.errors import LndbayesError
from lndbayes.fitting import fit_panel
from lndbayes.formatting import (
    fmt_interval,
    fmt_money,
    fmt_money_interval,
    fmt_num,
    fmt_pct,
    fmt_rel,
)
from lndbayes.models.families import get_family
from lndbayes.models.math import model_math, priors_table
from lndbayes.privacy import min_group_of, suppress_small_groups
from lndbayes.results import EffectResult, json_safe, load_result

ANALYSIS_FILE = "analysis.json"
SUMMARY_FILE = "summary.json"
POSTERIOR_DIR = "posterior"


class AnalysisFailed(LndbayesError):
    """No outcome of the program could be estimated."""


def _frame_to_json(df: pd.DataFrame | None):
    return None if df is None else json.loads(df.to_json(orient="split", index=False, date_format="iso"))


def _frame_from_json(obj) -> pd.DataFrame | None:
    return None if obj is None else pd.DataFrame(obj["data"], columns=obj["columns"])


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _jsonable(obj):
    # NaN becomes null: analysis.json is read by other tools too (an explorer in a browser),
    # and a bare NaN is not JSON
    return json_safe(json.loads(json.dumps(obj, default=_json_default)))


@dataclass
class OutcomeAnalysis:
    """One outcome: its fit, decision, display strings and the tables a report shows."""

    outcome_id: str
    title: str
    family: str
    level: int
    direction: str
    measured_on: str
    display_scale: float             # multiplier of absolute effects for display (binary: 100)
    unit: str                        # unit of the displayed absolute effect
    link_meaning: str                # what the link-scale effect is (event-time axis)
    result: EffectResult
    decision: dc.OutcomeDecision
    display: dict                    # effect_abs, effect_rel, p_works, p_target, benefit, target
    panel: dict                      # PanelMeta.to_dict() of the panel that was fitted
    n_people: int | None
    team_table: pd.DataFrame         # team effects, people per team, small teams suppressed
    event_time: pd.DataFrame         # EffectResult.event_time_effects() (staggered designs)
    predictive: dict                 # kind -> {"observed": {arm: x}, "replicated": {arm: [...]}}
    balance: pd.DataFrame | None     # lndbayes.design.balance.balance_table of the panel
    population: dict                 # rows, units per arm, teams of the panel
    model_math: str                  # Markdown with $$ display math: the model actually fitted
    priors: pd.DataFrame             # the priors actually used

    @property
    def converged(self) -> bool:
        return bool(self.result.converged)

    def summary_entry(self) -> dict:
        d = self.decision
        teams_suppressed = self.team_table["note"] != ""
        return {**d.to_dict(), "family": self.family, "level": self.level,
                "display_scale": self.display_scale, "unit": self.unit,
                "display": {k: self.display[k] for k in ("effect_abs", "effect_rel", "p_works",
                                                         "p_target", "benefit")},
                "diagnostics": _jsonable(self.result.diagnostics()), "n_people": self.n_people,
                "teams_shown": int((~teams_suppressed).sum()),
                "teams_suppressed": sorted(map(str, self.team_table.loc[teams_suppressed, "team"]))}

    def to_json(self) -> dict:
        return _jsonable({
            "outcome_id": self.outcome_id, "title": self.title, "family": self.family,
            "level": self.level, "direction": self.direction, "measured_on": self.measured_on,
            "display_scale": self.display_scale, "unit": self.unit, "link_meaning": self.link_meaning,
            "decision": self.decision.to_dict(), "display": self.display, "panel": self.panel,
            "n_people": self.n_people, "team_table": _frame_to_json(self.team_table),
            "event_time": _frame_to_json(self.event_time), "predictive": self.predictive,
            "balance": _frame_to_json(self.balance), "population": self.population,
            "model_math": self.model_math, "priors": _frame_to_json(self.priors)})

    @classmethod
    def from_json(cls, d: dict, result: EffectResult) -> "OutcomeAnalysis":
        frames = {k: _frame_from_json(d[k]) for k in ("team_table", "event_time", "balance", "priors")}
        kw = {k: v for k, v in d.items() if k not in frames and k != "decision"}
        return cls(**kw, **frames, result=result, decision=dc.OutcomeDecision.from_dict(d["decision"]))


@dataclass
class ProgramAnalysis:
    """A program's whole analysis: per outcome an :class:`OutcomeAnalysis`, plus the context
    (enrolment, learning, reaction, completion, ledger, population) and the recommendation."""

    program: dict                    # id, name, type, design, alignment, target, population, skills
    organisation: str
    currency: str
    min_group: int
    settings: dict
    outcomes: dict[str, OutcomeAnalysis]
    failures: dict[str, str]
    primary: str | None
    recommendation: dc.Recommendation
    context: dict = field(default_factory=dict)   # learning, reaction, completion (aggregates only)
    ledger: pd.DataFrame | None = None
    rejections: pd.DataFrame | None = None
    roi: roi_mod.ProgramRoi | None = None          # None: no fitted outcome has a money value
    decision_rule: dict = field(default_factory=dict)   # thresholds, text, basis, checks
    evsi: voi.SampleInformation | None = None      # what more data is worth (monetised programs)
    roi_display: dict = field(default_factory=dict)     # the ROI numbers as text (roi_display())
    roi_error: str | None = None                   # why the ROI could not be computed (then None)
    #: the optional sections computed by other modules (EXTRAS: interim monitoring, ...): the
    #: object (None when it failed or does not apply), and per section its status and display
    extras: dict = field(default_factory=dict)          # name -> object
    extras_status: dict = field(default_factory=dict)   # name -> {"status", "message"}
    extras_display: dict = field(default_factory=dict)  # name -> strings and tables as text

    @property
    def converged(self) -> bool:
        return bool(self.outcomes) and all(o.converged for o in self.outcomes.values())

    def outcomes_at_level(self, level: int) -> list[str]:
        return [o["id"] for o in self.program["outcomes"] if o["level"] == level]

    def summary(self) -> dict:
        """The headline numbers, as written to summary.json."""
        outcomes = {oid: o.summary_entry() for oid, o in self.outcomes.items()}
        head = {}
        if self.primary in self.outcomes:
            disp = self.outcomes[self.primary].display
            head = {"outcome": self.primary, "effect": disp["effect_abs"], "effect_rel": disp["effect_rel"],
                    "p_works": disp["p_works"], "p_target": disp["p_target"], "benefit": disp["benefit"]}
        primary = self.outcomes.get(self.primary)
        roi = roi_summary(self.roi, self.roi_display, self.outcomes) if self.roi is not None else None
        for oid, entry in outcomes.items():
            m = None if self.roi is None else self.roi.money.get(oid)
            entry["intangible"] = m is None
            entry["money"] = None if m is None else outcome_money_summary(self.roi, oid, self.roi_display)
        if roi is not None:
            head["roi"] = self.roi_display["roi_pct"]
            head["p_roi_positive"] = self.roi_display["p_roi_positive"]
            head["net_benefit"] = self.roi_display["net_benefit"]
        return {
            "program": self.program["id"], "name": self.program["name"], "lndbayes": __version__,
            "interval": INTERVAL, "currency": self.currency, "design": self.program["design"]["type"],
            "n_people": primary.n_people if primary else None, "converged": self.converged,
            "recommendation": {"action": self.recommendation.action, "reason": self.recommendation.reason},
            "headline": head, "outcomes": outcomes, "failed_outcomes": self.failures,
            "min_group": self.min_group, "settings": self.settings,
            "roi": roi, "roi_error": self.roi_error,
            "p_roi_positive": None if roi is None else roi["p_roi_positive"],
            "break_even_effect": None if roi is None else roi["break_even_effect"],
            "decision_rule": self.decision_rule,
            "sections": {k: {**st, "summary": (self.extras_display.get(k) or {}).get("summary")}
                         for k, st in self.extras_status.items()},
            "evsi": None if self.evsi is None else {**self.evsi.to_dict(),
                                                    "display": self.roi_display.get("evsi", {})},
        }

    def save(self, folder) -> Path:
        """Write ``analysis.json``, ``summary.json`` and ``posterior/<outcome>/`` into ``folder``."""
        folder = Path(folder)
        for oid, o in self.outcomes.items():
            o.result.save(folder / POSTERIOR_DIR / oid)
        write_json(folder / ANALYSIS_FILE, allow_nan=False, obj=_jsonable({
            "lndbayes": __version__, "program": self.program, "organisation": self.organisation,
            "currency": self.currency, "min_group": self.min_group, "settings": self.settings,
            "failures": self.failures, "primary": self.primary,
            "recommendation": {"action": self.recommendation.action, "reason": self.recommendation.reason},
            "context": self.context, "ledger": _frame_to_json(self.ledger),
            "rejections": _frame_to_json(self.rejections),
            "roi": None if self.roi is None else self.roi.to_dict(), "decision_rule": self.decision_rule,
            "evsi": None if self.evsi is None else self.evsi.to_dict(), "roi_display": self.roi_display,
            "roi_error": self.roi_error,
            "extras": {k: (None if v is None else EXTRAS[k].to_json(v)) for k, v in self.extras.items()},
            "extras_status": self.extras_status, "extras_display": self.extras_display,
            "outcomes": {oid: o.to_json() for oid, o in self.outcomes.items()}}))
        write_json(folder / SUMMARY_FILE, self.summary(), default=_json_default, indent=2)
        return folder


def load_analysis(folder) -> ProgramAnalysis:
    """Read a folder written by :meth:`ProgramAnalysis.save` (posteriors included, no refit)."""
    folder = Path(folder)
    try:
        d = json.loads((folder / ANALYSIS_FILE).read_text())
    except (OSError, ValueError) as err:
        raise LndbayesError(f"{folder / ANALYSIS_FILE}: cannot read a saved analysis ({err}). Fix: give a "
                            "report folder written by ProgramAnalysis.save (lndbayes report).") from err
    if d.get("lndbayes") != __version__:
        raise LndbayesError(
            f"{folder / ANALYSIS_FILE}: written by lndbayes {d.get('lndbayes')}, this is "
            f"{__version__}; the saved form may differ. Fix: rerun `lndbayes report` (or "
            "lb.analyse_program) with this version.")
    outcomes = {oid: OutcomeAnalysis.from_json(o, load_result(folder / POSTERIOR_DIR / oid))
                for oid, o in d["outcomes"].items()}
    return ProgramAnalysis(
        program=d["program"], organisation=d["organisation"], currency=d["currency"],
        min_group=d["min_group"], settings=d["settings"], outcomes=outcomes, failures=d["failures"],
        primary=d["primary"], recommendation=dc.Recommendation(**d["recommendation"]),
        context=d["context"], ledger=_frame_from_json(d["ledger"]),
        rejections=_frame_from_json(d["rejections"]),
        roi=None if d.get("roi") is None else roi_mod.ProgramRoi.from_dict(d["roi"]),
        decision_rule=d.get("decision_rule") or {},
        evsi=None if d.get("evsi") is None else voi.SampleInformation.from_dict(d["evsi"]),
        roi_display=d.get("roi_display") or {}, roi_error=d.get("roi_error"),
        extras={k: _extra_from_json(k, v) for k, v in (d.get("extras") or {}).items()},
        extras_status=d.get("extras_status") or {}, extras_display=d.get("extras_display") or {})


def _extra_from_json(name: str, obj):
    if obj is None or name not in EXTRAS:
        return None
    try:
        return EXTRAS[name].from_json(obj)
    except Exception:  # noqa: BLE001 - a section that cannot be read back is shown from its display
        return None


# ---------------------------------------------------------------------------------------------
# Computing it

def treated_units(panel) -> float:
    """How many units of outcome the program touched, the multiplier of the benefit.

    Treated rows (randomized: treated people or teams; pre/post and staggered: treated
    post-start unit-periods); for count outcomes the exposure of those rows (an effect in
    errors per ticket times the tickets handled)."""
    d = panel.data
    mask = d["treated"] == 1
    if "post" in d.columns and d["post"].notna().any() and d["period"].notna().any():
        mask &= d["post"] == 1
    if get_family(panel.meta.family).needs_exposure and "exposure" in d.columns:
        return float(d.loc[mask, "exposure"].fillna(1).sum())
    return float(mask.sum())


def _display(decision: dc.OutcomeDecision, scale: float, unit: str, currency: str) -> dict:
    e, r, b = decision.effect_abs, decision.effect_rel, decision.benefit
    target = ""
    if decision.target is not None:
        target = (f"{fmt_num(decision.target * 100, 0, True)}%" if decision.target_scale == "rel"
                  else f"{fmt_num(decision.target * scale, 2, True)} {unit}")
    return {"effect_abs": fmt_interval(e.mean * scale, e.lower * scale, e.upper * scale, unit),
            "effect_rel": "" if r is None else fmt_rel(r.mean, r.lower, r.upper),
            "p_works": fmt_pct(decision.p_works),
            "p_target": fmt_pct(decision.p_target) if decision.p_target is not None else "",
            "benefit": "" if b is None else fmt_money_interval(b.to_dict(), currency),
            "target": target}


# ---- return on investment, the rule, the value of more data ----------------------------------

def _iv(x) -> dict | None:
    return None if x is None else {"mean": x.mean, "lower": x.lower, "upper": x.upper}


def break_even_outcome(pr: roi_mod.ProgramRoi, primary: str | None) -> str:
    """The outcome whose break-even effect the headline shows: the primary outcome when it has a
    money value, else the monetised outcome with the largest expected benefit."""
    if primary in pr.money:
        return primary
    return max(pr.outcome_benefit, key=lambda k: pr.outcome_benefit[k].mean)


def sample_information(pr: roi_mod.ProgramRoi, program, panels, outcomes, primary) -> voi.SampleInformation:
    """EVSI of more teams or a longer run, with the information counted on the headline
    outcome's panel: its teams, and its months of follow-up (post-start months of a panel
    design; the outcome window otherwise)."""
    panel = panels[break_even_outcome(pr, primary)]
    d = panel.data
    if panel.meta.layout == "unit_period":
        rows = d[(d["treated"] == 1) & (d["post"] == 1)]
        months = float(rows["period"].nunique()) or float(panel.meta.window_months)
    else:
        months = float(panel.meta.window_months)
    # more teams grow the study's program arm (its observed participants per team, not a planned
    # roll-out); each added participant earns the benefit per participant the ROI counts
    return voi.sample_information(
        pr.draws.net_benefit, teams=int(panel.meta.n_teams), months_observed=months,
        horizon_months=pr.horizon_months, participants=pr.participants_observed,
        cost_per_participant=pr.costs.cost_per_participant,
        benefit_per_participant=pr.benefit.mean / pr.participants if pr.participants > 0 else 0.0)


def decision_rule(an, thresholds: dc.Thresholds) -> dict:
    """The rule as applied: thresholds, its words, and each condition with its value."""
    key = an.primary if an.primary in an.outcomes else next(iter(an.outcomes))
    d = an.outcomes[key].decision
    pr = an.roi
    basis = "money" if pr is not None else "odds"
    return {"basis": basis, "outcome": key, "thresholds": thresholds.to_dict(),
            "text": dc.rule_text(thresholds, basis, an.currency),
            "checks": dc.rule_checks(d.p_works, d.p_target, None if pr is None else pr.p_roi_positive,
                                     None if pr is None else pr.expected_net_benefit, thresholds, an.currency),
            "all_converged": an.converged and not an.failures}


#: paybacks longer than this read "more than 10 years": the benefit would have to go on that long
#: at the same rate, far past any horizon a program is judged on (254.9 months is not a forecast)
PAYBACK_SHOWN_MAX = 120


def _months(x) -> str:
    if x is None:
        return "never"
    return f"more than {PAYBACK_SHOWN_MAX}" if x > PAYBACK_SHOWN_MAX else f"{fmt_num(x, 1)}"


def payback_text(pb: dict) -> str:
    """The payback time as the report shows it: median and 90% interval in months, "never" for
    draws that never pay back, "more than 120" past ten years, and the chance of paying back
    within the horizon when the median is not within it."""
    within = f"P(paid back within the horizon) = {fmt_pct(pb['p_within_horizon'])}"
    if pb["median"] is None:
        return f"never for most draws ({within})"
    text = f"{_months(pb['median'])} months ({_months(pb['lower'])} to {_months(pb['upper'])})"
    return text if pb["p_within_horizon"] is None or pb["p_within_horizon"] >= 0.5 else f"{text}; {within}"


def _effect_text(value: float, o) -> str:
    from lndbayes.formatting import decimals_for

    shown = value * o.display_scale
    return f"{fmt_num(shown, max(2, decimals_for(abs(shown))), True)} {o.unit}"


def roi_display(an) -> dict:
    """The ROI, rule and EVSI numbers as the report and summary.json show them (text)."""
    pr, cur = an.roi, an.currency
    if pr is None:
        return {}
    c = pr.costs
    pb = pr.payback
    out = {
        "benefit": fmt_money_interval(pr.benefit.to_dict(), cur),
        "net_benefit": fmt_money_interval(pr.net_benefit.to_dict(), cur),
        "roi_pct": "n/a (no costs)" if pr.roi is None else fmt_rel(pr.roi.mean, pr.roi.lower, pr.roi.upper),
        "bcr": "n/a (no costs)" if pr.bcr is None else
        fmt_interval(pr.bcr.mean, pr.bcr.lower, pr.bcr.upper, signed=False),
        "p_roi_positive": fmt_pct(pr.p_roi_positive),
        "payback_months": payback_text(pb),
        "costs": (f"{fmt_money(c.total, cur)} = {fmt_money(c.cost_per_participant, cur)} per participant x "
                  f"{fmt_num(c.participants, 0)} participants + {fmt_money(c.fixed_cost, cur)} fixed"),
        "horizon": f"{fmt_num(pr.horizon_months, 0)} months",
        "participants": (f"{fmt_num(pr.participants, 0)} participants ("
                         + ("the population members in the program arm" if pr.participants_source == "observed"
                            else f"roi.participants in programs.yaml; {pr.participants_observed} took part in the study")
                         + ")"),
        "outcomes": {},
    }
    for oid, m in pr.money.items():
        o = an.outcomes[oid]
        out["outcomes"][oid] = {
            "benefit": fmt_money_interval(pr.outcome_benefit[oid].to_dict(), cur),
            "break_even_effect": _effect_text(pr.break_even[oid], o),
            "effect": o.display["effect_abs"],
            "accrual": roi_mod.ACCRUAL_WORDS[m.accrual], "basis": m.basis,
            "units_per_month": fmt_num(m.units_per_month, 1),
            "units": fmt_num(m.units, 0),
            "value_per_unit": fmt_money(m.value_per_unit, cur),
        }
    dep = pr.dependence
    if dep:
        roi_dep = "" if dep.get("roi") is None else \
            f", ROI {fmt_rel(dep['roi']['mean'], dep['roi']['lower'], dep['roi']['upper'])}"
        out["dependence"] = (
            "The monetised outcomes are fitted separately, so their draws are added as if their effects "
            "were independent (no joint fit pairs them). Were they perfectly positively correlated, the net "
            f"benefit would be {fmt_money_interval(dep['net_benefit'], cur)}{roi_dep} and P(ROI > 0) "
            f"{fmt_pct(dep['p_roi_positive'])}, against {out['net_benefit']}, {out['roi_pct']} and "
            f"{out['p_roi_positive']} shown")
    key = break_even_outcome(pr, an.primary)
    out["break_even_outcome"] = key
    out["break_even_effect"] = f"{key}: {out['outcomes'][key]['break_even_effect']}"
    if an.evsi is not None:
        ev = an.evsi
        opts = []
        for opt in ev.options:
            what = (f"{fmt_num(opt.amount, 0)} more teams (now {fmt_num(opt.n0, 0)})" if opt.kind == "more_teams"
                    else f"{fmt_num(opt.amount, 0)} more months of follow-up (now {fmt_num(opt.n0, 0)})")
            opts.append({"option": what, "evsi": fmt_money(opt.evsi, cur), "cost": fmt_money(opt.cost, cur),
                         "benefit": fmt_money(opt.benefit, cur, signed=True),
                         "net": fmt_money(opt.net, cur, signed=True), "cost_basis": opt.cost_basis,
                         "benefit_basis": opt.benefit_basis})
        best = ev.best
        out["evsi"] = {
            "evpi": fmt_money(ev.evpi, cur), "options": opts,
            "verdict": (f"worth gathering: {opts[best]['option']} is worth {opts[best]['evsi']} and costs "
                        f"{opts[best]['cost']}"
                        + (f", and the program is expected to earn {opts[best]['benefit']} on the people it adds"
                           if ev.options[best].benefit else "")
                        + f" (net {opts[best]['net']})" if best is not None else
                        "no option is worth its cost: more data would not change the decision enough to pay "
                        "for itself"),
        }
    return out


def outcome_money_summary(pr: roi_mod.ProgramRoi, oid: str, display: dict) -> dict:
    m = pr.money[oid]
    return {"units": m.units, "units_per_month": m.units_per_month, "accrual": m.accrual,
            "value_per_unit": m.value_per_unit, "horizon_months": m.horizon_months,
            "participant_scale": m.participant_scale, "benefit": _iv(pr.outcome_benefit[oid]),
            "break_even_effect": pr.break_even[oid], "display": display.get("outcomes", {}).get(oid, {})}


def roi_summary(pr: roi_mod.ProgramRoi, display: dict, outcomes) -> dict:
    """summary.json's ``roi`` object (keys announced in the plan's STATUS; stable)."""
    pct = None if pr.roi is None else {"mean": pr.roi.mean * 100, "lower": pr.roi.lower * 100,
                                       "upper": pr.roi.upper * 100}
    key = display["break_even_outcome"]
    c = pr.costs
    return {
        "currency": pr.currency, "horizon_months": pr.horizon_months, "participants": pr.participants,
        "participants_observed": pr.participants_observed, "participants_source": pr.participants_source,
        "costs": {"per_participant": c.cost_per_participant, "fixed": c.fixed_cost, "total": c.total},
        "benefit": _iv(pr.benefit), "net_benefit": _iv(pr.net_benefit), "roi_pct": pct, "bcr": _iv(pr.bcr),
        "p_roi_positive": pr.p_roi_positive,
        "payback_months": {k: pr.payback[k] for k in ("median", "lower", "upper", "p_within_horizon")},
        "break_even_effect": {"outcome": key, "value": pr.break_even[key],
                              "display": display["outcomes"][key]["break_even_effect"]},
        "monetised": list(pr.money), "intangibles": list(pr.intangibles), "excluded": list(pr.excluded),
        "overlap_warnings": list(pr.overlap_warnings), "n_draws": pr.n_draws, "aligned": pr.aligned,
        "dependence": pr.dependence,
        "display": {k: v for k, v in display.items() if k not in ("outcomes", "evsi")},
    }


def _predictive(result: EffectResult) -> dict:
    out = {}
    pc = result.extra.get("predictive") or {}
    for kind in ("prior", "posterior"):
        try:
            observed, replicated = result.predictive_means_by_arm(kind)
        except LookupError:
            continue
        out[kind] = {"observed": observed, "replicated": {a: v.tolist() for a, v in replicated.items()}}
    if out:
        out["posterior_p_value"] = pc.get("posterior_p_value") or {}
        out["statistic"] = pc.get("statistic")
    else:  # the report says why there is no check, in the family's words
        out["no_check_reason"] = get_family(result.meta["family"]).no_check_reason
    return out


def analyse_outcome(org, program, outcome, panel, result: EffectResult, min_group: int,
                    currency: str) -> OutcomeAnalysis:
    """Everything shown about one fitted outcome, from its panel and its result."""
    target, tscale = dc.target_for(program, outcome.id)
    try:
        rel = result.draws("average_effect_rel")
    except KeyError:
        rel = None
    decision = dc.decide_outcome(
        result.draws("average_effect_abs"), rel, outcome_id=outcome.id, direction=outcome.direction,
        converged=result.converged, target=target, target_scale=tscale,
        n_units=treated_units(panel), value_per_unit=outcome.value_per_unit)
    fam = get_family(outcome.family)
    scale, unit = fam.display_scale(outcome.unit_label)
    te = result.team_effects()
    people = team_people(org, program, outcome, panel)
    te["people"] = te["team"].map(people) if people is not None else te["n"]
    d = panel.data
    arms = d.groupby("treated")["unit"].nunique()
    meta = panel.meta.to_dict()
    n_people = meta.get("n_people")
    return OutcomeAnalysis(
        outcome_id=outcome.id, title=outcome_title(outcome), family=outcome.family,
        level=outcome.level, direction=outcome.direction, measured_on=outcome.measured_on,
        display_scale=scale, unit=unit,
        # what an event-time effect means (axis label); identity: a plain difference
        link_meaning=fam.link_label if fam.link != "identity" else f"difference in {unit}",
        result=result, decision=decision, display=_display(decision, scale, unit, currency),
        panel=_jsonable(meta),
        n_people=int(n_people) if n_people is not None else int(d["unit"].nunique()),
        team_table=suppress_small_groups(te, n_col="people", min_group=min_group),
        event_time=result.event_time_effects(), predictive=_predictive(result),
        balance=balance_table(panel),
        population={"rows": len(d), "units_treated": int(arms.get(1, 0)),
                    "units_control": int(arms.get(0, 0)), "teams": int(d["team"].nunique())},
        model_math=model_math(result.meta), priors=priors_table(result.meta.get("priors") or {}))


def _program_facts(org, program) -> dict:
    a, des = program.alignment, program.design
    return {"id": program.id, "name": program.name, "type": program.program.type,
            "design": {"type": des.type, "unit": des.unit, "start": str(des.start)},
            "alignment": {"goal": a.organisational_goal, "department_kpi": a.department_kpi},
            "target": program.target.description if program.target is not None else None,
            "population": {k: v for k, v in program.population.model_dump(mode="json").items()
                           if v is not None},
            "skills": list(program.program.skills or []),
            "decision": None if program.decision is None else program.decision.model_dump(mode="json"),
            "roi": None if program.roi is None else program.roi.model_dump(mode="json"),
            "outcomes": [{"id": o.id, "level": o.level, "measured_on": o.measured_on,
                          "title": outcome_title(o)} for o in program.outcomes]}


def analyse_program(org, program_id: str, *, min_group: int | None = None, **settings) -> ProgramAnalysis:
    """Build each outcome's panel once, fit it (``settings`` go to :func:`lndbayes.fit_panel`:
    seed, draws, tune, chains, retry, ...) and derive everything a report shows.

    An outcome that cannot be estimated (a :class:`~lndbayes.errors.LndbayesError`) is listed in
    ``failures`` with its reason; when none can, :class:`AnalysisFailed` is raised.
    """
    program = org.programs.get_program(program_id)
    currency = org.programs.organisation.currency
    min_group = int(min_group_of(org.programs) if min_group is None else min_group)
    outcomes, failures, panels = {}, {}, {}
    for outcome in program.outcomes:
        try:
            panel = build_panel(org, program_id, outcome.id)
            result = fit_panel(panel, **settings)
        except LndbayesError as err:
            failures[outcome.id] = str(err)
            continue
        panels[outcome.id] = panel
        outcomes[outcome.id] = analyse_outcome(org, program, outcome, panel, result, min_group, currency)
    if not outcomes:
        raise AnalysisFailed("no outcome of this program could be estimated: "
                             + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    primary = program.target.outcome if program.target else next(iter(outcomes))
    effects = {k: o.result.draws("average_effect_abs") for k, o in outcomes.items()}
    roi_error = None
    try:
        pr = roi_mod.roi_for_program(org, program, panels, effects, currency=currency)
    except (ValueError, LndbayesError) as err:   # e.g. non-finite draws: shown, never a crash
        pr, roi_error = None, f"{type(err).__name__}: {err}"
    thresholds = dc.Thresholds.from_config(program.decision)
    decisions = {k: o.decision for k, o in outcomes.items()}
    recommendation = dc.decide_program(decisions, primary, failures, thresholds, roi=pr, currency=currency)
    evsi = None if pr is None else sample_information(pr, program, panels, outcomes, primary)
    ledger, rejections = ledger_tables(org)
    an = ProgramAnalysis(
        program=_program_facts(org, program), organisation=org.programs.organisation.name,
        currency=currency, min_group=min_group, settings=dict(settings), outcomes=outcomes,
        failures=failures, primary=primary, recommendation=recommendation,
        context=enrolment_context(org, program, min_group), ledger=ledger, rejections=rejections,
        roi=pr, evsi=evsi, roi_error=roi_error)
    an.decision_rule = decision_rule(an, thresholds)
    an.roi_display = roi_display(an)
    for name, extra in EXTRAS.items():
        progress.emit("section", program=program_id, section=extra.title)   # a run shows it live
        run_extra(an, name, extra, org, program, settings)
    progress.emit("analysed", program=program_id)
    return an


# ---- optional sections computed by other modules (guarded) -----------------------------------

@dataclass(frozen=True)
class Extra:
    """An optional section of the analysis computed by another module. ``compute(org, program,
    an, settings)`` returns the object (or raises; the failure is kept in ``extras_status`` and
    shown in the section, never stopping the report); ``display(obj, an)`` gives its text."""

    title: str
    compute: object
    to_json: object
    from_json: object
    display: object


def run_extra(an, name: str, extra: Extra, org, program, settings: dict) -> None:
    """Compute one optional section, keeping any failure as the section's status."""
    try:
        obj = extra.compute(org, program, an, settings)
    except ImportError as err:
        an.extras[name], an.extras_status[name] = None, {"status": "not available", "message": str(err)}
        return
    except Exception as err:  # noqa: BLE001 - any failure is reported in its section, never stops the report
        an.extras[name] = None
        an.extras_status[name] = {"status": "failed", "message": f"{type(err).__name__}: {err}"}
        return
    if obj is None:
        an.extras[name], an.extras_status[name] = None, {"status": "not applicable", "message": ""}
        return
    an.extras[name] = obj
    try:
        an.extras_display[name] = _jsonable(extra.display(obj, an))
        an.extras_status[name] = {"status": "ok", "message": ""}
    except Exception as err:  # noqa: BLE001
        an.extras_status[name] = {"status": "failed", "message": f"display: {type(err).__name__}: {err}"}


def _monitoring_compute(org, program, an, settings):
    from lndbayes.monitoring import monitor_program
    from lndbayes.monitoring.core import SUPPORTED

    # every full fit: the monitoring compares its approximation with the one it monitors
    ref = {k: o.result for k, o in an.outcomes.items() if o.family in SUPPORTED} or None
    return monitor_program(org, program.id, seed=int(settings.get("seed", 0)), reference=ref)


def _monitoring_from_json(d):
    from lndbayes.monitoring import Monitoring

    return Monitoring.from_json(d)


def _monitoring_display(m, an) -> dict:
    """Interim monitoring as text: the checkpoint table, the rule, its operating characteristics."""
    scale = float(m.display_scale)
    unit = an.outcomes[m.outcome_id].unit if m.outcome_id in an.outcomes else m.unit
    rows = []
    for _, r in m.table.iterrows():
        eff = ("" if pd.isna(r.get("effect_mean")) else
               fmt_interval(r["effect_mean"] * scale, r["effect_lower"] * scale, r["effect_upper"] * scale, unit))
        rows.append({"month": int(r["checkpoint"]), "data up to": str(r["last_month"]),
                     "units (program / control)": f"{int(r['n_treated']):,} / {int(r['n_control']):,}",
                     "effect so far": eff or "\u2013",
                     "P(works)": "" if pd.isna(r.get("p_works")) else fmt_pct(r["p_works"]),
                     "P(ROI > 0)": "" if pd.isna(r.get("p_roi_positive")) else fmt_pct(r["p_roi_positive"]),
                     "action": str(r["action"]), "why": str(r["reason"])})
    oc = m.operating_characteristics or {}
    oc_rows = []
    for name, sc in (oc.get("scenarios") or {}).items():
        sm = sc.get("scale_month") or {}
        oc_rows.append({"true effect": f"{name} ({fmt_num((sc.get('effect') or 0) * scale, 4, True)} {unit})",
                        "P(says scale)": fmt_pct(sc.get("p_scale")), "P(says stop)": fmt_pct(sc.get("p_stop")),
                        "P(says alter)": fmt_pct(sc.get("p_alter")),
                        "P(no decision)": fmt_pct(sc.get("p_no_decision")),
                        "month of scale (median)": "\u2013" if not sm or sm.get("median") is None
                        else fmt_num(sm["median"], 1)})
    first = m.first_decision
    summary = ("no scale or stop decision at any checkpoint" if not first else
               f"first decision: {first['action']} at month {first['checkpoint']} ({first.get('as_of', '')})")
    last = m.table.iloc[-1] if len(m.table) else None
    return {"outcome": m.outcome_id, "rule": m.rule.get("text", ""), "rows": rows, "oc_rows": oc_rows,
            "oc_available": bool(oc.get("available")), "oc_assumptions": oc.get("assumptions", ""),
            "oc_error": oc.get("mc_error", ""), "n_sims": oc.get("n_sims"), "summary": summary,
            "latest": None if last is None else {"month": int(last["checkpoint"]), "action": str(last["action"]),
                                                 "p_roi_positive": None if pd.isna(last.get("p_roi_positive"))
                                                 else float(last["p_roi_positive"])},
            "notes": list(m.notes), "method": m.method,
            "validation": m.validation}


def _kirkpatrick_compute(org, program, an, settings):
    if getattr(program, "kirkpatrick", None) is None:
        return None          # no chain measures named: the section does not apply
    from lndbayes.mediation import kirkpatrick_chain

    keep = {k: settings[k] for k in ("seed", "draws", "tune", "chains") if k in settings}
    return kirkpatrick_chain(org, program.id, **keep)


def _kirkpatrick_from_json(d):
    from lndbayes.mediation import MediationResult

    return MediationResult.from_dict(d)


_CHAIN_LABELS = {"indirect": "indirect effect (through learning and behaviour)",
                 "direct": "direct effect (not through them)", "total": "total effect",
                 "proportion_mediated": "proportion mediated"}


def _kirkpatrick_display(res, an) -> dict:
    """The Kirkpatrick chain as text: each effect with its interval, the sensitivity to an
    unmeasured mediator-outcome confounder, the assumptions."""
    rows = []
    for r in res.rows:
        pm = r["estimand"] == "proportion_mediated"
        mean, lo, hi = (r["mean"], r["lower"], r["upper"])
        if mean is None:
            effect = "n/a"
        elif pm:
            effect = fmt_rel(mean, lo, hi).replace("+", "")
        else:
            effect = fmt_interval(mean, lo, hi)
        label = (r.get("label") or _CHAIN_LABELS.get(r["estimand"], r["estimand"])) if r["estimand"] == "indirect_path" \
            else _CHAIN_LABELS.get(r["estimand"], r["estimand"])
        rows.append({"effect": label, "estimate (90% interval)": effect,
                     "P(> 0)": "" if r.get("p_gt_0") is None else fmt_pct(r["p_gt_0"]),
                     "note": "unstable: the total effect's interval spans 0" if r.get("unstable") else ""})
    meta = res.meta or {}
    chain = meta.get("chain") or {}
    levels = chain.get("levels") or {}
    sens = res.sensitivity or {}
    rho0 = sens.get("rho_at_zero")
    rho_ci = sens.get("rho_where_interval_includes_0")
    ind = next((r for r in res.rows if r["estimand"] == "indirect"), None)
    summary = ("indirect effect n/a" if ind is None or ind["mean"] is None else
               f"indirect effect {fmt_interval(ind['mean'], ind['lower'], ind['upper'])}")
    return {"rows": rows, "levels": {k: str(v) for k, v in levels.items()},
            "n": meta.get("n"), "n_groups": meta.get("n_groups"), "converged": res.converged,
            "assumptions": meta.get("assumptions", ""),
            "sensitivity": None if not sens else
            {"rho_at_zero": "never within the grid" if rho0 is None else fmt_num(rho0, 2, True),
             "rho_interval": "; ".join(f"{fmt_num(a, 2, True)} to {fmt_num(b, 2, True)}" for a, b in rho_ci or [])},
            "summary": summary}


def _skills_compute(org, program, an, settings):
    if not list(program.program.skills or []):
        return None          # the program targets no skill: the section does not apply
    from lndbayes.skills import run_forecast, skill_forecast_for_program

    # the organisation-wide forecast (one cached fit shared by every program's report)
    keep = {k: settings[k] for k in ("seed", "draws", "tune", "chains") if k in settings}
    fc = run_forecast(org, min_group=an.min_group, **keep)
    return skill_forecast_for_program(fc, program)


def _skills_display(s: dict, an) -> dict:
    """The program's target skills as text: per skill, the teams' forecast gaps (rows about
    fewer than min_group people are already left out by the forecast) and the program's gain."""
    skills = []
    for e in s.get("skills") or []:
        rows = []
        for t in e.get("teams") or []:
            rows.append({"team": t["team"], "required": fmt_num(t["required_level"], 1),
                         "forecast proficiency": fmt_interval(t["mean"], t["lower"], t["upper"], signed=False),
                         "P(gap)": fmt_pct(t["p_gap"]), "expected shortfall": fmt_num(t["shortfall"], 2),
                         "flag": t.get("flag") or "",
                         "P(gap) if trained": "" if t.get("p_gap_if_trained") is None else fmt_pct(t["p_gap_if_trained"]),
                         "cost if trained": "" if t.get("cost_if_trained") is None
                         else fmt_money(t["cost_if_trained"], an.currency)})
        g = e.get("gain")
        skills.append({"skill": e["skill"], "assessed": bool(e.get("assessed")), "rows": rows,
                       "hidden": int(e.get("hidden") or 0),
                       "gain": None if not g else f"{fmt_interval(g['mean'], g['lower'], g['upper'])} proficiency "
                                                  f"points (P(> 0) = {fmt_pct(g['p_gt_0'])})"})
    n_gap = sum(1 for e in s.get("skills") or [] for t in e.get("teams") or [] if (t.get("p_gap") or 0) >= 0.8)
    return {"as_of": s.get("as_of"), "quarter": s.get("quarter"), "skills": skills, "link": s.get("link"),
            "summary": f"{n_gap} team x skill gap(s) likely (P >= 80%) in {s.get('quarter')}"}


#: the optional sections, in report order (each guarded: see run_extra)
EXTRAS: dict[str, Extra] = {
    "monitoring": Extra("Interim monitoring", _monitoring_compute, lambda m: m.to_json(),
                        _monitoring_from_json, _monitoring_display),
    "kirkpatrick": Extra("The Kirkpatrick chain", _kirkpatrick_compute, lambda r: r.to_dict(),
                         _kirkpatrick_from_json, _kirkpatrick_display),
    "skills": Extra("Skill-gap forecast", _skills_compute, _jsonable, lambda d: d, _skills_display),
}
