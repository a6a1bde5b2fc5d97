"""Ingestion benchmark: parse N xAPI 1.0.3 statements (JSON lines) with lndbayes.data.ingest.

    .venv/bin/python benchmarks/bench_ingest_xapi.py [--n 1000000] [--employees 5000] [--threads 2]

Generates a synthetic raw/ folder under benchmarks/_work/ (git-ignored): employees.csv, an
actor_map.csv and one JSONL file with a realistic mix of statements (account and mbox actors,
ADL verbs, scores as scaled or raw/min/max, ISO 8601 durations, timestamps with offsets, a
few malformed lines, unknown verbs and unknown learners). Then runs the whole ingest()
(validation, pseudonymisation, parquet writing) and reports statements per second and the
peak resident memory of the process (psutil; ru_maxrss as a cross-check).
Writes benchmarks/results/ingest_xapi.json and prints a Markdown row for README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

VERBS = [  # (verb, weight)
    ("registered", 10), ("launched", 20), ("experienced", 20), ("progressed", 15),
    ("attempted", 8), ("completed", 10), ("passed", 5), ("failed", 2), ("scored", 3),
    ("rated", 3), ("responded", 2), ("attended", 2),
]
ADL = "http://adlnet.gov/expapi/verbs/"
PREFIXES = ["https://lms.example.org/activities/manager-coaching",
            "https://lms.example.org/activities/sales-onboarding",
            "https://lms.example.org/activities/support-microlearning",
            "https://lms.example.org/activities/security-awareness"]


def write_raw(raw: Path, n: int, n_employees: int, seed: int = 0) -> dict:
    """Write employees.csv, actor_map.csv and xapi/statements.jsonl; return the mix counts."""
    rng = random.Random(seed)
    (raw / "xapi").mkdir(parents=True, exist_ok=True)
    teams = [f"team_{i:03d}" for i in range(max(1, n_employees // 12))]
    with open(raw / "employees.csv", "w") as f:
        f.write("employee_id,team,department,role,manager_id,hire_date,termination_date,level\n")
        for i in range(n_employees):
            f.write(f"E{i:06d},{teams[i % len(teams)]},Sales,ic,E{(i // 12) * 12:06d},"
                    f"20{rng.randint(15, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},,"
                    f"{rng.randint(1, 5)}\n")
    # one third of the learners appear as mbox actors (mapped), the rest as LMS accounts
    with open(raw / "actor_map.csv", "w") as f:
        f.write("actor,employee_id\n")
        for i in range(0, n_employees, 3):
            f.write(f"mailto:learner{i}@example.org,E{i:06d}\n")
    verbs, weights = zip(*VERBS)
    activities = [f"{p}/module-{m}" for p in PREFIXES for m in range(1, 9)]
    counts = {"malformed": 0, "unknown_verb": 0, "unknown_actor": 0}
    base = 1_735_689_600  # 2025-01-01
    offsets = ["Z", "+00:00", "+02:00", "-05:00", "+05:30"]
    lines = []
    for k in range(n):
        r = rng.random()
        if r < 0.0005:
            lines.append('{"actor": {"mbox": "mailto:broken@example.org"}, "verb": ')
            counts["malformed"] += 1
            continue
        i = rng.randrange(n_employees)
        if r < 0.001:
            i = n_employees + 7  # not in employees.csv
            counts["unknown_actor"] += 1
        if i % 3 == 0 and i < n_employees:
            actor = {"objectType": "Agent", "name": f"Learner {i}", "mbox": f"mailto:learner{i}@example.org"}
        else:
            actor = {"objectType": "Agent",
                     "account": {"homePage": "https://lms.example.org", "name": f"E{i:06d}"}}
        verb = rng.choices(verbs, weights)[0]
        verb_id = ADL + verb
        if r > 0.9995:
            verb_id = "http://example.org/verbs/bookmarked"
            counts["unknown_verb"] += 1
        ts = base + rng.randrange(0, 365 * 86400)
        tm = time.gmtime(ts)
        st = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "actor": actor,
            "verb": {"id": verb_id, "display": {"en-US": verb}},
            "object": {"objectType": "Activity", "id": rng.choice(activities),
                       "definition": {"name": {"en-US": "Module"},
                                      "type": "http://adlnet.gov/expapi/activities/module"}},
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{rng.randrange(1000):03d}"
                         + rng.choice(offsets),
            "context": {"registration": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "platform": "Example LMS", "language": "en-US"},
        }
        if verb in ("completed", "passed", "failed", "scored"):
            res = {"completion": verb != "failed", "duration": f"PT{rng.randint(0, 3)}H{rng.randint(0, 59)}M{rng.randint(0, 59)}.{rng.randint(0, 9)}S"}
            if verb != "completed":
                res["success"] = verb == "passed"
            if rng.random() < 0.5:
                res["score"] = {"scaled": round(rng.random(), 3)}
            else:
                raw_ = rng.randint(0, 50)
                res["score"] = {"raw": raw_, "min": 0, "max": 50}
            st["result"] = res
        elif verb in ("rated", "responded"):
            st["result"] = {"score": {"raw": rng.randint(1, 5), "min": 1, "max": 5}}
        elif verb == "progressed":
            st["result"] = {"duration": f"PT{rng.randint(1, 59)}M"}
        lines.append(json.dumps(st, separators=(",", ":")))
        if len(lines) >= 50_000:
            _flush(raw, lines)
    _flush(raw, lines)
    return counts


def _flush(raw: Path, lines: list) -> None:
    if not lines:
        return
    with open(raw / "xapi" / "statements.jsonl", "a") as f:
        f.write("\n".join(lines) + "\n")
    lines.clear()


class PeakRSS:
    """Sample the process RSS every 20 ms (psutil) while the block runs."""

    def __enter__(self):
        import psutil
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--employees", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=HERE / "_work" / "ingest_xapi")
    ap.add_argument("--keep", action="store_true", help="reuse generated raw files of the same size")
    args = ap.parse_args(argv)
    os.environ["LNDBAYES_DUCKDB_THREADS"] = str(args.threads)

    root = args.work
    raw = root / "raw"
    marker = root / f"_generated_{args.n}_{args.employees}"
    if not (args.keep and marker.exists()):
        import shutil
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        counts = write_raw(raw, args.n, args.employees)
        marker.write_text(json.dumps(counts))
        print(f"generated {args.n:,} statements in {time.perf_counter() - t:.1f}s "
              f"({(raw / 'xapi' / 'statements.jsonl').stat().st_size / 1e6:.0f} MB)", flush=True)
    counts = json.loads(marker.read_text())

    from lndbayes.data.ingest import ingest

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    load0 = os.getloadavg()[0]
    with PeakRSS() as mem:
        t, c = time.perf_counter(), cpu()
        res = ingest(raw, root, pseudonym_key="benchmark-key", progress=False)
        secs, cpu_s = time.perf_counter() - t, cpu() - c
    ledger = res.ledger
    row = ledger[ledger["table"] == "learning_events"].iloc[0]
    assert int(row.rows_read) == args.n, row
    assert int(row.rows_accepted) + int(row.rows_rejected) == args.n
    expected_rejects = sum(counts.values())
    out = {
        "statements": args.n,
        "seconds": round(secs, 2),
        "statements_per_s": round(args.n / secs),
        "cpu_s": round(cpu_s, 2),
        "statements_per_cpu_s": round(args.n / cpu_s),
        "loadavg_1m_before": round(load0, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(mem.peak / 2**20),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rows_accepted": int(row.rows_accepted),
        "rows_rejected": int(row.rows_rejected),
        "expected_rejected": expected_rejects,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "duckdb": __import__("duckdb").__version__,
        "machine": platform.machine(),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ingest_xapi.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    print(f"| {args.n:,} | {secs:.1f} s | {out['statements_per_s']:,} | {cpu_s:.1f} s | "
          f"{out['statements_per_cpu_s']:,} | {out['peak_rss_mb']:,} MB | {args.threads} | {load0:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
