"""Views of the skill-gap forecast: HTML sections and figures (presentation only).

Each function takes what :mod:`lndbayes.skills` computed (a
:class:`~lndbayes.skills.forecast.SkillGapForecast`, a :class:`~lndbayes.skills.backtest.Backtest`,
the early-warning table) and returns HTML rendered from ``templates/skill_gaps.html.j2`` or
``templates/skills.html.j2``, or a matplotlib Figure. Nothing here estimates anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.formatting import DASH, decimals_for, fmt_interval, fmt_money, fmt_num, fmt_pct
from lndbayes.report.templating import render

#: the command that reproduces the backtest figures of the report
BACKTEST_COMMAND = "lndbayes forecast --backtest"


def _table(df: pd.DataFrame, caption: str | None = None) -> dict:
    """A table for the ``table`` macro from a frame of display strings (numbers right-aligned)."""
    rows = []
    for _, r in df.iterrows():
        rows.append([{"text": DASH if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v),
                      "num": not isinstance(v, str) or v[:1].isdigit() or v[:1] in "<>+\u2212-"}
                     for v in r.tolist()])
    return {"caption": caption, "columns": [str(c) for c in df.columns], "rows": rows}


def _skill_name(s) -> str:
    return s if isinstance(s, str) else "(any skill)"


# ---- per-program section ----------------------------------------------------------------------

def program_skills_html(section: dict, currency: str = "EUR", top: int = 10) -> str:
    """The per-program skill-gap section (``templates/skills.html.j2``) from
    :func:`lndbayes.skills.forecast.skill_forecast_for_program`'s dict."""
    s = dict(section)
    skills = []
    for k in s.get("skills", []):
        k = dict(k)
        teams = [t for t in k.get("teams", []) if t.get("p_gap") is not None and t["p_gap"] >= 0.5]
        k["n_likely"] = sum(1 for t in teams if t["p_gap"] >= 0.8)
        k["more"] = 0
        k["rows"] = [{
            "team": t["team"], "required": fmt_num(t["required_level"], 1),
            "forecast": f"{fmt_num(t['mean'], 2)} ({fmt_num(t['lower'], 2)} to {fmt_num(t['upper'], 2)})",
            "p_gap": fmt_pct(t["p_gap"]), "shortfall": fmt_num(t["shortfall"], 2),
            "if_trained": fmt_pct(t["p_gap_if_trained"]) if t.get("p_gap_if_trained") is not None else DASH,
            "cost": fmt_money(t["cost_if_trained"], currency) if t.get("cost_if_trained") is not None else DASH}
            for t in teams[:top]]
        k["more"] = sum(1 for t in k.get("teams", []) if t.get("p_gap") is not None and t["p_gap"] < 0.5)
        g = k.get("gain")
        k["gain_text"] = fmt_interval(g["mean"], g["lower"], g["upper"], decimals=2) if g else None
        k["gain_p"] = fmt_pct(g["p_gt_0"]) if g else None
        skills.append(k)
    s["skills"] = skills
    s.setdefault("converged", True)
    return render("skills.html.j2", s=s)


# ---- the skill-gap report ---------------------------------------------------------------------

def header(fc, organisation: str) -> str:
    t = fc.table
    last_q = sorted(t["quarter"].dropna().unique())[-1]
    last = fc.ranked_gaps(last_q)
    shown = t[(t["status"] == "ok") & (t["note"] == "")]
    return render("skill_gaps.html.j2", section="header", organisation=organisation, as_of=str(fc.as_of.date()),
                  quarters=sorted(t["quarter"].dropna().unique()), min_group=fc.min_group,
                  converged=bool(fc.diagnostics.get("converged")), messages=fc.diagnostics.get("messages", []),
                  n_likely=int((last["p_gap"] >= 0.8).sum()),
                  n_possible=int(((last["p_gap"] >= 0.5) & (last["p_gap"] < 0.8)).sum()),
                  last_quarter=last_q, n_pairs=shown[["team", "skill"]].drop_duplicates().shape[0],
                  n_all=t[["team", "skill"]].drop_duplicates().shape[0],
                  n_nodata=t[t["status"] == "no data"][["team", "skill"]].drop_duplicates().shape[0])


