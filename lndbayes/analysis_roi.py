"""A program's money in its analysis: the rule as applied, what more data is worth, and the ROI,
rule and EVSI numbers as the report and summary.json show them (text and stable keys).

The computations are in :mod:`lndbayes.roi` (ROI on draws), :mod:`lndbayes.decisions` (the
rule) and :mod:`lndbayes.value_of_information` (EVSI); this module applies them to a
:class:`~lndbayes.analysis.ProgramAnalysis` and formats them (docs/decisions.md).
"""

from __future__ import annotations

from lndbayes import decisions as dc
from lndbayes import roi as roi_mod
from lndbayes import value_of_information as voi
from lndbayes.formatting import fmt_interval, fmt_money, fmt_money_interval, fmt_num, fmt_pct, fmt_rel

def _iv(x) -> dict | None:
    return None if x is None else {"mean": x.mean, "lower": x.lower, "upper": x.upper}


def break_even_outcome(pr: roi_mod.ProgramRoi, primary: str | None) -> str:
    """The outcome whose break-even effect the headline shows: the primary outcome when it has a
    money value, else the monetised outcome with the largest expected benefit."""
    if primary in pr.money:
        return primary
    return max(pr.outcome_benefit, key=lambda k: pr.outcome_benefit[k].mean)


def sample_information(pr: roi_mod.ProgramRoi, program, panels, outcomes, primary) -> voi.SampleInformation:
    """EVSI of more teams or a longer run, with the information counted on the headline
    outcome's panel: its teams, and its months of follow-up (post-start months of a panel
    design; the outcome window otherwise)."""
    panel = panels[break_even_outcome(pr, primary)]
    d = panel.data
    if panel.meta.layout == "unit_period":
        rows = d[(d["treated"] == 1) & (d["post"] == 1)]
        months = float(rows["period"].nunique()) or float(panel.meta.window_months)
    else:
        months = float(panel.meta.window_months)
    # more teams grow the study's program arm (its observed participants per team, not a planned
    # roll-out); each added participant earns the benefit per participant the ROI counts
    return voi.sample_information(
        pr.draws.net_benefit, teams=int(panel.meta.n_teams), months_observed=months,
        horizon_months=pr.horizon_months, participants=pr.participants_observed,
        cost_per_participant=pr.costs.cost_per_participant,
        benefit_per_participant=pr.benefit.mean / pr.participants if pr.participants > 0 else 0.0)


def decision_rule(an, thresholds: dc.Thresholds) -> dict:
    """The rule as applied: thresholds, its words, and each condition with its value."""
    key = an.primary if an.primary in an.outcomes else next(iter(an.outcomes))
    d = an.outcomes[key].decision
    pr = an.roi
    basis = "money" if pr is not None else "odds"
    return {"basis": basis, "outcome": key, "thresholds": thresholds.to_dict(),
            "text": dc.rule_text(thresholds, basis, an.currency),
            "checks": dc.rule_checks(d.p_works, d.p_target, None if pr is None else pr.p_roi_positive,
                                     None if pr is None else pr.expected_net_benefit, thresholds, an.currency),
            "all_converged": an.converged and not an.failures}


#: paybacks longer than this read "more than 10 years": the benefit would have to go on that long
#: at the same rate, far past any horizon a program is judged on (254.9 months is not a forecast)
PAYBACK_SHOWN_MAX = 120


def _months(x) -> str:
    if x is None:
        return "never"
    return f"more than {PAYBACK_SHOWN_MAX}" if x > PAYBACK_SHOWN_MAX else f"{fmt_num(x, 1)}"


def payback_text(pb: dict) -> str:
    """The payback time as the report shows it: median and 90% interval in months, "never" for
    draws that never pay back, "more than 120" past ten years, and the chance of paying back
    within the horizon when the median is not within it."""
    within = f"P(paid back within the horizon) = {fmt_pct(pb['p_within_horizon'])}"
    if pb["median"] is None:
        return f"never for most draws ({within})"
    text = f"{_months(pb['median'])} months ({_months(pb['lower'])} to {_months(pb['upper'])})"
    return text if pb["p_within_horizon"] is None or pb["p_within_horizon"] >= 0.5 else f"{text}; {within}"


def _effect_text(value: float, o) -> str:
    from lndbayes.formatting import decimals_for

    shown = value * o.display_scale
    return f"{fmt_num(shown, max(2, decimals_for(abs(shown))), True)} {o.unit}"


