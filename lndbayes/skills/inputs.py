"""Skill-gap inputs: reading and checking the tables the forecast uses, rejections counted.

One job: from the processed tables to clean inputs, every row set aside counted with its reason
(:mod:`lndbayes.skills.data` turns them into the model's sufficient statistics):

* :func:`clean_inputs`: assessments and requirements checked (0-5 scale, dates in the future,
  skill names differing only in case or spacing, requirements for skills nobody is assessed on),
  split at ``as_of`` into the fit and the held-out rows;
* who is where: :func:`team_at` (transfers undone back in time), :func:`employed_at`,
  :func:`quarterly_turnover` (HRIS leavers per department);
* :class:`Requirements`: the level required of a team in a skill on a date;
* programs: :func:`program_table` (programs.yaml skills, costs, durations) and
  :func:`completions` (LMS completions under each program's activity prefix).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lndbayes.errors import ContractError


def skill_key(name) -> str:
    """The spelling-insensitive form of a skill name: case, surrounding and inner spacing,
    '-' and '_' do not matter ("Product  Knowledge" == "product_knowledge")."""
    return re.sub(r"[\s_\-]+", "_", str(name).strip()).casefold()


# ---- cleaning -------------------------------------------------------------------------------

def _reject(log: list, table: str, reason: str, rows: int) -> None:
    if rows:
        log.append({"table": table, "reason": reason, "rows": int(rows)})


def _spellings(df: pd.DataFrame) -> list[tuple]:
    """(skill as written, number of rows) for each distinct value of ``df["skill"]``."""
    if not len(df):
        return []
    return list(df["skill"].value_counts(dropna=False, sort=False).items())


def _spelled_canonically(skills: pd.Series, canon: dict) -> pd.Series:
    """Whether each row's skill is written as its canonical spelling (decided once per spelling)."""
    ok = [s for s in skills.unique() if canon[skill_key(s)] == s]
    return skills.isin(ok)


def canonical_skills(assess: pd.DataFrame, reqs: pd.DataFrame, program_skills: list[str]) -> dict:
    """skill key -> the one spelling kept: the most frequent spelling in the assessments
    (then requirements, then programs.yaml); ties go to the alphabetically first."""
    counts: dict[str, dict[str, int]] = {}
    # each distinct spelling once with its number of rows (a large organisation has ~10 skills in
    # ~440,000 assessments: one skill_key per row took ~2.5 s)
    weighted = [(_spellings(assess), 1), (_spellings(reqs), 1),
                ([(name, 1) for name in program_skills], 0)]
    for names, weight in weighted:
        for name, rows in names:
            spelled = counts.setdefault(skill_key(name), {})
            spelled[str(name)] = spelled.get(str(name), 0) + weight * rows
    return {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k, v in counts.items()}


