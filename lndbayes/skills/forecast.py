"""Skill-gap forecast: P(gap), expected shortfall and the programs that would close each gap.

One job: turn the skill model's posterior (:mod:`lndbayes.skills.model`) and the prepared data
(:mod:`lndbayes.skills.data`) into forecasts per team x skill x quarter.

::

    import lndbayes as lb
    org = lb.load_org()
    table = lb.forecast_skill_gaps(org, horizon=4)     # tidy DataFrame, one row per team x skill x quarter
    fc = run_forecast(org, horizon=4)                  # the table plus program options, gains, rejections

For quarter :math:`f` (its last day), the team's proficiency is the mean over the people present
at ``as_of`` (carried forward, leavers replaced at the department's leaving rate by hires of
average offset):

    m_f = a + b (t_f - t0) + gains of past completions (decayed) + shock + composition_f

and with :math:`R_f` the level required on that date (team-scope requirement, else the mean of
the role requirements of the people present), ``p_gap = P(m_f < R_f)`` and
``expected_shortfall = E[max(R_f - m_f, 0)]`` over the posterior draws.

Program options: for a team x skill, program ``p`` that targets the skill trains the people
present who have not completed it, finishing ``duration_weeks`` after ``as_of``; their gain is
the program's estimated gain on the skill (pooled; a program never seen on the skill gets a
draw from the pooled distribution), decaying with the half-life. Cost: trained people x
``cost_per_participant`` (``fixed_cost`` is shown apart: it is paid once per run of the program,
not per team).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes import INTERVAL
from lndbayes.privacy import suppressed_label
from lndbayes.skills.data import DAYS_PER_YEAR, SkillData, prepare, quarter_label, years_between
from lndbayes.skills.forecast_cache import (forecast_key, inputs_key, inputs_lock, load, load_pointer, save,
                                            save_pointer)
from lndbayes.skills.model import SkillPosterior, fit_skill_model

#: P(gap) at or above which a team x skill x quarter is listed as a likely gap
LIKELY = 0.8
#: P(gap) at or above which it is listed as a possible gap
POSSIBLE = 0.5

TABLE_COLUMNS = ["team", "department", "skill", "quarter", "date", "status", "reason", "n_people",
                 "required_level", "mean", "lower", "upper", "p_gap", "expected_shortfall", "flag",
                 "last_mean", "last_quarter", "best_program", "best_program_p_gap", "best_program_cost",
                 "note"]


@dataclass
class SkillGapForecast:
    """The forecast and what it was made from (``table`` is what ``lb.forecast_skill_gaps`` returns)."""

    table: pd.DataFrame           # one row per team x skill x quarter (TABLE_COLUMNS)
    options: pd.DataFrame         # team, skill, quarter, program_id, ... (programs that would help)
    gains: pd.DataFrame           # program_id, skill, gain (mean, lower, upper), n_completers
    half_life: dict               # mean, lower, upper (years)
    history: pd.DataFrame         # observed team x skill x quarter means (privacy-suppressed)
    rejected: pd.DataFrame        # table, reason, rows
    notes: list
    diagnostics: dict
    as_of: pd.Timestamp
    horizon: int
    min_group: int
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    n_cells: int = 0              # team x skill x quarter means the model was fitted on

    def ranked_gaps(self, quarter: str | None = None, top: int | None = None) -> pd.DataFrame:
        """The shown (not suppressed) team x skill pairs of ``quarter`` (default: the last),
        most likely and largest gaps first."""
        t = self.table[(self.table["status"] == "ok") & (self.table["note"] == "")]
        q = quarter or (sorted(t["quarter"].unique())[-1] if len(t) else None)
        t = t[t["quarter"] == q].sort_values(["expected_shortfall", "p_gap"], ascending=False)
        return t.head(top) if top else t

    def summary(self, top: int = 10) -> dict:
        """Plain numbers for summary.json and the portfolio page."""
        shown = self.table[(self.table["status"] == "ok") & (self.table["note"] == "")]
        last = self.ranked_gaps()
        return {
            "as_of": str(self.as_of.date()), "horizon": self.horizon,
            "quarters": sorted(self.table["quarter"].dropna().unique().tolist()),
            "pairs": int(self.table[["team", "skill"]].drop_duplicates().shape[0]),
            "pairs_shown": int(shown[["team", "skill"]].drop_duplicates().shape[0]),
            "pairs_no_data": int(self.table[self.table["status"] == "no data"][["team", "skill"]]
                                 .drop_duplicates().shape[0]),
            "likely_gaps_last_quarter": int((last["p_gap"] >= LIKELY).sum()),
            "possible_gaps_last_quarter": int(((last["p_gap"] >= POSSIBLE) & (last["p_gap"] < LIKELY)).sum()),
            "top_gaps": [{k: (None if pd.isna(v) else (round(float(v), 3) if isinstance(v, (float, np.floating)) else v))
                          for k, v in r.items()}
                         for r in last.head(top)[["team", "skill", "quarter", "p_gap", "expected_shortfall",
                                                  "required_level", "mean", "best_program"]].to_dict("records")],
            "half_life_years": self.half_life,
            "rejected_rows": int(self.rejected["rows"].sum()) if len(self.rejected) else 0,
            "converged": bool(self.diagnostics.get("converged")),
            "min_group": self.min_group,
        }


def forecast_dates(as_of, horizon: int) -> list[pd.Timestamp]:
    """The last days of the ``horizon`` calendar quarters after the quarter holding ``as_of``."""
    q = pd.Timestamp(as_of).to_period("Q")
    return [(q + k).end_time.normalize() for k in range(1, int(horizon) + 1)]


class _Lookups:
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


def _lookups(data: SkillData) -> _Lookups:
    """The data's :class:`_Lookups`, built again when one of the tables it indexes was replaced."""
    look = getattr(data, "_forecast_lookups", None)
    now = (data.people_now, data.programs, data.completions, data.program_skills, data.as_of)
    if look is None or any(a is not b for a, b in zip(look.sources, now)):
        look = data._forecast_lookups = _Lookups(data)
    return look


