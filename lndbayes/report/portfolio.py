"""reports/index.html: one row per program, read from the saved reports (nothing recomputed)."""

from __future__ import annotations

from pathlib import Path

from lndbayes import __version__
from lndbayes.atomic import write_json, write_text
from lndbayes.config import load_programs
from lndbayes.report.stamps import STATUS_FILE, SUMMARY_FILE, read_json, sha, source_hash
from lndbayes.report.templating import render

INDEX_STAMP = ".index.json"


def portfolio_rows(out_dir: Path, cfg) -> list[dict]:
    """One row per program (valid and invalid) from the report folders; plain data."""
    out = Path(out_dir)
    rows = []
    for pid, prog in cfg.programs.items():
        folder = out / pid
        st = read_json(folder / STATUS_FILE) or {}
        summ = read_json(folder / SUMMARY_FILE) if st.get("status") == "ok" else None
        row = {"program": pid, "name": prog.name, "link": None, "status": "not run",
               "reason": "no report yet: run `make reports`", "effect": "", "benefit": "",
               "recommendation": "", "converged": None}
        if summ:
            head = summ.get("headline") or {}
            rec = summ.get("recommendation") or {}
            conv = summ.get("converged")
            row.update(link=f"{pid}/report.html", effect=head.get("effect", ""),
                       benefit=head.get("benefit", ""), recommendation=rec.get("action", ""),
                       converged=conv, reason=rec.get("reason", ""))
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
                     "reason": " ".join(str(err).split()), "effect": "", "benefit": "",
                     "recommendation": "", "converged": None})
    return rows


def portfolio_html(reports_dir, cfg) -> str:
    """The portfolio table (an HTML fragment; also shown by notebooks/portfolio.ipynb)."""
    rows = portfolio_rows(Path(reports_dir), cfg)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return render("portfolio.html.j2", organisation=cfg.organisation.name, rows=rows, counts=counts,
                  version=__version__)


def portfolio_html_for(reports_dir, data_root) -> str:
    return portfolio_html(reports_dir, load_programs(Path(data_root) / "raw" / "programs.yaml"))


def build_index(out: Path, cfg, src: str | None = None) -> bool:
    """Write ``out/index.html`` unless nothing it shows changed. Returns whether it was written."""
    rows = portfolio_rows(out, cfg)
    stamp = sha({"rows": rows, "source": src or source_hash(), "org": cfg.organisation.model_dump(mode="json")})
    idx = Path(out) / "index.html"
    if idx.is_file() and (read_json(Path(out) / INDEX_STAMP) or {}).get("stamp") == stamp:
        return False
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>Training impact portfolio</title></head>\n<body class='jp-Notebook'>\n"
            + portfolio_html(out, cfg) + "\n</body></html>\n")
    write_text(idx, page)
    write_json(Path(out) / INDEX_STAMP, {"stamp": stamp})
    return True
