"""Skill requirements and quarterly skill assessments, and the true skill gaps behind them.

Planted gaps are few and material, so that "each planted gap ranks in the top quarter of all
team x skill pairs" (issue #14) is a fair test: about 8% of team x skill pairs decline and about
5% get a higher requirement on 2025-01-01 (a new product), together ~12% of the pairs. Each
planted gap ends ``g ~ U(0.8, 1.4)`` points below its requirement on the last assessment date
(2025-12-15): a declining pair's monthly drift is chosen to reach that gap from the team's
starting level; a rising requirement goes to the quarter point at or above the team's mean then
plus ``g``. Every other pair only wobbles (drift ~ N(0, 0.004) a month) around a starting level
0.25 +- 0.25 above the requirement, so some fall a little short by chance: truth.json records
those as *incidental* shortfalls (``planted`` false, ``gap_now`` > 0), apart from the planted ones.

The random draws are the same in number and order as before the gaps were resized (only
thresholds and magnitudes changed), so every other file of the example is byte-identical.
(Until session 12 the range was 0.6-1.2: the smallest planted gap, 0.64, sat 0.08 above the
largest incidental shortfall, and at seed 0 the forecast ranked it exactly at the edge of the
top quarter, 69 or 70 of 69 depending on bit-level differences in the draws.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.example.people import team_of_at
from lndbayes.example.world import MONTH_START, ROLE_SKILLS, SKILL_LEVEL, dates

P_DECLINE = 0.08       # share of team x skill pairs whose proficiency declines into a gap
P_RISE = 0.05          # share whose requirement rises on RISE_DATE
GAP_RANGE = (0.8, 1.4)  # planted gap on the last assessment date, points on the 0-5 scale
RISE_DATE = "2025-01-01"


def simulate_skills(rng, H, ids):
    n_teams, team_names = H["n_teams"], H["team_names"]
    skills = list(SKILL_LEVEL)
    S = len(skills)
    base = np.array([SKILL_LEVEL[s] for s in skills])[None, :] + rng.normal(0.25, 0.25, (n_teams, S))
    offset = base - np.array([SKILL_LEVEL[s] for s in skills])[None, :]
    drifting = rng.random((n_teams, S)) < P_DECLINE
    # the same draws as ever (a uniform and a normal per pair), read as the planted gap's size
    g = rng.uniform(*GAP_RANGE, (n_teams, S))
    wobble = rng.normal(0, 0.004, (n_teams, S))
    # rising requirements for some teams (e.g. a product switch) from RISE_DATE
    rising = rng.random((n_teams, S)) < P_RISE
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
    drifting &= relevant
    # quarterly assessments on the 15th of the last month of each quarter
    q_days = MONTH_START[[2, 5, 8, 11, 14, 17, 20, 23]] + 14
    q_months = q_days / 30.4375  # months since 2024-01-01
    now_m = q_months[-1]
    # a declining pair reaches gap g to its base requirement on the last assessment date
    drift = np.where(drifting, -(offset + g) / now_m, wobble)
    mean_now = base + drift * now_m
    rise_to = np.minimum(np.ceil((mean_now + g) * 4) / 4, 5.0)   # a quarter point, at least g above
    req = np.array([SKILL_LEVEL[s] for s in skills])[None, :] + np.zeros((n_teams, S))
    req = np.where(rising, np.maximum(rise_to, req), req)
    for t, j in zip(*np.nonzero(rising)):
        req_rows.append(("team", team_names[t], skills[j], float(req[t, j]), RISE_DATE))
    reqs = pd.DataFrame(req_rows, columns=["scope_type", "scope_id", "skill", "required_level", "effective_date"])

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
    gaps = {}
    for t in range(n_teams):
        row = {}
        for j, s in enumerate(skills):
            if not relevant[t, j]:
                continue
            gap = float(req[t, j] - mean_now[t, j])
            planted = bool(drifting[t, j] or rising[t, j])
            row[s] = {"gap_now": round(gap, 4),
                      "drift_per_month": round(float(-drift[t, j]), 5),
                      "required_level": float(req[t, j]), "mean_proficiency_now": round(float(mean_now[t, j]), 4),
                      "drifting": bool(drifting[t, j]), "requirement_rose": bool(rising[t, j]),
                      "planted": planted, "incidental_shortfall": bool(not planted and gap > 0)}
        gaps[str(team_names[t])] = row
    return assess, reqs, gaps
