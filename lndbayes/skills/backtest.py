"""Time-ordered backtest of the skill-gap forecast, against naive baselines.

One job: fit on the data up to a cut date, forecast the held-out quarters, and score.

::

    from lndbayes.skills.backtest import backtest
    bt = backtest(org)                   # cut: 6 months before the last assessment month's end
    bt.scores                            # Brier and log loss of the model and the baselines
    bt.coverage                          # share of held-out team x skill means inside the 80% / 90% intervals

What is forecast and scored: for every team x skill x held-out quarter with assessments, the
*observed* mean of the people assessed then. The model's predictive distribution for it is the
team's proficiency forecast (people present at the cut carried forward, turnover, drift,
program gains, shocks) plus the measurement error of that many assessments. The event "gap" is
observed mean < the requirement in force on the assessment date (role requirements averaged
over the people assessed).

Baselines (as in the open benchmarks of knowledge tracing and spaced repetition: a model that
does not beat these on a time-ordered split is not good):

* **last value carried forward**: the pair's last observed mean, with the spread of observed
  changes over the same number of quarters in the training data (pooled over pairs);
  P(gap) = Phi((R - last) / sd_h);
* **constant**: the share of training team x skill x quarter means below their requirement,
  the same P(gap) for every pair.

Planted gaps (the example organisation, whose truth.json records, per team and skill, the
population mean's gap to the requirement at the end of the data ``gap_now`` and whether the
generator planted a drift or a rising requirement): pairs are ranked by the forecast's expected
shortfall in the last held-out quarter; a *material planted gap* is a planted pair with
``gap_now >= MATERIAL`` (half a point on the 5-point scale: the size of the planted requirement
rise). Each should rank in the top quarter of all pairs; pairs with no gap (``gap_now <= 0``)
should rarely be flagged as a likely gap (P(gap) >= 0.8; the rate at P >= 0.5 is reported too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from lndbayes.skills.data import SkillData, prepare
from lndbayes.skills.draws import proficiency_draws
from lndbayes.skills.forecast import LIKELY, POSSIBLE
from lndbayes.skills.forecast_cache import inputs_key, load, save
from lndbayes.skills.model import DEFAULT_SETTINGS, fit_skill_model

HOLDOUT_MONTHS = 6
MATERIAL = 0.5
EPS = 1e-3   # probabilities are clipped to [EPS, 1 - EPS] for the log loss


@dataclass
class Backtest:
    cut: pd.Timestamp
    held: pd.DataFrame          # one row per held-out team x skill x quarter: observed, forecast, events
    scores: pd.DataFrame        # method, brier, log_loss, n
    coverage: dict              # {"80": share, "90": share, "n": cells}
    planted: dict | None        # planted-gap ranking (organisations with truth.json)
    diagnostics: dict
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def beats_baselines(self) -> bool:
        s = self.scores.set_index("method")
        return all(s.loc["model", m] < s.loc[b, m] for b in ("last value", "constant")
                   for m in ("brier", "log_loss"))

    def summary(self) -> dict:
        return {"cut": str(self.cut.date()), "coverage": self.coverage,
                "scores": self.scores.to_dict("records"), "planted": self.planted,
                "beats_baselines": self.beats_baselines(), "converged": bool(self.diagnostics.get("converged")),
                "seconds": self.seconds, "settings": self.settings}


def default_cut(org, holdout_months: int = HOLDOUT_MONTHS) -> pd.Timestamp:
    """The end of the month ``holdout_months`` before the last assessment's month."""
    last = pd.to_datetime(org.table("skill_assessments")["assessed_at"]).max()
    return (last.to_period("M") - holdout_months).end_time.normalize()


def brier(p, y) -> float:
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def log_loss(p, y) -> float:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _training_events(data: SkillData) -> pd.DataFrame:
    """Training cells with their requirement (roles of the people assessed) and gap event."""
    c = data.cells.merge(data.members.groupby("cell")["employee_key"].agg(list).rename("people"),
                         left_on="cell", right_index=True)
    # every member's role in one map, not a Series and a map per cell (~2 s on the example);
    # a cell's roles in the order of its people, which the requirement's mean is summed in
    roles = data.members["employee_key"].map(data.role_of).to_numpy(dtype=object)
    rows_of = data.members.groupby("cell").indices
    reqs = [data.requirements.level(t, s, d, roles[rows_of[cell]])
            for t, s, d, cell in zip(c["team"], c["skill"], c["date"], c["cell"])]
    c["required_level"] = reqs
    c["gap"] = (c["mean"] < c["required_level"]).astype(float).where(c["required_level"].notna())
    return c


