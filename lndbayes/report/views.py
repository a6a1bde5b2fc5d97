"""Views of a :class:`~lndbayes.analysis.ProgramAnalysis`: HTML sections and figures.

Each function takes the analysis (fresh or read back with :func:`lndbayes.load_analysis`) and
returns HTML (rendered from ``templates/*.html.j2``) or a matplotlib Figure. Nothing here
estimates anything: numbers are only formatted (lndbayes.formatting) and drawn (report.figures).
"""

from __future__ import annotations

import base64
import re

import pandas as pd
from markupsafe import Markup, escape

from lndbayes import INTERVAL
from lndbayes.design.designs import DESIGNS
from lndbayes.privacy import reportable
from lndbayes.report import figures
from lndbayes.report.templating import render
from lndbayes.formatting import DASH, decimals_for, fmt_int, fmt_interval, fmt_money, fmt_num, fmt_pct


def design_words(design_type) -> str:
    """The design's one-sentence description (its entry in lndbayes.design.designs)."""
    des = DESIGNS.get(design_type)
    return des.description if des else ""


def table(df: pd.DataFrame, caption: str | None = None, formats: dict | None = None) -> dict:
    """A table for the ``table`` macro: each cell's text (per-column formatter; missing values
    shown as a dash) and whether it is a number (right-aligned)."""
    formats = formats or {}
    rows = []
    for _, row in df.iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                text = DASH
            elif c in formats:
                text = formats[c](v)
            elif isinstance(v, float):
                text = fmt_num(v, 2)
            else:
                text = str(v)
            cells.append({"text": text, "num": not isinstance(v, str) and v is not None})
        rows.append(cells)
    return {"caption": caption, "columns": [str(c) for c in df.columns], "rows": rows}


# ---- top of the report ------------------------------------------------------------------------

def header(an) -> str:
    return render("header.html.j2", p=an.program, organisation=an.organisation)


def _target_line(o) -> str:
    if o.decision.p_target is None:
        return "no target"
    return f"{o.display['p_target']} (target {o.display['target']})"


def executive_summary(an) -> str:
    outs = list(an.outcomes.values())
    rows = [{"Outcome (level)": f"{o.title} [L{o.level}]", "Effect": o.display["effect_abs"],
             "Relative": o.display["effect_rel"] or DASH, "P(works)": o.display["p_works"],
             "P(meets target)": _target_line(o),
             "Direction": "lower is better" if o.direction == "decrease" else "higher is better"}
            for o in outs]
    return render("executive_summary.html.j2", recommendation=an.recommendation,
                  not_converged=[o.outcome_id for o in outs if not o.converged], failures=an.failures,
                  target=an.program.get("target"), outcomes=outs, roi=an.roi_display or None,
                  intangibles=[o.outcome_id for o in outs], rule=an.decision_rule,
                  roi_error=getattr(an, "roi_error", None),
                  rule_source=_rule_source(an), evsi=(an.roi_display or {}).get("evsi"),
                  effects=table(pd.DataFrame(rows), "Effect of the program on each outcome") if rows else None)


def _rule_source(an) -> str:
    return ("thresholds from programs.yaml decision:" if an.program.get("decision")
            else "the default thresholds; set them per program with decision: in programs.yaml")


