"""Posterior draws of a team x skill pair's mean proficiency, and what training would change.

One job: from the skill model's posterior (:mod:`lndbayes.skills.model`) and the prepared data
(:mod:`lndbayes.skills.data`), per pair and date: the draws of the team's mean proficiency
(:func:`proficiency_draws`: trend, past programs' fading gains, shocks, the people present
carried forward with turnover), their summary against the requirement (:func:`per_date`), and
each targeting program's effect if the untrained people present took it now
(:func:`program_options`). :mod:`lndbayes.skills.forecast` and :mod:`lndbayes.skills.backtest`
turn these into tables. The look-ups they read are indexed once per prepared data
(:class:`Lookups`); the numbers and the random numbers used equal the per-row code they replaced
(tests/test_skill_speed_equivalence.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes import INTERVAL
from lndbayes.skills.data import DAYS_PER_YEAR, SkillData, quarter_label, years_between
from lndbayes.skills.model import SkillPosterior


class Lookups:
    """What the per-pair loops of the forecast and the backtest look up, indexed once per
    prepared data: the people present, the programs of a skill, the completions among the people
    and the program-skill index. Filtering the pandas tables per pair and held-out cell was most
    of their time (~5 s of the example's skill-gap report); each method returns what the filter
    did, in the same order, so the draws and the random numbers used are unchanged."""

    def __init__(self, data: SkillData):
        self.sources = (data.people_now, data.programs, data.completions, data.program_skills, data.as_of)
        pn = data.people_now
        self._people = pn.groupby(["team", "skill"]).indices        # as SkillData.people
        self._keys = pn["employee_key"].to_numpy(dtype=object)
        self._roles = pn["role"].to_numpy(dtype=object)
        self._programs: dict = {}
        self._done: dict = {}
        self._years: dict = {}
        self._data = data
        ps = data.program_skills
        self._ps: dict = {}
        for pid, skill, i in zip(ps["program_id"], ps["skill"], ps["ps"]):
            self._ps.setdefault((pid, skill), int(i))               # the first row, as before
        c = data.completions
        self._comp_rows = c.groupby("employee_key").indices if len(c) else {}   # as SkillData.completions_of
        self._comp_pid = c["program_id"].to_numpy(dtype=object) if len(c) else None
        self._comp_key = c["employee_key"].to_numpy(dtype=object) if len(c) else None
        # converted once when the column is a date type (then it is the same value by value);
        # text dates are converted per group as before (format inference reads the group)
        self._comp_ns = (np.asarray(c["completed"], "datetime64[ns]")
                         if len(c) and c["completed"].dtype.kind == "M" else None)

    def people(self, team, skill) -> tuple[np.ndarray, np.ndarray]:
        """Employee keys and roles of the people present who count for team x skill."""
        idx = self._people.get((team, skill))
        if idx is None:
            return self._keys[:0], self._roles[:0]
        return self._keys[idx], self._roles[idx]

    def programs(self, skill) -> pd.DataFrame:
        if skill not in self._programs:
            progs = self._data.programs[self._data.programs["skill"] == skill]
            # itertuples builds a namedtuple class per call (~1 ms): once per skill
            self._programs[skill] = (progs, list(progs.itertuples(index=False)))
        return self._programs[skill][0]

    def program_rows(self, skill) -> list:
        self.programs(skill)
        return self._programs[skill][1]

    def ps(self, program_id, skill):
        return self._ps.get((program_id, skill))

    def done(self, team, skill) -> list[tuple]:
        """(program_id, completion rows) of the skill's programs among the people present, as
        ``completions_of(...).groupby("program_id")``: programs sorted, rows in people order."""
        key = (team, skill)
        if key not in self._done:
            groups: dict = {}
            progs = self.programs(skill)
            if len(progs) and self._comp_pid is not None:
                wanted = set(progs["program_id"])
                for k in self.people(team, skill)[0]:
                    for i in self._comp_rows.get(k, ()):
                        if self._comp_pid[i] in wanted:
                            groups.setdefault(self._comp_pid[i], []).append(i)
            self._done[key] = [(pid, np.asarray(groups[pid], dtype=np.intp)) for pid in sorted(groups)]
        return self._done[key]

    def completed_ns(self, rows: np.ndarray) -> np.ndarray:
        if self._comp_ns is not None:
            return self._comp_ns[rows]
        return np.asarray(pd.to_datetime(self._data.completions["completed"].iloc[rows]), "datetime64[ns]")

    def completers(self, rows: np.ndarray) -> set:
        return set(self._comp_key[rows])

    def years(self, dates) -> tuple[np.ndarray, np.ndarray]:
        """``years_between(dates, as_of)`` and ``dates`` as datetime64[ns] (the backtest asks for
        the same few assessment dates hundreds of times); read-only, they are shared."""
        dates = list(dates)
        key = (tuple((d.value, d.unit, str(d.tz)) for d in dates)
               if all(isinstance(d, pd.Timestamp) for d in dates) else None)
        hit = self._years.get(key) if key is not None else None
        if hit is None:
            hit = (years_between(pd.DatetimeIndex(dates), self._data.as_of),
                   np.asarray(pd.DatetimeIndex(dates), "datetime64[ns]"))
            for a in hit:
                a.setflags(write=False)
            if key is not None:
                self._years[key] = hit
        return hit


def lookups(data: SkillData) -> Lookups:
    """The data's :class:`Lookups`, built again when one of the tables it indexes was replaced."""
    look = getattr(data, "_forecast_lookups", None)
    now = (data.people_now, data.programs, data.completions, data.program_skills, data.as_of)
    if look is None or any(a is not b for a, b in zip(look.sources, now)):
        look = data._forecast_lookups = Lookups(data)
    return look


def gains_of(post: SkillPosterior, data: SkillData, program_ids: list, skill: str,
              rng: np.random.Generator) -> np.ndarray:
    """:func:`gain_draws` of each program (programs x draws), the random draws of the programs
    never observed on the skill in one call: the same numbers, in the same order, as one call
    per program (numpy's generators fill an array in order)."""
    look = lookups(data)
    cols = [look.ps(pid, skill) for pid in program_ids]
    out = np.empty((len(program_ids), post.n_draws))
    new = [j for j, i in enumerate(cols) if i is None]
    for j, i in enumerate(cols):
        if i is not None:
            out[j] = post.draws["gain"][:, i]
    if new:
        from lndbayes.skills.model import GAIN_SD

        z = rng.standard_normal((len(new), post.n_draws))
        for r, j in enumerate(new):
            out[j] = post.draws["gain_mean"] + GAIN_SD * z[r]
    return out


def gain_draws(post: SkillPosterior, data: SkillData, program_id: str, skill: str,
                rng: np.random.Generator) -> np.ndarray:
    """The gain draws of ``program_id`` on ``skill`` (a new member of the pooled distribution
    for a program never observed on the skill: :func:`gains_of`)."""
    return gains_of(post, data, [program_id], skill, rng)[0]


def proficiency_draws(post: SkillPosterior, data: SkillData, pair_row, dates, rng,
                      extra_gain=None) -> np.ndarray:
    """Draws (n_draws x len(dates)) of the team's mean proficiency on ``dates`` (people present
    at ``as_of`` carried forward, turnover, past and optional new program gains, shocks)."""
    look = lookups(data)
    p = int(pair_row.pair)
    a, b = post.draws["a"][:, p], post.draws["b"][:, p]
    hl = post.draws["half_life"]
    sd_q = post.draws["sd_q"]
    t, dates_ns = look.years(dates)
    tm = t - post.inputs.t0
    theta = a[:, None] + b[:, None] * tm[None, :]
    # gains of completions before as_of among the people present now
    n = max(len(look.people(pair_row.team, pair_row.skill)[0]), 1)
    if len(look.programs(pair_row.skill)) and len(data.completions):
        for pid, rows in look.done(pair_row.team, pair_row.skill):
            age = _years(dates_ns[None, :] - look.completed_ns(rows)[:, None])
            gain = gain_draws(post, data, pid, pair_row.skill, rng)
            decay = np.exp2(-np.maximum(age, 0)[None, :, :] / hl[:, None, None]).sum(axis=1) / n
            theta = theta + gain[:, None] * decay
    if extra_gain is not None:
        theta = theta + extra_gain
    theta = theta + sd_q[:, None] * rng.standard_normal(theta.shape)
    # composition: people present now, leavers replaced at the department's quarterly rate
    q_leave = data.turnover.get(str(pair_row.department), float(np.mean(list(data.turnover.values()) or [0.05])))
    r = 1 - (1 - q_leave) ** np.maximum(t * 4, 0)
    s_p = data.sigma_person.get(pair_row.skill, 0.0)
    c_now = float(pair_row.comp_now) if pd.notna(pair_row.comp_now) else 0.0
    v_now = float(pair_row.comp_var_now) if pd.notna(pair_row.comp_var_now) else s_p ** 2 / n
    a2 = float(pair_row.alpha_sq_now) if pd.notna(pair_row.alpha_sq_now) else s_p ** 2
    c_mean = (1 - r) * c_now
    c_sd = np.sqrt((1 - r) ** 2 * v_now + r * s_p ** 2 / n + r * (1 - r) * a2 / n)
    m = theta + c_mean[None, :] + c_sd[None, :] * rng.standard_normal(theta.shape)
    return np.clip(m, 0.0, 5.0)        # a team mean stays on the 0-5 scale


def _years(delta) -> np.ndarray:
    return np.asarray(delta, "timedelta64[ns]").astype(np.int64) / (86400e9 * DAYS_PER_YEAR)




def per_date(draws: np.ndarray, req: np.ndarray) -> dict:
    """Per date (columns of ``draws``, draws x dates): mean, interval, P(gap), shortfall, as one
    column at a time gave them (one numpy call per statistic and pair instead of per date)."""
    cols = np.ascontiguousarray(draws.T)
    lo, hi = np.quantile(cols, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2], axis=-1)
    return {"mean": cols.mean(axis=-1), "lower": lo, "upper": hi,
            "p_gap": np.count_nonzero(cols < req[:, None], axis=-1) / cols.shape[-1],   # = the mean, exactly
            "shortfall": np.maximum(req[:, None] - cols, 0).mean(axis=-1)}


