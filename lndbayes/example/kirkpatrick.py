r"""The Kirkpatrick chain of manager_coaching: learning (L2), behaviour (L3), results (L4) per
first-line manager, with a known indirect effect (lndbayes.mediation.kirkpatrick_chain).

Three employee KPIs in kpis.csv, one per level, for every first-line manager (both arms; the
units of manager_coaching, randomized within teams, program start 2024-07 = month 6):

* ``coaching_assessment`` (L2, 0..100): a coaching skills assessment every manager takes in
  2024-06 (baseline :math:`B_2`) and 2024-09, after the eight-week program (:math:`L_2`).
* ``coaching_conversations`` (L3): coaching conversations with direct reports logged per month,
  2024-01..2025-12, Poisson with a rate per manager; :math:`L_3` is the mean over the analysis
  window 2024-07..2025-06 (12 months), :math:`B_3` the mean over 2024-01..2024-06.
* ``team_goal_attainment`` (L4, %): monthly share of the manager's team goals met,
  2024-01..2025-12; :math:`Y` and :math:`B_4` are its window and baseline means.

The structural model (sequential ignorability holds given the baselines and the team: no other
common cause of the levels):

.. math::

    L_2 &= 60 + u_{2,j} + 0.6 (B_2 - 60) + a_2 T + e_2, \quad e_2 \sim N(0, 6) \\
    \lambda &= 4 + u_{3,j} + 0.6 (B_3 - 4) + a_3 T + d_{32} (L_2 - 60) + e_3,
        \quad e_3 \sim N(0, 0.6),\ \text{monthly counts} \sim \mathrm{Poisson}(\lambda) \\
    y_{m} &= 75 + u_{4,j} + 0.6 (B_4 - 75) + c' T + b_{43} (L_3 - 4) + b_{42} (L_2 - 60) + e_4
        + \epsilon_m, \quad e_4 \sim N(0, 3),\ \epsilon_m \sim N(0, 6)

:math:`L_3` in the outcome equation is the *realised* window mean of the logged counts (the
behaviour that happened drives the results), so the mediator is measured without error. The
indirect paths: :math:`T \to L_2 \to L_3 \to Y = a_2 d_{32} b_{43}`, :math:`T \to L_2 \to Y =
a_2 b_{42}`, :math:`T \to L_3 \to Y = a_3 b_{43}`; total indirect their sum, direct :math:`c'`.

Drawn from its own stream, ``numpy.random.default_rng([seed, STREAM])``, after everything
else: the rest of the example is byte-identical with or without these rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.example.world import COACH_START, N_MONTHS, PERIODS, month_of

#: the seed sequence's second word: this generator's own random stream
STREAM = 0x4B50

#: the true structural coefficients
TRUE = {"a_learning": 8.0,                  # T -> L2 (assessment points)
        "a_behaviour": 0.6,                 # T -> L3, not through L2 (conversations / month)
        "d_behaviour_learning": 0.08,       # L2 -> L3 (conversations / month per point)
        "b_learning": 0.10,                 # L2 -> L4 (goal-attainment points per point)
        "b_behaviour": 2.5,                 # L3 -> L4 (points per conversation / month)
        "c_prime": 1.0}                     # T -> L4 directly (points)
KPIS = {"learning": "coaching_assessment", "behaviour": "coaching_conversations",
        "results": "team_goal_attainment"}
WINDOW_MONTHS = 12


def chain_truth() -> dict:
    """truth.json's record of the chain: coefficients, path effects, indirect, direct, total."""
    t = TRUE
    paths = {"T -> learning -> behaviour -> results": t["a_learning"] * t["d_behaviour_learning"] * t["b_behaviour"],
             "T -> learning -> results": t["a_learning"] * t["b_learning"],
             "T -> behaviour -> results": t["a_behaviour"] * t["b_behaviour"]}
    indirect = sum(paths.values())
    total = indirect + t["c_prime"]
    r = lambda v: round(float(v), 6)  # noqa: E731
    return {"program_id": "manager_coaching", "kpis": dict(KPIS), "window_months": WINDOW_MONTHS,
            "unit": "first-line manager (both arms)", "coefficients": dict(t),
            "paths": {k: r(v) for k, v in paths.items()}, "indirect": r(indirect),
            "direct": r(t["c_prime"]), "total": r(total),
            "proportion_mediated": r(indirect / total),
            "units_of_effects": "team_goal_attainment points (% of goals met)",
            "note": "structural coefficients of the data-generating model (lndbayes.example."
                    "kirkpatrick); sequential ignorability holds given the three baselines and "
                    "the team"}


