r"""The large preset of the example organisation (``lndbayes simulate --preset large``): one big
organisation with many programs, to measure how lndbayes scales (issue #15, item 3).

The people, their HRIS history and their skills are drawn as in the default preset
(``people.simulate_hris`` and ``skills.simulate_skills``) at ``n_employees`` (20,000: about 600
teams in six departments). On them run ``n_programs`` (100) generated programs with three
outcomes each. Program ``k`` (0-based) has the archetype ``ARCHETYPES[k % 3]``, so the first
10, 30 or 100 programs mix the archetypes alike, and draws from its own random stream
``default_rng([seed, PROGRAM_STREAM, k])``: the first ten programs are the same whether 10 or 100
are simulated. Each program works on teams of one department (chosen with probability
proportional to its number of teams):

* ``service`` (``pre_post``, unit team; half of ``SERVICE_TEAMS`` teams treated from a start month
  in 2024-10..2025-06), three team-month KPIs:
  ``<id>_quality`` (normal: :math:`4 + a_t + g_m + \theta_t\,treated\,post + N(0, 0.1)`),
  ``<id>_errors`` and ``<id>_incidents`` (count with exposure ``headcount``:
  NegativeBinomial(headcount :math:`\cdot` rate, alpha), :math:`\log rate = \log r_0 + a_t + g_m
  + \theta_t\,treated\,post`).
* ``rollout`` (``staggered``, unit team; ``ROLLOUT_TEAMS`` teams, about a sixth never treated, the
  others starting in months spread over 2024-04..2025-06): ``<id>_output`` per individual
  contributor and month (normal: :math:`100 + a_t + g_m + \theta_t\,post + N(0, 15)`),
  ``<id>_rework`` (team-month count, exposure ``headcount``) and ``<id>_satisfaction``
  (team-month normal, as ``quality``).
* ``trial`` (``randomized``, unit employee: the individual contributors of ``TRIAL_TEAMS`` teams
  employed at the start month in 2024-07..2025-01, randomized in halves within each team):
  ``<id>_certified`` (0/1 six months after the start, :math:`\mathrm{logit}\,p = a_t +
  \theta_t\,treated`), ``<id>_assessment`` (0-100 score a month before and three months after
  the start, :math:`60 + a_t + u_i + \theta_t\,treated + N(0, 8)`, :math:`u_i \sim N(0, 6)`) and
  ``<id>_engagement`` (Likert 1..5 a month before and six months after, the default preset's
  cumulative logit with baseline coefficient 0.5).

Team effects :math:`\theta_t \sim N(\mu, 0.4|\mu|)`; a quarter of the outcomes have no effect
(:math:`\mu = 0` in every team), the others a modest one in the good direction (``EFFECT_RANGE``).
Every program's KPIs are its own (their names start with its id), so programs that share a team
do not interact; ``headcount`` (team-month head count from the HRIS) is the one shared KPI. The
LMS records, as xAPI statements, the treated people's registration, completion (90%) and rating.

truth.json has the default preset's layout per outcome (family, link, effect_mean,
effect_sd_team, team_effects, average_effect_abs/rel as business-scale averages over the
estimand's units) and ``"preset": "large"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lndbayes import atomic
from lndbayes.example.kpis import _nb
from lndbayes.example.learning import _clock, _finish, _Stmts, write_xapi
from lndbayes.example.people import active_matrix, simulate_hris, team_of_at
from lndbayes.example.simulate import employee_ids, people_frames, sorted_skills, write_raw_files
from lndbayes.example.truth import target_truth
from lndbayes.example.world import (
    CUTPOINTS,
    DEPARTMENTS,
    MONTH_START,
    N_MONTHS,
    PERIODS,
    PREFIX,
    ROLE_SKILLS,
    dates,
    logit,
)
from lndbayes.models.families import expit

ARCHETYPES = ("service", "rollout", "trial")
PROGRAM_STREAM = 0x4C52
SERVICE_TEAMS, ROLLOUT_TEAMS, TRIAL_TEAMS = 12, 12, 8
GOALS = {"Sales": "Grow revenue", "Support": "Customers who stay", "Engineering": "Ship reliable software",
         "Operations": "Customers who stay", "Finance": "Operate safely and lawfully",
         "People": "Keep and grow our people"}
#: outcome -> (low, high) of |effect_mean| on the link scale and the good direction's sign
EFFECT_RANGE = {"quality": (0.03, 0.15, 1), "errors": (0.1, 0.4, -1), "incidents": (0.1, 0.4, -1),
                "output": (2.0, 8.0, 1), "rework": (0.1, 0.4, -1), "satisfaction": (0.03, 0.15, 1),
                "certified": (0.2, 0.6, 1), "assessment": (2.0, 6.0, 1), "engagement": (0.2, 0.5, 1)}
P_NO_EFFECT = 0.25
ACT = "http://adlnet.gov/expapi/activities/"


def _effects(rng, outcome: str, n: int) -> tuple[float, float, np.ndarray]:
    lo, hi, sign = EFFECT_RANGE[outcome]
    if rng.random() < P_NO_EFFECT:
        return 0.0, 0.0, np.zeros(n)
    m = round(float(sign * rng.uniform(lo, hi)), 4)
    s = round(0.4 * abs(m), 4)
    return m, s, rng.normal(m, s, n)


def _truth(family, link, effect_mean, effect_sd, team_effects, avg_abs, avg_rel, **extra) -> dict:
    te = {str(k): round(float(v), 5) for k, v in team_effects.items()}
    return {"family": family, "link": link, "effect_mean": effect_mean, "effect_sd_team": effect_sd,
            "team_effects": te,
            "effect_mean_realised": round(float(np.mean(list(te.values()))), 5) if te else None,
            "average_effect_abs": round(float(avg_abs), 6), "average_effect_rel": round(float(avg_rel), 6),
            **extra}


class _World:
    """What every program reads: the people, team-month head counts, and where rows go."""

    def __init__(self, H, ids):
        self.H, self.ids = H, ids
        self.names = H["team_names"]
        self.dept_of_team = np.array(H["depts"])[H["team_dept"]]
        act = active_matrix(H["hire"], H["term"], MONTH_START[:-1], MONTH_START[1:] - 1)
        tm = team_of_at(H, MONTH_START[:-1] + 14)
        self.head = np.zeros((N_MONTHS, H["n_teams"]), dtype=int)
        for m in range(N_MONTHS):
            self.head[m] = np.bincount(tm[m][act[m]], minlength=H["n_teams"])
        self.ic_active = act & H["ic"][None, :]
        self.kpis: list[pd.DataFrame] = []
        self.assign: list[pd.DataFrame] = []
        self.stmts = _Stmts()

    def team_rows(self, teams, months, kpi, values):
        self.kpis.append(pd.DataFrame({"entity_type": "team", "entity_id": self.names[teams], "kpi": kpi,
                                       "period": np.array(PERIODS)[months], "value": values}))

    def learn(self, rng, pid, name, people, start_day):
        """registered before the start, completed (90%) a few weeks in, rated by those who completed."""
        obj = f"{PREFIX}/{pid.replace('_', '-')}"
        t0 = _clock(rng, np.asarray(start_day) - rng.integers(1, 10, len(people)))
        self.stmts.add(people, t0, "registered", obj, name, ACT + "course", program=pid)
        done = rng.random(len(people)) < 0.9
        t1 = _clock(rng, np.asarray(start_day)[done] + rng.integers(14, 42, int(done.sum())))
        self.stmts.add(people[done], t1, "completed", obj, name, ACT + "course", program=pid, completion=1,
                       duration=rng.integers(120, 600, int(done.sum())))
        r = np.clip(np.round(rng.normal(4.0, 0.8, int(done.sum()))), 1, 5).astype(int)
        self.stmts.add(people[done], t1 + 60, "rated", obj, name, ACT + "course", program=pid,
                       score=(r - 1) / 4.0, rating=r)


def _team_panel(W, rng, teams, post_of, kpi, outcome, family):
    """One team-month outcome of ``teams`` (post_of: [n_teams_prog, N_MONTHS] 0/1). Returns truth."""
    nt = len(teams)
    mean, sd, e = _effects(rng, outcome, nt)
    T, M = np.meshgrid(np.arange(nt), np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    d = post_of[T, M].astype(float)
    sel = d == 1
    treated = np.flatnonzero(post_of.any(axis=1))
    te = {W.names[teams[j]]: e[j] for j in treated}
    if family == "normal":
        a, g = rng.normal(0, 0.15, nt), rng.normal(0, 0.05, N_MONTHS)
        mu0 = 4.0 + a[T] + g[M]
        W.team_rows(teams[T], M, kpi, np.round(mu0 + e[T] * d + rng.normal(0, 0.1, len(T)), 3))
        return _truth("normal", "identity", mean, sd, te, e[T][sel].mean(), e[T][sel].mean() / mu0[sel].mean(),
                      team_intercept_sd=0.15, period_effect_sd=0.05, sigma=0.1, mean=4.0)
    r0 = {"errors": 0.05, "incidents": 0.01, "rework": 0.03}[outcome]
    alpha = 20.0 if outcome != "incidents" else 8.0
    a, g = rng.normal(0, 0.25, nt), rng.normal(0, 0.08, N_MONTHS)
    lr0 = np.log(r0) + a[T] + g[M]
    hc = W.head[M, teams[T]]
    W.team_rows(teams[T], M, kpi, _nb(rng, hc * np.exp(lr0 + e[T] * d), alpha).astype(float))
    q0, q1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e[T][sel])
    return _truth("count", "log", mean, sd, te, np.mean(q1 - q0), np.mean(q1 - q0) / np.mean(q0),
                  team_intercept_sd=0.25, period_effect_sd=0.08, nb_alpha=alpha,
                  baseline_rate_per_employee_month=r0, business_unit=f"{outcome} per employee-month")


def _service(W, rng, pid, teams, dept):
    nt = len(teams)
    start_m = int(rng.integers(9, 18))
    tr = np.zeros(nt, dtype=bool)
    tr[rng.permutation(nt)[: max(1, nt // 2)]] = True
    post_of = tr[:, None] & (np.arange(N_MONTHS)[None, :] >= start_m)
    out = {o: _team_panel(W, rng, teams, post_of, f"{pid}_{o}", o, fam)
           for o, fam in (("quality", "normal"), ("errors", "count"), ("incidents", "count"))}
    start = str(dates([MONTH_START[start_m]])[0])
    W.assign.append(pd.DataFrame({"program_id": pid, "unit_type": "team", "unit_id": W.names[teams],
                                  "arm": np.where(tr, "treatment", "control"), "start_date": np.where(tr, start, "")}))
    people = np.flatnonzero(np.isin(W.H["team"], teams[tr]) & W.ic_active[start_m])
    W.learn(rng, pid, f"{dept} service course", people, np.full(len(people), MONTH_START[start_m]))
    outcomes = [_outcome("quality", f"{pid}_quality", "normal", "increase", "team", unit="quality points (1-5)"),
                _outcome("errors", f"{pid}_errors", "count", "decrease", "team", exposure="headcount",
                         value=300, unit="errors per employee-month"),
                _outcome("incidents", f"{pid}_incidents", "count", "decrease", "team", exposure="headcount",
                         value=2000, unit="incidents per employee-month")]
    return out, "pre_post", "team", start, outcomes, {"outcome": "errors", "relative_change": -0.15,
                                                      "description": "Cut errors per employee by 15%"}


def _rollout(W, rng, pid, teams, dept):
    H, nt = W.H, len(teams)
    n_never = min(max(1, int(round(nt / 6))), nt - 1)
    order = rng.permutation(nt)
    cohort = np.full(nt, -1)
    cohort[order[n_never:]] = np.round(np.linspace(3, 17, nt - n_never)).astype(int)
    post_of = (cohort[:, None] >= 0) & (np.arange(N_MONTHS)[None, :] >= cohort[:, None])
    # output per individual contributor and month
    mean, sd, e = _effects(rng, "output", nt)
    a, g = rng.normal(0, 6.0, nt), rng.normal(0, 3.0, N_MONTHS)
    local = np.full(H["n_teams"], -1)
    local[teams] = np.arange(nt)
    mm, pp = np.nonzero(W.ic_active & (local[H["team"]] >= 0)[None, :])
    j = local[H["team"][pp]]
    post = post_of[j, mm]
    mu0 = 100.0 + a[j] + g[mm]
    y = np.maximum(mu0 + e[j] * post + rng.normal(0, 15.0, len(pp)), 0.0)
    W.kpis.append(pd.DataFrame({"entity_type": "employee", "entity_id": W.ids[pp], "kpi": f"{pid}_output",
                                "period": np.array(PERIODS)[mm], "value": np.round(y, 1)}))
    treated = np.flatnonzero(cohort >= 0)
    out = {"output": _truth("normal", "identity", mean, sd, {W.names[teams[k]]: e[k] for k in treated},
                            e[j][post].mean(), e[j][post].mean() / mu0[post].mean(),
                            team_intercept_sd=6.0, period_effect_sd=3.0, sigma=15.0, mean=100.0)}
    out["rework"] = _team_panel(W, rng, teams, post_of, f"{pid}_rework", "rework", "count")
    out["satisfaction"] = _team_panel(W, rng, teams, post_of, f"{pid}_satisfaction", "satisfaction", "normal")
    starts = np.where(cohort >= 0, dates(MONTH_START[np.maximum(cohort, 0)]), "")
    W.assign.append(pd.DataFrame({"program_id": pid, "unit_type": "team", "unit_id": W.names[teams],
                                  "arm": np.where(cohort >= 0, "treatment", "control"), "start_date": starts}))
    people = np.flatnonzero(W.ic_active.any(axis=0) & (local[H["team"]] >= 0))
    c = cohort[local[H["team"][people]]]
    day = np.maximum(MONTH_START[np.maximum(c, 0)], H["hire"][people])
    keep = (c >= 0) & (H["term"][people] >= day)
    W.learn(rng, pid, f"{dept} onboarding rollout", people[keep], day[keep])
    role = DEPARTMENTS[dept][1]
    outcomes = [_outcome("output", f"{pid}_output", "normal", "increase", "participants", value=20,
                         unit="output points"),
                _outcome("rework", f"{pid}_rework", "count", "decrease", "team", exposure="headcount",
                         value=300, unit="rework items per employee-month"),
                _outcome("satisfaction", f"{pid}_satisfaction", "normal", "increase", "team",
                         unit="satisfaction points (1-5)")]
    start = str(dates([MONTH_START[cohort[cohort >= 0].min()]])[0])
    return out, "staggered", "team", start, outcomes, {"outcome": "output", "absolute_change": 3.0,
                                                       "description": "Raise output by 3 points"}, role


def _trial(W, rng, pid, teams, dept):
    H, nt = W.H, len(teams)
    start_m = int(rng.integers(6, 13))
    s_day = MONTH_START[start_m]
    local = np.full(H["n_teams"], -1)
    local[teams] = np.arange(nt)
    role = DEPARTMENTS[dept][1]
    units = np.flatnonzero((local[H["team"]] >= 0) & (H["role"] == role) & (H["hire"] <= s_day)
                           & (H["term"] >= s_day))
    j = local[H["team"][units]]
    arm = np.zeros(len(units), dtype=int)
    for t in range(nt):
        idx = np.flatnonzero(j == t)
        arm[rng.permutation(idx)[: len(idx) // 2 + (rng.random() < 0.5 if len(idx) % 2 else 0)]] = 1
    te_all = {}
    out = {}

    def employed(m):  # during month m
        return (H["hire"][units] <= MONTH_START[m + 1] - 1) & (H["term"][units] >= MONTH_START[m])

    def rows(mask, kpi, m, values):
        W.kpis.append(pd.DataFrame({"entity_type": "employee", "entity_id": W.ids[units[mask]], "kpi": kpi,
                                    "period": PERIODS[m], "value": np.asarray(values, dtype=float)[mask]}))

    # certified: 0/1 six months after the start
    mean, sd, e = _effects(rng, "certified", nt)
    a = logit(0.3) + rng.normal(0, 0.3, nt)
    y = rng.random(len(units)) < expit(a[j] + e[j] * arm)
    has = employed(start_m + 6)
    rows(has, f"{pid}_certified", start_m + 6, y)
    p0, p1 = expit(a[j[has]]), expit(a[j[has]] + e[j[has]])
    te_all["certified"] = e
    out["certified"] = _truth("binary", "logit", mean, sd, {}, np.mean(p1 - p0), np.mean(p1 - p0) / np.mean(p0),
                              team_intercept_sd=0.3, baseline_rate=0.3, n_analysed=int(has.sum()))
    # assessment: 0-100, before and three months after
    mean, sd, e = _effects(rng, "assessment", nt)
    a, u = rng.normal(0, 5.0, nt), rng.normal(0, 6.0, len(units))
    pre = np.clip(60 + a[j] + u + rng.normal(0, 8.0, len(units)), 0, 100).round(1)
    post = np.clip(60 + a[j] + u + e[j] * arm + rng.normal(0, 8.0, len(units)), 0, 100).round(1)
    rows(employed(start_m - 1), f"{pid}_assessment", start_m - 1, pre)
    has = employed(start_m + 3)
    rows(has, f"{pid}_assessment", start_m + 3, post)
    te_all["assessment"] = e
    out["assessment"] = _truth("normal", "identity", mean, sd, {}, e[j[has]].mean(),
                               e[j[has]].mean() / (60 + a[j[has]]).mean(), team_intercept_sd=5.0,
                               person_sd=6.0, sigma=8.0, mean=60.0)
    # engagement: Likert 1..5 before and six months after
    mean, sd, e = _effects(rng, "engagement", nt)
    a = rng.normal(0, 0.3, nt)
    y_pre = 1 + (a[j][:, None] + rng.logistic(size=len(units))[:, None] > CUTPOINTS[None, :]).sum(1)
    lat0 = a[j] + 0.5 * np.where(employed(start_m - 1), y_pre - 3.0, 0.0)  # no baseline: none counted
    y_post = 1 + ((lat0 + e[j] * arm)[:, None] + rng.logistic(size=len(units))[:, None] > CUTPOINTS[None, :]).sum(1)
    rows(employed(start_m - 1), f"{pid}_engagement", start_m - 1, y_pre)
    has = employed(start_m + 6)
    rows(has, f"{pid}_engagement", start_m + 6, y_post)

    def expect(lat):
        return 1 + expit(lat[:, None] - CUTPOINTS[None, :]).sum(1)

    g0, g1 = expect(lat0[has]), expect(lat0[has] + e[j[has]])
    te_all["engagement"] = e
    out["engagement"] = _truth("ordinal", "logit", mean, sd, {}, np.mean(g1 - g0), np.mean(g1 - g0) / np.mean(g0),
                               team_intercept_sd=0.3, baseline_coef=0.5,
                               cutpoints=[round(float(c), 4) for c in CUTPOINTS])
    for o, e in te_all.items():  # randomized within every team: every team's effect is realised
        te = {str(W.names[teams[k]]): round(float(e[k]), 5) for k in range(nt)}
        out[o]["team_effects"], out[o]["effect_mean_realised"] = te, round(float(np.mean(e)), 5)
    start = str(dates([s_day])[0])
    W.assign.append(pd.DataFrame({"program_id": pid, "unit_type": "employee", "unit_id": W.ids[units],
                                  "arm": np.where(arm == 1, "treatment", "control"),
                                  "start_date": np.where(arm == 1, start, "")}))
    W.learn(rng, pid, f"{dept} certification trial", units[arm == 1], np.full(int(arm.sum()), s_day))
    outcomes = [_outcome("certified", f"{pid}_certified", "binary", "increase", "participants", value=3000,
                         unit="percentage points", level=2),
                _outcome("assessment", f"{pid}_assessment", "normal", "increase", "participants",
                         unit="score points (0-100)", level=2),
                _outcome("engagement", f"{pid}_engagement", "ordinal", "increase", "participants",
                         unit="score points (1-5)", level=3)]
    return out, "randomized", "employee", start, outcomes, {"outcome": "certified", "absolute_change": 0.05,
                                                            "description": "5 points more certified"}, role


def _outcome(oid, kpi, family, direction, measured_on, *, exposure=None, value=None, unit=None, level=4):
    o = {"id": oid, "kpi": kpi, "family": family, "level": level, "direction": direction,
         "measured_on": measured_on}
    if exposure:
        o["exposure"] = exposure
    if value:
        o["value_per_unit"] = value
    if unit:
        o["unit_label"] = unit
    return o


COSTS = {"service": ("course", 400, 15000), "rollout": ("microlearning", 250, 30000),
         "trial": ("elearning", 900, 10000)}


def _program(W, seed, k):
    """Program k: its data into W; returns (programs.yaml entry, truth entry)."""
    rng = np.random.default_rng([int(seed), PROGRAM_STREAM, k])
    kind = ARCHETYPES[k % len(ARCHETYPES)]
    depts = list(DEPARTMENTS)
    n_of = np.array([np.sum(W.dept_of_team == d) for d in depts], dtype=float)
    dept = depts[int(rng.choice(len(depts), p=n_of / n_of.sum()))]
    pool = np.flatnonzero(W.dept_of_team == dept)
    want = {"service": SERVICE_TEAMS, "rollout": ROLLOUT_TEAMS, "trial": TRIAL_TEAMS}[kind]
    teams = np.sort(rng.choice(pool, min(want, len(pool)), replace=False))
    pid = f"p{k + 1:03d}_{kind}"
    made = {"service": _service, "rollout": _rollout, "trial": _trial}[kind](W, rng, pid, teams, dept)
    truth_out, design, unit, start, outcomes, target = made[:6]
    population = {"team": [str(t) for t in W.names[teams]]}
    if kind != "service":
        population["role"] = [made[6]]
    typ, cpp, fixed = COSTS[kind]
    role = DEPARTMENTS[dept][1]
    entry = {"id": pid, "name": f"{dept} {kind} program {k + 1}",
             "alignment": {"organisational_goal": GOALS[dept], "department_kpi": f"{dept} {outcomes[0]['id']}",
                           "campaign": f"{dept} {kind}s {start[:4]}"},
             "population": population,
             "program": {"type": typ, "cost_per_participant": cpp, "fixed_cost": fixed,
                         "lms_activity_prefix": f"{PREFIX}/{pid.replace('_', '-')}",
                         "skills": ROLE_SKILLS[role][:2]},
             "design": {"type": design, "unit": unit, "start": start},
             "outcomes": outcomes, "target": target}
    truth = {"design": design, "archetype": kind, "department": dept, "outcomes": truth_out,
             "target": target_truth(target, truth_out)}
    return entry, truth


def programs_text(entries: list[dict], goals: list[str]) -> str:
    head = ("# The large preset's programs (generated by lndbayes.example.large; `lndbayes simulate --preset large`).\n"
            "# Every program's KPIs are its own (named <program id>_<outcome>); headcount is shared.\n")
    doc = {"organisation": {"name": "Example Co (large)", "currency": "EUR", "privacy_min_group": 5,
                            "goals": goals},
           "programs": entries}
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)


def simulate_large(out_dir: Path, *, seed: int = 0, n_employees: int = 20000, n_programs: int = 100) -> Path:
    """Write the large preset's raw files into ``out_dir`` and truth.json beside it; returns ``out_dir``."""
    if n_programs < 1:
        raise ValueError(f"n_programs must be at least 1, not {n_programs}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    H = simulate_hris(rng, int(n_employees))
    ids = employee_ids(len(H["team"]))
    emp, hris = people_frames(H, ids)
    W = _World(H, ids)
    T, M = np.meshgrid(np.arange(H["n_teams"]), np.arange(N_MONTHS))
    W.team_rows(T.ravel(), M.ravel(), "headcount", W.head[M.ravel(), T.ravel()].astype(float))
    entries, truth_programs = [], {}
    for k in range(int(n_programs)):
        entry, t = _program(W, seed, k)
        entries.append(entry)
        truth_programs[entry["id"]] = t
    goals = list(dict.fromkeys(GOALS.values()))
    programs = programs_text(entries, goals)

    kpis = pd.concat(W.kpis, ignore_index=True)
    kpis["censored"] = "false"
    kpis = kpis.sort_values(["kpi", "entity_type", "entity_id", "period"], kind="mergesort")
    assign = pd.concat(W.assign, ignore_index=True).sort_values(["program_id", "unit_type", "unit_id"],
                                                                kind="mergesort")
    assess, reqs, gaps = sorted_skills(rng, H, ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    amap, n_stmts = write_xapi(rng, _finish(W.stmts.frame(), H), H, ids, out_dir / "xapi" / "statements.jsonl")

    write_raw_files(out_dir, programs, employees=emp, hris_events=hris, actor_map=amap, assignments=assign,
                    kpis=kpis, skill_assessments=assess, skill_requirements=reqs)
    truth = {"seed": int(seed), "preset": "large", "n_employees": int(n_employees),
             "n_employee_records": int(len(H["team"])), "n_teams": int(H["n_teams"]),
             "n_programs": int(n_programs), "periods": [PERIODS[0], PERIODS[-1]], "n_xapi_statements": int(n_stmts),
             "programs": truth_programs, "skill_gaps": gaps, "kirkpatrick": {}}
    atomic.write_text(out_dir.parent / "truth.json", json.dumps(truth, indent=2) + "\n")
    return out_dir
