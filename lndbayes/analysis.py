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

import pandas as pd

from lndbayes import INTERVAL, __version__, progress
from lndbayes import decisions as dc
from lndbayes import roi as roi_mod
from lndbayes import value_of_information as voi
from lndbayes.analysis_context import enrolment_context, ledger_tables, outcome_title, team_people
from lndbayes.analysis_roi import (  # noqa: F401 - re-exported: lndbayes.analysis.roi_display etc.
    PAYBACK_SHOWN_MAX,
    break_even_outcome,
    decision_rule,
    outcome_money_summary,
    payback_text,
    roi_display,
    roi_summary,
    sample_information,
)
from lndbayes.analysis_sections import (  # noqa: F401 - re-exported: lndbayes.analysis.EXTRAS etc.
    EXTRAS,
    Extra,
    extra_from_json,
    json_default,
    jsonable,
    run_extra,
)
from lndbayes.atomic import write_json
from lndbayes.design.balance import balance_table
from lndbayes.design.panel import build_panel
from lndbayes.errors import LndbayesError
from lndbayes.fitting import fit_panel
from lndbayes.formatting import (
    fmt_interval,
    fmt_money_interval,
    fmt_num,
    fmt_pct,
    fmt_rel,
)
from lndbayes.models.families import get_family
from lndbayes.models.math import model_math, priors_table
from lndbayes.privacy import min_group_of, suppress_small_groups
from lndbayes.results import EffectResult, load_result

ANALYSIS_FILE = "analysis.json"
SUMMARY_FILE = "summary.json"
POSTERIOR_DIR = "posterior"


class AnalysisFailed(LndbayesError):
    """No outcome of the program could be estimated."""


def _frame_to_json(df: pd.DataFrame | None):
    return None if df is None else json.loads(df.to_json(orient="split", index=False, date_format="iso"))


def _frame_from_json(obj) -> pd.DataFrame | None:
    return None if obj is None else pd.DataFrame(obj["data"], columns=obj["columns"])


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
                # without "cached" (read from the posterior cache or sampled now): the same
                # inputs give the same summary.json wherever and whenever it was built
                "diagnostics": jsonable({k: v for k, v in self.result.diagnostics().items() if k != "cached"}),
                "n_people": self.n_people,
                "teams_shown": int((~teams_suppressed).sum()),
                "teams_suppressed": sorted(map(str, self.team_table.loc[teams_suppressed, "team"]))}

    def to_json(self) -> dict:
        return jsonable({
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
    #: outcome id -> the panel its fit used, while the sections run (they reuse them instead of
    #: building them again); never saved, and emptied once the sections are done
    panels: dict = field(default_factory=dict, repr=False, compare=False)

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
        write_json(folder / ANALYSIS_FILE, allow_nan=False, obj=jsonable({
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
        write_json(folder / SUMMARY_FILE, self.summary(), default=json_default, indent=2)
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
        extras={k: extra_from_json(k, v) for k, v in (d.get("extras") or {}).items()},
        extras_status=d.get("extras_status") or {}, extras_display=d.get("extras_display") or {})


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
        panel=jsonable(meta),
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


def analyse_program(org, program_id: str, *, min_group: int | None = None, skill_tune: int | None = None,
                    **settings) -> ProgramAnalysis:
    """Build each outcome's panel once, fit it (``settings`` go to :func:`lndbayes.fit_panel`:
    seed, draws, tune, chains, retry, ...) and derive everything a report shows.

    ``skill_tune``: the tuning length of the organisation's skill-gap forecast that the skills
    section shows (None: the skill model's default; :func:`lndbayes.skills.model.fit_settings`).

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
        roi=pr, evsi=evsi, roi_error=roi_error, panels=panels)
    an.decision_rule = decision_rule(an, thresholds)
    an.roi_display = roi_display(an)
    extra_settings = {**settings, "skill_tune": skill_tune}
    for name, extra in EXTRAS.items():
        progress.emit("section", program=program_id, section=extra.title)   # a run shows it live
        run_extra(an, name, extra, org, program, extra_settings)
    an.panels = {}          # the report keeps the analysis to the end: not the panels' memory
    progress.emit("analysed", program=program_id)
    return an