def ranked_gaps(fc, top: int = 25, currency: str = "EUR") -> str:
    last_q = sorted(fc.table["quarter"].dropna().unique())[-1]
    g = fc.ranked_gaps(last_q)
    g = g[g["p_gap"] >= 0.5].head(top)
    df = pd.DataFrame({
        "Team": g["team"], "Skill": g["skill"], "Required": g["required_level"].map(lambda v: fmt_num(v, 1)),
        "Forecast mean (90%)": [f"{fmt_num(m, 2)} ({fmt_num(lo, 2)} to {fmt_num(hi, 2)})"
                                for m, lo, hi in zip(g["mean"], g["lower"], g["upper"])],
        "P(gap)": g["p_gap"].map(fmt_pct), "Shortfall": g["expected_shortfall"].map(lambda v: fmt_num(v, 2)),
        "Last observed": [f"{fmt_num(m, 2)} ({q})" for m, q in zip(g["last_mean"], g["last_quarter"])],
        "Closes it": [f"{p} ({fmt_money(c, currency)})" if isinstance(p, str) else "none"
                      for p, c in zip(g["best_program"], g["best_program_cost"])]})
    nd = fc.table[fc.table["status"] == "no data"][["team", "skill", "reason", "note"]].drop_duplicates(["team", "skill"])
    nodata = [f"{r.team} / {_skill_name(r.skill)}: {r.reason}" for r in nd.itertuples(index=False)]
    return render("skill_gaps.html.j2", section="ranked", rows=list(range(len(df))), t=_table(df),
                  quarter=last_q, nodata=nodata)


def programs(fc, currency: str = "EUR") -> str:
    last_q = sorted(fc.table["quarter"].dropna().unique())[-1]
    o = fc.options
    o = o[(o["quarter"] == last_q) & o["closes"]] if len(o) else o
    t = None
    if len(o):
        agg = o.groupby("program_id").agg(gaps=("team", "size"), people=("n_trained", "sum"), cost=("cost", "sum"),
                                          fixed=("fixed_cost", "first")).reset_index()
        t = _table(pd.DataFrame({"Program": agg["program_id"], "Gaps closed": agg["gaps"].astype(str),
                                 "People to train": agg["people"].astype(str),
                                 "Cost (per participant)": agg["cost"].map(lambda v: fmt_money(v, currency)),
                                 "Fixed cost per run": agg["fixed"].map(lambda v: fmt_money(v, currency))}))
    gains = fc.gains
    gt = _table(pd.DataFrame({
        "Program": gains["program_id"], "Skill": gains["skill"].replace("", DASH),
        "Gain per completer (90%)": [fmt_interval(m, lo, hi, decimals=2) for m, lo, hi in
                                     zip(gains["mean"], gains["lower"], gains["upper"])],
        "P(gain > 0)": gains["p_gt_0"].map(fmt_pct),
        "Completers": gains["n_completers"].map(lambda v: DASH if pd.isna(v) else f"{int(v)}")}),
        caption="Estimated gains of the programs on the skills they target (proficiency points at completion)")
    return render("skill_gaps.html.j2", section="programs", t=t, gains=gt, quarter=last_q,
                  **half_life_text(fc.half_life))


def half_life_text(hl: dict) -> dict:
    """The half-life's posterior as text (two significant digits of its interval's width, at
    least one decimal: 0.013 years is not "0.0"), whether these data can inform it and, when
    not, why (:func:`lndbayes.skills.forecast.half_life_summary`; a forecast made before that
    flag existed counts as informed, as it was shown then)."""
    d = max(1, decimals_for(hl["upper"] - hl["lower"]))
    seen, n, chance = hl.get("gains_seen"), hl.get("gains"), hl.get("gains_by_chance")
    count = ("" if None in (seen, n, chance) else
             f", and {seen} of {n} program x skill gains exclude zero, no more than chance gives "
             f"(up to {chance})")
    return {"half_life": f"{fmt_num(hl['mean'], d)} ({fmt_num(hl['lower'], d)} to {fmt_num(hl['upper'], d)})",
            "half_life_identified": bool(hl.get("identified", True)),
            "half_life_why": "the programs' average gain is not distinguishable from zero (its 90% "
                             "interval includes 0)" + count}


