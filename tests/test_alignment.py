"""The alignment map (lndbayes.alignment) and its place on the portfolio page (reports/index.html).

Summaries are written by hand with the keys summary.json carries (ProgramAnalysis.summary; one
test reads a real one built from known draws), so nothing is fitted: the map reads saved
reports, it never recomputes."""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from lndbayes.alignment import NO_PROGRAM, NOT_ANALYSED, alignment_map, goal_summary
from lndbayes.config import programs_from_text
from lndbayes.report.portfolio import build_index, portfolio_html

GOALS = ["Keep and grow our people", "Grow revenue", "Customers who stay", "Operate safely and lawfully",
         "Ship reliable software"]


@pytest.fixture(scope="module")
def cfg():
    text = resources.files("lndbayes.example").joinpath("programs.yaml").read_text(encoding="utf-8")
    return programs_from_text(text, file="programs.yaml")


def summary(outcomes, action="scale", *, converged=True, failed=None, roi=(50.0, -10.0, 120.0), p_roi=0.8):
    """A summary.json with the keys the map reads (values chosen per test)."""
    return {
        "converged": converged, "recommendation": {"action": action, "reason": f"why {action}"},
        "headline": {"effect": "headline", "benefit": "EUR 9k (EUR 1k to EUR 20k)"},
        "outcomes": {o: {"converged": converged, "display": {"effect_abs": f"{o} effect", "p_works": "95%"}}
                     for o in outcomes},
        "failed_outcomes": failed or {},
        "roi": None if roi is None else {
            "roi_pct": dict(zip(("mean", "lower", "upper"), roi)), "p_roi_positive": p_roi,
            "display": {"roi_pct": f"{roi[0]:+.0f}% ({roi[1]:+.0f}% to {roi[2]:+.0f}%)",
                        "p_roi_positive": f"{p_roi:.0%}", "net_benefit": "EUR 5k"}}}


@pytest.fixture(scope="module")
def reports():
    """The example's programs: coaching and support reported, sales with one outcome that
    could not be estimated, compliance whose report failed, lean_workshop not analysed."""
    summaries = {
        "manager_coaching": summary(["attrition_12m", "promotion_readiness", "engagement"]),
        "sales_onboarding": summary(["quota_attainment"], failed={"time_to_first_deal": "no new hires"}),
        "support_upskilling": summary(["csat", "error_count"], "iterate", roi=(35.0, -20.0, 90.0), p_roi=0.81),
    }
    return summaries, {"compliance_training": "report failed: kpi 'violations' has no rows"}


def test_every_goal_in_order_and_one_row_per_outcome(cfg, reports):
    t = alignment_map(cfg, *reports)
    assert list(dict.fromkeys(t["goal"])) == GOALS
    n_outcomes = sum(len(p.outcomes) for p in cfg.programs.values())
    assert len(t) == n_outcomes + 1  # + the goal no program serves
    assert set(t.loc[t["program"] != "", "program"]) == set(cfg.programs)


def test_a_goal_without_a_program_is_shown_without_evidence(cfg, reports):
    t = alignment_map(cfg, *reports)
    row = t[t["goal"] == "Ship reliable software"]
    assert len(row) == 1 and not row["evidence"].iloc[0] and row["why_none"].iloc[0] == NO_PROGRAM
    g = goal_summary(t).set_index("goal")
    assert g.loc["Ship reliable software", "status"] == "no evidence"
    assert g.loc["Ship reliable software", "programs"] == 0


def test_failed_and_unanalysed_programs_stay_on_the_map_without_evidence(cfg, reports):
    t = alignment_map(cfg, *reports).set_index(["program", "outcome"])
    comp = t.loc[("compliance_training", "violations")]
    assert not comp["evidence"] and comp["why_none"].startswith("report failed") and comp["recommendation"] == ""
    lean = t.loc[("lean_workshop", "error_count")]
    assert not lean["evidence"] and lean["why_none"] == NOT_ANALYSED
    ttfd = t.loc[("sales_onboarding", "time_to_first_deal")]
    assert not ttfd["evidence"] and "no new hires" in ttfd["why_none"]
    assert t.loc[("sales_onboarding", "quota_attainment"), "evidence"]
    g = goal_summary(alignment_map(cfg, *reports)).set_index("goal")
    assert g.loc["Operate safely and lawfully", "status"] == "no evidence"
    assert g.loc["Customers who stay", "status"] == "partial"  # support has evidence, lean has not
    assert g.loc["Keep and grow our people", "status"] == "evidence"