def _change_sd(cells: pd.DataFrame) -> dict:
    """Spread of a pair's observed mean change over k quarters in the training data."""
    out = {}
    c = cells.sort_values("date")
    for k in range(1, 9):
        d = c.groupby(["team", "skill"])["mean"].diff(k).dropna()
        if len(d) >= 10:
            out[k] = float(np.sqrt(np.mean(d ** 2)))
    return out


def held_out_cells(data: SkillData) -> pd.DataFrame:
    h = data.held_out
    if h is None or not len(h):
        return pd.DataFrame()
    g = (h.groupby(["team", "skill", "quarter"]).agg(
        n=("y", "size"), observed=("y", "mean"), date=("date", "mean"), roles=("role", list)).reset_index())
    ok = data.pairs[data.pairs["status"] == "ok"][["team", "skill", "department", "pair", "comp_now",
                                                   "comp_var_now", "alpha_sq_now", "n_now"]]
    return g.merge(ok, on=["team", "skill"])


def backtest(org, cut=None, *, seed: int = 0, draws: int = 1000, tune: int = DEFAULT_SETTINGS["tune"], chains: int = 4,
             cache: bool = True, retry: bool = True, today=None) -> Backtest:
    """Fit on assessments up to ``cut`` (default :func:`default_cut`), forecast the rest, score."""
    import time

    t0 = time.perf_counter()
    cut = pd.Timestamp(cut) if cut is not None else default_cut(org)
    # a new month of KPIs reruns the skill-gap report, not its backtest (3.4 s on the example)
    key = _cache_key(org, cut, today, seed=seed, draws=draws, tune=tune, chains=chains,
                     retry=bool(retry)) if cache else None
    hit = load(key, Backtest) if key else None
    if hit is not None:
        return hit
    data = prepare(org, cut, today=today, min_group=0)
    post = fit_skill_model(data, seed=seed, draws=draws, tune=tune, chains=chains, cache=cache, retry=retry)
    rng = np.random.default_rng(seed + 1)
    held = held_out_cells(data)
    if not len(held):
        from lndbayes.errors import ModelInputError
        raise ModelInputError(f"no assessments after the cut {cut.date()} to test the forecast on. "
                              "Fix: choose an earlier cut.")
    rows = []
    for r in held.itertuples(index=False):
        req = data.requirements.level(r.team, r.skill, r.date, r.roles)
        x = proficiency_draws(post, data, r, [r.date], rng)[:, 0]
        noise = data.sigma_noise.get(r.skill, 0.3) / np.sqrt(r.n)
        x = x + noise * rng.standard_normal(len(x))      # measurement error of the held-out mean
        q10, q90, q05, q95 = np.quantile(x, [0.1, 0.9, 0.05, 0.95])
        rows.append({"team": r.team, "skill": r.skill, "department": r.department, "quarter": r.quarter,
                     "date": r.date, "n": r.n, "observed": r.observed, "required_level": req,
                     "mean": float(x.mean()), "lower80": q10, "upper80": q90, "lower90": q05, "upper90": q95,
                     "p_gap": float(np.mean(x < req)) if not np.isnan(req) else np.nan,
                     "shortfall": float(np.mean(np.maximum(req - x, 0))) if not np.isnan(req) else np.nan})
    res = pd.DataFrame(rows)
    res["in80"] = (res["observed"] >= res["lower80"]) & (res["observed"] <= res["upper80"])
    res["in90"] = (res["observed"] >= res["lower90"]) & (res["observed"] <= res["upper90"])
    res["gap"] = (res["observed"] < res["required_level"]).astype(float)

    # baselines
    train = _training_events(data)
    last = data.cells.sort_values("date").groupby(["team", "skill"]).last()
    last = dict(zip(last.index, zip(last["date"], last["mean"])))     # a .loc per row: ~0.1 ms
    sd_k = _change_sd(data.cells)
    qn = lambda d: pd.Timestamp(d).year * 4 + (pd.Timestamp(d).month - 1) // 3  # noqa: E731
    lv = []
    for r in res.itertuples(index=False):
        last_date, last_mean = last[(r.team, r.skill)]
        k = max(qn(r.date) - qn(last_date), 1)
        sd = sd_k.get(k, max(sd_k.values()) if sd_k else 0.2)
        lv.append(float(norm.cdf((r.required_level - last_mean) / sd)))
    res["p_last_value"] = lv
    base_rate = float(train["gap"].mean())
    res["p_constant"] = base_rate
    scored = res[res["required_level"].notna()]
    scores = pd.DataFrame([
        {"method": name, "brier": brier(scored[col], scored["gap"]), "log_loss": log_loss(scored[col], scored["gap"]),
         "n": len(scored)}
        for name, col in (("model", "p_gap"), ("last value", "p_last_value"), ("constant", "p_constant"))])
    coverage = {"80": float(res["in80"].mean()), "90": float(res["in90"].mean()), "n": int(len(res))}
    planted = planted_gaps(org, res) if getattr(org, "truth", None) else None
    bt = Backtest(cut=cut, held=res, scores=scores, coverage=coverage, planted=planted,
                  diagnostics=post.diagnostics, seconds=round(time.perf_counter() - t0, 1),
                  settings={"seed": seed, "draws": draws, "tune": tune, "chains": chains,
                            "constant_rate": base_rate})
    if key:
        save(key, bt)
    return bt


