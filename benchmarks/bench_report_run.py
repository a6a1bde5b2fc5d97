"""Where `lndbayes report` spends its time, and the run times issue #15 asks for.

    python benchmarks/bench_report_run.py --data DIR --out DIR [--month-less DIR] [--label NAME]

Runs, each in a fresh process with its own empty caches (PyTensor's compile folder, lndbayes'
compiled callbacks, the posterior cache) under ``--out``:

1. ``fresh``: ``lndbayes report --force`` on ``--month-less`` (the data without its last month)
   or ``--data``: what a fresh clone pays after the environment install;
2. ``new month`` (with ``--month-less``): ``lndbayes report`` on ``--data`` with the caches of
   run 1: a month of KPIs was added;
3. ``no-op``: the same command again: nothing changed.

For each run: wall and CPU seconds (user + system of the run and all its processes; on a busy
machine wall time is inflated, CPU time much less), and per report the seconds of its build
split into the notebook's first code cells (imports, the analysis: panels, fits, sections),
the rest of the notebook (views, figures) and what is left (process/kernel start, HTML export,
identifier scan). Appends a section to benchmarks/results/report_run.md (hand-written notes
there are kept) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "report_run.md"
LNDBAYES = Path(sys.executable).parent / "lndbayes"


def cell_seconds(nb_path: Path) -> list[float]:
    """Seconds per code cell (in-process runs: metadata.lndbayes; Papermill: metadata.papermill)."""
    nb = json.loads(nb_path.read_text())
    out = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        md = c.get("metadata", {})
        sec = (md.get("lndbayes") or {}).get("seconds")
        if sec is None:
            sec = (md.get("papermill") or {}).get("duration")
        out.append(float(sec or 0.0))
    return out


def run(label: str, args: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([str(LNDBAYES), "report", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = os.getloadavg()[0]
    return {"label": label, "wall": wall, "cpu": cpu, "load": load, "rc": proc.returncode,
            "tail": proc.stdout[-3000:] + proc.stderr[-2000:]}


def per_report(out: Path) -> list[dict]:
    rows = []
    for st_path in sorted(out.glob("*/status.json")):
        st = json.loads(st_path.read_text())
        nb = st_path.parent / "report.ipynb"
        cells = cell_seconds(nb) if nb.is_file() else []
        # cell 0: parameters; 1: injected parameters; 2: imports + analysis (program reports)
        analysis = sum(cells[:3])
        rest = sum(cells[3:])
        total = float(st.get("seconds") or 0.0)
        rows.append({"report": st_path.parent.name, "status": st.get("status"), "total": total,
                     "analysis": analysis, "views": rest, "other": max(0.0, total - analysis - rest)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--month-less", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="this tree")
    ap.add_argument("--jobs", default="2")
    a = ap.parse_args(argv)
    work = Path(a.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # One pseudonym key for both data folders: each folder would otherwise generate its own
    # (<root>/.pseudonym_key), every processed table would differ, and the "new month" run would
    # refit what a real new month (the same folder, one more month) reads back.
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={work / 'pytensor'}",
               LNDBAYES_CACHE=str(work / "posteriors"), TERM="dumb",
               LNDBAYES_PSEUDONYM_KEY=os.environ.get("LNDBAYES_PSEUDONYM_KEY", "bench-report-run"))
    env.pop("LNDBAYES_COMPILE_CACHE", None)
    reports = work / "reports"
    runs = []
    first = a.month_less or a.data
    runs.append(run("fresh (empty caches)", ["--data", first, "--out", str(reports), "--force",
                                             "--jobs", a.jobs], env))
    table = per_report(reports)
    if a.month_less:
        runs.append(run("a month of KPIs added", ["--data", a.data, "--out", str(reports), "--jobs", a.jobs], env))
        table_month = per_report(reports)
    else:
        table_month = None
    runs.append(run("no-op", ["--data", a.data, "--out", str(reports), "--jobs", a.jobs], env))

    lines = [f"\n## {a.label}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
             f"Command: `python benchmarks/bench_report_run.py --data {a.data}"
             + (f" --month-less {a.month_less}" if a.month_less else "") + f" --out {a.out} --label '{a.label}'`"
             f" (jobs {a.jobs}, {os.cpu_count()} cores).\n",
             "| run | wall (s) | CPU (s) | load average at the end | exit |", "|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['label']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['load']:.1f} | {r['rc']} |")
    for title, rows in (("fresh run", table), ("after a new month", table_month)):
        if not rows:
            continue
        lines += ["", f"Per report, {title} (seconds inside its worker):", "",
                  "| report | status | total | imports + analysis (fits) | views, figures | other (start, HTML, scan) |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['report']} | {r['status']} | {r['total']:.1f} | {r['analysis']:.1f} | "
                         f"{r['views']:.1f} | {r['other']:.1f} |")
    text = "\n".join(lines) + "\n"
    if not RESULTS.exists():
        RESULTS.write_text("# `lndbayes report`: where the time goes\n\nSections appended by "
                           "benchmarks/bench_report_run.py; notes by hand.\n")
    with RESULTS.open("a") as fh:
        fh.write(text)
    print(text)
    for r in runs:
        if r["rc"] not in (0,):
            print(f"--- {r['label']} exited {r['rc']}:\n{r['tail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