def test_a_fit_that_failed_its_diagnostics_is_no_evidence(cfg):
    s = {"manager_coaching": summary(["attrition_12m", "promotion_readiness", "engagement"], "iterate",
                                     converged=False)}
    t = alignment_map(cfg, s)
    rows = t[t["program"] == "manager_coaching"]
    assert not rows["evidence"].any() and rows["why_none"].str.contains("diagnostics").all()


def test_a_campaigns_programs_measuring_one_kpi_are_one_group(cfg, reports):
    t = alignment_map(cfg, *reports)
    errors = t[(t["campaign"] == "Fewer errors 2025") & (t["kpi"] == "errors")]
    assert list(errors["program"]) == ["support_upskilling", "lean_workshop"]
    assert errors["group"].nunique() == 1 and (errors["group_size"] == 2).all()
    assert list(errors["first_in_group"]) == [True, False]
    assert errors["group_programs"].iloc[0] == "support_upskilling, lean_workshop"
    # groups are contiguous and every group has exactly one first row
    assert (t.groupby("group")["first_in_group"].sum() == 1).all()
    starts = t.index[t["first_in_group"]]
    assert all((t.loc[s:s + n - 1, "group"] == t.loc[s, "group"]).all()
               for s, n in zip(starts, t.loc[starts, "group_size"]))


def test_money_and_recommendation_are_the_summarys_and_roll_ups_add_up(cfg, reports):
    t = alignment_map(cfg, *reports)
    sup = t[(t["program"] == "support_upskilling") & (t["outcome"] == "error_count")].iloc[0]
    assert (sup["roi_mean"], sup["roi_lower"], sup["roi_upper"]) == (35.0, -20.0, 90.0)
    assert sup["p_roi_positive"] == 0.81 and sup["p_roi_positive_text"] == "81%"
    assert sup["recommendation"] == "iterate" and sup["effect"] == "error_count effect"
    g = goal_summary(t)
    assert g["outcomes_with_evidence"].sum() == t["evidence"].sum()
    assert g["outcomes_with_evidence"].sum() + g["outcomes_without"].sum() == (t["outcome"] != "").sum()
    assert g["programs"].sum() == len(cfg.programs)
    assert g["programs_with_evidence"].sum() == 3  # coaching, sales, support
    assert g.set_index("goal").loc["Customers who stay", "actions"] == "1 iterate"


def test_reads_a_real_programanalysis_summary():
    from test_roi import _fake_analysis

    an = _fake_analysis(Path("."))
    s = json.loads(json.dumps(an.summary(), default=str))
    cfg = programs_from_text(
        "organisation: {goals: [Keep people]}\nprograms:\n  - id: p\n    name: P\n"
        "    alignment: {organisational_goal: Keep people, campaign: C, products: [x, y]}\n"
        "    program: {type: coaching}\n    design: {type: randomized, start: 2025-01-01}\n"
        "    outcomes:\n" + "".join(f"      - {{id: {o}, kpi: {o}, family: binary, direction: increase}}\n"
                                    for o in ("att", "ready", "eng")), file="p.yaml")
    t = alignment_map(cfg, {"p": s})
    assert t["evidence"].all() and len(t) == 3
    r = t.iloc[0]
    assert r["roi_mean"] == pytest.approx(an.roi.roi.mean * 100)
    assert r["roi_lower"] == pytest.approx(an.roi.roi.lower * 100)
    assert r["p_roi_positive"] == pytest.approx(an.roi.p_roi_positive)
    assert r["roi"] == an.roi_display["roi_pct"] and r["recommendation"] == an.recommendation.action
    assert r["effect"] == an.outcomes["att"].display["effect_abs"] and r["products"] == "x; y"


def _write_reports(out: Path, summaries: dict, failed: dict):
    for pid, s in summaries.items():
        (out / pid).mkdir(parents=True)
        (out / pid / "status.json").write_text(json.dumps({"status": "ok"}))
        (out / pid / "summary.json").write_text(json.dumps(s))
    for pid, why in failed.items():
        (out / pid).mkdir(parents=True)
        (out / pid / "status.json").write_text(json.dumps({"status": "failed", "reason": why}))


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", page)))


