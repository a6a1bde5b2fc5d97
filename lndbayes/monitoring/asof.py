"""What is known at a checkpoint: the organisation's tables cut at a date.

``as_of(org, cut)`` returns a copy of the organisation holding only what had happened before
``cut`` (a date; a checkpoint "after month k" cuts at the first day of the next month):

* **employees**: people hired before ``cut``; a termination on or after ``cut`` is not known
  yet (``termination_date`` and ``termination_reason`` become missing: the person is still
  employed as far as anyone can tell);
* **hris_events**, **learning_events**, **skill_assessments**: rows dated before ``cut``;
* **enrollments**: enrolments before ``cut``; a completion (with its score, success and
  reaction) on or after ``cut`` is not known yet;
* **kpis**: periods before ``cut``'s month (a KPI of month ``m`` is known once ``m`` is over);
  a time-to-event KPI is read at its latest period before the cut;
* **skill_requirements**: those in force before ``cut``;
* **assignments** are kept whole: the randomisation list (and a staggered rollout's planned
  start dates) is the design, made before the program starts. Whether a planned team has
  *started* is read from the data (its post-start KPI months), never from the plan alone.

What this cannot undo: attributes the HRIS holds only as of today (an employee's ``team``,
``role``, ``manager_key``, ``level``) are taken as they are now; a transfer after ``cut``
therefore shows the person in the new team. The example organisation has no transfers that
cross arms.

Building a panel from ``as_of(org, cut)`` with :func:`lndbayes.design.panel.build_panel` gives
exactly the panel an analyst could have built on that day (tests/test_monitoring.py perturbs
everything after the cut and checks the panel does not change).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from lndbayes.design.calendar import month_index, period_str

__all__ = ["as_of", "cut_date"]


def cut_date(start, months: int) -> pd.Timestamp:
    """The first day of the month ``months`` after ``start``'s month: a checkpoint after
    ``months`` whole months of the program (``start`` 2024-07-01, months 3 -> 2024-10-01)."""
    m = month_index(pd.Timestamp(start)) + int(months)
    return pd.Timestamp(period_str(m) + "-01")


def _naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def _before(df: pd.DataFrame, col: str, cut: pd.Timestamp) -> pd.DataFrame:
    if df is None or df.empty or col not in df:
        return df
    return df[(_naive(df[col]) < cut).fillna(False).to_numpy()].copy()


def as_of(org, cut):
    """A copy of ``org`` with only what was known before ``cut`` (see the module docstring)."""
    cut = pd.Timestamp(cut)
    if cut.tzinfo is not None:
        cut = cut.tz_convert("UTC").tz_localize(None)
    t = dict(org.tables)
    emp = t.get("employees")
    if emp is not None and not emp.empty:
        emp = _before(emp, "hire_date", cut)
        later = (_naive(emp["termination_date"]) >= cut).fillna(False).to_numpy()
        emp.loc[later, "termination_date"] = pd.NaT
        if "termination_reason" in emp:
            emp.loc[later, "termination_reason"] = pd.NA
        t["employees"] = emp
    for name, col in (("hris_events", "event_date"), ("learning_events", "timestamp"),
                      ("skill_assessments", "assessed_at"), ("skill_requirements", "effective_date"),
                      ("enrollments", "enrolled_at")):
        if name in t:
            t[name] = _before(t[name], col, cut)
    enr = t.get("enrollments")
    if enr is not None and not enr.empty and "completed_at" in enr:
        later = (_naive(enr["completed_at"]) >= cut).fillna(False).to_numpy()
        enr.loc[later, "completed_at"] = pd.NaT
        for col in ("score_scaled", "success", "reaction"):
            if col in enr:
                enr[col] = enr[col].mask(later)
    k = t.get("kpis")
    if k is not None and not k.empty:
        # month m is known once it is over: the last whole month before the cut
        last = period_str(month_index(cut) - 1)
        t["kpis"] = k[(k["period"].astype(str).str[:7] <= last).to_numpy()].copy()
    return dataclasses.replace(org, tables=t, meta={**org.meta, "as_of": cut.date().isoformat()})