def early_warning(flags: pd.DataFrame | None, fc=None, threshold: float = 0.9) -> str:
    """G's early-warning flags as candidate gaps, next to the forecast of the same team x skill."""
    if flags is None:
        return render("skill_gaps.html.j2", section="early", t=None, checked=0, kpis="none",
                      threshold=fmt_pct(threshold), skipped="the early warning could not run")
    from lndbayes.skills.early_warning import candidate_skill_gaps

    cand = candidate_skill_gaps(flags)
    t = None
    if len(cand):
        if fc is not None:
            last_q = sorted(fc.table["quarter"].dropna().unique())[-1]
            f = fc.table[(fc.table["quarter"] == last_q) & (fc.table["note"] == "")][["team", "skill", "p_gap"]]
            cand = cand.merge(f, on=["team", "skill"], how="left")
        else:
            cand["p_gap"] = np.nan
        t = _table(pd.DataFrame({
            "Team": cand["team"], "KPI": cand["kpi"], "Skill": cand["skill"].map(_skill_name),
            "P(real)": cand["p_real"].map(fmt_pct),
            "Change (90%)": [fmt_interval(c, lo, hi, unit=u) for c, lo, hi, u in
                             zip(cand["change"], cand["change_lo"], cand["change_hi"], cand["unit"].fillna(""))],
            "Assessment-based P(gap)": cand["p_gap"].map(lambda v: DASH if pd.isna(v) else fmt_pct(v)),
            "Why": cand["reason"]}))
    shown = flags[flags.get("note", pd.Series("", index=flags.index)).fillna("") == ""] if len(flags) else flags
    skipped = "; ".join(f"{k} ({v})" for k, v in (flags.attrs.get("skipped") or {}).items())
    return render("skill_gaps.html.j2", section="early", t=t, checked=len(shown),
                  kpis=", ".join(sorted(flags["kpi"].dropna().unique())) if len(flags) else "none",
                  threshold=fmt_pct(threshold), skipped=skipped)


def backtest(bt, command: str = BACKTEST_COMMAND) -> str:
    s = bt.scores
    df = pd.DataFrame({"Method": s["method"], "Brier score": s["brier"].map(lambda v: fmt_num(v, 3)),
                       "Log loss": s["log_loss"].map(lambda v: fmt_num(v, 3)), "Held-out means": s["n"].astype(str)})
    p = bt.planted
    planted = None
    if p:
        planted = (f"{p['planted_in_top_quarter']} of {p['planted']} planted gaps (a decline or a rising "
                   f"requirement) rank in the top quarter (top {p['top_quarter']} of {p['pairs']} pairs by "
                   f"expected shortfall in {p['quarter']}; the lowest ranks {p['planted_worst_rank']}); "
                   f"incidental shortfalls (no gap planted): {p['incidental_in_top_quarter']} of "
                   f"{p['incidental']}. Of {p['no_gap_pairs']} pairs with no gap, "
                   f"{fmt_pct(p['no_gap_likely_rate'])} are flagged as likely gaps (P(gap) >= 80%; stated "
                   f"limit 5%) and {fmt_pct(p['no_gap_flag_rate'])} as possible gaps (P >= 50%).")
    return render("skill_gaps.html.j2", section="backtest", cut=str(bt.cut.date()),
                  quarters=sorted(bt.held["quarter"].unique()), n=bt.coverage["n"],
                  cov80=fmt_pct(bt.coverage["80"]), cov90=fmt_pct(bt.coverage["90"]),
                  verdict="yes" if bt.beats_baselines() else "no", scores=_table(df), planted=planted,
                  command=command)


def model(fc) -> str:
    d = fc.diagnostics
    diag = (f"R-hat max {fmt_num(d.get('rhat_max'), 3)}, ESS min {fmt_num(min(d.get('ess_bulk_min', 0), d.get('ess_tail_min', 0)), 0)}, "
            f"{d.get('divergences', 0)} divergences" + ("" if d.get("converged") else " (FAILED)"))
    rej = None
    if len(fc.rejected):
        rej = _table(pd.DataFrame({"File": fc.rejected["table"] + ".csv", "Reason": fc.rejected["reason"],
                                   "Rows": fc.rejected["rows"].astype(str)}),
                     caption="Input rows not used by the forecast")
    return render("skill_gaps.html.j2", section="model", n_cells=f"{getattr(fc, 'n_cells', 0):,}",
                  seconds=fmt_num(fc.seconds, 0), from_cache=bool(getattr(fc, "from_cache", False)),
                  diag=diag, rejected=rej, notes=fc.notes,
                  **half_life_text(fc.half_life))


# ---- figures ----------------------------------------------------------------------------------

#: most team rows the heatmap draws (at 597 teams it was a 100-inch-tall image that took
#: minutes to draw and could not be read); the rest are in the ranked table and the CSV
HEATMAP_TEAMS = 80


