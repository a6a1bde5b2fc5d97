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

from lndbayes import INTERVAL, progress
from lndbayes.privacy import suppressed_label
from lndbayes.skills.data import SkillData, prepare, quarter_label
from lndbayes.skills.draws import lookups, per_date, program_options, proficiency_draws
from lndbayes.skills.forecast_cache import (forecast_key, inputs_key, inputs_lock, load, load_pointer, save,
                                            save_pointer)
from lndbayes.skills.model import DEFAULT_SETTINGS, SkillPosterior, fit_skill_model

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
    half_life: dict               # mean, lower, upper (years), identified (see half_life_summary)
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
    #: the model's fit was read back from a cache (the forecast's, or the posterior's with the
    #: forecast computed again): ``seconds`` is then this reading, not a fit
    from_cache: bool = False

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
            "min_group": self.min_group, "from_cache": bool(self.from_cache),
        }


def forecast_dates(as_of, horizon: int) -> list[pd.Timestamp]:
    """The last days of the ``horizon`` calendar quarters after the quarter holding ``as_of``."""
    q = pd.Timestamp(as_of).to_period("Q")
    return [(q + k).end_time.normalize() for k in range(1, int(horizon) + 1)]


def _interval(x: np.ndarray, prob: float) -> tuple[float, float]:
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)


def forecast_from(post: SkillPosterior, data: SkillData, dates, *, seed: int = 0,
                  min_group: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast table and the program options for ``dates`` (no privacy step when
    ``min_group`` is 0)."""
    rng = np.random.default_rng(seed)
    dates = list(pd.DatetimeIndex(dates))
    rows, options = [], []
    last = data.cells.sort_values("date").groupby(["team", "skill"]).last()
    last = dict(zip(last.index, zip(last["mean"], last["quarter"])))    # a .loc per pair: ~0.1 ms
    look = lookups(data)
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
        st = per_date(draws, req)
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
        options += program_options(post, data, pr, dates, req, draws, rng, decay_memo)
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


#: the gains table's last row: the gains' mean over programs and skills (``gain_mean``)
AVERAGE_GAIN = "(average over programs)"


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
    rows.append({"program_id": AVERAGE_GAIN, "skill": "", "mean": float(g.mean()), "lower": lo,
                 "upper": hi, "p_gt_0": float(np.mean(g > 0)), "n_completers": None})
    return pd.DataFrame(rows)


#: a gain counts as seen in the data when its two-sided 90% interval excludes zero
GAIN_SEEN_P = 0.95


def gains_beyond_chance(n: int, rate: float = 2 * (1 - GAIN_SEEN_P), level: float = 0.95) -> int:
    """How many of ``n`` gains whose truth is zero have a 90% interval excluding zero by chance,
    at most, in ``level`` of organisations: the ``level`` quantile of Binomial(n, 10%) (intervals
    taken as independent). More seen gains than this are not chance: 2 of 8, 27 of 200."""
    from scipy.stats import binom

    return int(binom.ppf(level, n, rate)) if n > 0 else 0


def half_life_summary(half_life_draws, gains: pd.DataFrame) -> dict:
    """The half-life's posterior mean and 90% interval (years), and whether these data can
    inform it at all (``identified``).

    The half-life acts only through the gains it fades, so the data can inform it only if they
    show some gain: their average over programs (the last row of ``gains``) has a 90% interval
    excluding zero, or more program x skill gains do than chance would give at a true zero
    (:func:`gains_beyond_chance`: with 200 gains about 20 exclude zero by chance). That is
    necessary, not sufficient (a gain seen only right after completion says little about its
    fading), so ``identified`` True means "may be informed" and the reports show the interval.
    When it is False, how fast gains fade has no visible effect in this fit and its posterior
    reflects the model's assumptions: it may sit near its prior (the example organisation,
    which plants no gain: 1.9, 90% 0.7-4.0 years; prior 0.9-4.6) or, with many program x skill
    gains, collapse onto the shortest ages in the data: gains that vanish at once leave every
    gain free over its prior instead of pinned at zero, a volume the gains' fixed prior spread
    rewards (the large preset, ~200 gains: 0.013 years, 90% 0.011-0.016). The reports then say
    the half-life is not estimable instead of showing that interval as a finding.
    ``gains_seen`` of ``gains`` program x skill gains exclude zero; ``gains_by_chance``: the
    chance bound."""
    hl = np.asarray(half_life_draws, float)
    lo, hi = _interval(hl, INTERVAL)
    p = gains["p_gt_0"].to_numpy(float)
    seen = (p >= GAIN_SEEN_P) | (p <= 1.0 - GAIN_SEEN_P)
    average = gains["program_id"].eq(AVERAGE_GAIN).to_numpy(bool)
    n_seen, chance = int(seen[~average].sum()), gains_beyond_chance(int((~average).sum()))
    identified = bool(seen[average].any()) or n_seen > chance
    return {"mean": float(hl.mean()), "lower": lo, "upper": hi, "identified": identified,
            "gains_seen": n_seen, "gains": int((~average).sum()), "gains_by_chance": chance}


def history_table(data: SkillData, min_group: int) -> pd.DataFrame:
    """Observed team x skill x quarter means with their requirement (small cells suppressed)."""
    h = data.cells[["team", "department", "skill", "quarter", "date", "n", "mean"]].copy()
    if min_group > 0:
        h = h[h["n"] >= min_group]
    return h.reset_index(drop=True)


def run_forecast(org, horizon: int = 4, *, as_of=None, min_group: int | None = None, seed: int = 0,
                 draws: int = 1000, tune: int = DEFAULT_SETTINGS["tune"], chains: int = 4, cache: bool = True,
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
    hit.seconds, hit.from_cache = round(time.perf_counter() - t0, 1), True
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
            hit.seconds, hit.from_cache = round(time.perf_counter() - t0, 1), True
            return hit
    post = fit_skill_model(data, seed=seed, draws=draws, tune=tune, chains=chains, cache=cache, retry=retry)
    # a minute of work at 20,000 employees after the fit: a sign of life in the run's output
    progress.emit("section", section=f"Skill-gap forecast of {int((data.pairs['pair'] >= 0).sum()):,} "
                  "team x skill pairs and their programs' what-ifs")
    dates = forecast_dates(data.as_of, horizon)
    table, opts = forecast_from(post, data, dates, seed=seed, min_group=data.min_group)
    gains = _gains_table(post, data)
    fc = SkillGapForecast(
        table=table, options=opts, gains=gains, half_life=half_life_summary(post.draws["half_life"], gains),
        history=history_table(data, data.min_group), rejected=data.rejected, notes=list(data.notes),
        diagnostics=post.diagnostics, as_of=data.as_of, horizon=int(horizon), min_group=data.min_group,
        settings={"seed": seed, "draws": draws, "tune": tune, "chains": chains, "cache_key": post.cache_key},
        seconds=round(time.perf_counter() - t0, 1), n_cells=len(data.cells), from_cache=post.from_cache)
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
