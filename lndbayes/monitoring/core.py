"""Interim monitoring of a running program: the rule at each checkpoint, and its operating
characteristics for the program's own design.

::

    mon = monitor_program(org, "manager_coaching")           # monthly checkpoints
    mon.table          # checkpoint, as_of, n so far, effect, P(works), P(ROI > 0), action, reason
    mon.rule           # {"text": ..., "thresholds": {...}}
    mon.operating_characteristics   # false-scale rate, P(scale) and how early at the target, ...
    Monitoring.from_json(mon.to_json())

How it works (docs/monitoring.md): at checkpoint ``k`` (months since ``design.start``) the
organisation is cut to what was known then (:func:`lndbayes.monitoring.asof.as_of`), the
outcome's panel is built from it as the analysis would (:func:`~lndbayes.design.panel.build_panel`),
and the fast interim posterior of :mod:`lndbayes.monitoring.approx` gives P(works) of the
monitored outcome and, with every monetised outcome of the program, P(ROI > 0) through
:mod:`lndbayes.roi` (money and costs from the checkpoint's own panels). The rule
(:class:`~lndbayes.monitoring.rule.MonitoringRule`) turns them into an action. The
operating characteristics are simulated (:mod:`lndbayes.monitoring.oc`) on the variances the
program's data showed at each checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes import INTERVAL, __version__
from lndbayes import roi as roi_mod
from lndbayes.data.org import tables_index
from lndbayes.design.calendar import month_index, period_str, to_naive
from lndbayes.design.panel import build_panel
from lndbayes.errors import LndbayesError, ModelInputError, NotApplicableYet
from lndbayes.monitoring.approx import SUPPORTED, TeamContrasts, is_cumulative, team_contrasts
from lndbayes.monitoring.asof import as_of, cut_date
from lndbayes.monitoring.look_cache import LookCache
from lndbayes.monitoring.oc import MonitorDesign, operating_characteristics
from lndbayes.monitoring.rule import TERMINAL, MonitoringRule, MonitoringSettingsError
from lndbayes.privacy import DEFAULT_MIN_GROUP, min_group_of
from lndbayes.results import json_safe

__all__ = ["Monitoring", "monitor_program", "checkpoint_months", "data_end_month", "TABLE_COLUMNS"]

#: Columns of :attr:`Monitoring.table`.
TABLE_COLUMNS = ["checkpoint", "as_of", "last_month", "n_treated", "n_control", "teams",
                 "events_treated", "events_control", "enough", "effect_mean", "effect_lower",
                 "effect_upper", "p_works", "p_target", "p_roi_positive", "action", "reason"]
N_DRAWS = 4000


@dataclass
class Monitoring:
    """A program's interim monitoring: one row per checkpoint, the rule, its operating
    characteristics, and (when a full fit was given) the check of the approximation."""

    program_id: str
    outcome_id: str
    direction: str
    start: str
    window_months: int
    unit: str                  # unit of the effect columns (business scale, before display_scale)
    display_scale: float       # multiply effects by this to display them (binary: 100)
    projected: bool            # effects projected to the whole window (cumulative outcomes)
    monetised: list
    table: pd.DataFrame
    rule: dict                 # {"text", "thresholds"}
    operating_characteristics: dict
    first_decision: dict | None = None     # {"checkpoint", "action"} of the first scale/stop
    validation: dict | None = None
    method: str = ""
    notes: list = field(default_factory=list)
    seed: int = 0
    #: the simulated design behind ``operating_characteristics`` (not saved; None when loaded)
    oc_design: MonitorDesign | None = field(default=None, repr=False, compare=False)
    #: the true effects simulated, by scenario name (not saved)
    oc_effects: dict | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """Strict-JSON dict (NaN -> null)."""
        tab = self.table.astype(object).where(self.table.notna(), None)
        return json_safe({
            "lndbayes": __version__, "program_id": self.program_id, "outcome_id": self.outcome_id,
            "direction": self.direction, "start": self.start, "window_months": self.window_months,
            "unit": self.unit, "display_scale": self.display_scale, "projected": self.projected,
            "monetised": list(self.monetised),
            "table": {"columns": list(tab.columns), "data": tab.values.tolist()},
            "rule": self.rule, "operating_characteristics": self.operating_characteristics,
            "first_decision": self.first_decision, "validation": self.validation,
            "method": self.method, "notes": list(self.notes), "seed": self.seed})

    @classmethod
    def from_json(cls, d: dict) -> "Monitoring":
        d = dict(d)
        d.pop("lndbayes", None)
        t = d.pop("table")
        table = pd.DataFrame(t["data"], columns=t["columns"])
        for col in table.columns:
            if col not in ("as_of", "last_month", "action", "reason", "enough"):
                table[col] = pd.to_numeric(table[col], errors="coerce")
        table["enough"] = table["enough"].astype(bool)
        table["checkpoint"] = table["checkpoint"].astype(int)
        return cls(table=table, **d)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), allow_nan=False)


# ---------------------------------------------------------------------------------------------
def data_end_month(org) -> int:
    """The last whole month the organisation's data cover (its "today"): the latest KPI period,
    HRIS date or learning event (month index, :func:`lndbayes.design.calendar.month_index`)."""
    months = []
    k = org.kpis
    if not k.empty:
        months.append(month_index(str(k["period"].astype(str).max())))
    for name, col in (("employees", "hire_date"), ("employees", "termination_date"),
                      ("hris_events", "event_date"), ("learning_events", "timestamp")):
        t = org.table(name)
        if not t.empty and col in t:
            last = to_naive(t[col]).max()
            if pd.notna(last):
                months.append(month_index(last))
    if not months:
        raise ModelInputError("the organisation has no dated data to monitor")
    return max(months)


def checkpoint_months(program, outcome, org, checkpoints="monthly") -> list[int]:
    """Checkpoint months since ``design.start``: every month (``"monthly"``), every third
    (``"quarterly"``), every ``n`` (an int), or a list; up to the last month the data cover and
    no further than the outcome's window (``window_months``: the period the program is judged
    over). The last month is always a checkpoint."""
    start_m = month_index(pd.Timestamp(program.design.start))
    # the program is judged over its outcome window from the start; after it the final
    # analysis takes over (and a one-row-per-unit outcome measures nothing new after it)
    last = min(data_end_month(org) - start_m + 1, outcome.window_months)
    if last < 1:
        raise NotApplicableYet(
            f"program '{program.id}' starts {program.design.start} but the data end before its "
            "first month is over: nothing to monitor yet")
    if isinstance(checkpoints, str):
        step = {"monthly": 1, "quarterly": 3}.get(checkpoints)
        if step is None:
            raise MonitoringSettingsError(
                f"checkpoints must be 'monthly', 'quarterly', a number of months or a list of "
                f"months, not {checkpoints!r}")
        months = list(range(step, last + 1, step))
    elif isinstance(checkpoints, (int, np.integer)):
        if checkpoints < 1:
            raise MonitoringSettingsError(f"checkpoints every n months needs n >= 1, got {checkpoints}")
        months = list(range(int(checkpoints), last + 1, int(checkpoints)))
    else:
        months = sorted({int(m) for m in checkpoints if 1 <= int(m) <= last})
    if not months or months[-1] != last:
        months.append(last)
    return months


def _outcome_to_monitor(program, outcome_id):
    if outcome_id is not None:
        o = program.outcome(outcome_id)
        if o.family not in SUPPORTED:
            raise ModelInputError(
                f"outcome '{outcome_id}' is {o.family}: interim monitoring supports "
                f"{', '.join(SUPPORTED)}. Fix: monitor another outcome of the program")
        return o, []
    primary = program.target.outcome if program.target else program.outcomes[0].id
    o = program.outcome(primary)
    if o.family in SUPPORTED:
        return o, []
    for other in program.outcomes:
        if other.family in SUPPORTED:
            return other, [f"the primary outcome {primary} is {o.family}, which interim monitoring "
                           f"cannot approximate; it monitors {other.id} instead"]
    raise ModelInputError(f"no outcome of program '{program.id}' has a family interim monitoring "
                          f"supports ({', '.join(SUPPORTED)})")


def _hidden_events(tc: TeamContrasts, unit_type: str, min_group: int) -> tuple[bool, bool]:
    """Which arms' event counts must not be shown: those of fewer than ``min_group`` people
    (employee units; "1 event among 3 treated" tells that one of them left)."""
    if unit_type != "employee":
        return False, False
    return tc.n_treated < min_group, tc.n_control < min_group


def _enough(tc: TeamContrasts, rule: MonitoringRule, family: str, unit_type: str,
            min_group: int = DEFAULT_MIN_GROUP) -> tuple[bool, str]:
    why = []
    # team units: each team is many people; the team counts below apply instead
    need = rule.min_units if unit_type == "employee" else rule.min_teams
    what = "units" if unit_type == "employee" else "teams"
    if min(tc.n_treated, tc.n_control) < need:
        why.append(f"{tc.n_treated} treated and {tc.n_control} comparison {what} with data "
                   f"(need {need} each)")
    if family in ("binary", "count"):
        ev = min(tc.events_treated, tc.events_control)
        if not np.isfinite(ev) or ev < rule.min_events:
            if any(_hidden_events(tc, unit_type, min_group)):
                why.append(f"fewer than {rule.min_events} events on a side (counts not shown: an "
                           f"arm has fewer than {min_group} people)")
            else:
                why.append(f"{tc.events_treated:.0f} events among the treated and "
                           f"{tc.events_control:.0f} in the comparison (need {rule.min_events} each)")
    if len(tc.y) < rule.min_teams:
        why.append(f"{len(tc.y)} teams with a comparison (need {rule.min_teams})")
    if tc.kind == "cluster" and len(set(tc.X[:, 1])) < 2:
        why.append("only one arm has teams with data")
    return (not why), "; ".join(why)


def _target_abs(program, outcome, control_mean: float) -> float | None:
    t = program.target
    if t is None or t.outcome != outcome.id:
        return None
    if t.absolute_change is not None:
        return float(t.absolute_change)
    if t.relative_change is not None and np.isfinite(control_mean):
        return float(t.relative_change) * float(control_mean)
    return None


def monitor_program(org, program_id: str, *, outcome: str | None = None, checkpoints="monthly",
                    rule: MonitoringRule | dict | None = None, seed: int = 0, n_sims: int = 1000,
                    reference=None, reference_panels=None, cache: bool = True) -> Monitoring:
    """Interim monitoring of ``program_id``: at each checkpoint P(works), P(ROI > 0) and the
    rule's action from the data known then, plus the rule's operating characteristics.

    ``outcome``: the outcome the rule watches (default the target's outcome, else the first;
    P(ROI > 0) always counts every monetised outcome the approximation supports).
    ``checkpoints``: ``"monthly"`` (default), ``"quarterly"``, every ``n`` months, or a list of
    months since ``design.start``. ``rule``: a :class:`MonitoringRule` or a dict of its fields.
    ``n_sims``: simulated programs per scenario for the operating characteristics.
    ``reference``: the full fit (:class:`~lndbayes.results.EffectResult`) of the monitored
    outcome on all the data, or a mapping {outcome id: EffectResult} (the monitored outcome's is
    used); when given, the approximation on the same panel is compared with it and the
    comparison kept in ``validation``. ``reference_panels``: {outcome id: panel} the reference
    fits were built on (:func:`lndbayes.design.panel.build_panel` on all the data), so that the
    comparison does not build the monitored outcome's panel again (~0.1 s a program at 20,000
    employees); without it the panel is built here. ``cache``: read back checkpoints whose data have not
    changed since they were computed (:mod:`lndbayes.monitoring.look_cache`); same results.
    """
    rule = rule if isinstance(rule, MonitoringRule) else MonitoringRule.from_dict(rule)
    program = org.programs.get_program(program_id)
    out, notes = _outcome_to_monitor(program, outcome)
    months = checkpoint_months(program, out, org, checkpoints)
    start = pd.Timestamp(program.design.start)
    monetised = [o for o in program.outcomes if o.value_per_unit is not None and o.family in SUPPORTED]
    skipped = [o.id for o in program.outcomes if o.value_per_unit is not None and o.family not in SUPPORTED]
    if skipped:
        notes.append(f"P(ROI > 0) leaves out {', '.join(skipped)} (no interim approximation for its "
                     "family): it counts only the other monetised outcomes, so it understates the return")
    from lndbayes.models.families import get_family

    fam = get_family(out.family)
    display_scale, unit = fam.display_scale(out.unit_label)
    direction = out.direction

    min_group = min_group_of(org.programs)
    rows, per_look, last_money = [], [], None
    looks = LookCache(org, program_id, out.id, rule, seed, enabled=cache)
    # one index of this organisation's KPIs for all its checkpoints (~30 ms at 380,000 rows;
    # with what the cuts prepare once, shared by a report worker's programs)
    index = tables_index(org)
    for i, k in enumerate(months):
        cut = cut_date(start, k)
        look = looks.get(i, k, cut)
        if look is None:
            look = _look(org, program, program_id, out, monetised, rule, min_group, direction,
                         i, k, cut, seed, index)
            looks.put(i, k, cut, look)
        row, entry, money = look
        rows.append(row)
        per_look.append(entry)
        if money is not None:
            last_money = money

    table = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    table["enough"] = table["enough"].fillna(False).astype(bool)
    first = None
    for r in table.itertuples(index=False):
        if r.action in TERMINAL:
            first = {"checkpoint": int(r.checkpoint), "action": r.action, "as_of": r.as_of}
            break

    oc, design, oc_effects = _oc(program, out, months, per_look, rule, direction, last_money,
                                 n_sims=n_sims, seed=seed, roi_required=bool(monetised))
    if isinstance(reference, Mapping):       # {outcome id: EffectResult}, e.g. an analysis' fits
        reference = reference.get(out.id)
    panel = (reference_panels or {}).get(out.id)
    validation = _validate(org, program_id, out, reference, panel) if reference is not None else None
    cumulative = any(isinstance(p, tuple) and p[0].factor != 1.0 for p in per_look)
    method = (
        "Fast interim posterior (lndbayes.monitoring.approx): team contrasts on the business scale "
        "from the panel built on the data known at each checkpoint, a normal hierarchical model "
        "over teams with the between-team sd integrated on a grid; "
        + ("effects of this cumulative outcome are projected to the whole "
           f"{out.window_months}-month window (constant hazard). " if cumulative else "")
        + "P(ROI > 0) from these draws and the money and costs of lndbayes.roi.")
    return Monitoring(
        program_id=program_id, outcome_id=out.id, direction=direction, start=start.date().isoformat(),
        window_months=int(out.window_months), unit=unit, display_scale=float(display_scale),
        projected=bool(cumulative), monetised=[m.id for m in monetised], table=table,
        rule={"text": rule.text(monetised=bool(monetised)), "thresholds": rule.to_dict()},
        operating_characteristics=oc, first_decision=first, validation=validation,
        method=method, notes=notes, seed=int(seed), oc_design=design, oc_effects=oc_effects)


def _look(org, program, program_id, out, monetised, rule, min_group, direction, i, k, cut, seed,
          index=None):
    """Checkpoint ``i`` (month ``k``) from the data known at ``cut``: its table row, what the
    operating characteristics need of it (``(contrasts, enough)``, or None without a panel) and
    the money behind its P(ROI > 0) (or None)."""
    org_k = as_of(org, cut, index)
    base = {"checkpoint": int(k), "as_of": cut.date().isoformat(),
            "last_month": period_str(month_index(cut) - 1)}
    contrasts, panels, units = {}, {}, {}
    no_panel = ""

    def add(o) -> None:
        nonlocal no_panel
        try:
            panel = build_panel(org_k, program_id, o.id)
            tc = team_contrasts(panel)
        except LndbayesError as err:
            if o.id == out.id:        # say why (no comparison arm, no survey yet, ...)
                no_panel = " ".join(str(err).split())
            return
        if is_cumulative(panel.meta):
            tc = tc.scaled(o.window_months / min(k, o.window_months))
        contrasts[o.id], panels[o.id], units[o.id] = tc, panel, panel.meta.unit_type

    add(out)
    tc = contrasts.get(out.id)
    if tc is None:
        return ({**base, "n_treated": 0, "n_control": 0, "teams": 0, "enough": False,
                 "action": "too little data",
                 "reason": "too little data: no panel can be built from the data known yet"
                           + (f" ({no_panel})" if no_panel else "")}, None, None)
    enough, why = _enough(tc, rule, out.family, units[out.id], min_group)
    hide_t, hide_c = _hidden_events(tc, units[out.id], min_group)
    row = {**base, "n_treated": tc.n_treated, "n_control": tc.n_control, "teams": len(tc.y),
           "events_treated": np.nan if hide_t else tc.events_treated,
           "events_control": np.nan if hide_c else tc.events_control,
           "enough": enough}
    if not enough:
        return {**row, "action": "too little data", "reason": f"too little data: {why}"}, (tc, enough), None
    # the monetised outcomes' panels serve only P(ROI > 0): built once the rule has a decision
    # to make (a third of the example's and the large preset's checkpoints have too little data)
    for o in monetised:
        if o.id != out.id:
            add(o)
    post = tc.posterior()
    draws = post.draws(N_DRAWS, seed=seed + i)
    lo, hi = np.quantile(draws, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
    pw = float(post.p_works(direction))
    target = _target_abs(program, out, tc.control_mean)
    pt = None if target is None else float(post.prob_beyond(target, direction))
    p_roi, roi_why, money_used = None, "", None
    if monetised:
        effects = {out.id: draws}
        for j, (oid, c) in enumerate(contrasts.items()):
            if oid != out.id and _enough(c, rule, program.outcome(oid).family, units[oid], min_group)[0]:
                effects[oid] = c.posterior().draws(N_DRAWS, seed=seed + 1000 * (j + 1) + i)
        try:
            money, costs, _ = roi_mod.roi_inputs(org_k, program, {o: panels[o] for o in effects})
            if money:
                p_roi = roi_mod.p_roi_positive(effects, money, costs)
                money_used = (money, costs, effects, p_roi)
            else:
                roi_why = "no monetised outcome has enough data yet"
        except (LndbayesError, ValueError) as err:
            p_roi, roi_why = None, " ".join(str(err).split())
    # a monetised program without P(ROI > 0) is not scaled on P(works) alone
    action, reason = rule.action(pw, p_roi, month=k, enough=True, roi_required=bool(monetised),
                                 roi_why=roi_why)
    return ({**row, "effect_mean": float(draws.mean()), "effect_lower": float(lo),
             "effect_upper": float(hi), "p_works": pw, "p_target": pt,
             "p_roi_positive": p_roi, "action": action, "reason": reason}, (tc, enough), money_used)

def _oc(program, out, months, per_look, rule, direction, last_money, *, n_sims, seed,
        roi_required=False) -> dict:
    """Operating characteristics on the variances the program's data showed at each look."""
    looks = [(k, p) for k, p in zip(months, per_look) if p is not None]
    if not looks or not any(en for _, (_, en) in looks):
        return ({"available": False, "why": "too little data at every checkpoint to measure the "
                                             "rule's operating characteristics"}, None, None)
    teams = sorted({t for _, (tc, _) in looks for t in tc.teams})
    idx = {t: j for j, t in enumerate(teams)}
    K, J = len(looks), len(teams)
    v = np.full((K, J), np.inf)
    final_tc = [tc for _, (tc, en) in looks if en][-1]
    kind = final_tc.kind
    arm = np.zeros(J)
    for r, (_, (tc, _)) in enumerate(looks):
        for j, t in enumerate(tc.teams):
            v[r, idx[t]] = tc.v[j]
            if kind == "cluster" and tc.X.shape[1] == 2:
                arm[idx[t]] = tc.X[j, 1]
    X = np.column_stack([np.ones(J), arm]) if kind == "cluster" else np.ones((J, 1))
    post = final_tc.posterior()
    tau = post.summary()["tau_mean"]
    break_even, p_roi_fixed = None, None
    if last_money is not None:
        money, costs, effects, last_p_roi = last_money
        if out.id not in money:
            # the monitored outcome carries no money: P(ROI > 0) does not move with it, so the
            # simulation holds it at its last value (as the real rule would see it)
            p_roi_fixed = float(last_p_roi)
        else:
            others = sum(float(np.mean(money[o].sign * effects[o] * money[o].per_effect_unit))
                         for o in money if o != out.id and o in effects)
            be = roi_mod.break_even_effect(money[out.id], costs.total, others)
            if np.isfinite(be):
                # in the good direction: how far the outcome must move for ROI = 0
                break_even = money[out.id].sign * be
    v_common = [float(tc.v_common) for _, (tc, _) in looks]
    design = MonitorDesign(months=[k for k, _ in looks], v=v, X=X, s_tau=final_tc.s_tau, tau=tau,
                           v_common=v_common,
                           enough=[en for _, (_, en) in looks], break_even=break_even,
                           roi_required=roi_required, p_roi_fixed=p_roi_fixed)
    effects = {"no effect": 0.0}
    target = _target_abs(program, out, final_tc.control_mean)
    if target is not None:
        effects["target"] = target
    else:
        effects["current estimate"] = post.summary()["mean"]
    res = operating_characteristics(design, rule, direction, effects=effects, n_sims=n_sims, seed=seed)
    return {"available": True, "design": design.to_dict(), "scenarios": res,
            "n_sims": int(n_sims), "seed": int(seed),
            "mc_error": f"about +-{100 * math.sqrt(0.05 * 0.95 / n_sims):.1f} points on a 5% rate",
            "assumptions": (
                "each team's running estimate varies as the program's data did at each checkpoint "
                f"(variances from the data); between-team sd of the effect {tau:.3g} (its posterior "
                "mean at the last checkpoint)"
                + ("; with the error every treated team shares (period effects estimated from the "
                   "comparison rows)" if any(x > 0 for x in v_common) else "")
                + ("; the other monetised outcomes held at their current mean benefit"
                   if last_money is not None and len(last_money[0]) > 1 and p_roi_fixed is None else "")
                + (f"; P(ROI > 0) held at its last value {p_roi_fixed:.0%} (the monitored outcome "
                   "has no money value)" if p_roi_fixed is not None else "")
                + ("; P(ROI > 0) was never available, so the rule, like the simulated one, "
                   "cannot scale" if roi_required and last_money is None else ""))}, design, effects


def _validate(org, program_id, out, reference, panel=None) -> dict:
    """The approximation on the full panel against the full fit of the same panel (``panel``:
    that panel when the caller has it)."""
    from lndbayes import decisions as dc

    if panel is None:
        panel = build_panel(org, program_id, out.id)
    tc = team_contrasts(panel)
    post = tc.posterior()
    d = post.draws(N_DRAWS, seed=0)
    full = np.asarray(reference.draws("average_effect_abs"), float)

    def summ(x, pw):
        lo, hi = np.quantile(x, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
        return {"mean": float(x.mean()), "lower": float(lo), "upper": float(hi), "p_works": float(pw)}

    a = summ(d, post.p_works(out.direction))
    f = summ(full, dc.p_works(full, out.direction))
    return {"panel": "all data (the final analysis' panel)", "approx": a, "full_fit": f,
            "p_works_diff": a["p_works"] - f["p_works"],
            "interval_width_ratio": (a["upper"] - a["lower"]) / (f["upper"] - f["lower"])
            if f["upper"] > f["lower"] else None}