def roi_display(an) -> dict:
    """The ROI, rule and EVSI numbers as the report and summary.json show them (text)."""
    pr, cur = an.roi, an.currency
    if pr is None:
        return {}
    c = pr.costs
    pb = pr.payback
    out = {
        "benefit": fmt_money_interval(pr.benefit.to_dict(), cur),
        "net_benefit": fmt_money_interval(pr.net_benefit.to_dict(), cur),
        "roi_pct": "n/a (no costs)" if pr.roi is None else fmt_rel(pr.roi.mean, pr.roi.lower, pr.roi.upper),
        "bcr": "n/a (no costs)" if pr.bcr is None else
        fmt_interval(pr.bcr.mean, pr.bcr.lower, pr.bcr.upper, signed=False),
        "p_roi_positive": fmt_pct(pr.p_roi_positive),
        "payback_months": payback_text(pb),
        "costs": (f"{fmt_money(c.total, cur)} = {fmt_money(c.cost_per_participant, cur)} per participant x "
                  f"{fmt_num(c.participants, 0)} participants + {fmt_money(c.fixed_cost, cur)} fixed"),
        "horizon": f"{fmt_num(pr.horizon_months, 0)} months",
        "participants": (f"{fmt_num(pr.participants, 0)} participants ("
                         + ("the population members in the program arm" if pr.participants_source == "observed"
                            else f"roi.participants in programs.yaml; {pr.participants_observed} took part in the study")
                         + ")"),
        "outcomes": {},
    }
    for oid, m in pr.money.items():
        o = an.outcomes[oid]
        out["outcomes"][oid] = {
            "benefit": fmt_money_interval(pr.outcome_benefit[oid].to_dict(), cur),
            "break_even_effect": _effect_text(pr.break_even[oid], o),
            "effect": o.display["effect_abs"],
            "accrual": roi_mod.ACCRUAL_WORDS[m.accrual], "basis": m.basis,
            "units_per_month": fmt_num(m.units_per_month, 1),
            "units": fmt_num(m.units, 0),
            "value_per_unit": fmt_money(m.value_per_unit, cur),
        }
    dep = pr.dependence
    if dep:
        roi_dep = "" if dep.get("roi") is None else \
            f", ROI {fmt_rel(dep['roi']['mean'], dep['roi']['lower'], dep['roi']['upper'])}"
        out["dependence"] = (
            "The monetised outcomes are fitted separately, so their draws are added as if their effects "
            "were independent (no joint fit pairs them). Were they perfectly positively correlated, the net "
            f"benefit would be {fmt_money_interval(dep['net_benefit'], cur)}{roi_dep} and P(ROI > 0) "
            f"{fmt_pct(dep['p_roi_positive'])}, against {out['net_benefit']}, {out['roi_pct']} and "
            f"{out['p_roi_positive']} shown")
    key = break_even_outcome(pr, an.primary)
    out["break_even_outcome"] = key
    out["break_even_effect"] = f"{key}: {out['outcomes'][key]['break_even_effect']}"
    if an.evsi is not None:
        ev = an.evsi
        opts = []
        for opt in ev.options:
            what = (f"{fmt_num(opt.amount, 0)} more teams (now {fmt_num(opt.n0, 0)})" if opt.kind == "more_teams"
                    else f"{fmt_num(opt.amount, 0)} more months of follow-up (now {fmt_num(opt.n0, 0)})")
            opts.append({"option": what, "evsi": fmt_money(opt.evsi, cur), "cost": fmt_money(opt.cost, cur),
                         "benefit": fmt_money(opt.benefit, cur, signed=True),
                         "net": fmt_money(opt.net, cur, signed=True), "cost_basis": opt.cost_basis,
                         "benefit_basis": opt.benefit_basis})
        best = ev.best
        out["evsi"] = {
            "evpi": fmt_money(ev.evpi, cur), "options": opts,
            "verdict": (f"worth gathering: {opts[best]['option']} is worth {opts[best]['evsi']} and costs "
                        f"{opts[best]['cost']}"
                        + (f", and the program is expected to earn {opts[best]['benefit']} on the people it adds"
                           if ev.options[best].benefit else "")
                        + f" (net {opts[best]['net']})" if best is not None else
                        "no option is worth its cost: more data would not change the decision enough to pay "
                        "for itself"),
        }
    return out


def outcome_money_summary(pr: roi_mod.ProgramRoi, oid: str, display: dict) -> dict:
    m = pr.money[oid]
    return {"units": m.units, "units_per_month": m.units_per_month, "accrual": m.accrual,
            "value_per_unit": m.value_per_unit, "horizon_months": m.horizon_months,
            "participant_scale": m.participant_scale, "benefit": _iv(pr.outcome_benefit[oid]),
            "break_even_effect": pr.break_even[oid], "display": display.get("outcomes", {}).get(oid, {})}


def roi_summary(pr: roi_mod.ProgramRoi, display: dict, outcomes) -> dict:
    """summary.json's ``roi`` object (keys announced in the plan's STATUS; stable)."""
    pct = None if pr.roi is None else {"mean": pr.roi.mean * 100, "lower": pr.roi.lower * 100,
                                       "upper": pr.roi.upper * 100}
    key = display["break_even_outcome"]
    c = pr.costs
    return {
        "currency": pr.currency, "horizon_months": pr.horizon_months, "participants": pr.participants,
        "participants_observed": pr.participants_observed, "participants_source": pr.participants_source,
        "costs": {"per_participant": c.cost_per_participant, "fixed": c.fixed_cost, "total": c.total},
        "benefit": _iv(pr.benefit), "net_benefit": _iv(pr.net_benefit), "roi_pct": pct, "bcr": _iv(pr.bcr),
        "p_roi_positive": pr.p_roi_positive,
        "payback_months": {k: pr.payback[k] for k in ("median", "lower", "upper", "p_within_horizon")},
        "break_even_effect": {"outcome": key, "value": pr.break_even[key],
                              "display": display["outcomes"][key]["break_even_effect"]},
        "monetised": list(pr.money), "intangibles": list(pr.intangibles), "excluded": list(pr.excluded),
        "overlap_warnings": list(pr.overlap_warnings), "n_draws": pr.n_draws, "aligned": pr.aligned,
        "dependence": pr.dependence,
        "display": {k: v for k, v in display.items() if k not in ("outcomes", "evsi")},
    }