def roi(an) -> str:
    """The "Return on investment" section: headline, per outcome, the rule and what more data is worth."""
    disp = an.roi_display or {}
    rule = an.decision_rule or {}
    checks = None
    if rule.get("checks"):
        checks = table(pd.DataFrame([{"condition": c["name"], "for": c["role"], "value": c["value_text"],
                                      "threshold": c["threshold_text"], "holds": "yes" if c["ok"] else "no"}
                                     for c in rule["checks"]]),
                       f"The rule's conditions (decided on {rule.get('outcome')} and the program's money)")
    if an.roi is None:
        return render("roi.html.j2", roi=None, intangibles=list(an.outcomes), rule=rule, checks=checks,
                      rule_source=_rule_source(an), evsi=None, roi_error=getattr(an, "roi_error", None))
    head = pd.DataFrame([
        {"measure": "benefit over the horizon", "estimate (90% interval)": disp["benefit"]},
        {"measure": "fully loaded costs", "estimate (90% interval)": disp["costs"]},
        {"measure": "net benefit", "estimate (90% interval)": disp["net_benefit"]},
        {"measure": "ROI", "estimate (90% interval)": disp["roi_pct"]},
        {"measure": "benefit-cost ratio", "estimate (90% interval)": disp["bcr"]},
        {"measure": "P(ROI > 0)", "estimate (90% interval)": disp["p_roi_positive"]},
        {"measure": "payback time (median, interval)", "estimate (90% interval)": disp["payback_months"]},
    ])
    per = pd.DataFrame([{"outcome": oid, "effect": d["effect"], "units over the horizon": d["units"],
                         "value per unit": d["value_per_unit"], "benefit over the horizon": d["benefit"],
                         "break-even effect": d["break_even_effect"]}
                        for oid, d in disp["outcomes"].items()])
    bases = [{"id": oid, **d} for oid, d in disp["outcomes"].items()]
    money = [{"title": o.title, "benefit": o.display["benefit"], "units": fmt_num(o.decision.benefit.n_units, 0),
              "value": fmt_money(o.decision.benefit.value_per_unit, an.currency)}
             for o in an.outcomes.values() if o.decision.benefit is not None]
    ev = disp.get("evsi")
    evsi_table = None
    if ev:
        evsi_table = table(pd.DataFrame([{"more data": o["option"], "EVSI": o["evsi"], "cost": o["cost"],
                                          "benefit meanwhile": o.get("benefit", ""),
                                          "EVSI - cost + benefit": o["net"],
                                          "cost counted as": o["cost_basis"],
                                          "benefit counted as": o.get("benefit_basis", "")}
                                         for o in ev["options"]]),
                           "Expected value of sample information of each option")
    return render("roi.html.j2", roi=disp, headline=table(head, "Return on investment"),
                  per_outcome=table(per, "Benefit of each monetised outcome"), bases=bases, money=money,
                  overlaps=an.roi.overlap_warnings, intangibles=an.roi.intangibles, excluded=an.roi.excluded,
                  aligned=an.roi.aligned, rule=rule, rule_source=_rule_source(an), checks=checks, evsi=ev,
                  evsi_table=evsi_table, currency=an.currency,
                  evsi_method=("Method: a normal approximation of the net benefit's posterior, with information "
                               "growing in proportion to teams or months of follow-up (optimistic for months when "
                               "team effects persist)") if ev else "")


def summary_table(o) -> dict:
    labels = {"effect_mean": "average effect (link scale)", "effect_sd_team": "between-team sd (link scale)",
              "effect_new_team": "effect in a new team (link scale)",
              "average_effect_abs": f"average effect ({o.unit})",
              "average_effect_rel": "average effect (relative, %)"}
    rows = []
    for _, r in o.result.summary().iterrows():
        est = r["estimand"]
        mult = o.display_scale if est == "average_effect_abs" else (100.0 if est == "average_effect_rel" else 1.0)
        dec = decimals_for(abs(r["upper"] - r["lower"]) * mult)
        rows.append({"estimand": labels.get(est, est), "mean": fmt_num(r["mean"] * mult, dec, True),
                     f"{INTERVAL:.0%} interval": f"{fmt_num(r['lower'] * mult, dec, True)} to "
                                                 f"{fmt_num(r['upper'] * mult, dec, True)}",
                     "P(> 0)": fmt_pct(r.get("p_gt_0")) if pd.notna(r.get("p_gt_0")) else DASH})
    return table(pd.DataFrame(rows), "Posterior summary")


def level(an, lvl: int) -> str:
    items = []
    for oid in an.outcomes_at_level(lvl):
        if oid in an.failures:
            items.append({"id": oid, "failure": an.failures[oid]})
        elif oid in an.outcomes:
            items.append({"id": oid, "o": an.outcomes[oid], "summary": summary_table(an.outcomes[oid])})
    return render("level.html.j2", items=items, level=lvl, name={4: "results", 3: "behaviour"}[lvl])


# ---- learning, reaction, completion, skills -----------------------------------------------------

def learning(an):
    """(HTML, Figure or None): the assessment scores of the program's activities."""
    c = an.context["learning"]
    html = render("context.html.j2", section="learning", c=c, min_group=an.min_group,
                  mean=fmt_num(c.get("mean", 0) * 100, 0), median=fmt_num(c.get("median", 0) * 100, 0))
    if c["n"] < an.min_group:
        return html, None
    fig = figures.score_distribution(pd.DataFrame({"score_scaled": c["scores"]}),
                                     title="Level 2: assessment scores in the program")
    return html, fig