def heatmap_teams(table: pd.DataFrame, most: int = HEATMAP_TEAMS) -> tuple[list, int]:
    """The teams the heatmap shows (sorted by name): all of them, or the ``most`` with the most
    likely gaps (rows with P(gap) >= 0.8 over skills and quarters; ties: the higher mean P(gap));
    and how many teams there are in all."""
    teams = sorted(table["team"].unique())
    if len(teams) <= most:
        return teams, len(teams)
    g = table.assign(likely=table["p_gap"] >= 0.8).groupby("team")
    rank = pd.DataFrame({"likely": g["likely"].sum(), "mean": g["p_gap"].mean().fillna(-1.0)})
    keep = rank.sort_values(["likely", "mean"], ascending=False, kind="stable").index[:most]
    return sorted(keep), len(teams)


def heatmap_figure(fc):
    """P(gap) by team (rows) x skill (columns), one panel per forecast quarter. Grey: the skill is
    not required of the team or its group is too small to show; x: no data. With more than
    :data:`HEATMAP_TEAMS` teams, the teams with the most likely gaps (the title says so)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    t = fc.table
    quarters = sorted(t["quarter"].dropna().unique())
    teams, n_teams = heatmap_teams(t)
    t = t[t["team"].isin(teams)]
    skills = sorted(t["skill"].dropna().unique())
    cmap = LinearSegmentedColormap.from_list("gap", ["#f7fbff", "#fde68a", "#f97316", "#b91c1c"])
    cmap.set_bad("#e5e7eb")
    h = max(4.0, 0.17 * len(teams) + 1.8)
    fig, axes = plt.subplots(1, len(quarters), figsize=(2.6 + 2.9 * len(quarters), h), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, q in zip(axes[0], quarters):
        sub = t[t["quarter"] == q]
        grid = sub.pivot_table(index="team", columns="skill", values="p_gap", aggfunc="first", dropna=False)
        grid = grid.reindex(index=teams, columns=skills)
        im = ax.imshow(np.ma.masked_invalid(grid.to_numpy(float)), cmap=cmap, vmin=0, vmax=1, aspect="auto",
                       interpolation="nearest")
        nd = sub[sub["status"] == "no data"]
        for r in nd.itertuples(index=False):
            cols = [skills.index(r.skill)] if isinstance(r.skill, str) else range(len(skills))
            for c in cols:
                ax.text(c, teams.index(r.team), "x", ha="center", va="center", fontsize=7, color="#111827")
        ax.set_title(q, fontsize=10)
        ax.set_xticks(range(len(skills)), [s.replace("_", " ") for s in skills], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(teams)), teams, fontsize=6)
        ax.tick_params(length=0)
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.02, pad=0.01, label="P(gap)", shrink=0.5)
    fig.suptitle("P(team mean proficiency below requirement)" + (
        "" if len(teams) == n_teams else f": the {len(teams)} of {n_teams} teams with the most likely gaps"),
        fontsize=11)
    return fig


def backtest_figure(bt):
    """Left: reliability of P(gap) on the held-out quarters (model and baselines). Right:
    held-out team x skill means against the forecast, with 80% intervals."""
    import matplotlib.pyplot as plt

    from lndbayes.skills.backtest import reliability_table

    h = bt.held[bt.held["required_level"].notna()]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.5, 4.3))
    a1.plot([0, 1], [0, 1], color="#9ca3af", lw=1, ls="--")
    for col, name, style in (("p_gap", "model", "o-"), ("p_last_value", "last value", "s--"),
                             ("p_constant", "constant", "^:")):
        rt = reliability_table(h[col], h["gap"], bins=5)
        rt = rt[rt["n"] > 0]
        a1.plot(rt["mean_forecast"], rt["observed"], style, label=name, ms=4)
    a1.set(xlabel="forecast P(gap)", ylabel="observed share below requirement", xlim=(0, 1), ylim=(0, 1),
           title="Reliability on held-out quarters")
    a1.legend(fontsize=8)
    b = bt.held
    inside = b["in80"].to_numpy()
    a2.errorbar(b["mean"], b["observed"], xerr=[b["mean"] - b["lower80"], b["upper80"] - b["mean"]], fmt="none",
                ecolor="#cbd5e1", lw=0.6)
    a2.scatter(b["mean"][inside], b["observed"][inside], s=6, color="#2563eb", label="inside the 80% interval")
    a2.scatter(b["mean"][~inside], b["observed"][~inside], s=8, color="#dc2626", label="outside")
    lim = (float(min(b["lower80"].min(), b["observed"].min())) - 0.1, float(max(b["upper80"].max(), b["observed"].max())) + 0.1)
    a2.plot(lim, lim, color="#9ca3af", lw=1, ls="--")
    a2.set(xlabel="forecast team mean", ylabel="observed team mean", xlim=lim, ylim=lim,
           title=f"Held-out means: {bt.coverage['80']:.0%} inside the 80% intervals")
    a2.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
