"""Skill requirements and quarterly skill assessments, and the true skill gaps behind them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.example.people import team_of_at
from lndbayes.example.world import MONTH_START, ROLE_SKILLS, SKILL_LEVEL, dates


def simulate_skills(rng, H, ids):
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
    tm = team_of_at(H, q_days)
    act = (H["hire"][None, :] <= q_days[:, None]) & (H["term"][None, :] >= q_days[:, None])
    ability = rng.normal(0, 0.4, (len(H["team"]), S))
    frames = []
    for j, s in enumerate(skills):
        has = np.array([s in ROLE_SKILLS[str(r)] for r in H["role"]])
        qq, pp = np.nonzero(act & has[None, :])
        tt = tm[qq, pp]
        mean = base[tt, j] + drift[tt, j] * q_months[qq]
        prof = np.clip(mean + ability[pp, j] + rng.normal(0, 0.3, len(pp)), 0, 5)
        frames.append(pd.DataFrame({"employee_id": ids[pp], "skill": s, "assessed_at": dates(q_days[qq]),
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