def _gains_of(post: SkillPosterior, data: SkillData, program_ids: list, skill: str,
              rng: np.random.Generator) -> np.ndarray:
    """:func:`_gain_draws` of each program (programs x draws), the random draws of the programs
    never observed on the skill in one call: the same numbers, in the same order, as one call
    per program (numpy's generators fill an array in order)."""
    look = _lookups(data)
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


def _gain_draws(post: SkillPosterior, data: SkillData, program_id: str, skill: str,
                rng: np.random.Generator) -> np.ndarray:
    """The gain draws of ``program_id`` on ``skill`` (a new member of the pooled distribution
    for a program never observed on the skill: :func:`_gains_of`)."""
    return _gains_of(post, data, [program_id], skill, rng)[0]


def proficiency_draws(post: SkillPosterior, data: SkillData, pair_row, dates, rng,
                      extra_gain=None) -> np.ndarray:
    """Draws (n_draws x len(dates)) of the team's mean proficiency on ``dates`` (people present
    at ``as_of`` carried forward, turnover, past and optional new program gains, shocks)."""
    look = _lookups(data)
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
            gain = _gain_draws(post, data, pid, pair_row.skill, rng)
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


def _interval(x: np.ndarray, prob: float) -> tuple[float, float]:
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)


def _per_date(draws: np.ndarray, req: np.ndarray) -> dict:
    """Per date (columns of ``draws``, draws x dates): mean, interval, P(gap), shortfall, as one
    column at a time gave them (one numpy call per statistic and pair instead of per date)."""
    cols = np.ascontiguousarray(draws.T)
    lo, hi = np.quantile(cols, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2], axis=-1)
    return {"mean": cols.mean(axis=-1), "lower": lo, "upper": hi,
            "p_gap": (cols < req[:, None]).mean(axis=-1),
            "shortfall": np.maximum(req[:, None] - cols, 0).mean(axis=-1)}


