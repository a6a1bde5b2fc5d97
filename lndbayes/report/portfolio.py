"""reports/index.html: one row per program and the alignment map, read from the saved reports
(nothing recomputed, no kernel)."""

from __future__ import annotations

import json
from pathlib import Path

from lndbayes import __version__
from lndbayes.alignment import alignment_map, goal_summary
from lndbayes.atomic import write_json, write_text
from lndbayes.config import load_programs
from lndbayes.report.stamps import STATUS_FILE, SUMMARY_FILE, read_json, sha, source_hash
from lndbayes.report.templating import render

INDEX_STAMP = ".index.json"


def read_reports(out_dir: Path, cfg) -> tuple[dict[str, dict], dict[str, dict]]:
    """({program id: summary.json} for reports that ran, {program id: status.json}) of every
    valid program (a program without a report folder has an empty status)."""
    out = Path(out_dir)
    summaries, statuses = {}, {}
    for pid in cfg.programs:
        st = read_json(out / pid / STATUS_FILE) or {}
        statuses[pid] = st
        summ = read_json(out / pid / SUMMARY_FILE) if st.get("status") == "ok" else None
        if summ:
            summaries[pid] = summ
    return summaries, statuses


def _problems(statuses: dict[str, dict]) -> dict[str, str]:
    """Why a program has no summary, for the alignment map (only reports that failed)."""
    return {pid: f"report failed: {st.get('reason') or 'unknown'}"
            for pid, st in statuses.items() if st.get("status") == "failed"}


def portfolio_rows(out_dir: Path, cfg, reports=None) -> list[dict]:
    """One row per program (valid and invalid) from the report folders; plain data."""
    summaries, statuses = reports if reports is not None else read_reports(out_dir, cfg)
    rows = []
    for pid, prog in cfg.programs.items():
        st = statuses.get(pid) or {}
        summ = summaries.get(pid)
        row = {"program": pid, "name": prog.name, "link": None, "status": "not run",
               "reason": "no report yet: run `make reports`", "effect": "", "benefit": "",
               "roi": "", "p_roi_positive": "", "net_benefit": "", "recommendation": "", "converged": None}
        if summ:
            head = summ.get("headline") or {}
            rec = summ.get("recommendation") or {}
            roi = (summ.get("roi") or {}).get("display") or {}
            conv = summ.get("converged")
            row.update(link=f"{pid}/report.html", effect=head.get("effect", ""),
                       benefit=head.get("benefit", ""), roi=roi.get("roi_pct", ""),
                       p_roi_positive=roi.get("p_roi_positive", ""), net_benefit=roi.get("net_benefit", ""),
                       recommendation=rec.get("action", ""), converged=conv, reason=rec.get("reason", ""))
            if not summ.get("roi") and summ.get("roi_error"):
                # monetised, but its ROI failed: neither intangible nor "no costs counted"
                row["roi_error"] = " ".join(str(summ["roi_error"]).split())
            if conv is False:
                row["status"] = "fit failed diagnostics"
            elif summ.get("failed_outcomes"):
                row["status"] = "partial"
                row["reason"] = "; ".join(f"{k}: {v}" for k, v in summ["failed_outcomes"].items())
            else:
                row["status"] = "ok"
        elif st.get("status") == "failed":
            row.update(status="report failed", reason=st.get("reason") or "unknown")
        rows.append(row)
    for key, err in cfg.errors.items():
        rows.append({"program": str(key), "name": "", "link": None, "status": "invalid in programs.yaml",
                     "reason": " ".join(str(err).split()), "effect": "", "benefit": "", "roi": "",
                     "p_roi_positive": "", "net_benefit": "", "recommendation": "", "converged": None})
    return rows


def alignment_goals(out_dir: Path, cfg, reports=None) -> list[dict]:
    """The alignment map for the page: per goal its summary and its rows (plain data, in the
    order of :func:`lndbayes.alignment.alignment_map`)."""
    summaries, statuses = reports if reports is not None else read_reports(out_dir, cfg)
    table = alignment_map(cfg, summaries, _problems(statuses))
    if table.empty:
        return []
    goals = goal_summary(table).to_dict("records")
    recs = json.loads(table.to_json(orient="records"))  # plain JSON types (the stamp hashes them)
    for r in recs:
        r["link"] = f"{r['program']}/report.html" if r["program"] in summaries else None
    for g in goals:
        g["rows"] = [r for r in recs if r["goal"] == g["goal"]]
    return goals


def portfolio_html(reports_dir, cfg, *, skill_gaps: dict | None = None) -> str:
    """The portfolio page (an HTML fragment; also shown by notebooks/portfolio.ipynb).

    ``skill_gaps``: optional, for the skill-gap forecasts (helper F, issue 14): a dict with
    ``link`` (e.g. "skill-gaps/index.html") and ``rows`` (the top gaps: dicts with ``team``,
    ``skill``, ``gap`` and ``text`` strings) shown in the page's skill-gap block; None: no block.
    """
    reports = read_reports(Path(reports_dir), cfg)
    rows = portfolio_rows(Path(reports_dir), cfg, reports)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return render("portfolio.html.j2", organisation=cfg.organisation.name, rows=rows, counts=counts,
                  goals=alignment_goals(Path(reports_dir), cfg, reports),
                  any_roi=any(r["roi"] or r.get("roi_error") for r in rows), skill_gaps=skill_gaps, version=__version__)


def portfolio_html_for(reports_dir, data_root, *, skill_gaps: dict | None = None) -> str:
    return portfolio_html(reports_dir, load_programs(Path(data_root) / "raw" / "programs.yaml"),
                          skill_gaps=skill_gaps)


def build_index(out: Path, cfg, src: str | None = None, *, skill_gaps: dict | None = None) -> bool:
    """Write ``out/index.html`` unless nothing it shows changed. Returns whether it was written."""
    reports = read_reports(out, cfg)
    rows = portfolio_rows(out, cfg, reports)
    stamp = sha({"rows": rows, "map": alignment_goals(out, cfg, reports), "skill_gaps": skill_gaps,
                 "source": src or source_hash(), "org": cfg.organisation.model_dump(mode="json")})
    idx = Path(out) / "index.html"
    if idx.is_file() and (read_json(Path(out) / INDEX_STAMP) or {}).get("stamp") == stamp:
        return False
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>Training impact portfolio</title></head>\n<body class='jp-Notebook'>\n"
            + portfolio_html(out, cfg, skill_gaps=skill_gaps) + "\n</body></html>\n")
    write_text(idx, page)
    write_json(Path(out) / INDEX_STAMP, {"stamp": stamp})
    return True