def clean_inputs(org, as_of=None, today=None):
    """Validated assessments and requirements, the rejected rows counted with reasons.

    Rules (each a counted rejection, never a silent drop):
    * proficiency missing or outside 0..5; required_level outside 0..5;
    * assessed_at after ``today`` (a date in the future);
    * a skill spelled differently from its canonical spelling only in case or spacing (rows with
      the other spelling are set aside; fix the spelling in the file);
    * a requirement for a skill nobody is assessed on (it cannot be compared with anything).
    Assessments after ``as_of`` (but not in the future) are left out of the fit and counted as
    ``held out``; they are not errors.
    """
    today = pd.Timestamp(today if today is not None else pd.Timestamp.today()).normalize()
    log: list[dict] = []
    assess = org.table("skill_assessments")
    reqs = org.table("skill_requirements")
    if assess is None or not len(assess):
        raise ContractError("no skill assessments: a skill-gap forecast needs assessed proficiency",
                            file="skill_assessments.csv",
                            fix="add skill_assessments.csv (employee_id, skill, assessed_at, proficiency) "
                                "to the raw folder and ingest again")
    assess = assess[["employee_key", "skill", "assessed_at", "proficiency"]].copy()
    assess["assessed_at"] = pd.to_datetime(assess["assessed_at"]).dt.tz_localize(None) \
        if getattr(pd.to_datetime(assess["assessed_at"]).dt, "tz", None) else pd.to_datetime(assess["assessed_at"])
    reqs = (reqs[["scope_type", "scope_id", "skill", "required_level", "effective_date"]].copy()
            if reqs is not None and len(reqs) else
            pd.DataFrame(columns=["scope_type", "scope_id", "skill", "required_level", "effective_date"]))
    reqs["effective_date"] = pd.to_datetime(reqs["effective_date"])
    reqs["required_level"] = pd.to_numeric(reqs["required_level"], errors="coerce")

    prof = pd.to_numeric(assess["proficiency"], errors="coerce")
    bad = prof.isna() | (prof < 0) | (prof > 5)
    _reject(log, "skill_assessments", "proficiency missing or outside the 0-5 scale", bad.sum())
    assess = assess[~bad].assign(proficiency=prof[~bad])
    bad = assess["assessed_at"].isna() | (assess["assessed_at"] > today)
    _reject(log, "skill_assessments", f"assessed_at is in the future (after {today.date()}) or missing",
            bad.sum())
    assess = assess[~bad]
    bad = reqs["required_level"].isna() | (reqs["required_level"] < 0) | (reqs["required_level"] > 5)
    _reject(log, "skill_requirements", "required_level missing or outside the 0-5 scale", bad.sum())
    reqs = reqs[~bad]

    prog_skills = [s for p in org.programs.programs.values() for s in (p.program.skills or [])]
    canon = canonical_skills(assess, reqs, prog_skills)
    for table, df in (("skill_assessments", assess), ("skill_requirements", reqs)):
        keep = _spelled_canonically(df["skill"], canon) if len(df) else pd.Series([], dtype=bool)
        for name in sorted(set(df.loc[~keep, "skill"])):
            _reject(log, table, f"skill '{name}' differs from '{canon[skill_key(name)]}' only in case or "
                                f"spacing (rows set aside; spell it '{canon[skill_key(name)]}' everywhere)",
                    int((df["skill"] == name).sum()))
        if table == "skill_assessments":
            assess = df[keep.values] if len(df) else df
        else:
            reqs = df[keep.values] if len(df) else df
    if not len(assess):
        raise ContractError("no usable skill assessments left after the checks",
                            file="skill_assessments.csv",
                            fix="see the rejected rows and their reasons; correct them and ingest again")
    assessed = set(assess["skill"].unique())
    bad = ~reqs["skill"].isin(assessed)
    for name in sorted(set(reqs.loc[bad, "skill"])):
        _reject(log, "skill_requirements",
                f"requirement for skill '{name}' that nobody is assessed on (add assessments of it, "
                "or remove the requirement)", int((reqs["skill"] == name).sum()))
    reqs = reqs[~bad]

    if as_of is None:
        as_of = assess["assessed_at"].max()
    as_of = pd.Timestamp(as_of).normalize()
    later = assess["assessed_at"] > as_of
    held_out = assess[later]
    assess = assess[~later]
    if not len(assess):
        raise ContractError(f"no skill assessments on or before as_of {as_of.date()}",
                            file="skill_assessments.csv", fix="choose a later as_of date")
    return assess.reset_index(drop=True), reqs.reset_index(drop=True), held_out, canon, log, as_of


# ---- who is where ---------------------------------------------------------------------------