def reaction(an) -> str:
    return render("context.html.j2", section="reaction", c=an.context["reaction"], min_group=an.min_group)


def completion(an) -> str:
    return render("context.html.j2", section="completion", c=an.context["completion"])


#: most team rows a program report shows per target skill
SKILL_ROWS = 30


def skills(an) -> str:
    """The skill-gap forecast of the program's target skills (or why there is none)."""
    d = (an.extras_display or {}).get("skills")
    if d is None and not (an.extras_status or {}).get("skills"):
        # an analysis saved before the forecast existed
        return render("context.html.j2", section="skills", skills=an.program.get("skills"))
    # the rows come most likely gap first; a large organisation has hundreds of teams a skill
    # (219 at the large preset): the report shows the first ones, the skill-gap report all
    tables = {s["skill"]: table(pd.DataFrame(s["rows"][:SKILL_ROWS]), f"{s['skill']}: teams in {d.get('quarter')}")
              for s in (d or {}).get("skills", []) if s.get("rows")}
    more = {s["skill"]: max(0, len(s.get("rows") or []) - SKILL_ROWS) for s in (d or {}).get("skills", [])}
    if d is None and not an.program.get("skills"):
        return "<p>This program lists no target skills in programs.yaml (<code>program.skills</code>).</p>"
    return _extra(an, "skills", "Skill-gap forecast", tables=tables, more=more, min_group=an.min_group)


# ---- team level ---------------------------------------------------------------------------------

def team(an, oid) -> str:
    o = an.outcomes[oid]
    tt = o.team_table
    sup = tt[tt["note"] != ""]
    new = o.result.summary().set_index("estimand")
    new_team = None
    if "effect_new_team" in new.index:
        r = new.loc["effect_new_team"]
        new_team = {"effect": fmt_interval(r["mean"], r["lower"], r["upper"]), "p": fmt_pct(r["p_gt_0"])}
    return render("team.html.j2", o=o, n_shown=len(reportable(tt)), n_suppressed=len(sup),
                  min_group=an.min_group, new_team=new_team,
                  suppressed=table(sup[["team", "note"]], "Teams not shown") if len(sup) else None)


def forest_figure(an, oid):
    o = an.outcomes[oid]
    return figures.forest_plot(reportable(o.team_table), xlabel=f"Effect in the team ({o.unit})",
                               scale=o.display_scale, average=o.decision.effect_abs.mean,
                               title=f"Team effects, raw vs pooled: {oid}")


def distribution_figure(an, oid):
    o = an.outcomes[oid]
    d = o.decision
    if d.target is not None and d.target_scale == "rel" and d.effect_rel is not None:
        return figures.effect_distribution(o.result.draws("average_effect_rel"), scale=100.0,
                                           xlabel="Average effect, relative change (%)", target=d.target,
                                           target_label=f"agreed target ({o.display['target']})",
                                           title=f"Average effect: {oid}",
                                           interval=(d.effect_rel.lower, d.effect_rel.upper))
    # the shaded interval is the decision's own, the one the tables print
    return figures.effect_distribution(o.result.draws("average_effect_abs"), scale=o.display_scale,
                                       xlabel=f"Average effect ({o.unit})", target=d.target,
                                       title=f"Average effect: {oid}",
                                       interval=(d.effect_abs.lower, d.effect_abs.upper))


def event_time_figure(an, oid):
    o = an.outcomes[oid]
    if o.event_time is None or o.event_time.empty:
        return None
    return figures.event_time_plot(o.event_time, ylabel=f"Effect ({o.link_meaning})",
                                   title=f"Effect by months since the team started: {oid}")


# ---- data ---------------------------------------------------------------------------------------

def ledger(an) -> str:
    ints = {c: fmt_int for c in ("rows_read", "rows_accepted", "rows_rejected", "rows")}
    led = None if an.ledger is None else table(an.ledger, "Ledger: rows read = accepted + rejected, per file", ints)
    rej = None if an.rejections is None else table(an.rejections, "Why rows were rejected (counts)", ints)
    return render("data.html.j2", section="ledger", ledger=led, rejections=rej)


