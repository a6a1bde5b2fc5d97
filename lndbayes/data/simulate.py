"""The built-in example organisation: a simulated company whose true program effects are known.

``simulate_org(out_dir)`` writes into ``out_dir`` (a ``raw/`` folder) exactly the files a user
would provide (docs/architecture.md, "Raw files"), and ``truth.json`` into ``out_dir.parent``.

The organisation
----------------
About ``n_employees`` people (head count on 2024-01-01) in about 60 teams of 25-45 people in six
departments, observed for 24 months (periods 2024-01 .. 2025-12). Each team has a team lead and
3-4 first-line managers (role ``manager``) with about 8 direct reports each; each department has
a head. Individual contributors leave at a monthly hazard (department and team specific; about
18% a year overall, 28% in Sales), every leaver is replaced after a few weeks by a new hire into
the same team and manager, and Sales also grows. Managers, team leads and heads do not leave.
HRIS events hold promotions (one level up) and a few transfers between teams (only of people
hired after 2024-07-01 outside Sales and Support, so that no analysed unit changes team).

The data-generating process of every outcome is the model the panel rules of
docs/architecture.md lead to, on that outcome's link scale, with a team-varying effect
``effect_team ~ Normal(effect_mean, effect_sd_team)``:

* ``manager_coaching`` (randomized within teams, managers are the units, outcomes on their
  direct reports employed on 2024-07-01):
  - ``attrition_12m``: ``logit P(leave in [2024-07-01, 2025-07-01)) = alpha_team + effect_team *
    treated``; outside that window the baseline monthly hazard of the team applies.
  - ``promotion_readiness``: one 0/1 KPI per employee in 2025-06, ``logit p = a_team +
    effect_team * treated``.
  - ``engagement``: Likert 1..5 in 2024-06 (baseline) and 2025-03 (outcome), cumulative logit
    with cut points ``CUTPOINTS``; the outcome's latent mean is ``a_team + 0.5 * (baseline - 3)
    + effect_team * treated``.
* ``sales_onboarding`` (staggered by Sales team, a few never-treated teams):
  - ``time_to_first_deal``: days from hire, Exponential with ``log mean = a_team + effect_team *
    treated`` (treated = hired on/after the team's start), right-censored at leaving or at the
    end of the data.
  - ``quota_attainment``: monthly % of quota, ``Normal(mu + a_team + g_period + effect_team *
    post, 15)`` with post = period >= the team's start period.
* ``support_upskilling`` (pre_post, half the Support teams from 2025-01-01), team-months:
  - ``csat``: ``Normal(4.1 + a_team + g_period + effect_team * treated * post, 0.08)``.
  - ``error_count``: NegativeBinomial(tickets * rate, alpha=25), ``log rate = log 0.025 + a_team
    + g_period + effect_team * treated * post``.
* ``compliance_training`` (pre_post, half the teams of each department from 2025-04-01):
  ``violations`` NegativeBinomial(headcount * rate, alpha=8) with the same log-rate structure.

``truth.json`` records, per program and outcome, ``effect_mean``, ``effect_sd_team``, the realised
``team_effects`` (randomized designs: every team; panel designs: the treated teams, the only ones
whose effect is realised), and ``average_effect_abs`` / ``average_effect_rel``: the average over
the analysed treated units (treated-arm reports; treated teams' post periods; treated hires) of
the difference between the outcome's expected value with and without the program, on the
business scale (probability, score points, days, events per unit of exposure), and relative to
the mean without it. It also records the skill gaps the skill assessments were drawn from.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed writes byte-identical
files.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["simulate_org", "register_cli", "DEPARTMENTS", "PERIODS"]

BASE = np.datetime64("2024-01-01", "D")
N_MONTHS = 24
MONTH_START = np.array(
    [(np.datetime64("2024-01", "M") + np.timedelta64(m, "M")).astype("datetime64[D]") - BASE
     for m in range(N_MONTHS + 1)]
).astype(np.int64)  # day offsets of 2024-01-01 .. 2026-01-01
DATA_END = int(MONTH_START[-1] - 1)  # 2025-12-31
PERIODS = [f"{2024 + m // 12}-{m % 12 + 1:02d}" for m in range(N_MONTHS)]

# department: share of teams, IC role, annual IC attrition, growth hires per team over 24 months
DEPARTMENTS = {
    "Sales": (0.20, "account_executive", 0.28, 4.0),
    "Support": (0.1667, "support_agent", 0.22, 0.8),
    "Engineering": (0.20, "engineer", 0.13, 0.8),
    "Operations": (0.1667, "operations_specialist", 0.18, 0.8),
    "Finance": (0.1333, "analyst", 0.12, 0.8),
    "People": (0.1333, "hr_partner", 0.14, 0.8),
}

SKILL_LEVEL = {
    "coaching": 3.5, "feedback": 3.0, "negotiation": 3.0, "product_knowledge": 3.0,
    "troubleshooting": 3.0, "system_design": 3.0, "process_improvement": 3.0,
    "financial_analysis": 3.0, "employment_law": 3.0, "compliance": 3.0,
}
ROLE_SKILLS = {
    "account_executive": ["negotiation", "product_knowledge", "compliance"],
    "support_agent": ["troubleshooting", "product_knowledge", "compliance"],
    "engineer": ["system_design", "troubleshooting", "compliance"],
    "operations_specialist": ["process_improvement", "compliance"],
    "analyst": ["financial_analysis", "compliance"],
    "hr_partner": ["employment_law", "coaching", "compliance"],
    "manager": ["coaching", "feedback", "compliance"],
    "team_lead": ["coaching", "feedback", "compliance"],
    "head": ["coaching", "compliance"],
}

PREFIX = "https://lms.example.org/activities"
HOME = "https://lms.example.org"
LEGACY_HOME = "https://legacy-lms.example.net"
VERB = "http://adlnet.gov/expapi/verbs/"

# manager_coaching: design start and the attrition window
COACH_START = int((np.datetime64("2024-07-01") - BASE).astype(np.int64))
COACH_END = int((np.datetime64("2025-07-01") - BASE).astype(np.int64))
SUPPORT_START_M = 12   # 2025-01
COMPLIANCE_START_M = 15  # 2025-04

#: ordinal cut points of the engagement survey (latent mean 0 -> 5%, 15%, 30%, 35%, 15%)
CUTPOINTS = np.log(np.array([0.05, 0.20, 0.50, 0.85]) / (1 - np.array([0.05, 0.20, 0.50, 0.85])))
ENGAGEMENT_BASELINE_COEF = 0.5

# true effect distributions (link scale)
EFFECTS = {
    ("manager_coaching", "attrition_12m"): (-0.45, 0.25),
    ("manager_coaching", "promotion_readiness"): (0.35, 0.20),
    ("manager_coaching", "engagement"): (0.40, 0.20),
    ("sales_onboarding", "time_to_first_deal"): (-0.30, 0.15),
    ("sales_onboarding", "quota_attainment"): (5.0, 2.5),
    ("support_upskilling", "csat"): (0.15, 0.06),
    ("support_upskilling", "error_count"): (-0.25, 0.12),
    ("compliance_training", "violations"): (-0.40, 0.20),
}

FIRST = ["Alex", "Maria", "Jonas", "Lea", "Omar", "Sofia", "Chen", "Priya", "Lukas", "Emma",
         "Noah", "Amira", "Mateo", "Hanna", "Yuki", "Ines", "David", "Sara", "Kofi", "Elena",
         "Tomas", "Aisha", "Felix", "Nora", "Ravi", "Julia", "Marek", "Zoe", "Ali", "Clara"]
LAST = ["Muller", "Garcia", "Smith", "Rossi", "Kowalski", "Nguyen", "Okafor", "Jensen", "Silva",
        "Novak", "Schmidt", "Haddad", "Brown", "Ivanova", "Costa", "Fischer", "Kim", "Dubois",
        "Moreau", "Weber", "Santos", "Larsen", "Ahmed", "Varga", "Becker", "Lopez", "Mensah"]


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _dates(days) -> np.ndarray:
    return np.datetime_as_string(BASE + np.asarray(days, dtype=np.int64).astype("timedelta64[D]"))


def _month_of(days) -> np.ndarray:
    return np.searchsorted(MONTH_START, np.asarray(days), side="right") - 1


def _uuids(rng, n: int) -> np.ndarray:
    b = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = np.array([row.tobytes().hex() for row in b]) if n else np.array([], dtype=str)
    return np.array([f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}" for x in h], dtype=object)


def _round_shares(shares, total) -> np.ndarray:
    raw = np.asarray(shares) / np.sum(shares) * total
    out = np.maximum(np.floor(raw).astype(int), 1)
    while out.sum() < total:
        out[np.argmax(raw - out)] += 1
    while out.sum() > total:
        out[np.argmax(out - raw)] -= 1
    return out


# ---------------------------------------------------------------------------------------------
# the organisation and its HRIS history


class _People:
    """Column arrays of everybody who worked here (grown generation by generation)."""

    def __init__(self):
        self.cols = {k: [] for k in ("team", "role", "manager", "hire", "level", "ic")}

    def add(self, **cols):
        n = len(np.atleast_1d(cols["team"]))
        start = self.n
        for k in self.cols:
            self.cols[k].append(np.broadcast_to(np.asarray(cols[k]), (n,)).copy())
        return np.arange(start, start + n)

    @property
    def n(self):
        return int(sum(len(a) for a in self.cols["team"]))

    def arrays(self):
        return {k: np.concatenate(v) for k, v in self.cols.items()}


def _structure(rng, n_employees):
    depts = list(DEPARTMENTS)
    n_teams = max(len(depts), int(round(n_employees / 33.5)))
    per_dept = _round_shares([DEPARTMENTS[d][0] for d in depts], n_teams)
    team_dept = np.repeat(np.arange(len(depts)), per_dept)
    team_names = []
    for d, k in zip(depts, per_dept):
        team_names += [f"{d}-{i + 1:02d}" for i in range(k)]
    target = n_employees - len(depts)
    mean = target / n_teams
    lo, hi = max(6, int(np.floor(mean * 0.75))), int(np.ceil(mean * 1.35))
    sizes = np.clip(np.round(rng.normal(mean, 5.0, n_teams)), lo, hi).astype(int)
    while sizes.sum() != target:
        step = 1 if sizes.sum() < target else -1
        ok = np.flatnonzero((sizes + step >= lo) & (sizes + step <= hi))
        sizes[rng.choice(ok)] += step
    return depts, np.array(team_names), team_dept, sizes


def _simulate_hris(rng, n_employees):
    depts, team_names, team_dept, sizes = _structure(rng, n_employees)
    n_teams = len(team_names)
    P = _People()
    # department heads (in the first team of their department) and team leads
    first_team = np.array([np.flatnonzero(team_dept == d)[0] for d in range(len(depts))])
    heads = P.add(team=first_team, role="head", manager=-1,
                  hire=-rng.integers(4 * 365, 15 * 365, len(depts)), level=5, ic=False)
    leads = P.add(team=np.arange(n_teams), role="team_lead", manager=heads[team_dept],
                  hire=-rng.integers(3 * 365, 14 * 365, n_teams),
                  level=rng.choice([4, 5], n_teams, p=[0.8, 0.2]), ic=False)
    # first-line managers, randomised in halves within each team
    n_mgr = np.clip(np.round((sizes - 1) / 9), 2 if sizes.min() < 20 else 3, 4).astype(int)
    mgr_team = np.repeat(np.arange(n_teams), n_mgr)
    managers = P.add(team=mgr_team, role="manager", manager=leads[mgr_team],
                     hire=-rng.integers(2 * 365, 12 * 365, len(mgr_team)),
                     level=rng.choice([3, 4], len(mgr_team), p=[0.6, 0.4]), ic=False)
    mgr_arm = np.zeros(len(managers), dtype=int)
    for t in range(n_teams):
        idx = np.flatnonzero(mgr_team == t)
        k = len(idx) // 2 + (rng.random() < 0.5 if len(idx) % 2 else 0)
        mgr_arm[rng.permutation(idx)[:k]] = 1
    # individual contributors present on 2024-01-01
    n_ic = sizes - 1 - n_mgr
    ic_team = np.repeat(np.arange(n_teams), n_ic)
    ic_mgr = np.empty(len(ic_team), dtype=int)
    for t in range(n_teams):
        idx = np.flatnonzero(ic_team == t)
        ms = managers[mgr_team == t]
        ic_mgr[idx] = ms[rng.permutation(np.arange(len(idx)) % len(ms))]
    tenure = np.minimum(rng.exponential(3.5 * 365, len(ic_team)), 15 * 365).astype(int) + 1
    ic_level = rng.choice([1, 2, 3], len(ic_team), p=[0.35, 0.40, 0.25])
    ic_role = np.array([DEPARTMENTS[depts[d]][1] for d in team_dept])
    gen = P.add(team=ic_team, role=ic_role[ic_team], manager=ic_mgr, hire=-tenure,
                level=ic_level, ic=True)
    # growth hires during the 24 months (mostly Sales)
    growth = rng.poisson([DEPARTMENTS[depts[d]][3] for d in team_dept])
    g_team = np.repeat(np.arange(n_teams), growth)
    g_mgr = np.array([rng.choice(managers[mgr_team == t]) for t in g_team], dtype=int)
    gen = np.concatenate([gen, P.add(team=g_team, role=ic_role[g_team], manager=g_mgr,
                                     hire=rng.integers(0, DATA_END - 30, len(g_team)),
                                     level=rng.choice([1, 2], len(g_team), p=[0.65, 0.35]),
                                     ic=True)])

    # attrition: team log-odds of leaving within a year; inside the coaching window the
    # treated-arm reports' log-odds shift by the team's coaching effect
    dept_rate = np.array([DEPARTMENTS[depts[d]][2] for d in team_dept])
    alpha_att = _logit(dept_rate) + rng.normal(0, 0.25, n_teams)
    m_att, s_att = EFFECTS[("manager_coaching", "attrition_12m")]
    eff_att = rng.normal(m_att, s_att, n_teams)
    hazard = -np.log1p(-_expit(alpha_att)) / 365.25  # per day
    mgr_arm_of = np.zeros(int(managers.max()) + 1, dtype=int)
    mgr_arm_of[managers] = mgr_arm
    term = {}
    while len(gen):
        a = P.arrays()
        team, hire = a["team"][gen], a["hire"][gen]
        arm = mgr_arm_of[a["manager"][gen]]
        lam = hazard[team]
        t = np.maximum(hire, 0) + rng.exponential(1.0 / lam)
        out = np.full(len(gen), np.inf)
        pre = (hire < COACH_START) & (t < COACH_START)
        out[pre] = np.floor(t[pre])
        at_start = (hire <= COACH_START) & ~pre
        p = _expit(alpha_att[team] + eff_att[team] * arm)
        leave = rng.random(len(gen)) < p
        when = rng.integers(COACH_START, COACH_END, len(gen))
        after = COACH_END + rng.exponential(1.0 / lam)
        out[at_start & leave] = when[at_start & leave]
        out[at_start & ~leave] = np.floor(after[at_start & ~leave])
        late = hire > COACH_START
        out[late] = np.floor(t[late])
        out[out > DATA_END] = np.inf
        for i, v in zip(gen, out):
            term[int(i)] = v
        left = np.isfinite(out)
        lag = 14 + rng.gamma(2.0, 15.0, len(gen))
        new_hire = out + np.floor(lag)
        rep = left & (new_hire <= DATA_END)
        if not rep.any():
            break
        src = gen[rep]
        gen = P.add(team=a["team"][src], role=a["role"][src], manager=a["manager"][src],
                    hire=new_hire[rep].astype(int),
                    level=rng.choice([1, 2], int(rep.sum()), p=[0.65, 0.35]), ic=True)
    a = P.arrays()
    n = P.n
    term_day = np.full(n, np.inf)
    for i, v in term.items():
        term_day[i] = v
    reason = np.where(np.isfinite(term_day),
                      np.where(rng.random(n) < 0.75, "voluntary", "involuntary"), "")
    arm_of = np.zeros(n, dtype=int)
    arm_of[managers] = mgr_arm
    is_mgr = np.zeros(n, dtype=bool)
    is_mgr[managers] = True

    # promotions: at most one level up while employed in the data window
    level = a["level"].copy()
    can = (a["role"] != "head") & (level < np.where(a["ic"], 4, 5))
    rate = np.where(a["ic"], 0.10, 0.06) / 365.25
    d_prom = np.maximum(a["hire"], 0) + rng.exponential(1.0 / rate)
    prom = can & (d_prom < np.minimum(term_day, DATA_END + 1))
    events = [pd.DataFrame({"i": np.flatnonzero(prom), "day": np.floor(d_prom[prom]).astype(int),
                            "event_type": "promotion", "from_value": level[prom].astype(str),
                            "to_value": (level[prom] + 1).astype(str)})]
    level[prom] += 1

    # a few transfers between teams of one department (people hired after the coaching start,
    # outside Sales and Support, so that no analysed unit changes team)
    team = a["team"].copy()
    manager = a["manager"].copy()
    dept_of_team = np.array(depts)[team_dept]
    end = np.minimum(term_day, DATA_END)
    cand = np.flatnonzero(a["ic"] & (a["hire"] > COACH_START) & (end - a["hire"] > 150)
                          & ~np.isin(dept_of_team[team], ["Sales", "Support"]))
    k = min(len(cand), max(1, int(round(n_employees / 150))))
    movers = np.sort(rng.choice(cand, k, replace=False)) if k else np.array([], dtype=int)
    stints = []  # (person, team, from_day, to_day) before a transfer
    rows = []
    for i in movers:
        same = np.flatnonzero((team_dept == team_dept[team[i]]) & (np.arange(n_teams) != team[i]))
        if not len(same):
            continue
        new = int(rng.choice(same))
        day = int(rng.integers(a["hire"][i] + 60, end[i] - 30))
        stints.append((i, team[i], a["hire"][i], day - 1))
        rows.append((i, day, "transfer", team_names[team[i]], team_names[new]))
        team[i] = new
        manager[i] = int(rng.choice(managers[mgr_team == new]))
    if rows:
        events.append(pd.DataFrame(rows, columns=["i", "day", "event_type", "from_value", "to_value"]))
    transfer_from = {s[0]: s for s in stints}

    return dict(
        depts=depts, team_names=team_names, team_dept=team_dept, n_teams=n_teams,
        team=team, role=a["role"], manager=manager, hire=a["hire"].astype(int), term=term_day,
        reason=reason, level=level, ic=a["ic"], arm_of=arm_of, is_mgr=is_mgr,
        managers=managers, mgr_team=mgr_team, mgr_arm=mgr_arm,
        alpha_att=alpha_att, eff_att=eff_att, events=pd.concat(events, ignore_index=True),
        transfer_from=transfer_from,
    )


def _active_matrix(hire, term, lo_days, hi_days):
    """[k, n] bool: employed at some point in [lo, hi] (inclusive days)."""
    return (hire[None, :] <= np.asarray(hi_days)[:, None]) & (term[None, :] >= np.asarray(lo_days)[:, None])


def _team_of_at(H, days):
    """Team of each person at each day (handles transfers): [k, n]."""
    tm = np.broadcast_to(H["team"], (len(days), len(H["team"]))).copy()
    for i, (_, old, d0, d1) in H["transfer_from"].items():
        for j, d in enumerate(days):
            if d <= d1:
                tm[j, i] = old
    return tm


# ---------------------------------------------------------------------------------------------
# outcomes


def _coaching_outcomes(rng, H, ids):
    """promotion_ready and engagement KPI rows; truth of the three coaching outcomes."""
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    reports = H["ic"] & H["is_mgr"][np.maximum(H["manager"], 0)] & (H["manager"] >= 0)
    arm = H["arm_of"][np.maximum(H["manager"], 0)] * reports
    analysed = reports & (hire <= COACH_START) & (term >= COACH_START)
    truth = {}

    # attrition_12m (already simulated in _simulate_hris)
    tr = analysed & (arm == 1)
    p0 = _expit(H["alpha_att"][team[tr]])
    p1 = _expit(H["alpha_att"][team[tr]] + H["eff_att"][team[tr]])
    truth["attrition_12m"] = dict(
        family="binary", link="logit", team_effects=H["eff_att"], avg_abs=float(np.mean(p1 - p0)),
        avg_rel=float(np.mean(p1 - p0) / np.mean(p0)),
        extra={"team_intercept_sd": 0.25, "baseline_annual_rate_by_department":
               {d: DEPARTMENTS[d][2] for d in H["depts"]},
               "n_analysed": int(analysed.sum()), "n_treated": int(tr.sum())})

    rows = []
    # promotion_readiness: one 0/1 value per report employed during 2025-06
    m_pr, s_pr = EFFECTS[("manager_coaching", "promotion_readiness")]
    a_pr = _logit(0.22) + rng.normal(0, 0.30, n_teams)
    e_pr = rng.normal(m_pr, s_pr, n_teams)
    d0, d1 = MONTH_START[17], MONTH_START[18] - 1
    has = reports & (hire <= d1) & (term >= d0)
    eta = a_pr[team] + e_pr[team] * arm
    y = (rng.random(len(team)) < _expit(eta)).astype(float)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has],
                              "kpi": "promotion_ready", "period": "2025-06", "value": y[has]}))
    tr = has & analysed & (arm == 1)
    q0, q1 = _expit(a_pr[team[tr]]), _expit(a_pr[team[tr]] + e_pr[team[tr]])
    truth["promotion_readiness"] = dict(
        family="binary", link="logit", team_effects=e_pr, avg_abs=float(np.mean(q1 - q0)),
        avg_rel=float(np.mean(q1 - q0) / np.mean(q0)),
        extra={"team_intercept_sd": 0.30, "baseline_rate": 0.22})

    # engagement: Likert 1..5 in 2024-06 (baseline) and 2025-03 (outcome)
    m_en, s_en = EFFECTS[("manager_coaching", "engagement")]
    a_en = rng.normal(0, 0.30, n_teams)
    e_en = rng.normal(m_en, s_en, n_teams)

    def draw(latent):
        return 1 + (latent[:, None] + rng.logistic(size=len(latent))[:, None] > CUTPOINTS[None, :]).sum(1)

    def expect(latent):
        return 1 + _expit(latent[:, None] - CUTPOINTS[None, :]).sum(1)

    has_pre = reports & (hire <= COACH_START) & (term >= MONTH_START[5])
    y_pre = draw(a_en[team])
    base = np.where(has_pre, y_pre - 3.0, 0.0)
    has_post = reports & (hire <= MONTH_START[15] - 1) & (term >= MONTH_START[14])
    lat0 = a_en[team] + ENGAGEMENT_BASELINE_COEF * base
    y_post = draw(lat0 + e_en[team] * arm)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has_pre],
                              "kpi": "engagement", "period": "2024-06", "value": y_pre[has_pre].astype(float)}))
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has_post],
                              "kpi": "engagement", "period": "2025-03", "value": y_post[has_post].astype(float)}))
    tr = has_post & analysed & (arm == 1)
    g0, g1 = expect(lat0[tr]), expect(lat0[tr] + e_en[team[tr]])
    truth["engagement"] = dict(
        family="ordinal", link="logit", team_effects=e_en, avg_abs=float(np.mean(g1 - g0)),
        avg_rel=float(np.mean(g1 - g0) / np.mean(g0)),
        extra={"team_intercept_sd": 0.30, "cutpoints": [round(float(c), 4) for c in CUTPOINTS],
               "baseline_coef": ENGAGEMENT_BASELINE_COEF,
               "baseline_note": "latent mean of the outcome = team + baseline_coef * (baseline - 3) "
                                "+ effect_team * treated"})
    return rows, truth


def _sales_outcomes(rng, H, ids):
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    sales_teams = np.flatnonzero(np.array(H["depts"])[H["team_dept"]] == "Sales")
    k = len(sales_teams)
    n_never = max(1, int(round(k / 6)))
    order = rng.permutation(sales_teams)
    never, treated = np.sort(order[:n_never]), order[n_never:]
    cohort_m = np.full(n_teams, -1)
    cohort_m[treated] = np.round(np.linspace(3, 17, len(treated))).astype(int)  # 2024-04..2025-06
    start_day = np.where(cohort_m >= 0, MONTH_START[np.maximum(cohort_m, 0)], 10 ** 9)
    truth, rows = {}, []

    ae = H["role"] == "account_executive"
    # time to first deal of new hires
    m_tt, s_tt = EFFECTS[("sales_onboarding", "time_to_first_deal")]
    a_tt = np.log(80.0) + rng.normal(0, 0.20, n_teams)
    e_tt = rng.normal(m_tt, s_tt, n_teams)
    new = ae & (hire >= 0)
    trt = (hire >= start_day[team]).astype(int)
    mean_t = np.exp(a_tt[team] + e_tt[team] * trt)
    t = rng.exponential(mean_t)
    follow = np.minimum(term, DATA_END) - hire
    cens = t > follow
    val = np.maximum(np.round(np.where(cens, follow, t), 1), 0.1)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[new], "kpi": "days_to_first_deal",
                              "period": np.array(PERIODS)[_month_of(hire[new])], "value": val[new],
                              "censored": np.where(cens[new], "true", "false")}))
    tr = new & (trt == 1)
    d0, d1 = np.exp(a_tt[team[tr]]), np.exp(a_tt[team[tr]] + e_tt[team[tr]])
    truth["time_to_first_deal"] = dict(
        family="time_to_event", link="log", team_effects={t_: e_tt[t_] for t_ in treated},
        avg_abs=float(np.mean(d1 - d0)), avg_rel=float(np.mean(d1 - d0) / np.mean(d0)),
        extra={"team_intercept_sd": 0.20, "baseline_mean_days": 80.0, "n_new_hires": int(new.sum()),
               "n_treated_hires": int(tr.sum()), "n_censored": int((cens & new).sum())})

    # monthly quota attainment
    m_q, s_q = EFFECTS[("sales_onboarding", "quota_attainment")]
    a_q = rng.normal(0, 6.0, n_teams)
    g_q = rng.normal(0, 3.0, N_MONTHS) + np.linspace(-1.5, 1.5, N_MONTHS)
    e_q = rng.normal(m_q, s_q, n_teams)
    act = _active_matrix(hire, term, MONTH_START[:-1], MONTH_START[1:] - 1) & ae[None, :]
    mm, pp = np.nonzero(act)
    post = (cohort_m[team[pp]] >= 0) & (mm >= cohort_m[team[pp]])
    mu0 = 85.0 + a_q[team[pp]] + g_q[mm]
    y = np.maximum(mu0 + e_q[team[pp]] * post + rng.normal(0, 15.0, len(pp)), 0.0)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[pp], "kpi": "quota_attainment",
                              "period": np.array(PERIODS)[mm], "value": np.round(y, 1)}))
    eff = e_q[team[pp]][post]
    truth["quota_attainment"] = dict(
        family="normal", link="identity", team_effects={t_: e_q[t_] for t_ in treated},
        avg_abs=float(eff.mean()), avg_rel=float(eff.mean() / mu0[post].mean()),
        extra={"team_intercept_sd": 6.0, "period_effect_sd": 3.0, "sigma": 15.0, "mean": 85.0})
    assign = pd.DataFrame({"program_id": "sales_onboarding", "unit_type": "team",
                           "unit_id": H["team_names"][sales_teams],
                           "arm": np.where(cohort_m[sales_teams] >= 0, "treatment", "control"),
                           "start_date": np.where(cohort_m[sales_teams] >= 0,
                                                  _dates(MONTH_START[np.maximum(cohort_m[sales_teams], 0)]), "")})
    design_start = str(_dates([MONTH_START[cohort_m[treated].min()]])[0])
    return rows, truth, assign, start_day, design_start


def _nb(rng, mu, alpha):
    return rng.poisson(rng.gamma(alpha, mu / alpha))


def _support_outcomes(rng, H):
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    sup = np.flatnonzero(np.array(H["depts"])[H["team_dept"]] == "Support")
    order = rng.permutation(sup)
    treated = np.sort(order[: len(sup) // 2])
    is_tr = np.isin(np.arange(n_teams), treated)
    agents = H["role"] == "support_agent"
    act = _active_matrix(hire, term, MONTH_START[:-1], MONTH_START[1:] - 1) & agents[None, :]
    n_ag = np.zeros((N_MONTHS, n_teams), dtype=int)
    for m in range(N_MONTHS):
        n_ag[m] = np.bincount(team[act[m]], minlength=n_teams)
    T, M = np.meshgrid(sup, np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    post = M >= SUPPORT_START_M
    d = (is_tr[T] & post).astype(float)
    rows, truth = [], {}
    per = np.array(PERIODS)[M]
    names = H["team_names"][T]

    m_c, s_c = EFFECTS[("support_upskilling", "csat")]
    a_c, g_c, e_c = rng.normal(0, 0.15, n_teams), rng.normal(0, 0.05, N_MONTHS), rng.normal(m_c, s_c, n_teams)
    mu0 = 4.1 + a_c[T] + g_c[M]
    y = mu0 + e_c[T] * d + rng.normal(0, 0.08, len(T))
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "csat", "period": per,
                              "value": np.round(y, 3)}))
    sel = d == 1
    truth["csat"] = dict(family="normal", link="identity", team_effects={t: e_c[t] for t in treated},
                         avg_abs=float(e_c[T][sel].mean()), avg_rel=float(e_c[T][sel].mean() / mu0[sel].mean()),
                         extra={"team_intercept_sd": 0.15, "period_effect_sd": 0.05, "sigma": 0.08,
                                "mean": 4.1})

    m_e, s_e = EFFECTS[("support_upskilling", "error_count")]
    a_e, g_e, e_e = rng.normal(0, 0.20, n_teams), rng.normal(0, 0.08, N_MONTHS), rng.normal(m_e, s_e, n_teams)
    tickets = rng.poisson(58.0 * n_ag[M, T])
    lr0 = np.log(0.025) + a_e[T] + g_e[M]
    errors = _nb(rng, tickets * np.exp(lr0 + e_e[T] * d), 25.0)
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "tickets", "period": per,
                              "value": tickets.astype(float)}))
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "errors", "period": per,
                              "value": errors.astype(float)}))
    r0, r1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e_e[T][sel])
    truth["error_count"] = dict(family="count", link="log", team_effects={t: e_e[t] for t in treated},
                                avg_abs=float(np.mean(r1 - r0)), avg_rel=float(np.mean(r1 - r0) / np.mean(r0)),
                                extra={"team_intercept_sd": 0.20, "period_effect_sd": 0.08,
                                       "nb_alpha": 25.0, "baseline_rate_per_ticket": 0.025,
                                       "business_unit": "errors per ticket"})
    assign = pd.DataFrame({"program_id": "support_upskilling", "unit_type": "team",
                           "unit_id": H["team_names"][sup], "arm": np.where(is_tr[sup], "treatment", "control"),
                           "start_date": np.where(is_tr[sup], _dates([MONTH_START[SUPPORT_START_M]])[0], "")})
    return rows, truth, assign, treated


def _compliance_outcomes(rng, H):
    n_teams = H["n_teams"]
    treated = []
    for d in range(len(H["depts"])):
        ts = np.flatnonzero(H["team_dept"] == d)
        treated += list(rng.permutation(ts)[: len(ts) // 2])
    treated = np.sort(np.array(treated, dtype=int))
    is_tr = np.isin(np.arange(n_teams), treated)
    mid = MONTH_START[:-1] + 14
    tm = _team_of_at(H, mid)
    act = _active_matrix(H["hire"], H["term"], MONTH_START[:-1], MONTH_START[1:] - 1)
    head = np.zeros((N_MONTHS, n_teams), dtype=int)
    for m in range(N_MONTHS):
        head[m] = np.bincount(tm[m][act[m]], minlength=n_teams)
    T, M = np.meshgrid(np.arange(n_teams), np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    d = (is_tr[T] & (M >= COMPLIANCE_START_M)).astype(float)
    m_v, s_v = EFFECTS[("compliance_training", "violations")]
    a_v, g_v, e_v = rng.normal(0, 0.30, n_teams), rng.normal(0, 0.10, N_MONTHS), rng.normal(m_v, s_v, n_teams)
    lr0 = np.log(0.012) + a_v[T] + g_v[M]
    hc = head[M, T]
    y = _nb(rng, hc * np.exp(lr0 + e_v[T] * d), 8.0)
    per, names = np.array(PERIODS)[M], H["team_names"][T]
    rows = [pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "headcount", "period": per,
                          "value": hc.astype(float)}),
            pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "violations", "period": per,
                          "value": y.astype(float)})]
    sel = d == 1
    r0, r1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e_v[T][sel])
    truth = {"violations": dict(family="count", link="log", team_effects={t: e_v[t] for t in treated},
                                avg_abs=float(np.mean(r1 - r0)), avg_rel=float(np.mean(r1 - r0) / np.mean(r0)),
                                extra={"team_intercept_sd": 0.30, "period_effect_sd": 0.10, "nb_alpha": 8.0,
                                       "baseline_rate_per_employee_month": 0.012,
                                       "business_unit": "violations per employee-month (x100: per 100 employees)"})}
    assign = pd.DataFrame({"program_id": "compliance_training", "unit_type": "team",
                           "unit_id": H["team_names"], "arm": np.where(is_tr, "treatment", "control"),
                           "start_date": np.where(is_tr, _dates([MONTH_START[COMPLIANCE_START_M]])[0], "")})
    return rows, truth, assign, treated


# ---------------------------------------------------------------------------------------------
# skills


def _skills(rng, H, ids):
    n_teams, team_names = H["n_teams"], H["team_names"]
    skills = list(SKILL_LEVEL)
    S = len(skills)
    base = np.array([SKILL_LEVEL[s] for s in skills])[None, :] + rng.normal(0.25, 0.25, (n_teams, S))
    drifting = rng.random((n_teams, S)) < 0.25
    drift = np.where(drifting, -rng.uniform(0.025, 0.06, (n_teams, S)), rng.normal(0, 0.004, (n_teams, S)))
    # rising requirements for some teams (e.g. a product switch) from 2025-01-01
    rising = rng.random((n_teams, S)) < 0.10
    req_rows = [("role", r, s, SKILL_LEVEL[s], "2023-01-01") for r in sorted(ROLE_SKILLS) for s in ROLE_SKILLS[r]]
    # which skills a team has at all
    team_roles = {t: set() for t in range(n_teams)}
    for t, r in zip(H["team"], H["role"]):
        team_roles[int(t)].add(str(r))
    relevant = np.zeros((n_teams, S), dtype=bool)
    for t, roles in team_roles.items():
        for r in roles:
            for s in ROLE_SKILLS[r]:
                relevant[t, skills.index(s)] = True
    rising &= relevant
    for t, j in zip(*np.nonzero(rising)):
        req_rows.append(("team", team_names[t], skills[j], SKILL_LEVEL[skills[j]] + 0.5, "2025-01-01"))
    reqs = pd.DataFrame(req_rows, columns=["scope_type", "scope_id", "skill", "required_level", "effective_date"])

    # quarterly assessments on the 15th of the last month of each quarter
    q_days = MONTH_START[[2, 5, 8, 11, 14, 17, 20, 23]] + 14
    q_months = q_days / 30.4375  # months since 2024-01-01
    tm = _team_of_at(H, q_days)
    act = (H["hire"][None, :] <= q_days[:, None]) & (H["term"][None, :] >= q_days[:, None])
    ability = rng.normal(0, 0.4, (len(H["team"]), S))
    frames = []
    for j, s in enumerate(skills):
        has = np.array([s in ROLE_SKILLS[str(r)] for r in H["role"]])
        qq, pp = np.nonzero(act & has[None, :])
        tt = tm[qq, pp]
        mean = base[tt, j] + drift[tt, j] * q_months[qq]
        prof = np.clip(mean + ability[pp, j] + rng.normal(0, 0.3, len(pp)), 0, 5)
        frames.append(pd.DataFrame({"employee_id": ids[pp], "skill": s, "assessed_at": _dates(q_days[qq]),
                                    "proficiency": np.round(prof, 2)}))
    assess = pd.concat(frames, ignore_index=True)
    now_m = q_months[-1]
    gaps = {}
    for t in range(n_teams):
        g = {}
        for j, s in enumerate(skills):
            if not relevant[t, j]:
                continue
            req = SKILL_LEVEL[s] + (0.5 if rising[t, j] else 0.0)
            mean_now = base[t, j] + drift[t, j] * now_m
            g[s] = {"gap_now": round(float(req - mean_now), 4),
                    "drift_per_month": round(float(-drift[t, j]), 5),
                    "required_level": req, "mean_proficiency_now": round(float(mean_now), 4),
                    "drifting": bool(drifting[t, j]), "requirement_rose": bool(rising[t, j])}
        gaps[str(team_names[t])] = g
    return assess, reqs, gaps


# ---------------------------------------------------------------------------------------------
# xAPI statements


class _Stmts:
    def __init__(self):
        self.parts = []

    def add(self, person, t, verb, obj, name, atype, *, program, score=np.nan, success=-1,
            completion=-1, duration=np.nan, rating=0):
        n = len(person)
        if n == 0:
            return
        b = lambda v: np.broadcast_to(np.asarray(v), (n,))  # noqa: E731
        self.parts.append(pd.DataFrame({
            "person": person, "t": np.asarray(t, dtype=np.int64), "verb": b(verb), "obj": b(obj),
            "name": b(name), "atype": b(atype), "program": program, "score": b(score).astype(float),
            "success": b(success).astype(int), "completion": b(completion).astype(int),
            "duration": b(duration).astype(float), "rating": b(rating).astype(int)}))

    def frame(self):
        return pd.concat(self.parts, ignore_index=True)


def _clock(rng, day):
    """Seconds since BASE at a working-hours time on ``day``."""
    day = np.asarray(day, dtype=np.int64)
    return day * 86400 + 8 * 3600 + rng.integers(0, 9 * 3600, len(day))


def _learning(rng, H, sales_start_day, support_treated, compliance_treated):
    S = _Stmts()
    hire, term, team, role = H["hire"], H["term"], H["team"], H["role"]
    act_type = "http://adlnet.gov/expapi/activities/"

    def quiz(pids, t, obj, name, program, pass_mu, retry=True):
        sc = np.clip(rng.normal(pass_mu, 0.12, len(pids)), 0, 1).round(2)
        ok = sc >= 0.7
        S.add(pids, t, np.where(ok, "passed", "failed"), obj, name, act_type + "assessment",
              program=program, score=sc, success=ok.astype(int), completion=1,
              duration=rng.integers(8, 25, len(pids)))
        if retry and (~ok).any():
            f = ~ok
            sc2 = np.clip(rng.normal(pass_mu + 0.1, 0.1, f.sum()), 0, 1).round(2)
            ok2 = sc2 >= 0.7
            S.add(pids[f], t[f] + 86400 * rng.integers(1, 5, f.sum()), np.where(ok2, "passed", "failed"),
                  obj, name, act_type + "assessment", program=program, score=sc2, success=ok2.astype(int),
                  completion=1, duration=rng.integers(8, 25, f.sum()))

    def rate(pids, t, obj, name, program, mean):
        r = np.clip(np.round(rng.normal(mean, 0.8, len(pids))), 1, 5).astype(int)
        S.add(pids, t, "rated", obj, name, act_type + "course", program=program,
              score=(r - 1) / 4.0, rating=r)

    # manager_coaching: treated managers, 5 sessions from 2024-07-01 over 8 weeks
    prog, pre = "manager_coaching", f"{PREFIX}/manager-coaching"
    mg = H["managers"][H["mgr_arm"] == 1]
    t0 = _clock(rng, COACH_START - rng.integers(3, 14, len(mg)))
    S.add(mg, t0, "registered", f"{pre}/programme", "Manager coaching programme", act_type + "course", program=prog)
    att_n = np.zeros(len(mg), dtype=int)
    for k in range(5):
        go = rng.random(len(mg)) < 0.93
        day = COACH_START + 12 * k + rng.integers(0, 5, len(mg))
        S.add(mg[go], _clock(rng, day[go]), "attended", f"{pre}/session-{k + 1}", f"Coaching session {k + 1}",
              act_type + "meeting", program=prog, completion=1, duration=rng.integers(55, 95, go.sum()))
        att_n += go
    done = att_n >= 4
    tq = _clock(rng, np.full(done.sum(), COACH_START + 56) + rng.integers(0, 10, done.sum()))
    quiz(mg[done], tq, f"{pre}/assessment", "Coaching skills assessment", prog, 0.8)
    S.add(mg[done], tq + 7200, "completed", f"{pre}/programme", "Manager coaching programme",
          act_type + "course", program=prog, completion=1, duration=5 * 75)
    rate(mg[done], tq + 7300, f"{pre}/programme", "Manager coaching programme", prog, 4.2)

    def modules(pids, tstart, prog, pre, n_mod, label, dur, pass_mu, p_drop, progressed=False,
                video=False):
        t = tstart.copy()
        alive = np.ones(len(pids), dtype=bool)
        for k in range(n_mod):
            alive &= rng.random(len(pids)) >= p_drop
            p, tt = pids[alive], t[alive]
            obj, nm = f"{pre}/module-{k + 1:02d}", f"{label} module {k + 1}"
            S.add(p, tt, "launched", obj, nm, act_type + "module", program=prog)
            d = rng.integers(dur[0], dur[1], len(p))
            if video:
                S.add(p, tt + 60, "experienced", f"{obj}/video", f"{nm} video", act_type + "media",
                      program=prog, duration=np.maximum(d // 2, 1))
            if progressed:
                S.add(p, tt + 30 * d, "progressed", obj, nm, act_type + "module", program=prog)
            S.add(p, tt + 60 * d, "completed", obj, nm, act_type + "module", program=prog,
                  completion=1, duration=d)
            quiz(p, tt + 60 * d + 120, f"{obj}/quiz", f"{nm} quiz", prog, pass_mu, retry=False)
            t = t + 86400 * rng.integers(1, 6, len(pids))
        return alive, t

    # sales_onboarding: account executives of treated Sales teams, from the team's start or hire
    prog, pre = "sales_onboarding", f"{PREFIX}/sales-onboarding"
    sd = sales_start_day[team]
    ok = (role == "account_executive") & (sd < 10 ** 8) & (term >= sd) & (hire <= DATA_END)
    pids = np.flatnonzero(ok)
    t0 = _clock(rng, np.maximum(sd[pids], hire[pids]) + rng.integers(0, 10, len(pids)))
    S.add(pids, t0, "registered", f"{pre}/campaign", "Sales onboarding microlearning", act_type + "course", program=prog)
    alive, t = modules(pids, t0 + 3600, prog, pre, 20, "Sales onboarding", (4, 16), 0.78, 0.01)
    rate(pids[alive], t[alive], f"{pre}/campaign", "Sales onboarding microlearning", prog, 3.9)

    # support_upskilling: agents of treated Support teams, from 2025-01-01 or hire
    prog, pre = "support_upskilling", f"{PREFIX}/support-upskilling"
    s0 = MONTH_START[SUPPORT_START_M]
    ok = (role == "support_agent") & np.isin(team, support_treated) & (term >= s0)
    pids = np.flatnonzero(ok)
    t0 = _clock(rng, np.maximum(s0, hire[pids]) + rng.integers(0, 14, len(pids)))
    S.add(pids, t0, "registered", f"{pre}/course", "Support upskilling course", act_type + "course", program=prog)
    alive, t = modules(pids, t0 + 3600, prog, pre, 8, "Support upskilling", (20, 50), 0.75, 0.02,
                       progressed=True)
    quiz(pids[alive], t[alive], f"{pre}/final-assessment", "Support upskilling final assessment", prog, 0.76)
    rate(pids[alive], t[alive] + 7200, f"{pre}/course", "Support upskilling course", prog, 4.0)

    # compliance_training: everybody in treated teams, from 2025-04-01 or hire
    prog, pre = "compliance_training", f"{PREFIX}/compliance-2025"
    c0 = MONTH_START[COMPLIANCE_START_M]
    ok = np.isin(team, compliance_treated) & (term >= c0)
    pids = np.flatnonzero(ok)
    t0 = _clock(rng, np.maximum(c0, hire[pids]) + rng.integers(0, 30, len(pids)))
    S.add(pids, t0, "registered", f"{pre}/course", "Compliance 2025", act_type + "course", program=prog)
    alive, t = modules(pids, t0 + 3600, prog, pre, 6, "Compliance", (8, 20), 0.82, 0.015, video=True)
    quiz(pids[alive], t[alive], f"{pre}/final-quiz", "Compliance final quiz", prog, 0.8)
    S.add(pids[alive], t[alive] + 3 * 86400, "completed", f"{pre}/course", "Compliance 2025",
          act_type + "course", program=prog, completion=1)
    rate(pids[alive], t[alive] + 3 * 86400 + 60, f"{pre}/course", "Compliance 2025", prog, 3.4)

    df = S.frame()
    # nothing after leaving or after the end of the data
    last = np.minimum(H["term"][df["person"].to_numpy()], DATA_END) * 86400 + 86399
    df = df[df["t"].to_numpy() <= last]
    df = df.sort_values(["t", "person", "verb", "obj"], kind="mergesort").reset_index(drop=True)
    return df


def _iso_duration(minutes) -> str:
    m = int(minutes)
    h, mm = divmod(m, 60)
    return f"PT{h}H{mm}M" if h and mm else (f"PT{h}H" if h else f"PT{mm}M")


def _write_xapi(rng, df, H, ids, path: Path):
    n_people = len(ids)
    kind = rng.choice(3, n_people, p=[0.90, 0.06, 0.04])  # account, mbox, legacy account
    first = np.array(FIRST)[rng.integers(0, len(FIRST), n_people)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n_people)]
    stmt_ids = _uuids(rng, len(df))
    reg_key = df["person"].astype(str) + "|" + df["program"]
    uniq = pd.unique(reg_key)
    reg_uuid = dict(zip(uniq, _uuids(rng, len(uniq))))
    ts = np.datetime_as_string(BASE.astype("datetime64[s]") + df["t"].to_numpy().astype("timedelta64[s]"),
                               unit="s")
    actor_rows = []
    used = set()

    def actor(p):
        k = kind[p]
        if k == 0:
            return {"objectType": "Agent", "account": {"homePage": HOME, "name": ids[p]}}
        if k == 1:
            mbox = f"mailto:{first[p].lower()}.{last[p].lower()}.{ids[p][1:]}@example.com"
            if p not in used:
                actor_rows.append((mbox, ids[p]))
                used.add(p)
            return {"objectType": "Agent", "name": f"{first[p]} {last[p]}", "mbox": mbox}
        name = f"u{int(ids[p][1:]) * 7 + 1000:06d}"
        if p not in used:
            actor_rows.append((f"{LEGACY_HOME}|{name}", ids[p]))
            used.add(p)
        return {"objectType": "Agent", "account": {"homePage": LEGACY_HOME, "name": name}}

    cols = [df[c].to_numpy() for c in ("person", "verb", "obj", "name", "atype", "score", "success",
                                        "completion", "duration", "rating")]
    keys = reg_key.to_numpy()
    lines = []
    for i, (p, verb, obj, name, atype, score, succ, comp, dur, rating) in enumerate(zip(*cols)):
        st = {"id": stmt_ids[i], "actor": actor(int(p)),
              "verb": {"id": VERB + verb, "display": {"en-US": verb}},
              "object": {"objectType": "Activity", "id": obj,
                         "definition": {"name": {"en-US": name}, "type": atype}}}
        res = {}
        if rating:
            res["score"] = {"scaled": round(float(score), 4), "raw": int(rating), "min": 1, "max": 5}
        elif score == score:
            res["score"] = {"scaled": round(float(score), 4), "raw": int(round(score * 100)),
                            "min": 0, "max": 100}
        if succ >= 0:
            res["success"] = bool(succ)
        if comp >= 0:
            res["completion"] = bool(comp)
        if dur == dur:
            res["duration"] = _iso_duration(dur)
        if res:
            st["result"] = res
        st["context"] = {"registration": reg_uuid[keys[i]], "platform": "Example LMS",
                         "language": "en-US"}
        st["timestamp"] = ts[i] + "Z"
        st["version"] = "1.0.3"
        lines.append(json.dumps(st, separators=(",", ":")))
    _write(path, "\n".join(lines) + "\n")
    amap = pd.DataFrame(actor_rows, columns=["actor", "employee_id"]).sort_values("employee_id")
    return amap, len(lines)


# ---------------------------------------------------------------------------------------------
# programs.yaml


def _programs_yaml(sales_start: str) -> str:
    return f"""\
