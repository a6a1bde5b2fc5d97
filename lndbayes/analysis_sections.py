"""The optional sections of a program's analysis, computed by other modules and guarded.

Interim monitoring (lndbayes.monitoring), the Kirkpatrick chain (lndbayes.mediation) and the
skill-gap forecast of the program's target skills (lndbayes.skills) each become an
:class:`Extra`: how to compute it, save it, read it back and show it as text. :func:`run_extra`
runs one, so a section that fails (or whose package is missing) is reported in its own section
with its reason and never stops the analysis. :data:`EXTRAS` lists them in report order;
:mod:`lndbayes.analysis` runs them after the fits, the ROI and the rule.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lndbayes.errors import Deferred, NotApplicableYet
from lndbayes.formatting import fmt_interval, fmt_money, fmt_num, fmt_pct, fmt_rel
from lndbayes.results import json_safe

def json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def jsonable(obj):
    # NaN becomes null: analysis.json is read by other tools too (an explorer in a browser),
    # and a bare NaN is not JSON
    return json_safe(json.loads(json.dumps(obj, default=json_default)))


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


#: seconds a deferring section waits for a shared result another worker is computing before it
#: defers. Short: the lock is held for the whole fit, so any wait shorter than the fit is lost.
#: At the large preset (a forecast of ~6 minutes) a 30 s wait cost every report that met it 30 s
#: of a worker: in 380 s the other worker got through only 7 reports' first passes. On the
#: example the forecast is usually done before any program report reaches its skills section.
DEFER_AFTER = 1.0

#: set by a report worker (:func:`deferring`): sections that need a result another worker of
#: the run is computing say so instead of waiting for it (their status: "deferred")
_DEFER = {"on": False, "deferred": []}


@contextmanager
def deferring(on: bool = True):
    """Within the block, a section whose shared input is being computed elsewhere is deferred
    (not waited for); yields the list of the deferred sections' names."""
    old = dict(_DEFER)
    _DEFER.update(on=bool(on), deferred=[])
    try:
        yield _DEFER["deferred"]
    finally:
        _DEFER.update(old)


def run_extra(an, name: str, extra: Extra, org, program, settings: dict) -> None:
    """Compute one optional section, keeping any failure as the section's status."""
    try:
        obj = extra.compute(org, program, an, settings)
    except Deferred as err:
        _DEFER["deferred"].append(name)
        an.extras[name], an.extras_status[name] = None, {"status": "deferred", "message": str(err)}
        return
    except ImportError as err:
        an.extras[name], an.extras_status[name] = None, {"status": "not available", "message": str(err)}
        return
    except NotApplicableYet as err:     # nothing to work on yet: not a failure of the section
        an.extras[name], an.extras_status[name] = None, {"status": "not applicable", "message": str(err)}
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
        an.extras_display[name] = jsonable(extra.display(obj, an))
        an.extras_status[name] = {"status": "ok", "message": ""}
    except Exception as err:  # noqa: BLE001
        an.extras_status[name] = {"status": "failed", "message": f"display: {type(err).__name__}: {err}"}


def _monitoring_compute(org, program, an, settings):
    from lndbayes.monitoring import monitor_program
    from lndbayes.monitoring.core import SUPPORTED

    # every full fit: the monitoring compares its approximation with the one it monitors
    ref = {k: o.result for k, o in an.outcomes.items() if o.family in SUPPORTED} or None
    return monitor_program(org, program.id, seed=int(settings.get("seed", 0)), reference=ref,
                           reference_panels=an.panels)


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


def shared_forecast(org, settings: dict, min_group=None, wait: bool | float = True):
    """The organisation-wide skill-gap forecast every program report's skills section shows:
    one cached fit, keyed by these settings (retry too: the skill-gap report passes it), so the
    reports, the skill-gap report and the runner's forecast task all read the same fit."""
    from lndbayes.skills import run_forecast
    from lndbayes.skills.model import fit_settings

    return run_forecast(org, min_group=min_group, wait=wait, **fit_settings(settings))


def _skills_compute(org, program, an, settings):
    if not list(program.program.skills or []):
        return None          # the program targets no skill: the section does not apply
    from lndbayes.skills import skill_forecast_for_program

    fc = shared_forecast(org, settings, an.min_group, wait=DEFER_AFTER if _DEFER["on"] else True)
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
    "skills": Extra("Skill-gap forecast", _skills_compute, jsonable, lambda d: d, _skills_display),
}


def extra_from_json(name: str, obj):
    """A saved section read back into its object (None when it cannot be: its display is shown)."""
    if obj is None or name not in EXTRAS:
        return None
    try:
        return EXTRAS[name].from_json(obj)
    except Exception:  # noqa: BLE001 - a section that cannot be read back is shown from its display
        return None
