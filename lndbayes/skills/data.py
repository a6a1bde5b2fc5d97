"""Skill-gap data preparation: from the processed tables to the sufficient statistics the model reads.

One job: turn ``skill_assessments``, ``skill_requirements``, the HRIS history (hires, leavers,
transfers) and program completions into

* **cells**: one row per team x skill x calendar quarter with assessments: the number of people
  assessed ``n``, their mean proficiency, the *composition offset* ``comp`` (the mean person
  offset of the people assessed, see below) and the standard error ``se`` of the mean once the
  composition is taken out;
* **pairs**: one row per team x skill that the forecast is about (assessed, or required of the
  team with nobody assessed: status ``no data``), with the people present at ``as_of`` and
  their composition offset;
* the **exposure** of each cell to completed programs that target the skill (how many of the
  cell's people completed which program how many months before);
* **rejected**: input rows set aside, counted, each with its reason (never silently dropped).

Person offsets (the mix of people). A person's assessments are modelled as
``y[i,q] = phi[team, skill, q] + alpha[i] + eps[i,q]`` with ``alpha ~ N(0, sigma_person)``
and ``eps ~ N(0, sigma_noise)`` (measurement error of one assessment). ``sigma_noise`` is the
pooled within-person spread over time, ``sigma_person`` the between-person spread beyond it
(method of moments, per skill); ``phi`` and the shrunken offsets ``alpha`` are the ridge
(BLUP) solution by alternating projections. The mean offset of the people in a cell is how far
the team's mean sits above its usual level because of who happens to be there; hires and
leavers move it, and the forecast carries the people present at ``as_of`` forward, replacing
the expected share of leavers (the department's quarterly leaving rate from HRIS) with new
hires of average offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes.errors import ContractError

#: months of completion age tracked for program gains (older completions count as this old)
MAX_AGE_MONTHS = 60
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
#: a skill counts as part of a role when at least this share of the role's assessed people
#: were assessed on it (new hires in that role join the team's mean for the skill)
ROLE_SKILL_SHARE = 0.5
#: fewer people with two or more assessments of a skill than this: no person offsets
#: (one wave cannot tell people apart from their team's level)
MIN_REPEATED = 20


def skill_key(name) -> str:
    """The spelling-insensitive form of a skill name: case, surrounding and inner spacing,
    '-' and '_' do not matter ("Product  Knowledge" == "product_knowledge")."""
    return re.sub(r"[\s_\-]+", "_", str(name).strip()).casefold()


def quarter_label(ts) -> str:
    ts = pd.Timestamp(ts)
    return f"{ts.year}Q{(ts.month - 1) // 3 + 1}"


def quarter_end(ts) -> pd.Timestamp:
    return pd.Timestamp(ts).to_period("Q").end_time.normalize()


def years_between(later, earlier) -> np.ndarray:
    d = (pd.to_datetime(later) - pd.to_datetime(earlier))
    return np.asarray(d / pd.Timedelta(days=1), dtype=float) / DAYS_PER_YEAR


@dataclass
class SkillData:
    """What the skill-gap model and forecast read (built by :func:`prepare`)."""

    as_of: pd.Timestamp
    cells: pd.DataFrame          # team, department, skill, quarter, date, t, n, mean, sd, comp, se, pair
    pairs: pd.DataFrame          # team, department, skill, pair, status, n_now, comp_now, comp_var_now, ...
    people_now: pd.DataFrame     # employee_key, team, skill, role, alpha, alpha_var (present at as_of)
    members: pd.DataFrame        # employee_key, skill, cell (who was assessed in each cell)
    requirements: "Requirements"  # look-up of required levels (``.table``: the rows kept)
    programs: pd.DataFrame       # program_id, name, skill, cost_per_participant, fixed_cost, duration_weeks
    completions: pd.DataFrame    # employee_key, program_id, completed (date)
    exposure: pd.DataFrame       # cell, ps, age (months), share (completers / n)
    program_skills: pd.DataFrame  # ps, program_id, skill (pairs with completers in the data)
    sigma_person: dict           # skill -> sd of person offsets
    sigma_noise: dict            # skill -> sd of one assessment around the person's level
    turnover: dict               # department -> quarterly leaving probability
    rejected: pd.DataFrame       # table, reason, rows
    notes: list = field(default_factory=list)
    min_group: int = 5
    held_out: pd.DataFrame | None = None   # person-quarter rows after as_of (backtests)
    role_of: pd.Series | None = None       # employee_key -> role

    @property
    def skills(self) -> list[str]:
        return sorted(self.pairs["skill"].dropna().unique())

    def people(self, team, skill) -> pd.DataFrame:
        """The people present at ``as_of`` who count for ``team`` x ``skill``."""
        if not hasattr(self, "_people_idx"):
            self._people_idx = self.people_now.groupby(["team", "skill"]).indices
        idx = self._people_idx.get((team, skill))
        return self.people_now.iloc[idx] if idx is not None else self.people_now.iloc[:0]

    def completions_of(self, keys, program_ids) -> pd.DataFrame:
        """Completions of ``program_ids`` by the employees ``keys``."""
        c = self.completions
        if not len(c):
            return c
        if not hasattr(self, "_comp_idx"):
            self._comp_idx = c.groupby("employee_key").indices
        idx = [i for k in keys for i in self._comp_idx.get(k, ())]
        sub = c.iloc[idx]
        return sub[sub["program_id"].isin(set(program_ids))]


# ---- cleaning -------------------------------------------------------------------------------

def _reject(log: list, table: str, reason: str, rows: int) -> None:
    if rows:
        log.append({"table": table, "reason": reason, "rows": int(rows)})


def canonical_skills(assess: pd.DataFrame, reqs: pd.DataFrame, program_skills: list[str]) -> dict:
    """skill key -> the one spelling kept: the most frequent spelling in the assessments
    (then requirements, then programs.yaml); ties go to the alphabetically first."""
    counts: dict[str, dict[str, int]] = {}
    weighted = [(assess["skill"] if len(assess) else [], 1), (reqs["skill"] if len(reqs) else [], 1),
                (program_skills, 0)]
    for names, weight in weighted:
        for name in names:
            spelled = counts.setdefault(skill_key(name), {})
            spelled[str(name)] = spelled.get(str(name), 0) + weight
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
        keep = df["skill"].map(lambda s: canon[skill_key(s)] == s) if len(df) else pd.Series([], dtype=bool)
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
    assessed = set(assess["skill"])
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


# ---- person offsets -------------------------------------------------------------------------

def person_offsets(pq: pd.DataFrame, iters: int = 40) -> tuple[pd.Series, pd.Series, float, float]:
    """Shrunken person offsets for one skill.

    ``pq``: person-quarter rows (``employee_key``, ``cell``, ``y``). Returns offsets and their
    posterior variances by employee_key, and (sigma_person, sigma_noise).
    """
    y = pq["y"].to_numpy(float)
    cell = pq["cell"].to_numpy()
    person = pq["employee_key"].to_numpy()
    r = y - pq.groupby("cell")["y"].transform("mean").to_numpy()
    k = pq.groupby("employee_key")["y"].transform("size").to_numpy()
    rep = k >= 2
    n_rep = pq.loc[rep, "employee_key"].nunique()
    total_var = float(np.var(r)) if len(r) > 1 else 0.0
    if n_rep < MIN_REPEATED:
        # one assessment per person: offsets cannot be told from noise; no composition term
        zero = pd.Series(0.0, index=pd.unique(person))
        return zero, zero, 0.0, float(np.sqrt(max(total_var, 1e-4)))
    rbar = pd.Series(r).groupby(person).transform("mean").to_numpy()
    within = float(np.sum((r - rbar)[rep] ** 2) / max(np.sum(rep) - n_rep, 1))
    s_eps2 = max(within, 1e-4)
    per = pd.DataFrame({"p": person, "r": r}).groupby("p")["r"].agg(["mean", "size"])
    s_alpha2 = max(float(np.mean(per["mean"] ** 2 - s_eps2 / per["size"])), 1e-4)
    lam = s_eps2 / s_alpha2
    codes_c, cells = pd.factorize(cell)
    codes_p, people = pd.factorize(person)
    n_c = np.bincount(codes_c)
    n_p = np.bincount(codes_p)
    alpha = np.zeros(len(people))
    for _ in range(iters):
        phi = np.bincount(codes_c, weights=y - alpha[codes_p]) / n_c
        alpha = np.bincount(codes_p, weights=y - phi[codes_c]) / (n_p + lam)
    w = n_p * s_alpha2 / (n_p * s_alpha2 + s_eps2)
    var = s_alpha2 * (1 - w)
    return (pd.Series(alpha, index=people), pd.Series(var, index=people),
            float(np.sqrt(s_alpha2)), float(np.sqrt(s_eps2)))


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

    @staticmethod
    def _at(entry, date):
        if entry is None:
            return float("nan")
        k = int(np.searchsorted(np.array(entry[0]), np.datetime64(pd.Timestamp(date), "ns"), side="right"))
        return entry[1][k - 1] if k else float("nan")

    def level(self, team, skill, date, roles=None) -> float:
        v = self._at(self._team.get((team, skill)), date)
        if not np.isnan(v) or roles is None:
            return v
        counts = pd.Series(np.asarray(roles, dtype=object)).value_counts()
        num = den = 0.0
        for role, n in counts.items():
            r = self._at(self._role.get((role, skill)), date)
            if not np.isnan(r):
                num, den = num + r * n, den + n
        return num / den if den else float("nan")


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


def exposure_rows(members: pd.DataFrame, comp: pd.DataFrame, programs: pd.DataFrame,
                  ps_index: dict) -> pd.DataFrame:
    """(cell, ps, age, share): share of the cell's people who completed program-skill ``ps``
    ``age`` whole months before the cell's date. ``members``: employee_key, skill, cell, date, n."""
    cols = ["cell", "ps", "age", "share"]
    if not len(comp) or not len(members):
        return pd.DataFrame(columns=cols)
    m = members.merge(programs[["program_id", "skill"]], on="skill").merge(comp, on=["employee_key", "program_id"])
    if not len(m):
        return pd.DataFrame(columns=cols)
    age = (pd.to_datetime(m["date"]) - pd.to_datetime(m["completed"])) / pd.Timedelta(days=1) / DAYS_PER_MONTH
    m = m[age.to_numpy() >= 0].assign(age=np.minimum(np.floor(age[age >= 0]).astype(int), MAX_AGE_MONTHS))
    m["ps"] = [ps_index.get((p, s), -1) for p, s in zip(m["program_id"], m["skill"])]
    m = m[m["ps"] >= 0]
    out = m.groupby(["cell", "ps", "age"]).agg(k=("employee_key", "size"), n=("n", "first")).reset_index()
    out["share"] = out["k"] / out["n"]
    return out[cols]


