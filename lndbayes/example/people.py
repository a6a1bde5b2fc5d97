"""People and their HRIS history: teams, managers, hires, leavers (with the coaching effect on
attrition), promotions and transfers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.example.world import (
    COACH_END,
    COACH_START,
    DATA_END,
    DEPARTMENTS,
    EFFECTS,
    logit,
)
from lndbayes.models.families import expit


def _round_shares(shares, total) -> np.ndarray:
    raw = np.asarray(shares) / np.sum(shares) * total
    out = np.maximum(np.floor(raw).astype(int), 1)
    while out.sum() < total:
        out[np.argmax(raw - out)] += 1
    while out.sum() > total:
        out[np.argmax(out - raw)] -= 1
    return out


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


def simulate_hris(rng, n_employees):
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
    alpha_att = logit(dept_rate) + rng.normal(0, 0.25, n_teams)
    m_att, s_att = EFFECTS[("manager_coaching", "attrition_12m")]
    eff_att = rng.normal(m_att, s_att, n_teams)
    hazard = -np.log1p(-expit(alpha_att)) / 365.25  # per day
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
        p = expit(alpha_att[team] + eff_att[team] * arm)
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


def active_matrix(hire, term, lo_days, hi_days):
    """[k, n] bool: employed at some point in [lo, hi] (inclusive days)."""
    return (hire[None, :] <= np.asarray(hi_days)[:, None]) & (term[None, :] >= np.asarray(lo_days)[:, None])


def team_of_at(H, days):
    """Team of each person at each day (handles transfers): [k, n]."""
    tm = np.broadcast_to(H["team"], (len(days), len(H["team"]))).copy()
    for i, (_, old, d0, d1) in H["transfer_from"].items():
        for j, d in enumerate(days):
            if d <= d1:
                tm[j, i] = old
    return tm
