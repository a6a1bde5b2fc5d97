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
* **rejected**: input rows set aside, counted, each with its reason (never silently dropped;
  the checks and the reading of HRIS, requirements and completions are in
  :mod:`lndbayes.skills.inputs`).

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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# the inputs' reading and checks live in lndbayes.skills.inputs; the names are re-exported here
# because callers (tests, notebooks) import them from this module
from lndbayes.skills.inputs import (  # noqa: F401
    Requirements, _reject, canonical_skills, clean_inputs, completions, employed_at, program_table,
    quarterly_turnover, requirement_for, skill_key, team_at)

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


def quarter_label(ts) -> str:
    ts = pd.Timestamp(ts)
    return f"{ts.year}Q{(ts.month - 1) // 3 + 1}"


def quarter_labels(dates: pd.Series) -> pd.Series:
    """:func:`quarter_label` of every date, computed once per distinct date (as ``.map`` does
    per row: ~1 s for 440,000 assessments)."""
    codes, uniques = pd.factorize(dates, use_na_sentinel=False)
    labels = np.array([quarter_label(d) for d in uniques], dtype=object)
    return pd.Series(labels[codes], index=dates.index, name=dates.name).astype("str")


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


def completed_members(members: pd.DataFrame, comp: pd.DataFrame, programs: pd.DataFrame) -> pd.DataFrame:
    """Each assessed person-quarter (``members``: employee_key, skill, cell, date, n) with each of
    the person's completions of a program that targets the skill (``programs``: program_id,
    skill; ``comp``: employee_key, program_id, completed), before or after the date.

    Why completions first: joined on the skill first, every person-quarter met every program of
    its skill (millions of rows at 20,000 employees and 100 programs, ~10 s) before the
    completions kept a few."""
    targets = comp.merge(programs[["program_id", "skill"]], on="program_id")
    return members.merge(targets, on=["employee_key", "skill"])


def exposure_rows(m: pd.DataFrame, ps_index: dict) -> pd.DataFrame:
    """(cell, ps, age, share): share of the cell's people who completed program-skill ``ps``
    ``age`` whole months before the cell's date. ``m``: :func:`completed_members`."""
    cols = ["cell", "ps", "age", "share"]
    if not len(m):
        return pd.DataFrame(columns=cols)
    age = (pd.to_datetime(m["date"]) - pd.to_datetime(m["completed"])) / pd.Timedelta(days=1) / DAYS_PER_MONTH
    m = m[age.to_numpy() >= 0].assign(age=np.minimum(np.floor(age[age >= 0]).astype(int), MAX_AGE_MONTHS))
    # ps_index[(program, skill)] per row, -1 where absent (a look-up per row took ~1 s at scale)
    at = (pd.MultiIndex.from_tuples(list(ps_index), names=["program_id", "skill"])
          .get_indexer(pd.MultiIndex.from_arrays([m["program_id"], m["skill"]])) if ps_index
          else np.full(len(m), -1))
    m["ps"] = np.asarray([*ps_index.values(), -1], dtype=np.int64)[at]
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


#: the processed tables :func:`prepare` reads (with programs.yaml); tests/test_skills.py checks
#: that it reads no other, so a forecast cached under :func:`inputs_fingerprint` cannot go stale
PREPARE_TABLES = ("employees", "hris_events", "skill_assessments", "skill_requirements", "enrollments")


def inputs_fingerprint(org, tables=PREPARE_TABLES) -> str:
    """SHA-256 of what :func:`prepare` reads from ``org``: the ``tables`` (values, column names,
    dtypes) and programs.yaml. ~0.1 s at 20,000 employees, where prepare takes ~16 s. A new month
    of KPIs leaves it unchanged (prepare does not read them)."""
    import hashlib
    import json

    h = hashlib.sha256()
    for name in sorted(tables):
        df = org.table(name)
        df = df if df is not None else pd.DataFrame()
        h.update(f"{name}|{list(df.columns)}|{list(df.dtypes.astype(str))}|{df.shape}".encode())
        try:
            hashed = pd.util.hash_pandas_object(df, index=False)
        except TypeError:                     # unhashable cells (lists, dicts): their text
            hashed = pd.util.hash_pandas_object(df.astype(str), index=False)
        h.update(hashed.to_numpy().tobytes())
    cfg = org.programs.to_dict() if hasattr(org.programs, "to_dict") else org.programs
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
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
    assess["quarter"] = quarter_labels(assess["assessed_at"])
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
    per_role = emp[emp["employee_key"].isin(pq["employee_key"].unique())].groupby("role").size()
    share = roles_assessed.groupby(["role", "skill"]).size() / per_role.reindex(
        roles_assessed.groupby(["role", "skill"]).size().index.get_level_values(0)).to_numpy()
    role_skill = {(r, s) for (r, s), v in share.items() if v >= ROLE_SKILL_SHARE}

    # people present at as_of, per team and skill
    present = emp[employed_at(emp, as_of)].copy()
    present["team"] = team_at(emp, hris, present["employee_key"].to_numpy(),
                              np.repeat(np.datetime64(as_of), len(present)))
    rows = []
    skills = sorted(set(assess["skill"].unique()))
    assessed_by_skill = dict(iter(offsets.groupby("skill", sort=False)["employee_key"]))
    for s in skills:
        has_role = present["role"].map(lambda r, s=s: (r, s) in role_skill)
        was_assessed = present["employee_key"].isin(assessed_by_skill.get(s, []))
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
    roles_in = dict(iter(present.groupby("team", sort=False)["role"]))
    for team in teams_now:
        roles = roles_in.get(team, present["role"].iloc[:0])
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
    joined = completed_members(members, comp, progs)
    ps_tab = joined[pd.to_datetime(joined["completed"]) <= pd.to_datetime(joined["date"])]
    ps_seen = ps_tab[["program_id", "skill"]].drop_duplicates()
    ps_list = sorted(zip(ps_seen["program_id"], ps_seen["skill"]))
    program_skills = pd.DataFrame(ps_list, columns=["program_id", "skill"])
    program_skills["ps"] = np.arange(len(program_skills))
    ps_index = {k: i for i, k in enumerate(ps_list)}
    expo = exposure_rows(joined, ps_index)
    cell_idx = {c: i for i, c in enumerate(cells["cell"])}
    expo["cell"] = expo["cell"].map(cell_idx)

    # held-out assessments (after as_of) as cells, for backtests
    held = None
    if len(held_out):
        h = held_out[held_out["employee_key"].isin(set(emp["employee_key"]))].copy()
        h["team"] = team_at(emp, hris, h["employee_key"].to_numpy(), h["assessed_at"].to_numpy())
        h["quarter"] = quarter_labels(h["assessed_at"])
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
