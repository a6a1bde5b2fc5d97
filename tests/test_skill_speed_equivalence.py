"""The skill-gap post-processing's indexed look-ups give exactly what the per-row pandas code gave.

The forecast and the backtest looked the people, programs, completions and requirements up
with a pandas filter per pair and held-out cell (~10 s of the example's skill-gap report); they
now read indexes built once (:class:`lndbayes.skills.draws.Lookups`,
:meth:`Requirements.levels`). The reference functions below are the code as it was: on a small
organisation built to reach every branch (team and role requirements, missing roles, ties in
the role counts, several programs per skill, a program never completed on its skill, text
completion dates), the numbers and the random numbers consumed must be bit-identical.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lndbayes.skills import draws, forecast
from lndbayes.skills.backtest import _training_events
from lndbayes.skills.data import (DAYS_PER_MONTH, DAYS_PER_YEAR, MAX_AGE_MONTHS, SkillData,
                                  completed_members, exposure_rows, quarter_label, quarter_labels,
                                  years_between)
from lndbayes.skills.inputs import Requirements, _spelled_canonically, canonical_skills, skill_key
from lndbayes.skills.model import GAIN_SD

# ---- the code as it was (per-row pandas look-ups) -------------------------------------------


def ref_level(book: Requirements, team, skill, date, roles=None) -> float:
    v = book._at(book._team.get((team, skill)), date)
    if not np.isnan(v) or roles is None:
        return v
    counts = pd.Series(np.asarray(roles, dtype=object)).value_counts()
    num = den = 0.0
    for role, n in counts.items():
        r = book._at(book._role.get((role, skill)), date)
        if not np.isnan(r):
            num, den = num + r * n, den + n
    return num / den if den else float("nan")


def ref_gain_draws(post, data, program_id, skill, rng):
    ps = data.program_skills
    hit = ps[(ps["program_id"] == program_id) & (ps["skill"] == skill)]
    if len(hit):
        return post.draws["gain"][:, int(hit["ps"].iloc[0])]
    return post.draws["gain_mean"] + GAIN_SD * rng.standard_normal(post.n_draws)


def ref_proficiency_draws(post, data, pair_row, dates, rng):
    p = int(pair_row.pair)
    a, b = post.draws["a"][:, p], post.draws["b"][:, p]
    hl = post.draws["half_life"]
    sd_q = post.draws["sd_q"]
    t = years_between(pd.DatetimeIndex(dates), data.as_of)
    tm = t - post.inputs.t0
    theta = a[:, None] + b[:, None] * tm[None, :]
    people = data.people(pair_row.team, pair_row.skill)
    n = max(len(people), 1)
    progs = data.programs[data.programs["skill"] == pair_row.skill]
    if len(progs) and len(data.completions):
        done = data.completions_of(people["employee_key"], progs["program_id"])
        for pid, g in done.groupby("program_id"):
            age = draws._years(np.asarray(pd.DatetimeIndex(dates), "datetime64[ns]")[None, :]
                                  - np.asarray(pd.to_datetime(g["completed"]), "datetime64[ns]")[:, None])
            gain = ref_gain_draws(post, data, pid, pair_row.skill, rng)
            decay = np.exp2(-np.maximum(age, 0)[None, :, :] / hl[:, None, None]).sum(axis=1) / n
            theta = theta + gain[:, None] * decay
    theta = theta + sd_q[:, None] * rng.standard_normal(theta.shape)
    q_leave = data.turnover.get(str(pair_row.department), float(np.mean(list(data.turnover.values()) or [0.05])))
    r = 1 - (1 - q_leave) ** np.maximum(t * 4, 0)
    s_p = data.sigma_person.get(pair_row.skill, 0.0)
    c_now = float(pair_row.comp_now) if pd.notna(pair_row.comp_now) else 0.0
    v_now = float(pair_row.comp_var_now) if pd.notna(pair_row.comp_var_now) else s_p ** 2 / n
    a2 = float(pair_row.alpha_sq_now) if pd.notna(pair_row.alpha_sq_now) else s_p ** 2
    c_mean = (1 - r) * c_now
    c_sd = np.sqrt((1 - r) ** 2 * v_now + r * s_p ** 2 / n + r * (1 - r) * a2 / n)
    m = theta + c_mean[None, :] + c_sd[None, :] * rng.standard_normal(theta.shape)
    return np.clip(m, 0.0, 5.0)


def ref_program_options(post, data, pair_row, dates, req, base_draws, rng):
    out = []
    progs = data.programs[data.programs["skill"] == pair_row.skill]
    if not len(progs):
        return out
    people = data.people(pair_row.team, pair_row.skill)
    n = max(len(people), 1)
    done_all = data.completions_of(people["employee_key"], progs["program_id"])
    t = years_between(pd.DatetimeIndex(dates), data.as_of)
    hl = post.draws["half_life"]
    for pr in progs.itertuples(index=False):
        done = set(done_all.loc[done_all["program_id"] == pr.program_id, "employee_key"])
        n_train = int((~people["employee_key"].isin(done)).sum())
        if n_train == 0:
            continue
        t_done = max(pr.duration_weeks, 0) * 7 / DAYS_PER_YEAR
        gain = ref_gain_draws(post, data, pr.program_id, pair_row.skill, rng)
        age = t - t_done
        boost = gain[:, None] * (n_train / n) * np.where(
            age[None, :] >= 0, np.exp2(-np.maximum(age, 0)[None, :] / hl[:, None]), 0.0)
        after = np.clip(base_draws + boost, 0.0, 5.0)
        for k, d in enumerate(dates):
            if np.isnan(req[k]):
                continue
            out.append({"team": pair_row.team, "skill": pair_row.skill, "quarter": quarter_label(d),
                        "program_id": pr.program_id, "program": pr.name, "n_trained": n_train,
                        "cost": n_train * pr.cost_per_participant, "fixed_cost": pr.fixed_cost,
                        "gain_mean": float(np.mean(boost[:, k])),
                        "p_gap_before": float(np.mean(base_draws[:, k] < req[k])),
                        "p_gap_after": float(np.mean(after[:, k] < req[k])),
                        "shortfall_before": float(np.mean(np.maximum(req[k] - base_draws[:, k], 0))),
                        "shortfall_after": float(np.mean(np.maximum(req[k] - after[:, k], 0)))})
    return out


def ref_training_events(data):
    c = data.cells.merge(data.members.groupby("cell")["employee_key"].agg(list).rename("people"),
                         left_on="cell", right_index=True)
    reqs = [ref_level(data.requirements, t, s, d, pd.Series(p).map(data.role_of))
            for t, s, d, p in zip(c["team"], c["skill"], c["date"], c["people"])]
    c["required_level"] = reqs
    c["gap"] = (c["mean"] < c["required_level"]).astype(float).where(c["required_level"].notna())
    return c


# ---- a small organisation reaching every branch ---------------------------------------------

TEAMS = ["T0", "T1", "T2", "T3"]
SKILLS = ["x", "y"]
ROLES = ["r0", "r1", "r2", "r3", "r4"]
AS_OF = pd.Timestamp("2025-06-30")


def _requirements(rng) -> Requirements:
    rows = []
    for role in ROLES[:4]:                       # r4 has no requirement
        for s in SKILLS:
            for d in ("2023-01-01", "2024-07-01", "2025-04-01"):
                rows.append(("role", role, s, float(rng.uniform(1, 5)), d))
    rows += [("team", "T1", "x", 3.3, "2024-01-01"), ("team", "T1", "x", 3.9, "2025-05-01"),
             ("team", "T2", "y", 2.7, "2025-01-01")]
    t = pd.DataFrame(rows, columns=["scope_type", "scope_id", "skill", "required_level", "effective_date"])
    t["effective_date"] = pd.to_datetime(t["effective_date"])
    return Requirements(t)


def _org(seed: int = 0, text_dates: bool = False) -> tuple[SkillData, SimpleNamespace]:
    rng = np.random.default_rng(seed)
    keys = [f"e{i:03d}" for i in range(60)]
    role_of = pd.Series([ROLES[i % 5] if i % 11 else None for i in range(60)], index=keys, dtype="str")
    people = []
    for team in TEAMS:
        for s in SKILLS:
            for k in rng.choice(keys, size=int(rng.integers(3, 12)), replace=False):
                people.append({"employee_key": k, "team": team, "skill": s, "role": role_of[k]})
    people_now = pd.DataFrame(people).sample(frac=1, random_state=seed).reset_index(drop=True)
    people_now["role"] = people_now["role"].astype("str")
    programs = pd.DataFrame({
        "program_id": ["pa", "pb", "pc", "pd", "pa"], "name": ["A", "B", "C", "D", "A"],
        "skill": ["x", "x", "y", "x", "y"], "cost_per_participant": [100.0, 250.0, 80.0, 40.0, 100.0],
        "fixed_cost": [1000.0, 0.0, 500.0, 0.0, 1000.0], "duration_weeks": [4.0, 10.0, 0.0, 30.0, 4.0],
        "prefix": ["a", "b", "c", "d", "a"]})
    comp = []
    for k in rng.choice(keys, size=45, replace=False):
        for pid in rng.choice(["pa", "pb", "pc", "pd", "pz"], size=int(rng.integers(1, 4)), replace=False):
            ago = pd.Timedelta(days=int(rng.integers(0, 900)), hours=int(rng.integers(0, 24)))
            comp.append({"employee_key": k, "program_id": pid, "completed": AS_OF - ago})
    completions = pd.DataFrame(comp).sample(frac=1, random_state=seed + 1).reset_index(drop=True)
    completions["completed"] = completions["completed"].astype("datetime64[us]")
    if text_dates:
        completions["completed"] = completions["completed"].dt.strftime("%Y-%m-%d %H:%M")
    # ("pd", "x") never completed before an assessment: its gain is a fresh draw (rng); a
    # repeated row: the first is used
    program_skills = pd.DataFrame({"program_id": ["pa", "pb", "pc", "pa", "pb"], "skill": ["x", "x", "y", "y", "x"],
                                   "ps": [0, 1, 2, 3, 4]})
    pairs = []
    for i, (team, s) in enumerate((t, s) for t in TEAMS for s in SKILLS):
        pairs.append({"team": team, "skill": s, "department": "D1" if team < "T2" else "D9", "pair": i,
                      "comp_now": np.nan if i % 3 == 0 else float(rng.normal(0, 0.2)),
                      "comp_var_now": np.nan if i % 4 == 1 else float(rng.uniform(0.001, 0.05)),
                      "alpha_sq_now": np.nan if i % 5 == 2 else float(rng.uniform(0.01, 0.3))})
    pairs = pd.DataFrame(pairs)
    cells, members = [], []
    for team in TEAMS:
        for s in SKILLS:
            for q, date in enumerate(pd.date_range("2023-02-15", "2025-06-30", freq="QS-FEB")):
                cell = f"{team}|{s}|{q}"
                who = rng.choice(keys, size=int(rng.integers(1, 16)), replace=False)
                cells.append({"cell": cell, "team": team, "skill": s, "quarter": quarter_label(date),
                              "date": date, "n": len(who), "mean": float(rng.uniform(1, 5))})
                members += [{"employee_key": k, "skill": s, "cell": cell} for k in who]
    cells = pd.DataFrame(cells)
    cells["date"] = cells["date"].astype("datetime64[s]")
    members = pd.DataFrame(members).sample(frac=1, random_state=seed + 2).reset_index(drop=True)
    empty = pd.DataFrame()
    data = SkillData(as_of=AS_OF, cells=cells, pairs=pairs, people_now=people_now, members=members,
                     requirements=_requirements(rng), programs=programs, completions=completions,
                     exposure=empty, program_skills=program_skills, sigma_person={"x": 0.4, "y": 0.0},
                     sigma_noise={"x": 0.3}, turnover={"D1": 0.04, "D2": 0.1}, rejected=empty,
                     role_of=role_of)
    n = 300
    post = SimpleNamespace(
        draws={"a": rng.normal(3, 0.5, (n, len(pairs))), "b": rng.normal(0, 0.2, (n, len(pairs))),
               "half_life": rng.uniform(0.3, 3, n), "sd_q": rng.uniform(0.01, 0.2, n),
               "gain": rng.normal(0.3, 0.2, (n, 5)), "gain_mean": rng.normal(0.2, 0.1, n)},
        inputs=SimpleNamespace(t0=-1.25), n_draws=n)
    return data, post


# ---- the preparation as it was (per-row maps, programs joined before completions) ----------


def ref_canonical_skills(assess, reqs, program_skills) -> dict:
    counts: dict = {}
    for names, weight in [(assess["skill"] if len(assess) else [], 1),
                          (reqs["skill"] if len(reqs) else [], 1), (program_skills, 0)]:
        for name in names:
            spelled = counts.setdefault(skill_key(name), {})
            spelled[str(name)] = spelled.get(str(name), 0) + weight
    return {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k, v in counts.items()}


def ref_exposure_rows(members, comp, programs, ps_index) -> pd.DataFrame:
    cols = ["cell", "ps", "age", "share"]
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


def _preparation_frames(seed: int):
    """Assessed person-quarters, completions and programs with the awkward cases: people with
    no completion, completions after the assessment, a program of two skills, a skill no program
    targets, a program never completed, duplicate completions."""
    rng = np.random.default_rng(seed)
    people = [f"e{i}" for i in range(40)]
    skills = ["x", "y", "z"]
    n = 300
    members = pd.DataFrame({"employee_key": rng.choice(people, n), "skill": rng.choice(skills, n),
                            "cell": rng.choice([f"c{i}" for i in range(12)], n),
                            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")})
    members["n"] = members["cell"].map({f"c{i}": int(5 + i) for i in range(12)})
    members = members.astype({"employee_key": "str", "skill": "str", "cell": "str"})
    programs = pd.DataFrame({"program_id": ["pa", "pa", "pb", "pc", "pd"], "skill": ["x", "y", "x", "y", "x"]},
                            dtype="str")
    k = 80
    comp = pd.DataFrame({"employee_key": rng.choice(people[:30], k), "program_id": rng.choice(["pa", "pb", "pc"], k),
                         "completed": pd.Timestamp("2023-06-01") + pd.to_timedelta(rng.integers(0, 900, k), "D")})
    return members, comp.astype({"employee_key": "str", "program_id": "str"}), programs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exposure_rows_equal_the_skill_first_join(seed):
    members, comp, programs = _preparation_frames(seed)
    joined = completed_members(members, comp, programs)
    seen = joined[joined["completed"] <= joined["date"]]
    ps_list = sorted(set(zip(seen["program_id"], seen["skill"])))
    for ps_index in ({k: i for i, k in enumerate(ps_list)}, {ps_list[0]: 0}, {}):
        fast, ref = exposure_rows(joined, ps_index), ref_exposure_rows(members, comp, programs, ps_index)
        assert len(ref) or not ps_index
        pd.testing.assert_frame_equal(fast.reset_index(drop=True), ref.reset_index(drop=True),
                                      check_exact=True, check_dtype=bool(len(ref)))
    # the same rows as the skill-first join, in any order
    cols = ["employee_key", "skill", "cell", "date", "n", "program_id", "completed"]
    ref_joined = members.merge(programs, on="skill").merge(comp, on=["employee_key", "program_id"])
    key = lambda df: df[cols].sort_values(cols).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(joined), key(ref_joined), check_exact=True)


def test_canonical_spellings_equal_the_per_row_reference():
    rng = np.random.default_rng(5)
    spellings = ["product_knowledge", "Product Knowledge", "product-knowledge", "SQL", "sql", "b", "a"]
    for trial in range(20):
        assess = pd.DataFrame({"skill": pd.Series(rng.choice(spellings + [None], 60), dtype="str")})
        reqs = pd.DataFrame({"skill": pd.Series(rng.choice(spellings, int(rng.integers(0, 6))), dtype="str")})
        prog = list(rng.choice(spellings, 2))
        canon = canonical_skills(assess, reqs, prog)
        assert canon == ref_canonical_skills(assess, reqs, prog)
        for df in (assess, reqs):
            ref = df["skill"].map(lambda s: canon[skill_key(s)] == s).astype(bool)
            pd.testing.assert_series_equal(_spelled_canonically(df["skill"], canon), ref, check_names=False)


def test_quarter_labels_equal_the_per_row_map():
    dates = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-03-31 23:00", "2024-04-01 00:00", "2025-12-31 00:00",
                                      "2024-01-01 00:00"]), index=[5, 3, 9, 1, 0])
    pd.testing.assert_series_equal(quarter_labels(dates), dates.map(quarter_label))


# ---- the checks -----------------------------------------------------------------------------

def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def test_requirement_levels_equal_the_value_counts_reference():
    """Team rows first, else the role mean summed in value_counts order (most people first, ties
    by first appearance: with three roles or more another order can change the last bit)."""
    rng = np.random.default_rng(1)
    book = _requirements(rng)
    pool = np.array(ROLES + ["r9", None, np.nan], dtype=object)
    dates = pd.to_datetime(["2022-06-01", "2023-01-01", "2024-06-30", "2024-07-01", "2025-04-15", "2026-01-01"])
    checked = 0
    for i in range(600):
        roles = list(rng.choice(pool, size=int(rng.integers(0, 12))))
        team, skill = TEAMS[i % 4], SKILLS[(i // 4) % 2]
        as_given = [roles, np.asarray(roles, dtype=object), pd.Series(roles, dtype="str"), None]
        for r in as_given[i % 4:i % 4 + 1]:
            fast = book.levels(team, skill, dates, r)
            for d, v in zip(dates, fast):
                ref = ref_level(book, team, skill, d, r)
                assert _same(v, ref) and _same(book.level(team, skill, d, r), ref), (team, skill, d, roles)
                checked += 1
    assert checked == 600 * len(dates)


def test_training_events_equal_per_cell_lookups():
    data, _ = _org(2)
    pd.testing.assert_frame_equal(_training_events(data), ref_training_events(data), check_exact=True)


@pytest.mark.parametrize("text_dates", [False, True])
def test_proficiency_draws_and_options_equal_the_per_pair_reference(text_dates):
    """Same draws, same options, and the random stream left in the same state after every pair."""
    data, post = _org(3, text_dates=text_dates)
    ref_data, _ = _org(3, text_dates=text_dates)
    quarters = forecast.forecast_dates(AS_OF, 4)
    one_day = [pd.Timestamp("2025-09-12")]
    fast_rng, ref_rng = np.random.default_rng(7), np.random.default_rng(7)
    for pr in data.pairs.itertuples(index=False):
        for dates in (quarters, one_day, [pd.Timestamp("2025-09-13 06:00")], [pd.Timestamp("2025-09-12")],
                      quarters):                                          # memoised dates too
            x = draws.proficiency_draws(post, data, pr, dates, fast_rng)
            y = ref_proficiency_draws(post, ref_data, pr, dates, ref_rng)
            np.testing.assert_array_equal(x, y)
            assert fast_rng.bit_generator.state == ref_rng.bit_generator.state
            req = np.array([ref_level(ref_data.requirements, pr.team, pr.skill, d,
                                      ref_data.people(pr.team, pr.skill)["role"]) for d in dates])
            fast = draws.program_options(post, data, pr, dates, req, x, fast_rng)
            ref = ref_program_options(post, ref_data, pr, dates, req, y, ref_rng)
            assert fast == ref
            assert fast_rng.bit_generator.state == ref_rng.bit_generator.state
    # the never-completed program ("pd" on x) and several programs per pair were reached
    look = draws.lookups(data)
    assert any(look.ps(pid, "x") is None for t in TEAMS for pid, _ in look.done(t, "x"))
    assert max(len(look.done(t, s)) for t in TEAMS for s in SKILLS) >= 3


def test_lookups_follow_a_replaced_table():
    data, post = _org(4)
    pr = next(data.pairs.itertuples(index=False))
    dates = forecast.forecast_dates(AS_OF, 2)
    draws.proficiency_draws(post, data, pr, dates, np.random.default_rng(0))
    data.completions = data.completions.iloc[::2].reset_index(drop=True)
    x = draws.proficiency_draws(post, data, pr, dates, np.random.default_rng(0))
    np.testing.assert_array_equal(x, ref_proficiency_draws(post, data, pr, dates, np.random.default_rng(0)))


def test_per_date_equals_one_column_at_a_time():
    """The forecast's per-date statistics (one numpy call per statistic for all dates, P(gap) as a
    count) are bit-identical to the statistics of each date's column, a NaN requirement included."""
    rng = np.random.default_rng(11)
    draws_ = np.clip(rng.normal(3.0, 0.6, (4000, 5)), 0, 5)
    req = np.array([3.0, 2.5, np.nan, 3.5, 5.0])
    got = draws.per_date(draws_, req)
    lo_q, hi_q = (1 - forecast.INTERVAL) / 2, (1 + forecast.INTERVAL) / 2
    for k in range(draws_.shape[1]):
        col = draws_[:, k]
        assert got["mean"][k] == col.mean()
        assert got["lower"][k] == np.quantile(col, lo_q) and got["upper"][k] == np.quantile(col, hi_q)
        assert got["p_gap"][k] == np.mean(col < req[k])
        assert np.array_equal(got["shortfall"][k], np.maximum(req[k] - col, 0).mean(), equal_nan=True)
    assert 0 < got["p_gap"][0] < 1 and got["p_gap"][2] == 0.0
