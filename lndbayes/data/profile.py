"""Stage timings of ingestion on stderr when LNDBAYES_INGEST_PROFILE is set (benchmarks)."""

from __future__ import annotations

import os
import sys
import time

_T0 = [0.0, 0.0]


def start() -> None:
    """Start the clock: later ticks print wall and CPU seconds since this call."""
    _T0[0], _T0[1] = time.perf_counter(), time.process_time()


def tick(label: str) -> None:
    """Print the time since :func:`start` and ``label`` (only when profiling is asked for)."""
    if os.environ.get("LNDBAYES_INGEST_PROFILE"):
        now, cpu = time.perf_counter(), time.process_time()
        print(f"  [{now - _T0[0]:7.2f}s wall {cpu - _T0[1]:7.2f}s cpu] {label}", file=sys.stderr, flush=True)
