"""What the skill-gap report saves: summary.json and the tidy tables (one job: writing them).

``summary.json`` holds plain numbers and ready-made strings: the forecast's summary
(:meth:`SkillGapForecast.summary`), the backtest's figures, the early-warning counts, and
``portfolio``: the top gaps as strings for the portfolio index (``link`` and ``rows`` of
``{"team", "skill", "gap", "text"}``, the context key ``skill_gaps`` of
templates/portfolio.html.j2). Everything written is privacy-suppressed (no group under
min_group, no employee identifier).
"""

from __future__ import annotations

from pathlib import Path

from lndbayes.atomic import write_json, write_text
from lndbayes.formatting import fmt_num, fmt_pct

SUMMARY_FILE = "summary.json"
PORTFOLIO_TOP = 5


def portfolio_rows(fc, top: int = PORTFOLIO_TOP) -> list[dict]:
    g = fc.ranked_gaps()
    g = g[g["p_gap"] >= 0.5].head(top)
    return [{"team": r.team, "skill": r.skill,
             "gap": f"P(gap) {fmt_pct(r.p_gap)} in {r.quarter}",
             "text": (f"forecast {fmt_num(r.mean, 2)} vs required {fmt_num(r.required_level, 1)}"
                      f" (shortfall {fmt_num(r.expected_shortfall, 2)})"
                      + (f"; closed by {r.best_program}" if isinstance(r.best_program, str) else ""))}
            for r in g.itertuples(index=False)]


def summary(fc, bt=None, flags=None, *, link: str = "skill-gaps/report.html") -> dict:
    out = {"status": "ok", **fc.summary(), "seconds": fc.seconds,
           "backtest": bt.summary() if bt is not None else None,
           "early_warning": None if flags is None else {
               "checked": int(len(flags)), "flagged": int(flags["flagged"].fillna(False).astype(bool).sum()),
               "kpis": sorted(flags["kpi"].dropna().unique().tolist()) if len(flags) else []},
           "portfolio": {"link": link, "rows": portfolio_rows(fc)}}
    return out


def save(out_dir, fc, bt=None, flags=None) -> dict:
    """Write summary.json, forecast.csv (the tidy table), options.csv and gains.csv into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summary(fc, bt, flags)
    write_text(out / "forecast.csv", fc.table.to_csv(index=False))
    write_text(out / "options.csv", fc.options.to_csv(index=False))
    write_text(out / "gains.csv", fc.gains.to_csv(index=False))
    if bt is not None:
        # held-out team x skill means of groups large enough to show
        held = bt.held[bt.held["n"] >= fc.min_group].drop(columns=["department"], errors="ignore")
        write_text(out / "backtest.csv", held.to_csv(index=False))
    write_json(out / SUMMARY_FILE, s, indent=2, default=str)
    return s