def kirkpatrick_rows(seed: int, H: dict, ids: np.ndarray) -> tuple[list, dict]:
    """kpis.csv rows of the three levels for every first-line manager, and the chain's truth."""
    rng = np.random.default_rng([int(seed), STREAM])
    t = TRUE
    mg = H["managers"]
    n = len(mg)
    team = H["team"][mg]
    T = H["mgr_arm"].astype(float)
    n_teams = H["n_teams"]
    m0 = int(month_of(COACH_START))                      # 6: 2024-07
    win = np.arange(m0, m0 + WINDOW_MONTHS)
    pre = np.arange(0, m0)
    per = np.array(PERIODS)

    # L2: assessment in 2024-06 (baseline) and 2024-09
    u2 = rng.normal(0, 3.0, n_teams)
    b2 = np.clip(60 + u2[team] + rng.normal(0, 8.0, n), 0, 100).round(1)
    l2 = np.clip(60 + u2[team] + 0.6 * (b2 - 60) + t["a_learning"] * T + rng.normal(0, 6.0, n),
                 0, 100).round(1)
    # L3: monthly coaching conversations
    u3 = rng.normal(0, 0.3, n_teams)
    lam_pre = np.maximum(4 + u3[team] + rng.normal(0, 1.0, n), 0.3)
    c_pre = rng.poisson(lam_pre[:, None], (n, len(pre)))
    b3 = c_pre.mean(axis=1)
    lam = np.maximum(4 + u3[team] + 0.6 * (b3 - 4) + t["a_behaviour"] * T
                     + t["d_behaviour_learning"] * (l2 - 60) + rng.normal(0, 0.6, n), 0.3)
    c_post = rng.poisson(lam[:, None], (n, N_MONTHS - m0))
    l3 = c_post[:, : len(win)].mean(axis=1)             # the realised behaviour in the window
    # L4: monthly team goal attainment
    u4 = rng.normal(0, 4.0, n_teams)
    q = rng.normal(0, 5.0, n)
    y_pre = 75 + u4[team][:, None] + q[:, None] + rng.normal(0, 6.0, (n, len(pre)))
    b4 = y_pre.round(1).mean(axis=1)
    mu4 = (75 + u4[team] + 0.6 * (b4 - 75) + t["c_prime"] * T + t["b_behaviour"] * (l3 - 4)
           + t["b_learning"] * (l2 - 60) + rng.normal(0, 3.0, n))
    y_post = mu4[:, None] + rng.normal(0, 6.0, (n, N_MONTHS - m0))

    eid = ids[mg]
    rows = [
        pd.DataFrame({"entity_type": "employee", "entity_id": np.concatenate([eid, eid]),
                      "kpi": KPIS["learning"], "period": ["2024-06"] * n + ["2024-09"] * n,
                      "value": np.concatenate([b2, l2])}),
        pd.DataFrame({"entity_type": "employee", "entity_id": np.repeat(eid, N_MONTHS),
                      "kpi": KPIS["behaviour"], "period": np.tile(per, n),
                      "value": np.concatenate([c_pre, c_post], axis=1).ravel().astype(float)}),
        pd.DataFrame({"entity_type": "employee", "entity_id": np.repeat(eid, N_MONTHS),
                      "kpi": KPIS["results"], "period": np.tile(per, n),
                      "value": np.concatenate([y_pre, y_post], axis=1).round(1).ravel()}),
    ]
    truth = chain_truth()
    truth["n_managers"] = int(n)
    truth["n_treated"] = int(T.sum())
    return rows, truth
