"""The context of a program's analysis that is not a fit: enrolment, learning, reaction and
completion aggregates, the ingestion ledger, people per team, outcome titles.

Aggregates only: nothing here keeps an identifier, so all of it may be saved and shown.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from lndbayes.paths import rejected_dir
from lndbayes.privacy import PSEUDONYM_RE

MEASURED_ON = {"participants": "participants", "direct_reports": "their direct reports", "team": "the team"}


def outcome_title(o) -> str:
    who = MEASURED_ON.get(o.measured_on, o.measured_on)
    return f"{o.kpi.replace('_', ' ').capitalize()} of {who} ({o.window_months} months, {o.family})"


def team_people(org, program, outcome, panel) -> pd.Series | None:
    """People per team behind the team effects (what privacy suppression counts)."""
    d = panel.data
    if "unit" not in d:
        return None
    if outcome.measured_on == "team" or program.design.unit == "team" \
            and not d["unit"].astype(str).str.startswith("p_").any():
        emp = org.employees
        return emp.groupby("team")["employee_key"].nunique() if len(emp) else None
    return d.groupby("team", observed=True)["unit"].nunique()


def program_enrollments(org, program) -> pd.DataFrame:
    enr = org.enrollments
    prefix = program.program.lms_activity_prefix
    if enr is None or enr.empty or not prefix:
        return pd.DataFrame(columns=["employee_key", "activity_id", "score_scaled", "reaction", "completed_at"])
    return enr[enr["activity_id"].astype(str).str.startswith(prefix)]


def enrolment_context(org, program, min_group: int) -> dict:
    """Learning (scores), reaction and completion; counts below ``min_group`` are not kept."""
    enr = program_enrollments(org, program)
    scores = pd.to_numeric(enr.get("score_scaled", pd.Series(dtype=float)), errors="coerce").dropna()
    n = int(enr.loc[scores.index, "employee_key"].nunique()) if len(scores) else 0
    learning = {"n": n, "suppressed": 0 < n < min_group}
    if n >= min_group:
        learning.update(mean=float(scores.mean()), median=float(scores.median()),
                        scores=[float(x) for x in scores])
    r = pd.to_numeric(enr.get("reaction", pd.Series(dtype=float)), errors="coerce").dropna()
    nr = int(enr.loc[r.index, "employee_key"].nunique()) if len(r) else 0
    reaction = {"n": nr, "suppressed": 0 < nr < min_group}
    if nr >= min_group:
        dist = r.round().clip(1, 5).astype(int).value_counts(normalize=True).reindex(range(1, 6), fill_value=0)
        reaction.update(mean=float(r.mean()), share={str(k): float(v) for k, v in dist.items()})
    people = int(enr["employee_key"].nunique()) if len(enr) else 0
    completion = {"people": people, "enough": people >= min_group}
    if people >= min_group:
        completion["completed"] = int(enr[pd.notna(enr["completed_at"])]["employee_key"].nunique())
    return {"learning": learning, "reaction": reaction, "completion": completion}


def redact(text: str) -> str:
    """Reasons never carry identifiers into a report."""
    text = PSEUDONYM_RE.sub("<id>", str(text))
    return re.sub(r"'[^']{1,64}'", "'\u2026'", text) if re.search(r"employee|manager|actor", text, re.I) else text


def ledger_tables(org) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(the ingestion ledger, counts of rejected rows by table and reason, redacted)."""
    led = org.ledger
    led = led.copy() if led is not None and len(led) else None
    rej_dir = rejected_dir(Path(org.root))
    reasons = []
    for f in sorted(rej_dir.glob("*.csv")) if rej_dir.is_dir() else []:
        try:
            r = pd.read_csv(f, usecols=lambda c: c in ("reason", "source_file"), dtype=str)
        except (ValueError, pd.errors.EmptyDataError):
            continue
        if "reason" in r and len(r):
            c = r.groupby("reason").size().reset_index(name="rows")
            c.insert(0, "table", f.stem)
            reasons.append(c)
    if not reasons:
        return led, None
    rs = pd.concat(reasons).sort_values("rows", ascending=False).head(30)
    rs["reason"] = rs["reason"].map(redact)
    return led, rs.reset_index(drop=True)