def _cache_key(org, cut, today, **settings) -> str:
    """What a backtest reads: prepare's inputs up to the cut, the truth it ranks planted gaps
    against (example organisations), the settings and the skills source."""
    import json

    truth = json.dumps(getattr(org, "truth", None), sort_keys=True, default=str)
    return "skillbt-" + inputs_key(org, str(pd.Timestamp(cut).date()), today, 0, truth=truth, **settings)


def planted_gaps(org, res: pd.DataFrame) -> dict | None:
    """How the truth's planted gaps rank in the forecast of the last held-out quarter."""
    truth = (org.truth or {}).get("skill_gaps")
    if not truth:
        return None
    rows = [{"team": t, "skill": s, **v} for t, d in truth.items() for s, v in d.items()]
    tr = pd.DataFrame(rows)
    last_q = sorted(res["quarter"].unique())[-1]
    fc = res[res["quarter"] == last_q][["team", "skill", "p_gap", "shortfall"]]
    m = tr.merge(fc, on=["team", "skill"], how="inner")
    m = m.sort_values(["shortfall", "p_gap"], ascending=False).reset_index(drop=True)
    m["rank"] = np.arange(1, len(m) + 1)
    top = int(np.ceil(len(m) / 4))
    if "planted" in m:       # truth.json records the planted gaps and the incidental shortfalls
        planted = m["planted"].astype(bool)
    else:                    # older truth.json: a drift or a requirement rise that left a gap
        planted = (m["drifting"] | m["requirement_rose"]) & (m["gap_now"] > 0)
    material = planted & (m["gap_now"] >= MATERIAL)
    incidental = ~planted & (m["gap_now"] > 0)
    nogap = m["gap_now"] <= 0
    in_top = m["rank"] <= top
    return {
        "quarter": last_q, "pairs": int(len(m)), "top_quarter": top,
        "planted": int(planted.sum()),
        "planted_in_top_quarter": int((planted & in_top).sum()),
        "planted_worst_rank": int(m.loc[planted, "rank"].max()) if planted.any() else None,
        "planted_min_gap": float(m.loc[planted, "gap_now"].min()) if planted.any() else None,
        "material_planted": int(material.sum()),
        "material_in_top_quarter": int((material & in_top).sum()),
        "material_worst_rank": int(m.loc[material, "rank"].max()) if material.any() else None,
        "incidental": int(incidental.sum()),
        "incidental_in_top_quarter": int((incidental & in_top).sum()),
        "no_gap_pairs": int(nogap.sum()),
        "no_gap_flagged": int((nogap & (m["p_gap"] >= POSSIBLE)).sum()),
        "no_gap_flag_rate": float((nogap & (m["p_gap"] >= POSSIBLE)).sum() / max(nogap.sum(), 1)),
        "no_gap_likely": int((nogap & (m["p_gap"] >= LIKELY)).sum()),
        "no_gap_likely_rate": float((nogap & (m["p_gap"] >= LIKELY)).sum() / max(nogap.sum(), 1)),
        "gap_pairs_flagged": float(((m["gap_now"] > 0) & (m["p_gap"] >= POSSIBLE)).sum()
                                   / max((m["gap_now"] > 0).sum(), 1)),
    }


def reliability_table(p, y, bins=10) -> pd.DataFrame:
    """Forecast P(gap) in ``bins`` equal-width bins: count, mean forecast, observed frequency."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(sel.sum()),
                     "mean_forecast": float(p[sel].mean()) if sel.any() else np.nan,
                     "observed": float(y[sel].mean()) if sel.any() else np.nan})
    return pd.DataFrame(rows)