def team_at(employees: pd.DataFrame, hris: pd.DataFrame, keys, dates) -> np.ndarray:
    """The team of each (employee_key, date): the employees table's team, undone by any
    transfer (``hris_events`` event_type ``transfer``, from_value -> to_value) after the date."""
    q = pd.DataFrame({"employee_key": np.asarray(keys, dtype=object),
                      "date": pd.to_datetime(np.asarray(dates)).astype("datetime64[ns]"),
                      "_i": np.arange(len(keys))})
    cur = employees.set_index("employee_key")["team"]
    team = q["employee_key"].map(cur).to_numpy(dtype=object)
    tr = hris[hris["event_type"].astype(str).str.lower() == "transfer"] if hris is not None and len(hris) else None
    if tr is not None and len(tr):
        tr = tr[["employee_key", "event_date", "from_value"]].copy()
        tr["event_date"] = pd.to_datetime(tr["event_date"]).astype("datetime64[ns]")
        tr = tr.sort_values("event_date")
        qq = q[q["employee_key"].isin(set(tr["employee_key"]))].sort_values("date")
        if len(qq):
            m = pd.merge_asof(qq, tr, left_on="date", right_on="event_date", by="employee_key",
                              direction="forward", allow_exact_matches=False)
            hit = m["from_value"].notna().to_numpy()
            team[m["_i"].to_numpy()[hit]] = m["from_value"].to_numpy()[hit]
    return team


def employed_at(employees: pd.DataFrame, date) -> pd.Series:
    date = pd.Timestamp(date)
    hire = pd.to_datetime(employees["hire_date"])
    term = pd.to_datetime(employees["termination_date"])
    return (hire <= date) & (term.isna() | (term > date))


def quarterly_turnover(employees: pd.DataFrame, as_of, months: int = 12) -> dict:
    """Department -> probability that a person present leaves within a quarter, from the
    leavers of the ``months`` before ``as_of`` over the average head count (pooled with the
    organisation's rate, 8 person-years of weight, so a small department's chance is damped)."""
    as_of = pd.Timestamp(as_of)
    start = as_of - pd.DateOffset(months=months)
    term = pd.to_datetime(employees["termination_date"])
    left = (term > start) & (term <= as_of)
    mid = start + (as_of - start) / 2
    head = employed_at(employees, mid)
    years = months / 12
    org_rate = left.sum() / max(head.sum() * years, 1.0)
    out = {}
    for dept, g in employees.groupby("department"):
        lv, hc = left[g.index].sum(), head[g.index].sum() * years
        rate = (lv + 8 * org_rate) / (hc + 8)            # leavers per person-year
        out[str(dept)] = float(1 - np.exp(-rate / 4))
    return out


# ---- requirements ---------------------------------------------------------------------------

class Requirements:
    """Fast look-up of the level required of a team in a skill on a date.

    A team-scope row (the latest effective on or before the date) wins; else the mean of the
    role-scope requirements of the people counted (one role per person), over those whose role
    has one. NaN: nothing is required.
    """

    def __init__(self, reqs: pd.DataFrame):
        self.table = reqs
        self._team: dict = {}
        self._role: dict = {}
        for r in reqs.sort_values("effective_date").itertuples(index=False):
            book = self._team if r.scope_type == "team" else self._role
            book.setdefault((r.scope_id, r.skill), ([], []))
            book[(r.scope_id, r.skill)][0].append(np.datetime64(pd.Timestamp(r.effective_date), "ns"))
            book[(r.scope_id, r.skill)][1].append(float(r.required_level))
        # the dates as one array each, once: building it per look-up was most of a look-up
        for book in (self._team, self._role):
            for key, (dates, levels) in book.items():
                book[key] = (np.array(dates), levels)

    @staticmethod
    def _at(entry, date):
        if entry is None:
            return float("nan")
        # np.asarray: a book pickled before the dates were arrays holds lists
        k = int(np.searchsorted(np.asarray(entry[0]), np.datetime64(pd.Timestamp(date), "ns"), side="right"))
        return entry[1][k - 1] if k else float("nan")

    def level(self, team, skill, date, roles=None) -> float:
        return self.levels(team, skill, [date], roles)[0]

    def levels(self, team, skill, dates, roles=None) -> list[float]:
        """:meth:`level` on each of ``dates``, the roles counted once (the forecast asks for
        every quarter of a pair, the backtest for thousands of cells)."""
        team_entry = self._team.get((team, skill))
        counts = None
        out = []
        for date in dates:
            v = self._at(team_entry, date)
            if not np.isnan(v) or roles is None:
                out.append(v)
                continue
            if counts is None:
                counts = _role_counts(roles)
            num = den = 0.0
            for role, n in counts:
                r = self._at(self._role.get((role, skill)), date)
                if not np.isnan(r):
                    num, den = num + r * n, den + n
            out.append(num / den if den else float("nan"))
        return out


