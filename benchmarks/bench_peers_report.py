"""benchmarks/results.md from benchmarks/results/peers.json (written by bench_peers.py).

Everything below the line ``<!-- notes: kept when this file is rewritten -->`` in an existing
results.md is kept: the notes are written by hand.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results.md"
MARK = "<!-- notes: kept when this file is rewritten -->"
LABEL = {"lndbayes_cold": "lndbayes, first fit, new machine (empty compile caches)",
         "lndbayes_warm": "lndbayes, first fit in a new process (structure compiled before)",
         "lndbayes_refit": "lndbayes, refit on new data (same process; median of the refits)",
         "mixedlm": "statsmodels MixedLM (REML; no posterior, no ESS)",
         "plain_pymc": "plain PyMC on rows (PyMC NUTS)",
         "bambi": "Bambi `y ~ treated + (treated | team)` (default priors, PyMC NUTS)"}


def _f(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"


def _rate(x):
    """ESS/s with the digits that matter (plain PyMC at 1M runs at a fraction of one)."""
    return "-" if x is None else _f(x, 0 if x >= 10 else 2)


def _rows(meta):
    """{n: {contender: row}}, the refit median as its own contender."""
    by = {}
    for r in meta["rows"]:
        by.setdefault(r["n"], {})[r["contender"]] = r
        if r.get("refits"):
            ref = sorted(r["refits"], key=lambda x: x["seconds"])[len(r["refits"]) // 2]
            by[r["n"]]["lndbayes_refit"] = {
                **ref, "contender": "lndbayes_refit", "peak_rss_mb": r["peak_rss_mb"],
                "load_avg_before": r["load_avg_before"], "utc": r.get("utc", ""),
                "all_seconds": [x["seconds"] for x in r["refits"]]}
    return by


def _ratio(a, b):
    return None if not a or not b else a / b


def write(meta: dict, out: Path = OUT) -> str:
    by = _rows(meta)
    lines = [
        "# lndbayes against its peers (`make bench`)",
        "",
        "Written by `benchmarks/bench_peers.py` (run by `make bench` through `benchmarks/run_all.py`)."
        " The figures below come from:",
        "",
        "```bash",
        ".venv/bin/" + meta["command"].replace(" ; then ", "\n.venv/bin/"),
        "```",
        "",
        f"Run started {meta['started_utc']} on {meta['machine']}, Python {meta['python']}, "
        f"{meta['cpus']} CPUs; total {_f(meta.get('total_seconds', 0) / 60)} min. "
        f"lndbayes: {meta['chains']} chains x ({meta['tune']} tune + {meta['draws']} draws). "
        f"Plain PyMC and Bambi: the same at up to {meta['full_max']:,} rows, "
        f"{meta['peer_draws']} + {meta['peer_draws']} above (slow; ESS per second is compared).",
        "The 1-minute load average before each contender is in the last column: the machine is a "
        "2-core VM shared with other work, so read the ratios within one size (seconds apart) "
        "rather than the absolute seconds, and the CPU seconds (user + system, sampler "
        "subprocesses included) as the figure least sensitive to the load.",
        "",
        "Data: `y = alpha_team + (2 + effect_team) x treated + noise`, 200 teams, team intercept sd "
        "6, team effect sd 1, residual sd 15, randomized 50/50, one parquet file per size read "
        "by every contender. ESS: bulk ESS of the average effect (`effect_mean`; Bambi's "
        "`treated`). ESS/s: ESS over the fit's wall time including compilation. Imports "
        "(lndbayes + PyMC + nutpie, statsmodels, Bambi) and reading the parquet file are timed "
        "apart and not in the fit's time; peak RSS is the whole process's (imports included).",
        "",
    ]
    for n in sorted(by):
        rows = by[n]
        lines += [f"## {n:,} employees", "",
                  "| contender | wall (s) | CPU (s) | estimate | ESS | ESS/s | draws (tune) | "
                  "peak RSS (MB) | imports (s) | load (UTC) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for c in ("lndbayes_cold", "lndbayes_warm", "lndbayes_refit", "mixedlm", "plain_pymc",
                  "bambi"):
            r = rows.get(c)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {LABEL[c]} | {r['error'][:120]} | | | | | | | | |")
                continue
            est = r.get("effect_mean")
            if c == "mixedlm":
                est_s = f"{est:.3f} (se {r['effect_se']:.3f})"
            else:
                est_s = "-" if est is None else f"{est:.3f}"
            draws = (f"{r['draws']} ({r['tune']})" if "draws" in r
                     else f"{meta['draws']} ({meta['tune']})" if c.startswith("lndbayes") else "-")
            if c == "lndbayes_refit":
                draws += " ; runs " + ", ".join(_f(s) for s in r["all_seconds"]) + " s"
            if c.startswith("lndbayes") and r.get("retries"):
                draws += f"; {r['retries']} retr{'y' if r['retries'] == 1 else 'ies'}"
            lines.append(
                f"| {LABEL[c]} | {_f(r['seconds'])} | {_f(r.get('cpu_seconds'))} | {est_s} | "
                f"{_f(r.get('ess'), 0)} | {_rate(r.get('ess_per_s'))} | {draws} | "
                f"{_f(r.get('peak_rss_mb'), 0)} | {_f(r.get('import_seconds'))} | "
                f"{_f(r.get('load_avg_before'))} "
                f"({r.get('utc', '')[-5:]}) |")
        lines += ["", _ratios(rows), ""]
    lines += _targets(by) + _ingestion(by) + [""]
    text = "\n".join(lines)
    notes = out.read_text().split(MARK, 1)[1] if out.exists() and MARK in out.read_text() else (
        "\n\n## Notes\n\n(none yet)\n")
    out.write_text(text + "\n" + MARK + notes)
    return text


def _ratios(rows) -> str:
    m = rows.get("mixedlm", {}).get("seconds")
    p = rows.get("plain_pymc", {}).get("ess_per_s")
    b = rows.get("bambi", {}).get("ess_per_s")
    out = []
    for c, what in (("lndbayes_cold", "new machine"), ("lndbayes_warm", "new process"),
                    ("lndbayes_refit", "refit")):
        r = rows.get(c)
        if not r or "error" in r:
            continue
        parts = []
        if m:
            mc = rows["mixedlm"].get("cpu_seconds")
            cpu = f" (CPU {r['cpu_seconds'] / mc:.2f}x)" if mc else ""
            parts.append(f"time / MixedLM **{r['seconds'] / m:.2f}x**{cpu}")
        if p:
            pr = rows["plain_pymc"]
            per_cpu = (r["ess"] / r["cpu_seconds"]) / (pr["ess"] / pr["cpu_seconds"])
            parts.append(f"ESS/s / plain PyMC **{r['ess_per_s'] / p:.0f}x** (ESS per CPU-s "
                         f"{per_cpu:.0f}x)")
        if b:
            parts.append(f"ESS/s / Bambi **{r['ess_per_s'] / b:.0f}x**")
        out.append(f"- lndbayes {what}: " + ", ".join(parts))
    return "\n".join(out)


def _targets(by) -> list[str]:
    n = max(by) if by else None
    if n is None:
        return []
    r = by[n]
    m = r.get("mixedlm", {}).get("seconds")
    lines = [f"## Against the targets of issue #15 (at {n:,} employees, same run)", ""]
    for c, goal, limit in (("lndbayes_cold", "first fit incl. compilation, new machine <= MixedLM", 1.0),
                           ("lndbayes_warm", "first fit incl. loading the compiled model <= MixedLM", 1.0),
                           ("lndbayes_refit", "refit <= half of MixedLM", 0.5)):
        x = r.get(c, {}).get("seconds")
        if x is None or not m:
            continue
        ok = "met" if x <= limit * m else "NOT met"
        xc, mc = r[c].get("cpu_seconds"), r["mixedlm"].get("cpu_seconds")
        cpu = f"; CPU {xc:.1f} s against {mc:.1f} s ({xc / mc:.2f}x)" if xc and mc else ""
        lines.append(f"- {goal}: {x:.1f} s against MixedLM {m:.1f} s ({x / m:.2f}x{cpu}): "
                     f"**{ok}** on wall time")
    worst = []
    for size, rows in sorted(by.items()):
        p = rows.get("plain_pymc", {}).get("ess_per_s")
        for c in ("lndbayes_cold", "lndbayes_warm"):
            e = rows.get(c, {}).get("ess_per_s")
            if p and e:
                worst.append((e / p, size, c))
    for ratio, size, c in sorted(worst)[:1]:
        lines.append(f"- ESS/s >= 30x plain PyMC with compilation counted, at every size: lowest "
                     f"{ratio:.0f}x ({c} at {size:,}): **{'met' if ratio >= 30 else 'NOT met'}**")
    return lines + [""]


def _ingestion(by) -> list[str]:
    lines = ["## Ingestion", "",
             "| employees | parquet -> pandas (rows/s, lndbayes process) | lndbayes rows -> "
             "sufficient statistics (rows/s) | cells |", "|---|---|---|---|"]
    for n, rows in sorted(by.items()):
        r = rows.get("lndbayes_warm") or rows.get("lndbayes_cold")
        if not r or "collapse" not in r:
            continue
        col = r["collapse"]
        lines.append(f"| {n:,} | {_f(r['rows_read_per_s'], 0)} | {_f(col['rows_per_s'], 0)} | "
                     f"{col['cells']} |")
    x = HERE / "results" / "ingest_xapi.json"
    if x.exists():
        d = json.loads(x.read_text())
        when = _written(x)
        lines += ["", f"Raw xAPI statements through `lndbayes.data.ingest.ingest()` (validation, "
                  f"parsing, pseudonymisation, parquet; `benchmarks/bench_ingest_xapi.py`, "
                  f"results/ingest_xapi.json written {when}): {d['statements']:,} statements in "
                  f"{d['seconds']:.1f} s = **{d['statements_per_s']:,.0f} statements/s**, "
                  f"{d['cpu_s']:.1f} CPU-s, peak RSS {d['peak_rss_mb']:,.0f} MB, load "
                  f"{d['loadavg_1m_before']:.1f} before."]
    return lines


def _written(path) -> str:
    """When ``path``'s figures were written: its last commit's date when the file is committed and
    unchanged (a clone or checkout gives every file a new modification time), else that time."""
    import subprocess

    try:
        d = path.parent
        clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", path.name], cwd=d).returncode == 0
        iso = subprocess.run(["git", "log", "-1", "--format=%ct", "--", path.name], cwd=d,
                             capture_output=True, text=True).stdout.strip()
        if clean and iso:
            return time.strftime("%Y-%m-%d %H:%M UTC (committed)", time.gmtime(int(iso)))
    except OSError:
        pass
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))

