"""The LMS's records: who registered, attended, completed, passed and rated what and when,
written as xAPI 1.0.3 statements (JSON lines) with the actor map the ingestion needs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lndbayes import atomic
from lndbayes.example.world import (
    BASE,
    COACH_START,
    COMPLIANCE_START_M,
    DATA_END,
    FIRST,
    HOME,
    LAST,
    LEAN_START_M,
    LEGACY_HOME,
    MONTH_START,
    PREFIX,
    SUPPORT_START_M,
    VERB,
    uuids,
)


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


def learning_statements(rng, H, sales_start_day, support_treated, compliance_treated):
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

    return _finish(S.frame(), H)


def _finish(df, H):
    """Nothing after leaving or after the end of the data; in time order."""
    last = np.minimum(H["term"][df["person"].to_numpy()], DATA_END) * 86400 + 86399
    df = df[df["t"].to_numpy() <= last]
    return df.sort_values(["t", "person", "verb", "obj"], kind="mergesort").reset_index(drop=True)


def lean_statements(rng, H, treated, stmts):
    """``stmts`` with lean_workshop's records added: everybody in a treated Operations team
    registers, attends the two workshop days (most both) and rates it highly (reaction is no
    evidence of results: its true effect on errors is zero)."""
    S = _Stmts()
    act_type = "http://adlnet.gov/expapi/activities/"
    prog, pre = "lean_workshop", f"{PREFIX}/lean-workshop"
    w0 = MONTH_START[LEAN_START_M]
    pids = np.flatnonzero(np.isin(H["team"], treated) & (H["term"] >= w0) & (H["hire"] <= w0))
    day = w0 + rng.integers(0, 21, len(pids))
    S.add(pids, _clock(rng, day - rng.integers(3, 10, len(pids))), "registered", f"{pre}/workshop",
          "Lean process workshop", act_type + "course", program=prog)
    days = np.zeros(len(pids), dtype=int)
    for k in range(2):
        go = rng.random(len(pids)) < 0.95
        S.add(pids[go], _clock(rng, day[go] + k), "attended", f"{pre}/day-{k + 1}", f"Lean workshop day {k + 1}",
              act_type + "meeting", program=prog, completion=1, duration=np.full(go.sum(), 7 * 60))
        days += go
    done = days == 2
    t1 = _clock(rng, day[done] + 1) + 8 * 3600
    S.add(pids[done], t1, "completed", f"{pre}/workshop", "Lean process workshop", act_type + "course",
          program=prog, completion=1, duration=14 * 60)
    r = np.clip(np.round(rng.normal(4.4, 0.6, done.sum())), 1, 5).astype(int)
    S.add(pids[done], t1 + 60, "rated", f"{pre}/workshop", "Lean process workshop", act_type + "course",
          program=prog, score=(r - 1) / 4.0, rating=r)
    return _finish(pd.concat([stmts, S.frame()], ignore_index=True), H)


def _iso_duration(minutes) -> str:
    m = int(minutes)
    h, mm = divmod(m, 60)
    return f"PT{h}H{mm}M" if h and mm else (f"PT{h}H" if h else f"PT{mm}M")


def write_xapi(rng, df, H, ids, path: Path):
    n_people = len(ids)
    kind = rng.choice(3, n_people, p=[0.90, 0.06, 0.04])  # account, mbox, legacy account
    first = np.array(FIRST)[rng.integers(0, len(FIRST), n_people)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n_people)]
    stmt_ids = uuids(rng, len(df))
    reg_key = df["person"].astype(str) + "|" + df["program"]
    uniq = pd.unique(reg_key)
    reg_uuid = dict(zip(uniq, uuids(rng, len(uniq))))
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
    atomic.write_text(path, "\n".join(lines) + "\n")
    amap = pd.DataFrame(actor_rows, columns=["actor", "employee_id"]).sort_values("employee_id")
    return amap, len(lines)