def test_portfolio_page_shows_the_map_roi_and_a_skill_gap_block_only_when_given(cfg, reports, tmp_path):
    summaries, _ = reports
    _write_reports(tmp_path, summaries, {"compliance_training": "kpi 'violations' has no rows"})
    page = portfolio_html(tmp_path, cfg)
    text = _text(page)
    assert "later release" not in text and "ROI sets each program's monetised benefit" in text
    for goal in GOALS:
        assert goal in text
    assert "+35% (-20% to +90%)" in text and "81%" in text
    assert "no program serves this goal" in text and "not analysed yet" in text
    assert "report failed: kpi 'violations' has no rows" in text
    assert "measured by support_upskilling, lean_workshop" in text
    assert "rowspan='2'" in page
    assert "Skill gaps" not in text
    gaps = {"link": "skill-gaps/index.html", "rows": [{"team": "Support-01", "skill": "troubleshooting",
                                                       "gap": "0.8 (0.5 to 1.1)", "text": "widening"}]}
    with_gaps = portfolio_html(tmp_path, cfg, skill_gaps=gaps)
    assert "Skill gaps" in _text(with_gaps) and "href='skill-gaps/index.html'" in with_gaps
    # build_index writes the page once and rewrites it when what it shows changes
    assert build_index(tmp_path, cfg, "src") and not build_index(tmp_path, cfg, "src")
    assert build_index(tmp_path, cfg, "src", skill_gaps=gaps)


def test_without_any_money_the_banner_says_so(cfg, tmp_path):
    _write_reports(tmp_path, {"manager_coaching": summary(["attrition_12m"], roi=None)}, {})
    text = _text(portfolio_html(tmp_path, cfg))
    assert "No program has a money value yet" in text and "gross benefit EUR 9k" in text


def test_a_roi_that_could_not_be_computed_is_not_called_intangible(cfg, tmp_path):
    """A monetised program whose ROI failed (summary roi null, roi_error set) is not shown as
    'no money value (intangible)' nor as a gross benefit without costs: the map says the ROI
    could not be computed, and why."""
    s = summary(["error_count", "csat"], "iterate", roi=None)
    s["roi_error"] = "ValueError: participants lookup failed"
    t = alignment_map(cfg, {"support_upskilling": s})
    row = t[(t["program"] == "support_upskilling") & (t["outcome"] == "error_count")].iloc[0]
    assert row["evidence"] and "could not be computed" in row["roi"]
    assert "participants lookup failed" in row["roi"]
    _write_reports(tmp_path, {"support_upskilling": s}, {})
    text = _text(portfolio_html(tmp_path, cfg))
    block = text[text.index("Customers who stay"):]
    assert "ROI could not be computed" in block
    assert "intangible" not in block.split("Operate safely")[0]


def test_the_program_table_and_banner_when_every_roi_failed(cfg, tmp_path):
    """The portfolio's program table says the ROI could not be computed (not 'no costs counted;
    gross benefit'), and the banner does not claim that no program has a money value."""
    s = summary(["error_count", "csat"], "iterate", roi=None)
    s["roi_error"] = "ValueError: participants lookup failed"
    _write_reports(tmp_path, {"support_upskilling": s}, {})
    text = _text(portfolio_html(tmp_path, cfg))
    table = text[:text.index("Alignment")]
    assert "ROI could not be computed: ValueError: participants lookup failed" in table
    assert "no costs counted" not in table
    assert "No program has a money value yet" not in text


def test_goals_and_campaigns_match_whatever_their_case_and_spacing(cfg, reports):
    """'grow  revenue' in a program and 'Grow revenue' in organisation.goals are one goal (not
    a goal 'no program serves' plus another); 'fewer errors 2025' and 'Fewer errors 2025' are one
    campaign, so its programs measuring one KPI are still one group."""
    text = resources.files("lndbayes.example").joinpath("programs.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[72] = lines[72].replace("organisational_goal: Grow revenue", "organisational_goal: grow  Revenue ")
    lines[193] = lines[193].replace("campaign: Fewer errors 2025", "campaign: fewer errors  2025")
    assert "grow  Revenue" in lines[72] and "fewer errors  2025" in lines[193]
    messy = programs_from_text("".join(lines), file="programs.yaml")
    t = alignment_map(messy, *reports)
    assert list(dict.fromkeys(t["goal"])) == list(dict.fromkeys(alignment_map(cfg, *reports)["goal"]))
    assert not ((t["goal"] == "Grow revenue") & (t["why_none"] == NO_PROGRAM)).any()
    errors = t[t["kpi"] == "errors"]
    assert errors["group"].nunique() == 1 and (errors["group_size"] == 2).all()
    pd_equal = alignment_map(cfg, *reports)[["goal", "group", "group_size", "evidence"]]
    assert t[["goal", "group", "group_size", "evidence"]].equals(pd_equal)