def population(an) -> str:
    rows = [{"outcome": oid, "measured on": o.measured_on.replace("_", " "), "rows": o.population["rows"],
             "units (treated)": o.population["units_treated"], "units (control)": o.population["units_control"],
             "teams": o.population["teams"]} for oid, o in an.outcomes.items()]
    units = table(pd.DataFrame(rows), "Analysed units per outcome",
                  {c: fmt_int for c in ("rows", "units (treated)", "units (control)", "teams")}) if rows else None
    crit = "; ".join(f"{k}: {v}" for k, v in an.program["population"].items()) or "everybody"
    des = an.program["design"]
    return render("data.html.j2", section="population", criteria=crit, units=units, design=des,
                  design_words=design_words(des["type"]))


def balance(an) -> str:
    oid = an.primary if an.primary in an.outcomes else next(iter(an.outcomes), None)
    bt = None if oid is None else an.outcomes[oid].balance
    if bt is None:
        return render("data.html.j2", section="balance", balance=None)
    bt = bt.copy()
    if "imbalanced" in bt:
        bt["imbalanced"] = bt["imbalanced"].map(lambda v: "yes" if v else "no")
    bt = bt.rename(columns={"mean_treated": "mean (program)", "mean_control": "mean (control)",
                            "sd_treated": "sd (program)", "sd_control": "sd (control)",
                            "n_treated": "n (program)", "n_control": "n (control)",
                            "std_diff": "standardised difference", "imbalanced": "imbalanced (|d| > 0.1)"})
    formats = {c: (lambda v: fmt_num(v, 2)) for c in bt.columns if c.startswith(("mean", "sd", "standard"))}
    formats |= {c: fmt_int for c in bt.columns if c.startswith("n (")}
    return render("data.html.j2", section="balance", balance=table(
        bt, f"Balance of the arms before the program ({oid}; one row per unit)", formats))


# ---- appendix -----------------------------------------------------------------------------------

def diagnostics(an) -> str:
    rows = []
    for oid, o in an.outcomes.items():
        dg = o.result.diagnostics()
        rows.append({"outcome": oid, "converged": "yes" if dg.get("converged") else "NO",
                     "max R-hat": dg.get("rhat_max"), "min bulk ESS": dg.get("ess_bulk_min"),
                     "min tail ESS": dg.get("ess_tail_min"), "divergences": dg.get("divergences"),
                     "min E-BFMI": dg.get("ebfmi_min"), "retries": dg.get("retries"),
                     "messages": "; ".join(map(str, dg.get("messages") or [])) or DASH})
    t = table(pd.DataFrame(rows), "Sampler diagnostics (rules: R-hat < 1.01, ESS > 400, no divergences, "
                                  "E-BFMI > 0.3)",
              {"max R-hat": lambda v: f"{v:.3f}", "min bulk ESS": lambda v: f"{v:,.0f}",
               "min tail ESS": lambda v: f"{v:,.0f}", "divergences": lambda v: f"{int(v)}",
               "min E-BFMI": lambda v: f"{v:.2f}", "retries": lambda v: f"{int(v)}"})
    return render("appendix.html.j2", section="diagnostics", diagnostics=t)


def ppc(an) -> str:
    have = [oid for oid, o in an.outcomes.items() if "posterior" in o.predictive]
    rows = [{"outcome": oid, "arm": arm, "observed": an.outcomes[oid].predictive["posterior"]["observed"][arm],
             "share of replications above": p}
            for oid in have for arm, p in an.outcomes[oid].predictive["posterior_p_value"].items()]
    checks = table(pd.DataFrame(rows), "Posterior predictive check",
                   {"observed": lambda v: f"{v:.3g}", "share of replications above": lambda v: f"{v:.2f}"}) \
        if rows else None
    return render("appendix.html.j2", section="ppc", have=have, checks=checks,
                  missing=[oid for oid in an.outcomes if oid not in have],
                  reasons={oid: o.predictive.get("no_check_reason") for oid, o in an.outcomes.items()})


def ppc_figure(an, oid, kind: str = "posterior"):
    o = an.outcomes[oid]
    pc = o.predictive.get(kind)
    if pc is None:
        return None
    stat = o.predictive.get("statistic")
    xlabel = (stat[0].upper() + stat[1:]) if stat else f"Mean outcome ({o.unit})"
    return figures.ppc_plot(pc["observed"], {a: pd.Series(v).to_numpy() for a, v in pc["replicated"].items()},
                            xlabel=xlabel, title=f"{kind.capitalize()} predictive check: {oid}")


