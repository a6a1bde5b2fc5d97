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
BENCHMARKS = ["bench_ingest_xapi.py", "bench_models.py", "bench_business_scale.py"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
