"""The alignment map: the evidence of every program rolled up to the goals it serves.

programs.yaml links each program to an organisational goal, a department KPI, a campaign and
the products the program delivers (``alignment:``); ``organisation.goals`` may list goals no
program serves yet. :func:`alignment_map` joins that chain with each program's saved summary
(summary.json, or :meth:`lndbayes.analysis.ProgramAnalysis.summary`) into one tidy table, one
row per goal x department KPI x campaign x program x outcome, that says whether the outcome has
evidence behind it (an estimate that passed its checks, whatever it shows: "no effect" is
evidence too) or why not (not analysed yet, the report or fit failed, the outcome could not be
estimated, no program serves the goal). Programs of one campaign that measure the same KPI are
one *group* (``group`` and ``group_size``), so their products are read together.
:func:`goal_summary` rolls the table up to one row per goal. Nothing here is recomputed: the
numbers are the ones each program's summary states (its ROI with its interval, P(ROI > 0) and
the recommendation, or, for a program without a money value, its gross benefit).
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

#: the columns of :func:`alignment_map`, in order
COLUMNS = ["goal", "department_kpi", "campaign", "program", "program_name", "products", "outcome",
           "kpi", "level", "unit", "evidence", "why_none", "effect", "p_works", "roi", "roi_mean",
           "roi_lower", "roi_upper", "p_roi_positive", "p_roi_positive_text", "net_benefit", "benefit", "recommendation",
           "reason", "group", "group_size", "group_programs", "first_in_group"]

NO_GOAL = "(no goal stated)"
NOT_ANALYSED = "not analysed yet: run `lndbayes report`"
NO_PROGRAM = "no program serves this goal: nothing measures it yet"


def _num(x):
    return None if x is None else float(x)


def _program_numbers(summary: Mapping) -> dict:
    """The program-level numbers of a summary: ROI (display, mean, interval in %), P(ROI > 0),
    net benefit, gross benefit, recommendation."""
    roi = summary.get("roi") or {}
    disp = roi.get("display") or {}
    pct = roi.get("roi_pct") or {}
    head = summary.get("headline") or {}
    rec = summary.get("recommendation") or {}
    roi_text = disp.get("roi_pct", "")
    if not roi and summary.get("roi_error"):
        # a monetised program whose ROI failed is neither intangible nor "no costs counted"
        roi_text = "ROI could not be computed: " + " ".join(str(summary["roi_error"]).split())
    return {"roi": roi_text, "roi_mean": _num(pct.get("mean")),
            "roi_lower": _num(pct.get("lower")), "roi_upper": _num(pct.get("upper")),
            "p_roi_positive": _num(roi.get("p_roi_positive")), "p_roi_positive_text": disp.get("p_roi_positive", ""),
            "net_benefit": disp.get("net_benefit", ""),
            "benefit": disp.get("benefit") or head.get("benefit") or "",
            "recommendation": rec.get("action", ""), "reason": rec.get("reason", "")}


def _outcome_evidence(summary: Mapping | None, problem: str | None, oid: str) -> tuple[bool, str, dict]:
    """(evidence?, why not, the outcome's entry) for one outcome of a program."""
    if summary is None:
        return False, problem or NOT_ANALYSED, {}
    failed = summary.get("failed_outcomes") or {}
    if oid in failed:
        return False, f"could not be estimated: {failed[oid]}", {}
    entry = (summary.get("outcomes") or {}).get(oid)
    if entry is None:
        return False, "not in the program's report", {}
    if entry.get("converged") is False:
        return False, "the fit failed its diagnostics: no decision rests on it", entry
    return True, "", entry


def _spelling(names: dict, text: str | None) -> str:
    """One spelling per name whatever its case and spacing ('grow  Revenue' is 'Grow revenue'):
    the first one seen (organisation.goals first), so a typo does not split a goal or a campaign."""
    if not text:
        return ""
    clean = " ".join(str(text).split())
    return names.setdefault(clean.casefold(), clean)


def alignment_map(cfg, summaries: Mapping[str, Mapping], problems: Mapping[str, str] | None = None
                  ) -> pd.DataFrame:
    """One row per goal x department KPI x campaign x program x outcome (columns :data:`COLUMNS`).

    ``cfg``: the :class:`~lndbayes.config.ProgramsConfig`; ``summaries``: {program id: its
    summary.json content} for the programs with a report; ``problems``: {program id: why it has
    none} (a failed report). A program in neither is "not analysed yet"; a program that failed
    stays on the map with no evidence; a goal in ``organisation.goals`` that no program names
    gets one row with no evidence; a program invalid in programs.yaml gets a row under goal
    "(invalid in programs.yaml)". ``evidence`` is per outcome; the money and recommendation are
    the program's (shown only where an outcome has evidence, and where the fit failed the
    recommendation is the summary's own "iterate: evidence unreliable").
    """
    problems = dict(problems or {})
    goals, campaigns = {}, {}
    org_goals = [_spelling(goals, g) for g in cfg.organisation.goals]
    rows = []
    for pid, prog in cfg.programs.items():
        al = prog.alignment
        summary = summaries.get(pid)
        numbers = _program_numbers(summary) if summary is not None else {}
        for o in prog.outcomes:
            ok, why, entry = _outcome_evidence(summary, problems.get(pid), o.id)
            disp = entry.get("display") or {}
            row = {"goal": _spelling(goals, al.organisational_goal) or NO_GOAL,
                   "department_kpi": al.department_kpi or "",
                   "campaign": _spelling(campaigns, al.campaign), "program": pid, "program_name": prog.name,
                   "products": "; ".join(al.products), "outcome": o.id, "kpi": o.kpi, "level": o.level,
                   "unit": o.unit_label or "", "evidence": ok, "why_none": why,
                   "effect": disp.get("effect_abs", "") if ok else "",
                   "p_works": disp.get("p_works", "") if ok else ""}
            row.update({k: numbers.get(k) if k.startswith(("roi_", "p_roi")) else numbers.get(k, "")
                        for k in ("roi", "roi_mean", "roi_lower", "roi_upper", "p_roi_positive",
                                  "p_roi_positive_text", "net_benefit", "benefit", "recommendation", "reason")})
            rows.append(row)
    named = {r["goal"] for r in rows}
    for goal in org_goals:
        if goal not in named:
            rows.append({"goal": goal, "evidence": False, "why_none": NO_PROGRAM})
            named.add(goal)
    for key, err in cfg.errors.items():
        rows.append({"goal": "(invalid in programs.yaml)", "program": str(key), "evidence": False,
                     "why_none": "invalid in programs.yaml: " + " ".join(str(err).split())})
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    text = [c for c in COLUMNS if c not in ("level", "evidence", "roi_mean", "roi_lower", "roi_upper",
                                            "p_roi_positive", "group_size", "first_in_group")]
    for c in text:  # object first: an all-missing column is float, and "" is no float
        df[c] = df[c].astype(object).where(df[c].notna(), "")
    df["evidence"] = df["evidence"].astype(bool)
    df["level"] = df["level"].astype("Int64")
    # order: goals as organisation.goals lists them, then as programs first name them;
    # within a goal by campaign and KPI (first appearance), so a group's rows are adjacent
    goal_order = {g: i for i, g in enumerate(dict.fromkeys([*org_goals, *df["goal"]]))}
    first = {c: i for i, c in enumerate(dict.fromkeys(df["campaign"] + "|" + df["kpi"]))}
    df["_g"], df["_c"] = df["goal"].map(goal_order), (df["campaign"] + "|" + df["kpi"]).map(first)
    df = df.sort_values(["_g", "_c"], kind="mergesort").drop(columns=["_g", "_c"]).reset_index(drop=True)
    # a group: the programs of one campaign that measure the same KPI (no campaign: the program alone)
    has = (df["campaign"] != "") & (df["kpi"] != "")
    df["group"] = (df["goal"] + " | " + df["campaign"] + " | " + df["kpi"]).where(
        has, df["goal"] + " | " + df["program"] + " | " + df["outcome"])
    df["group_size"] = df.groupby("group")["group"].transform("size").astype(int)
    df["group_programs"] = df.groupby("group")["program"].transform(lambda s: ", ".join(dict.fromkeys(s)))
    df["first_in_group"] = ~df["group"].duplicated()
    return df[COLUMNS]


def goal_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per goal of :func:`alignment_map`'s table: programs, how many have evidence
    (at least one outcome with evidence), the outcomes with and without evidence, the actions
    recommended, and ``status``: "evidence" (every program has some), "partial" or "no evidence"."""
    out = []
    for goal, g in table.groupby("goal", sort=False):
        progs = g[g["program"] != ""]
        by_prog = progs.groupby("program", sort=False)["evidence"].any()
        n_ev = int(by_prog.sum())
        acts = progs.loc[progs["evidence"]].drop_duplicates("program")["recommendation"]
        actions = ", ".join(f"{n} {a}" for a, n in acts[acts != ""].value_counts(sort=False).items())
        status = ("no evidence" if n_ev == 0 else "evidence" if n_ev == len(by_prog) else "partial")
        out.append({"goal": goal, "programs": len(by_prog), "programs_with_evidence": n_ev,
                    "outcomes_with_evidence": int(g["evidence"].sum()),
                    "outcomes_without": int((~g["evidence"] & (g["outcome"] != "")).sum()),
                    "actions": actions, "status": status})
    return pd.DataFrame(out, columns=["goal", "programs", "programs_with_evidence", "outcomes_with_evidence",
                                      "outcomes_without", "actions", "status"])