def _png_img(latex: str, size: int, css: str) -> str:
    png = figures.math_png(latex, fontsize=size)
    if png is None:
        return f"<code>{escape(latex)}</code>"
    return (f"<img class='{css}' alt='{escape(latex)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")


def prose_html(text: str) -> Markup:
    """The short Markdown prose of model_math: **bold**, `code` and inline $math$ (drawn)."""
    parts = re.split(r"\$([^$]+)\$", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(_png_img(part, 11, "lnd-inline-math"))
        else:
            h = str(escape(part))
            h = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", h)
            out.append(re.sub(r"`([^`]+)`", r"<code>\1</code>", h))
    return Markup("".join(out))


def math_blocks(markdown: str) -> list[dict]:
    """Split model_math's Markdown into prose and display-math blocks; each ``$$`` block is
    drawn to a PNG (matplotlib mathtext) so that the math reads without MathJax (the report is
    opened offline); a block mathtext cannot draw keeps its LaTeX source, shown open."""
    blocks = []
    for i, part in enumerate(re.split(r"\$\$(.+?)\$\$", markdown or "", flags=re.S)):
        part = part.strip()
        if not part:
            continue
        if i % 2:
            png = figures.math_png(part)
            blocks.append({"kind": "math", "latex": part,
                           "png": base64.b64encode(png).decode() if png else None})
        else:
            blocks.extend({"kind": "text", "text": prose_html(p.strip())} for p in part.split("\n\n") if p.strip())
    return blocks


def model(an, oid) -> str:
    """The model actually fitted for ``oid``: facts, its math and the priors used."""
    o = an.outcomes[oid]
    meta = o.result.meta or {}
    sm = meta.get("sampler") or {}
    teams = meta.get("teams")
    def used(k):   # after retries, what the kept posterior was sampled with (fitting._final_attempt)
        return sm.get(f"{k}_final") or sm.get(k, "?")

    sampler = (f"{sm.get('sampler', 'NUTS')}, {used('chains')} chains x {used('draws')} draws "
               f"after {used('tune')} tuning steps") if isinstance(sm, dict) else str(sm)
    return render("appendix.html.j2", section="model", o=o, meta=meta, sampler=sampler,
                  n_teams=len(teams) if isinstance(teams, (list, tuple)) else teams,
                  math=math_blocks(o.model_math),
                  priors=table(o.priors, f"Priors ({oid})", {"symbol": lambda v: prose_html(str(v))}))


# ---- optional sections (interim monitoring, ...): shown from the analysis' text ------------------

def _extra(an, name: str, title: str, **tables) -> str:
    status = (an.extras_status or {}).get(name) or {"status": "not applicable", "message": ""}
    d = (an.extras_display or {}).get(name)
    return render("extras.html.j2", section=name, title=title, status=status, d=d, **tables)


def monitoring(an):
    """(HTML, Figure or None): the interim-monitoring section."""
    d = (an.extras_display or {}).get("monitoring")
    rows = oc = None
    if d:
        rows = table(pd.DataFrame(d["rows"]), "At each checkpoint") if d.get("rows") else None
        oc = table(pd.DataFrame(d["oc_rows"]), "Operating characteristics (simulated)") if d.get("oc_rows") else None
    html = _extra(an, "monitoring", "Interim monitoring", rows=rows, oc=oc)
    m = (an.extras or {}).get("monitoring")
    fig = None
    if m is not None and d and hasattr(figures, "monitoring_plot") and len(m.table):
        try:
            fig = figures.monitoring_plot(m.table, m.rule.get("thresholds") or {},
                                          title=f"Interim monitoring: {m.outcome_id}")
        except Exception:  # noqa: BLE001 - the table above carries the numbers; never stop the report
            fig = None
    return html, fig


def kirkpatrick(an):
    """(HTML, Figure or None): the Kirkpatrick chain (learning -> behaviour -> results)."""
    d = (an.extras_display or {}).get("kirkpatrick")
    rows = table(pd.DataFrame(d["rows"]), "Effects through the chain") if d and d.get("rows") else None
    html = _extra(an, "kirkpatrick", "The Kirkpatrick chain", rows=rows)
    res = (an.extras or {}).get("kirkpatrick")
    fig = None
    if res is not None and d and res.sensitivity:
        try:
            fig = res.plot_sensitivity()
        except Exception:  # noqa: BLE001 - the table and sentence above carry the numbers
            fig = None
    return html, fig