def _decay(memo: dict, t: np.ndarray, t_done: float, hl: np.ndarray) -> np.ndarray:
    """dates x draws: the share of a gain left on each date for training that ends ``t_done``
    years after as_of (0 before it), fading with the half-life draws ``hl``."""
    key = (t_done, t.tobytes(), id(hl))
    if key not in memo:
        age = t - t_done
        memo[key] = (np.where(age[:, None] >= 0, np.exp2(-np.maximum(age, 0)[:, None] / hl[None, :]), 0.0), hl)
    return memo[key][0]


def _program_options(post, data, pair_row, dates, req, base_draws, rng, decay_memo=None) -> list[dict]:
    """For each program targeting the skill: P(gap) and shortfall if the people present who have
    not completed it were trained now, and what that costs.

    All programs of the pair at once, laid out programs x dates x draws so that every mean is
    numpy's pairwise sum of one contiguous row, as ``np.mean`` of one column summed it before;
    the fading of a program's gain depends only on its duration, so one forecast computes it once
    per duration (``decay_memo``, shared by the pairs of one :func:`forecast_from`). At 100
    programs a pair has ~30 and the options were ~30 s of the large preset's forecast. The same
    numbers and random numbers as one program at a time (tests/test_skill_speed_equivalence.py)."""
    out = []
    look = _lookups(data)
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
    gain = _gains_of(post, data, [pr.program_id for pr, _ in chosen], pair_row.skill, rng)
    ratio = np.array([n_train / n for _, n_train in chosen])
    memo = {} if decay_memo is None else decay_memo
    decay = np.stack([_decay(memo, t, max(pr.duration_weeks, 0) * 7 / DAYS_PER_YEAR, hl) for pr, _ in chosen])
    boost = gain[:, None, :] * ratio[:, None, None] * decay           # programs x dates x draws
    base = np.ascontiguousarray(base_draws.T)                          # dates x draws
    after = np.clip(base[None] + boost, 0.0, 5.0)
    r = req[:, None]
    gain_mean = boost.mean(axis=-1)
    p_after = (after < r).mean(axis=-1)
    short_after = np.maximum(r - after, 0).mean(axis=-1)
    p_before = (base < r).mean(axis=-1)
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