# The example organisation's training programs (written by lndbayes.data.simulate).
# value_per_unit: currency per ONE unit of the outcome, always positive. The business value of an
# effect is effect (outcome units) x value_per_unit x people or units, counted as a gain when the
# outcome moves in `direction` (e.g. attrition: 45000 per leaver avoided, so -0.04 x 100 reports
# x 45000 = a gain of 180000).
organisation:
  name: Example Co
  currency: EUR
  privacy_min_group: 5
programs:
  - id: manager_coaching
    name: First-line manager coaching
    alignment:
      organisational_goal: Keep and grow our people
      department_kpi: 12-month attrition of direct reports
      campaign: Better first-line managers 2024
      products: [Five-session coaching programme, Coaching skills assessment]
    population:
      role: [manager]
    program:
      type: coaching
      sessions: 5
      duration_weeks: 8
      cost_per_participant: 1800
      fixed_cost: 20000
      lms_activity_prefix: {PREFIX}/manager-coaching
      skills: [coaching, feedback]
    design:
      type: randomized
      unit: employee
      start: 2024-07-01
    outcomes:
      - id: attrition_12m
        kpi: attrition
        family: binary
        level: 4
        direction: decrease
        measured_on: direct_reports
        window_months: 12
        value_per_unit: 45000       # replacement cost per leaver avoided
        unit_label: percentage points
      - id: promotion_readiness
        kpi: promotion_ready
        family: binary
        level: 3
        direction: increase
        measured_on: direct_reports
        window_months: 12
        value_per_unit: 5000        # value of one more promotion-ready report
        unit_label: percentage points
      - id: engagement
        kpi: engagement
        family: ordinal
        level: 3
        direction: increase
        measured_on: direct_reports
        window_months: 12
        unit_label: score points (1-5)
    target: {{outcome: attrition_12m, relative_change: -0.15, description: "Reduce 12-month attrition of reports by 15%"}}

  - id: sales_onboarding
    name: Sales onboarding microlearning campaign
    alignment:
      organisational_goal: Grow revenue
      department_kpi: Quota attainment
      campaign: Faster ramp-up of new account executives
      products: [Twenty microlearning modules, Module quizzes]
    population:
      department: [Sales]
    program:
      type: microlearning
      sessions: 20
      duration_weeks: 6
      cost_per_participant: 250
      fixed_cost: 40000
      lms_activity_prefix: {PREFIX}/sales-onboarding
      skills: [negotiation, product_knowledge]
    design:
      type: staggered
      unit: team
      start: {sales_start}
    outcomes:
      - id: time_to_first_deal
        kpi: days_to_first_deal
        family: time_to_event
        level: 4
        direction: decrease
        measured_on: participants
        window_months: 12
        value_per_unit: 400         # gross margin per day a new hire closes sooner
        unit_label: days
      - id: quota_attainment
        kpi: quota_attainment
        family: normal
        level: 4
        direction: increase
        measured_on: participants
        window_months: 12
        value_per_unit: 900         # margin per percentage point of quota per person-month
        unit_label: "% of quota"
    target: {{outcome: quota_attainment, absolute_change: 3.0, description: "Raise quota attainment by 3 points"}}

  - id: support_upskilling
    name: Support upskilling course
    alignment:
      organisational_goal: Customers who stay
      department_kpi: CSAT and cost of errors
      campaign: Fewer errors in support
      products: [Eight troubleshooting modules, Final assessment]
    population:
      department: [Support]
    program:
      type: course
      sessions: 8
      duration_weeks: 4
      cost_per_participant: 600
      fixed_cost: 15000
      lms_activity_prefix: {PREFIX}/support-upskilling
      skills: [troubleshooting, product_knowledge]
    design:
      type: pre_post
      unit: team
      start: 2025-01-01
    outcomes:
      - id: csat
        kpi: csat
        family: normal
        level: 4
        direction: increase
        measured_on: team
        unit_label: CSAT points (1-5)
      - id: error_count
        kpi: errors
        family: count
        level: 4
        direction: decrease
        measured_on: team
        exposure: tickets
        value_per_unit: 120         # cost of one error (rework, credits)
        unit_label: errors per ticket
    target: {{outcome: error_count, relative_change: -0.15, description: "Cut errors per ticket by 15%"}}

  - id: compliance_training
    name: Compliance training 2025
    alignment:
      organisational_goal: Operate safely and lawfully
      department_kpi: Compliance violations per 100 employees
      campaign: Compliance 2025
      products: [Six e-learning modules, Final quiz]
    population:
      department: [Sales, Support, Engineering, Operations, Finance, People]
    program:
      type: elearning
      sessions: 6
      duration_weeks: 4
      cost_per_participant: 80
      fixed_cost: 30000
      lms_activity_prefix: {PREFIX}/compliance-2025
      skills: [compliance]
    design:
      type: pre_post
      unit: team
      start: 2025-04-01
    outcomes:
      - id: violations
        kpi: violations
        family: count
        level: 4
        direction: decrease
        measured_on: team
        exposure: headcount
        value_per_unit: 2500        # cost of one violation avoided
        unit_label: violations per employee-month
    target: {{outcome: violations, relative_change: -0.20, description: "Reduce violations per 100 employees by 20%"}}
