"""Many programs: regenerate the reports of the large preset's first N programs (issue #15 item 3).

    .venv/bin/python benchmarks/bench_scale.py --programs 10 30 100 [--jobs 2] [--work DIR] [--warm]

Simulates the large preset once (`lndbayes simulate --preset large`, 20,000 employees, as many
programs as the largest N), ingests it, then for each N runs

    lndbayes report --data WORK --out WORK/reports-N --program p001_... (the first N) --jobs J

in a subprocess with its own empty posterior cache (LNDBAYES_CACHE) and, unless --warm, its own
empty compile cache (LNDBAYES_COMPILE_CACHE), so every N regenerates all its reports and pays
its own compiles: the time per program shows what sharing compiled models saves as N grows.
The run also builds the skill-gap report and the portfolio index (a fixed cost per run).
Writes benchmarks/results/scale.json: wall and CPU seconds (user + sys of every process the
run waited for: on a busy machine the wall time is inflated, the CPU time much less; on an idle
2-core machine the wall time is at least CPU / 2), exit codes, and the load average before and
after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "scale.json"
LNDB = str(Path(sys.executable).parent / "lndbayes")


def _become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    Why: the report workers fork from a server (multiprocessing's forkserver) that outlives the
    ``lndbayes report`` process by a moment and is then orphaned; without a subreaper its CPU
    and its workers' (which it reaps) went to init, and ``RUSAGE_CHILDREN`` saw only the runner
    (session 17: 4.3 CPU-s for a 890 s run). As a subreaper this process inherits the server
    and reaps it (:func:`_reap_orphans`), so their CPU counts again."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans(wait_s: float = 30.0) -> int:
    """Wait for (and reap) every descendant left after a run, at most ``wait_s`` seconds; the
    number reaped. The fork server exits when the runner that started it is gone."""
    reaped, deadline = 0, time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:                        # no children left
            return reaped
        if pid:
            reaped += 1
        else:
            time.sleep(0.05)
    return reaped


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], env: dict | None = None, log: Path | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    text = p.stdout + p.stderr
    if log:
        log.write_text(text)
    return time.perf_counter() - t0, p.returncode, text


def _cpu_of(fn, *a, **kw):
    """fn's result and the CPU seconds (user + sys) of the processes it ran: on a machine shared
    with other jobs the wall time is inflated, the CPU time much less."""
    c0 = _cpu()
    out = fn(*a, **kw)
    _reap_orphans()
    return out, _cpu() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lndbayes-scale"))
    ap.add_argument("--employees", type=int, default=20000)
    ap.add_argument("--warm", action="store_true", help="share one compile cache across the runs")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not _become_subreaper():
        print("warning: cannot adopt the report workers (not Linux?): the CPU column counts the "
              "runner only", file=sys.stderr)
    work = args.work.resolve()
    n_max = max(args.programs)
    res = {"command": " ".join(["benchmarks/bench_scale.py", *sys.argv[1:]]), "cpus": os.cpu_count(),
           "employees": args.employees, "jobs": args.jobs, "warm_compile_cache": args.warm, "runs": []}
    if not (work / "raw" / "programs.yaml").exists() or \
            len(re.findall(r"^- id: ", (work / "raw" / "programs.yaml").read_text(), re.M)) < n_max:
        s, rc, text = _run([LNDB, "simulate", "--preset", "large", "--programs", str(n_max),
                            "--employees", str(args.employees), "--out", str(work / "raw")])
        assert rc == 0, text
        res["simulate_s"] = round(s, 1)
        print(f"simulate: {s:.1f} s", flush=True)
    s, rc, text = _run([LNDB, "ingest", "--data", str(work)])
    assert rc == 0, text
    res["ingest_s"], res["ingest_total"] = round(s, 1), text.strip().splitlines()[-1]
    print(f"ingest: {s:.1f} s; {res['ingest_total']}", flush=True)
    ids = re.findall(r"^- id: (\S+)", (work / "raw" / "programs.yaml").read_text(), re.M)
    for n in args.programs:
        # a rerun in the same work folder starts from empty caches too (it read the last run's
        # posteriors back before, and measured nothing)
        shutil.rmtree(work / f"cache-{n}", ignore_errors=True)
        if not args.warm:
            shutil.rmtree(work / f"compile-{n}", ignore_errors=True)
        env = dict(os.environ, LNDBAYES_CACHE=str(work / f"cache-{n}"),
                   LNDBAYES_COMPILE_CACHE=str(work / ("compile" if args.warm else f"compile-{n}")))
        cmd = [LNDB, "report", "--data", str(work), "--out", str(work / f"reports-{n}"), "--jobs", str(args.jobs),
               "--force"]
        if n < len(ids):  # a subset: no skill-gap report; the forecast fits as a task (skill-gaps-forecast)
            for pid in ids[:n]:
                cmd += ["--program", pid]
        load0 = os.getloadavg()
        (s, rc, text), cpu = _cpu_of(_run, cmd, env, log=work / f"report-{n}.log")
        load1 = os.getloadavg()
        failed = len(re.findall(r"\bfailed\b", text.split("Finished in")[0])) if rc else 0
        run = {"programs": n, "seconds": round(s, 1), "seconds_per_program": round(s / n, 1),
               "cpu_seconds": round(cpu, 1), "cpu_seconds_per_program": round(cpu / n, 1), "exit_code": rc,
               "failed_mentions": failed, "loadavg_before": [round(x, 2) for x in load0],
               "loadavg_after": [round(x, 2) for x in load1], "log": str(work / f"report-{n}.log")}
        res["runs"].append(run)
        print(json.dumps(run), flush=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
