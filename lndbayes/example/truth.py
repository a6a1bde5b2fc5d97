"""truth.json: what the example organisation was drawn from, for checking what the models recover."""

from __future__ import annotations

import numpy as np

from lndbayes.example.world import EFFECTS, PERIODS

#: each program's design, as its programs.yaml entry says
DESIGNS = {"manager_coaching": "randomized", "sales_onboarding": "staggered",
           "support_upskilling": "pre_post", "compliance_training": "pre_post",
           "lean_workshop": "pre_post"}

#: what each program of the example is there to show (the truth behind the portfolio's answers)
NOTES = {"lean_workshop": "no effect: the true effect is 0 in every team (the program to stop)",
         "support_upskilling": "works, but its agreed target is beyond its true average effect "
                               "(the program to iterate on)"}


def target_truth(target: dict | None, outcomes: dict) -> dict | None:
    """The agreed target (programs.yaml) next to the true average effect on the target's scale."""
    if not target or target.get("outcome") not in outcomes:
        return None
    rel = target.get("relative_change")
    scale = "average_effect_rel" if rel is not None else "average_effect_abs"
    value = float(rel if rel is not None else target["absolute_change"])
    true = outcomes[target["outcome"]][scale]
    meets = true <= value if value < 0 else true >= value  # a target is an improvement: its sign is the good way
    return {"outcome": target["outcome"], "scale": scale, "target": value, "true_average_effect": true,
            "true_effect_meets_target": bool(meets), "description": target.get("description")}


def truth_record(truth_outcomes: dict, H: dict, *, seed: int, n_employees: int, n_stmts: int,
                 gaps: dict, kirkpatrick: dict | None = None, targets: dict | None = None) -> dict:
    """The content of truth.json from the per-outcome truths the KPI simulators returned;
    ``targets``: {program id: its programs.yaml target}, recorded next to the true effect."""
    team_names = H["team_names"]
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
        programs[pid] = {"design": DESIGNS[pid], "outcomes": o_out,
                         "target": target_truth((targets or {}).get(pid), o_out)}
        if pid in NOTES:
            programs[pid]["note"] = NOTES[pid]
    chains = {kirkpatrick["program_id"]: kirkpatrick} if kirkpatrick else {}
    return {"seed": int(seed), "n_employees": int(n_employees), "n_employee_records": int(len(H["team"])),
            "n_teams": int(H["n_teams"]), "periods": [PERIODS[0], PERIODS[-1]],
            "n_xapi_statements": int(n_stmts), "programs": programs, "skill_gaps": gaps,
            "skill_gaps_note": "gap_now = required level - true team mean proficiency on the last "
                               "assessment date (2025-12-15); drift_per_month = monthly growth of "
                               "the gap (minus the proficiency drift)",
            "kirkpatrick": chains}