"""


# ---------------------------------------------------------------------------------------------
# the entry point


def _write(path: Path, text: str) -> None:
    """Write atomically: an interrupted run never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _csv(df: pd.DataFrame, path: Path):
    _write(path, df.to_csv(index=False, lineterminator="\n"))


def simulate_org(out_dir: Path, *, seed: int = 0, n_employees: int = 2000) -> Path:
    """Write the example organisation's raw files into ``out_dir`` and truth.json beside it.

    Returns ``out_dir``. Same ``seed`` and ``n_employees`` give byte-identical files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    H = _simulate_hris(rng, int(n_employees))
    n = len(H["team"])
    ids = np.array([f"E{10001 + i:05d}" for i in range(n)], dtype=object)
    team_names = H["team_names"]

    mgr = H["manager"]
    emp = pd.DataFrame({
        "employee_id": ids, "team": team_names[H["team"]],
        "department": np.array(H["depts"])[H["team_dept"][H["team"]]], "role": H["role"],
        "manager_id": np.where(mgr >= 0, ids[np.maximum(mgr, 0)], ""),
        "hire_date": _dates(H["hire"]),
        "termination_date": np.where(np.isfinite(H["term"]), _dates(np.where(np.isfinite(H["term"]), H["term"], 0)), ""),
        "termination_reason": H["reason"], "level": H["level"].astype(int)})
    ev = H["events"]
    hris = pd.DataFrame({"employee_id": ids[ev["i"].to_numpy()], "event_date": _dates(ev["day"].to_numpy()),
                         "event_type": ev["event_type"], "from_value": ev["from_value"],
                         "to_value": ev["to_value"]}).sort_values(["event_date", "employee_id", "event_type"])

    truth_outcomes: dict[str, dict] = {}
    kpi_rows, t_coach = _coaching_outcomes(rng, H, ids)
    truth_outcomes["manager_coaching"] = t_coach
    rows, t_sales, a_sales, sales_start_day, sales_start = _sales_outcomes(rng, H, ids)
    kpi_rows += rows
    truth_outcomes["sales_onboarding"] = t_sales
    rows, t_sup, a_sup, sup_treated = _support_outcomes(rng, H)
    kpi_rows += rows
    truth_outcomes["support_upskilling"] = t_sup
    rows, t_comp, a_comp, comp_treated = _compliance_outcomes(rng, H)
    kpi_rows += rows
    truth_outcomes["compliance_training"] = t_comp
    kpis = pd.concat(kpi_rows, ignore_index=True)
    kpis["censored"] = kpis["censored"].fillna("false")
    kpis = kpis.sort_values(["kpi", "entity_type", "entity_id", "period"], kind="mergesort")

    mg = H["managers"]
    a_coach = pd.DataFrame({"program_id": "manager_coaching", "unit_type": "employee", "unit_id": ids[mg],
                            "arm": np.where(H["mgr_arm"] == 1, "treatment", "control"),
                            "start_date": np.where(H["mgr_arm"] == 1, "2024-07-01", "")})
    assign = pd.concat([a_coach, a_sales, a_sup, a_comp], ignore_index=True).sort_values(
        ["program_id", "unit_type", "unit_id"], kind="mergesort")

    assess, reqs, gaps = _skills(rng, H, ids)
    assess = assess.sort_values(["employee_id", "skill", "assessed_at"], kind="mergesort")
    reqs = reqs.sort_values(["scope_type", "scope_id", "skill", "effective_date"], kind="mergesort")

    stmts = _learning(rng, H, sales_start_day, sup_treated, comp_treated)
    amap, n_stmts = _write_xapi(rng, stmts, H, ids, out_dir / "xapi" / "statements.jsonl")

    _csv(emp, out_dir / "employees.csv")
    _csv(hris, out_dir / "hris_events.csv")
    _csv(amap, out_dir / "actor_map.csv")
    _csv(assign, out_dir / "assignments.csv")
    _csv(kpis, out_dir / "kpis.csv")
    _csv(assess, out_dir / "skill_assessments.csv")
    _csv(reqs, out_dir / "skill_requirements.csv")
    _write(out_dir / "programs.yaml", _programs_yaml(sales_start))

    designs = {"manager_coaching": "randomized", "sales_onboarding": "staggered",
               "support_upskilling": "pre_post", "compliance_training": "pre_post"}
    programs = {}
    for pid, outs in truth_outcomes.items():
        o_out = {}
        for oid, t in outs.items():
            m, s = EFFECTS[(pid, oid)]
            te = t["team_effects"]
            if isinstance(te, dict):
                te = {str(team_names[k]): round(float(v), 5) for k, v in sorted(te.items())}
                scope = "treated teams (the only teams whose effect is realised)"
            else:
                te = {str(team_names[k]): round(float(v), 5) for k, v in enumerate(te)}
                scope = "all teams (every team has both arms)"
            o_out[oid] = {"family": t["family"], "link": t["link"], "effect_mean": m, "effect_sd_team": s,
                          "team_effects": te, "team_effects_scope": scope,
                          "effect_mean_realised": round(float(np.mean(list(te.values()))), 5),
                          "average_effect_abs": round(t["avg_abs"], 6),
                          "average_effect_rel": round(t["avg_rel"], 6), **t["extra"]}
        programs[pid] = {"design": designs[pid], "outcomes": o_out}
    truth = {"seed": int(seed), "n_employees": int(n_employees), "n_employee_records": int(n),
             "n_teams": int(H["n_teams"]), "periods": [PERIODS[0], PERIODS[-1]],
             "n_xapi_statements": int(n_stmts), "programs": programs, "skill_gaps": gaps,
             "skill_gaps_note": "gap_now = required level - true team mean proficiency on the last "
                                "assessment date (2025-12-15); drift_per_month = monthly growth of "
                                "the gap (minus the proficiency drift)"}
    _write(out_dir.parent / "truth.json", json.dumps(truth, indent=2) + "\n")
    return out_dir


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="write the built-in example organisation's raw files",
                              description="Simulate the example organisation (raw files + truth.json).")
    p.add_argument("--out", type=Path, default=None,
                   help="the raw/ folder to write (default: data/synthetic/raw); truth.json goes beside it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--employees", type=int, default=2000, help="head count on 2024-01-01")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from lndbayes.paths import EXAMPLE_ROOT

    out = args.out if args.out is not None else EXAMPLE_ROOT / "raw"
    t0 = time.perf_counter()
    simulate_org(out, seed=args.seed, n_employees=args.employees)
    print(f"wrote the example organisation to {out} (seed {args.seed}, "
          f"{args.employees} employees) in {time.perf_counter() - t0:.1f} s; truth: {Path(out).parent / 'truth.json'}")
    return 0