def data_fingerprint(data: "SkillData") -> str:
    """SHA-256 of everything a forecast reads besides the model's arrays (people present,
    requirements, completions, programs and costs, turnover, variance components)."""
    import hashlib
    import json

    h = hashlib.sha256()
    for df in (data.pairs, data.people_now, data.requirements.table, data.completions, data.programs,
               data.program_skills, data.cells):
        h.update(str(list(df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    h.update(json.dumps([data.turnover, data.sigma_person, data.sigma_noise, str(data.as_of),
                         data.min_group, data.notes], sort_keys=True, default=str).encode())
    return h.hexdigest()


# ---- the whole preparation ------------------------------------------------------------------

def prepare(org, as_of=None, *, today=None, min_group: int | None = None) -> SkillData:
    """Everything the model and the forecast read, from an :class:`lndbayes.Org`."""
    from lndbayes.privacy import min_group_of

    assess, reqs, held_out, canon, log, as_of = clean_inputs(org, as_of, today)
    notes: list[str] = []
    emp = org.employees.copy()
    hris = org.hris_events
    dept_of = emp.groupby("team")["department"].agg(lambda s: s.mode().iat[0])
    role_of = emp.set_index("employee_key")["role"]

    known = assess["employee_key"].isin(set(emp["employee_key"]))
    _reject(log, "skill_assessments", "employee not in employees.csv", (~known).sum())
    assess = assess[known].copy()
    assess["team"] = team_at(emp, hris, assess["employee_key"].to_numpy(), assess["assessed_at"].to_numpy())
    assess["quarter"] = assess["assessed_at"].map(quarter_label)
    # one value per person, skill and quarter (two assessments in a quarter are averaged)
    pq = (assess.groupby(["team", "skill", "quarter", "employee_key"], observed=True)
          .agg(y=("proficiency", "mean"), date=("assessed_at", "mean")).reset_index())
    pq["cell"] = pq["team"].astype(str) + "|" + pq["skill"].astype(str) + "|" + pq["quarter"]

    sig_p, sig_e, alpha_all, avar_all = {}, {}, [], []
    for s, g in pq.groupby("skill"):
        a, v, sp, se = person_offsets(g)
        sig_p[s], sig_e[s] = sp, se
        alpha_all.append(pd.DataFrame({"employee_key": a.index, "skill": s, "alpha": a.values, "alpha_var": v.values}))
    offsets = pd.concat(alpha_all, ignore_index=True)
    pq = pq.merge(offsets, on=["employee_key", "skill"], how="left")
    k = pq.groupby(["employee_key", "skill"])["y"].transform("size")
    sa2 = pq["skill"].map(sig_p) ** 2
    se2 = pq["skill"].map(sig_e) ** 2
    w = np.where(sa2 > 0, k * sa2 / (k * sa2 + se2), 0.0)
    # variance of y - alpha_hat around the cell's composition-free level (alpha_hat shares eps)
    pq["resid_var"] = (1 - w) ** 2 * sa2 + w ** 2 * se2 / k + se2 - 2 * w * se2 / k
    cells = (pq.groupby(["cell", "team", "skill", "quarter"], observed=True)
             .agg(n=("y", "size"), mean=("y", "mean"), sd=("y", "std"), comp=("alpha", "mean"),
                  rv=("resid_var", "mean"), date=("date", "mean")).reset_index())
    cells["se"] = np.sqrt(cells["rv"] / cells["n"])
    cells["department"] = cells["team"].map(dept_of).astype(str)
    cells["t"] = years_between(cells["date"], as_of)
    cells = cells.drop(columns="rv").sort_values(["team", "skill", "date"]).reset_index(drop=True)

    # roles that carry each skill (new hires in them join the team's mean for the skill)
    roles_assessed = pd.DataFrame({"role": pq["employee_key"].map(role_of), "skill": pq["skill"],
                                   "employee_key": pq["employee_key"]}).drop_duplicates(["employee_key", "skill"])
    per_role = emp[emp["employee_key"].isin(set(pq["employee_key"]))].groupby("role").size()
    share = roles_assessed.groupby(["role", "skill"]).size() / per_role.reindex(
        roles_assessed.groupby(["role", "skill"]).size().index.get_level_values(0)).to_numpy()
    role_skill = {(r, s) for (r, s), v in share.items() if v >= ROLE_SKILL_SHARE}

    # people present at as_of, per team and skill
    present = emp[employed_at(emp, as_of)].copy()
    present["team"] = team_at(emp, hris, present["employee_key"].to_numpy(),
                              np.repeat(np.datetime64(as_of), len(present)))
    rows = []
    skills = sorted(set(assess["skill"]))
    assessed_pairs = set(zip(offsets["employee_key"], offsets["skill"]))
    for s in skills:
        has_role = present["role"].map(lambda r, s=s: (r, s) in role_skill)
        was_assessed = pd.Series([(e, s) in assessed_pairs for e in present["employee_key"]], index=present.index)
        sel = present[has_role | was_assessed]
        rows.append(pd.DataFrame({"employee_key": sel["employee_key"].to_numpy(), "team": sel["team"].to_numpy(),
                                  "skill": s, "role": sel["role"].to_numpy()}))
    people_now = pd.concat(rows, ignore_index=True)
    people_now = people_now.merge(offsets, on=["employee_key", "skill"], how="left")
    unassessed = people_now["alpha"].isna()
    people_now["alpha"] = people_now["alpha"].fillna(0.0)
    people_now["alpha_var"] = people_now["alpha_var"].where(~unassessed, people_now["skill"].map(sig_p) ** 2)
    people_now["assessed"] = ~unassessed

    # pairs: assessed (team, skill), plus skills required of a team that nobody there is assessed on
    pairs = cells.groupby(["team", "skill"], observed=True).agg(
        last_assessed=("date", "max"), n_last=("n", "last"), cells=("n", "size")).reset_index()
    book = Requirements(reqs)
    teams_now = sorted(set(present["team"]))
    extra = []
    have = set(zip(pairs["team"], pairs["skill"]))
    for team in teams_now:
        roles = present.loc[present["team"] == team, "role"]
        for s in skills:
            if (team, s) in have:
                continue
            if not np.isnan(book.level(team, s, as_of + pd.DateOffset(years=5), roles)):
                extra.append({"team": team, "skill": s})
        if not any(t == team for t, _ in have) and not any(e["team"] == team for e in extra):
            extra.append({"team": team, "skill": None})
    pairs = pd.concat([pairs, pd.DataFrame(extra, columns=["team", "skill"])], ignore_index=True)
    pairs["department"] = pairs["team"].map(dept_of).astype(str)
    g = people_now.groupby(["team", "skill"])
    now = pd.DataFrame({"n_now": g.size(), "n_assessed_now": g["assessed"].sum(),
                        "comp_now": g["alpha"].mean(),
                        "comp_var_now": g["alpha_var"].sum() / g.size() ** 2,
                        "alpha_sq_now": g["alpha"].apply(lambda a: float(np.mean(a ** 2)))}).reset_index()
    pairs = pairs.merge(now, on=["team", "skill"], how="left")
    pairs["n_now"] = pairs["n_now"].fillna(0).astype(int)
    pairs["n_assessed_now"] = pairs["n_assessed_now"].fillna(0).astype(int)
    pairs["status"] = np.where(pairs["cells"].isna(), "no data",
                               np.where(pairs["n_assessed_now"] == 0, "no data", "ok"))
    pairs["reason"] = np.where(pairs["cells"].isna(),
                               np.where(pairs["skill"].isna(), "no skill assessments for this team",
                                        "required of the team, but nobody in it is assessed on it"),
                               np.where(pairs["n_assessed_now"] == 0,
                                        "nobody assessed on it is still in the team", ""))
    pairs = pairs.sort_values(["team", "skill"], na_position="last").reset_index(drop=True)
    ok = pairs["status"] == "ok"
    pairs["pair"] = -1
    pairs.loc[ok, "pair"] = np.arange(int(ok.sum()))
    pair_of = {(t, s): i for t, s, i in zip(pairs["team"], pairs["skill"], pairs["pair"])}
    cells["pair"] = [pair_of.get((t, s), -1) for t, s in zip(cells["team"], cells["skill"])]
    cells = cells[cells["pair"] >= 0].reset_index(drop=True)

    progs = program_table(org, canon, notes)
    comp = completions(org, progs, as_of)
    members = pq[["employee_key", "skill", "cell", "date"]].merge(cells[["cell", "n"]], on="cell")
    ps_tab = (members.merge(progs[["program_id", "skill"]], on="skill")
              .merge(comp, on=["employee_key", "program_id"]))
    ps_tab = ps_tab[pd.to_datetime(ps_tab["completed"]) <= pd.to_datetime(ps_tab["date"])]
    ps_list = sorted(set(zip(ps_tab["program_id"], ps_tab["skill"])))
    program_skills = pd.DataFrame(ps_list, columns=["program_id", "skill"])
    program_skills["ps"] = np.arange(len(program_skills))
    ps_index = {k: i for i, k in enumerate(ps_list)}
    expo = exposure_rows(members, comp, progs, ps_index)
    cell_idx = {c: i for i, c in enumerate(cells["cell"])}
    expo["cell"] = expo["cell"].map(cell_idx)

    # held-out assessments (after as_of) as cells, for backtests
    held = None
    if len(held_out):
        h = held_out[held_out["employee_key"].isin(set(emp["employee_key"]))].copy()
        h["team"] = team_at(emp, hris, h["employee_key"].to_numpy(), h["assessed_at"].to_numpy())
        h["quarter"] = h["assessed_at"].map(quarter_label)
        h = (h.groupby(["team", "skill", "quarter", "employee_key"]).agg(
            y=("proficiency", "mean"), date=("assessed_at", "mean")).reset_index())
        h["role"] = h["employee_key"].map(role_of)
        held = h
    _reject(log, "skill_assessments", f"after as_of {as_of.date()} (held out of the fit, not an error)",
            len(held_out))

    data = SkillData(as_of=as_of, cells=cells, pairs=pairs, people_now=people_now,
                     members=members[["employee_key", "skill", "cell"]], requirements=book,
                     programs=progs, completions=comp, exposure=expo, program_skills=program_skills,
                     sigma_person=sig_p, sigma_noise=sig_e,
                     turnover=quarterly_turnover(emp, as_of),
                     rejected=pd.DataFrame(log, columns=["table", "reason", "rows"]), notes=notes,
                     min_group=min_group_of(org.programs) if min_group is None else int(min_group),
                     held_out=held, role_of=role_of)
    return data