def forecast_from(post: SkillPosterior, data: SkillData, dates, *, seed: int = 0,
                  min_group: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast table and the program options for ``dates`` (no privacy step when
    ``min_group`` is 0)."""
    rng = np.random.default_rng(seed)
    dates = list(pd.DatetimeIndex(dates))
    rows, options = [], []
    last = data.cells.sort_values("date").groupby(["team", "skill"]).last()
    last = dict(zip(last.index, zip(last["mean"], last["quarter"])))    # a .loc per pair: ~0.1 ms
    look = _lookups(data)
    labels = [quarter_label(d) for d in dates]
    decay_memo: dict = {}
    for pr in data.pairs.itertuples(index=False):
        base = {"team": pr.team, "department": pr.department, "skill": pr.skill, "status": pr.status,
                "reason": pr.reason, "n_people": int(pr.n_now)}
        if pr.status != "ok":
            for k, d in enumerate(dates):
                rows.append({**base, "quarter": labels[k], "date": d})
            continue
        roles = look.people(pr.team, pr.skill)[1]
        req = np.array(data.requirements.levels(pr.team, pr.skill, dates, roles))
        draws = proficiency_draws(post, data, pr, dates, rng)
        last_mean, last_quarter = last[(pr.team, pr.skill)]
        st = _per_date(draws, req)
        for k, d in enumerate(dates):
            row = {**base, "quarter": labels[k], "date": d, "required_level": req[k],
                   "mean": float(st["mean"][k]), "lower": float(st["lower"][k]),
                   "upper": float(st["upper"][k]),
                   "last_mean": float(last_mean), "last_quarter": last_quarter}
            if not np.isnan(req[k]):
                row["p_gap"] = float(st["p_gap"][k])
                row["expected_shortfall"] = float(st["shortfall"][k])
            else:
                row["reason"] = "no requirement for this skill on this date"
            rows.append(row)
        options += _program_options(post, data, pr, dates, req, draws, rng, decay_memo)
    table = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    table["flag"] = np.select([table["p_gap"] >= LIKELY, table["p_gap"] >= POSSIBLE],
                              ["likely gap", "possible gap"], "")
    opts = pd.DataFrame(options, columns=["team", "skill", "quarter", "program_id", "program", "n_trained",
                                          "cost", "fixed_cost", "gain_mean", "p_gap_before", "p_gap_after",
                                          "shortfall_before", "shortfall_after"])
    if len(opts):
        opts["closes"] = (opts["p_gap_after"] < POSSIBLE) & (opts["p_gap_before"] >= POSSIBLE)
        # the cheapest program estimated to close the gap (P(gap) from >= 0.5 to below it)
        best = (opts[opts["closes"]].sort_values(["cost", "p_gap_after"])
                .groupby(["team", "skill", "quarter"]).first().reset_index())
        table = table.drop(columns=["best_program", "best_program_p_gap", "best_program_cost"]).merge(
            best[["team", "skill", "quarter", "program_id", "p_gap_after", "cost"]].rename(columns={
                "program_id": "best_program", "p_gap_after": "best_program_p_gap", "cost": "best_program_cost"}),
            on=["team", "skill", "quarter"], how="left").reindex(columns=TABLE_COLUMNS)
    else:
        opts["closes"] = pd.Series(dtype=bool)
    mg = data.min_group if min_group is None else int(min_group)
    table["note"] = ""
    if mg > 0:
        small = table["n_people"] < mg
        keep = ["team", "department", "skill", "quarter", "date", "status", "reason", "note"]
        for c in [c for c in table.columns if c not in keep]:
            table[c] = table[c].astype(object).where(~small, None) if table[c].dtype == object \
                else table[c].where(~small)
        table.loc[small, "note"] = suppressed_label(mg)
        if len(opts):
            shown = set(map(tuple, table.loc[~small, ["team", "skill"]].to_numpy()))
            opts = opts[[(t, s) in shown for t, s in zip(opts["team"], opts["skill"])]].reset_index(drop=True)
    return table, opts


def _gains_table(post: SkillPosterior, data: SkillData) -> pd.DataFrame:
    rows = []
    n_comp = data.completions.groupby("program_id")["employee_key"].nunique() if len(data.completions) else {}
    for r in data.program_skills.itertuples(index=False):
        g = post.draws["gain"][:, r.ps]
        lo, hi = _interval(g, INTERVAL)
        rows.append({"program_id": r.program_id, "skill": r.skill, "mean": float(g.mean()), "lower": lo,
                     "upper": hi, "p_gt_0": float(np.mean(g > 0)),
                     "n_completers": int(n_comp.get(r.program_id, 0)) if len(n_comp) else 0})
    g = post.draws["gain_mean"]
    lo, hi = _interval(g, INTERVAL)
    rows.append({"program_id": "(average over programs)", "skill": "", "mean": float(g.mean()), "lower": lo,
                 "upper": hi, "p_gt_0": float(np.mean(g > 0)), "n_completers": None})
    return pd.DataFrame(rows)


def history_table(data: SkillData, min_group: int) -> pd.DataFrame:
    """Observed team x skill x quarter means with their requirement (small cells suppressed)."""
    h = data.cells[["team", "department", "skill", "quarter", "date", "n", "mean"]].copy()
    if min_group > 0:
        h = h[h["n"] >= min_group]
    return h.reset_index(drop=True)


def run_forecast(org, horizon: int = 4, *, as_of=None, min_group: int | None = None, seed: int = 0,
                 draws: int = 1000, tune: int = 1000, chains: int = 4, cache: bool = True,
                 retry: bool = True, today=None, data: SkillData | None = None,
                 wait: bool | float = True) -> SkillGapForecast:
    """Prepare, fit (or read the cached posterior) and forecast ``horizon`` quarters ahead.

    ``wait``: when another process is computing this same forecast right now, wait for it
    (True), or raise :class:`lndbayes.errors.Deferred` if it is not done within ``wait``
    seconds (a report worker then builds other reports meanwhile)."""
    import time

    t0 = time.perf_counter()
    if int(horizon) < 1:
        from lndbayes.errors import ModelInputError
        raise ModelInputError(f"horizon {horizon} is not a number of quarters. Fix: use 1 or more (default 4).")
    settings = dict(horizon=int(horizon), seed=seed, draws=draws, tune=tune, chains=chains, retry=bool(retry))
    # every program report of a run asks for the same forecast: find it from the raw inputs
    # without preparing them again (prepare is ~16 s at 20,000 employees, the lookup ~0.3 s)
    ikey = inputs_key(org, as_of, today, min_group, **settings) if cache and data is None else None
    if ikey is None:
        return _forecast(org, horizon, as_of, today, min_group, data, cache, settings, None, t0)
    hit = load_pointer(ikey, SkillGapForecast)
    if hit is None:
        # one process computes it; the others wait (or, with wait=False, defer) and read it
        with inputs_lock(ikey, wait):
            hit = load_pointer(ikey, SkillGapForecast)
            if hit is None:
                return _forecast(org, horizon, as_of, today, min_group, data, cache, settings, ikey, t0)
    hit.seconds = round(time.perf_counter() - t0, 1)
    return hit


def _forecast(org, horizon, as_of, today, min_group, data, cache, settings, ikey, t0) -> SkillGapForecast:
    import time

    seed, draws, tune, chains, retry = (settings[k] for k in ("seed", "draws", "tune", "chains", "retry"))
    data = data if data is not None else prepare(org, as_of, today=today, min_group=min_group)
    key = forecast_key(data, **settings)
    if cache:
        hit = load(key, SkillGapForecast)
        if hit is not None:
            save_pointer(ikey, key)
            hit.seconds = round(time.perf_counter() - t0, 1)
            return hit
    post = fit_skill_model(data, seed=seed, draws=draws, tune=tune, chains=chains, cache=cache, retry=retry)
    dates = forecast_dates(data.as_of, horizon)
    table, opts = forecast_from(post, data, dates, seed=seed, min_group=data.min_group)
    hl = post.draws["half_life"]
    lo, hi = _interval(hl, INTERVAL)
    fc = SkillGapForecast(
        table=table, options=opts, gains=_gains_table(post, data),
        half_life={"mean": float(hl.mean()), "lower": lo, "upper": hi},
        history=history_table(data, data.min_group), rejected=data.rejected, notes=list(data.notes),
        diagnostics=post.diagnostics, as_of=data.as_of, horizon=int(horizon), min_group=data.min_group,
        settings={"seed": seed, "draws": draws, "tune": tune, "chains": chains, "cache_key": post.cache_key},
        seconds=round(time.perf_counter() - t0, 1), n_cells=len(data.cells))
    if cache:
        save(key, fc)
        save_pointer(ikey, key)
    return fc


def forecast_skill_gaps(org, horizon: int = 4, **kwargs) -> pd.DataFrame:
    """Skill-gap forecast per team x skill x quarter for the next ``horizon`` quarters.

    Columns: team, department, skill, quarter, date, status (``ok`` or ``no data``), reason,
    n_people (present at as_of), required_level, mean / lower / upper (team proficiency, 90%
    interval), p_gap, expected_shortfall, flag (``likely gap`` P >= 0.8, ``possible gap``
    P >= 0.5), last_mean / last_quarter (the last observed mean), best_program (the program
    that lowers P(gap) most, when P(gap) >= 0.5), its P(gap) after and cost, note (privacy:
    rows about fewer than ``min_group`` people carry no numbers). Keyword arguments go to
    :func:`run_forecast` (as_of, min_group, seed, draws, tune, chains, cache).
    """
    return run_forecast(org, horizon, **kwargs).table


def skill_forecast_for_program(forecast, program, **settings) -> dict:
    """What a program's report shows about the skills it targets: plain, JSON-able data for
    ``templates/skills.html.j2`` (:func:`lndbayes.report.skills_views.program_skills_html`).

    ``forecast``: a :class:`SkillGapForecast`, or an :class:`lndbayes.Org` (the forecast is
    then made with ``settings``, or read from the cache: the skill-gap report made the same one);
    ``program``: the programs.yaml entry (``org.programs.programs[id]``).

    Returns ``{"program_id", "as_of", "quarter" (the last forecast quarter), "min_group",
    "interval", "link", "available", "reason", "skills": [{"skill", "assessed", "gain" (the
    program's estimated gain on the skill: mean, lower, upper, p_gt_0; None when it was never
    completed by people assessed on it), "hidden" (rows suppressed for privacy), "teams":
    [{"team", "quarter", "required_level", "mean", "lower", "upper", "p_gap", "shortfall",
    "flag", "p_gap_if_trained", "cost_if_trained"}] (most likely gaps first)}]}``.
    A forecast that cannot be made (no assessments, ...) gives ``available: False`` and the
    reason, never an exception.
    """
    from lndbayes.errors import LndbayesError
    from lndbayes.skills.data import skill_key

    skills = list(getattr(getattr(program, "program", program), "skills", None) or [])
    pid = getattr(program, "id", None)
    if not isinstance(forecast, SkillGapForecast):
        try:
            forecast = run_forecast(forecast, **settings)
        except LndbayesError as err:
            return {"program_id": pid, "available": False, "reason": str(err), "skills": [
                {"skill": s, "assessed": False, "teams": [], "gain": None, "hidden": 0} for s in skills],
                "interval": INTERVAL, "link": "../skill-gaps/report.html"}

    known = {skill_key(s): s for s in forecast.table["skill"].dropna().unique()}
    out = {"program_id": pid, "as_of": str(forecast.as_of.date()), "skills": [], "min_group": forecast.min_group,
           "interval": INTERVAL, "link": "../skill-gaps/report.html", "available": True, "reason": None,
           "converged": bool(forecast.diagnostics.get("converged"))}
    last_q = sorted(forecast.table["quarter"].dropna().unique())[-1] if len(forecast.table) else None
    for s in skills:
        name = known.get(skill_key(s))
        entry = {"skill": s, "assessed": name is not None, "teams": [], "gain": None, "hidden": 0}
        if name is not None:
            rows = forecast.ranked_gaps(last_q)
            rows = rows[rows["skill"] == name]
            opts = forecast.options
            # this program's option per (team, quarter): one lookup a row, not a scan of every
            # option (a scan a row took seconds per skill at 597 teams)
            mine = opts[(opts["skill"] == name) & (opts["program_id"] == pid)] if len(opts) else opts
            first = {} if not len(mine) else {
                (t, q): (a, c) for t, q, a, c in
                mine.drop_duplicates(["team", "quarter"])[["team", "quarter", "p_gap_after", "cost"]]
                .itertuples(index=False)}
            for r in rows.itertuples(index=False):
                o = first.get((r.team, r.quarter))
                entry["teams"].append({
                    "team": r.team, "quarter": r.quarter, "required_level": r.required_level, "mean": r.mean,
                    "lower": r.lower, "upper": r.upper, "p_gap": r.p_gap, "shortfall": r.expected_shortfall,
                    "flag": r.flag,
                    "p_gap_if_trained": float(o[0]) if o is not None else None,
                    "cost_if_trained": float(o[1]) if o is not None else None})
            g = forecast.gains[(forecast.gains["program_id"] == pid) & (forecast.gains["skill"] == name)]
            if len(g):
                entry["gain"] = {k: float(g[k].iloc[0]) for k in ("mean", "lower", "upper", "p_gt_0")}
            entry["hidden"] = int(((forecast.table["skill"] == name) & (forecast.table["quarter"] == last_q)
                                   & (forecast.table["note"] != "")).sum())
        out["skills"].append(entry)
    out["quarter"] = last_q
    return out
