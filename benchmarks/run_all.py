"""Run every benchmark in this folder, one after another (`make bench`).

Each benchmark writes its figures to benchmarks/results/<name>.json and prints a table; the
tables in benchmarks/README.md are copied from these runs. Run on a quiet machine: the figures
are wall-clock times on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench_peers.py replaces bench_models.py here: the same lndbayes / plain PyMC / MixedLM fits
# plus Bambi, each in its own process, written to benchmarks/results.md (bench_models.py still
# runs on its own). The ingestion figure in results.md is read from this run's bench_ingest_xapi.
BENCHMARKS = ["bench_ingest_xapi.py", "bench_peers.py", "bench_business_scale.py"]


def main() -> int:
    failed = []
    start = time.perf_counter()
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    print(f"\nmake bench: {(time.perf_counter() - start) / 60:.1f} min in all")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