def _role_counts(roles) -> list[tuple]:
    """(role, people), most people first, ties in order of first appearance, missing roles left
    out: the order of ``pd.Series(roles).value_counts()``, which :meth:`Requirements.level`
    summed in before (another order can change a mean's last bit), without building a Series
    per look-up (two thirds of the backtest's requirement look-ups)."""
    counts: dict = {}
    for role in np.asarray(roles, dtype=object):
        if isinstance(role, str) or not pd.isna(role):
            counts[role] = counts.get(role, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])     # stable: ties keep first appearance


def requirement_for(reqs, team: str, skill: str, date, roles=None) -> float:
    """The level required of ``team`` in ``skill`` on ``date`` (see :class:`Requirements`;
    ``reqs`` is a Requirements or the requirements table)."""
    book = reqs if isinstance(reqs, Requirements) else Requirements(reqs)
    return book.level(team, skill, date, roles)


# ---- programs -------------------------------------------------------------------------------

def program_table(org, canon: dict, notes: list) -> pd.DataFrame:
    rows = []
    for pid, p in org.programs.programs.items():
        for s in p.program.skills or []:
            key = skill_key(s)
            if key not in canon:
                notes.append(f"program '{pid}' targets skill '{s}', which nobody is assessed on: "
                             "its gains on that skill cannot be estimated")
                continue
            if canon[key] != s:
                notes.append(f"program '{pid}' lists skill '{s}'; read as '{canon[key]}' (same name up to "
                             "case or spacing; spell it the same in programs.yaml)")
            rows.append({"program_id": pid, "name": p.name, "skill": canon[key],
                         "cost_per_participant": float(p.program.cost_per_participant or 0),
                         "fixed_cost": float(p.program.fixed_cost or 0),
                         "duration_weeks": float(p.program.duration_weeks or 0),
                         "prefix": p.program.lms_activity_prefix})
    return pd.DataFrame(rows, columns=["program_id", "name", "skill", "cost_per_participant",
                                       "fixed_cost", "duration_weeks", "prefix"])


def completions(org, programs: pd.DataFrame, as_of) -> pd.DataFrame:
    """employee_key, program_id, completed: the date a person finished a program (the last
    completion of an activity under its ``lms_activity_prefix``), on or before ``as_of``."""
    enr = org.table("enrollments")
    cols = ["employee_key", "program_id", "completed"]
    if enr is None or not len(enr) or not len(programs):
        return pd.DataFrame(columns=cols)
    done = enr[enr["completed_at"].notna()][["employee_key", "activity_id", "completed_at"]]
    frames = []
    for pid, prefix in programs.drop_duplicates("program_id")[["program_id", "prefix"]].itertuples(index=False):
        if not prefix:
            continue
        d = done[done["activity_id"].astype(str).str.startswith(str(prefix))]
        if not len(d):
            continue
        last = pd.to_datetime(d["completed_at"]).dt.tz_localize(None).groupby(d["employee_key"]).max()
        frames.append(pd.DataFrame({"employee_key": last.index, "program_id": pid, "completed": last.values}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    return out[pd.to_datetime(out["completed"]) <= pd.Timestamp(as_of) + pd.Timedelta(days=1)].reset_index(drop=True)