def _decay(memo: dict, t: np.ndarray, t_done: float, hl: np.ndarray) -> np.ndarray:
    """dates x draws: the share of a gain left on each date for training that ends ``t_done``
    years after as_of (0 before it), fading with the half-life draws ``hl``."""
    key = (t_done, t.tobytes(), id(hl))
    if key not in memo:
        age = t - t_done
        memo[key] = (np.where(age[:, None] >= 0, np.exp2(-np.maximum(age, 0)[:, None] / hl[None, :]), 0.0), hl)
    return memo[key][0]


def program_options(post, data, pair_row, dates, req, base_draws, rng, decay_memo=None) -> list[dict]:
    """For each program targeting the skill: P(gap) and shortfall if the people present who have
    not completed it were trained now, and what that costs.

    All programs of the pair at once, laid out programs x dates x draws so that every mean is
    numpy's pairwise sum of one contiguous row, as ``np.mean`` of one column summed it before;
    the fading of a program's gain depends only on its duration, so one forecast computes it once
    per duration (``decay_memo``, shared by the pairs of one :func:`forecast_from`). At 100
    programs a pair has ~30 and the options were ~30 s of the large preset's forecast. The same
    numbers and random numbers as one program at a time (tests/test_skill_speed_equivalence.py)."""
    out = []
    look = lookups(data)
    progs = look.programs(pair_row.skill)
    if not len(progs):
        return out
    keys = look.people(pair_row.team, pair_row.skill)[0]
    n = max(len(keys), 1)
    done_by = {pid: look.completers(rows) for pid, rows in look.done(pair_row.team, pair_row.skill)}
    t = look.years(dates)[0]
    hl = post.draws["half_life"]
    chosen = []
    for pr in look.program_rows(pair_row.skill):
        done = done_by.get(pr.program_id, set())
        n_train = sum(1 for k in keys if k not in done)
        if n_train:
            chosen.append((pr, n_train))
    if not chosen:
        return out
    gain = gains_of(post, data, [pr.program_id for pr, _ in chosen], pair_row.skill, rng)
    ratio = np.array([n_train / n for _, n_train in chosen])
    memo = {} if decay_memo is None else decay_memo
    decay = np.stack([_decay(memo, t, max(pr.duration_weeks, 0) * 7 / DAYS_PER_YEAR, hl) for pr, _ in chosen])
    boost = gain[:, None, :] * ratio[:, None, None] * decay           # programs x dates x draws
    base = np.ascontiguousarray(base_draws.T)                          # dates x draws
    # one programs x dates x draws buffer, reused in place, and shares as counts: the same
    # numbers as a new array per step and np.mean of the booleans (a sum of 0s and 1s is exact),
    # ~40% less time (benchmarks/results/skill_gaps.md, session 26)
    after = np.add(base[None], boost)
    np.clip(after, 0.0, 5.0, out=after)
    r = req[:, None]
    n_draws = after.shape[-1]
    gain_mean = boost.mean(axis=-1)
    p_after = np.count_nonzero(after < r, axis=-1) / n_draws
    np.subtract(r, after, out=after)
    np.maximum(after, 0, out=after)
    short_after = after.mean(axis=-1)
    p_before = np.count_nonzero(base < r, axis=-1) / n_draws
    short_before = np.maximum(r - base, 0).mean(axis=-1)
    labels = [quarter_label(d) for d in dates]
    for j, (pr, n_train) in enumerate(chosen):
        for k in range(len(dates)):
            if np.isnan(req[k]):
                continue
            out.append({"team": pair_row.team, "skill": pair_row.skill, "quarter": labels[k],
                        "program_id": pr.program_id, "program": pr.name, "n_trained": n_train,
                        "cost": n_train * pr.cost_per_participant, "fixed_cost": pr.fixed_cost,
                        "gain_mean": float(gain_mean[j, k]),
                        "p_gap_before": float(p_before[k]),
                        "p_gap_after": float(p_after[j, k]),
                        "shortfall_before": float(short_before[k]),
                        "shortfall_after": float(short_after[j, k])})
    return out
