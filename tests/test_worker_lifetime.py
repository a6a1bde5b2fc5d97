"""A report worker does not outlive its runner: killed runner, stopped workers (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lndbayes.report import build

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

RUNNER = r"""
import multiprocessing as mp, sys
sys.path.insert(0, {tests!r})
from test_worker_lifetime import busy_worker
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=busy_worker, args=(ready,))
    p.start()
    ready.wait(120)
    print(p.pid, flush=True)
    p.join()
"""


def busy_worker(ready) -> None:
    """A worker in the middle of a long task (as one sampling a big model is)."""
    build.worker_init()
    ready.set()
    time.sleep(120)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:   # an orphan nobody has reaped yet is dead too
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_busy_worker_stops_when_its_runner_is_killed():
    runner = subprocess.Popen([sys.executable, "-c", RUNNER.format(tests=str(Path(__file__).parent))],
                              stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        assert not _gone(pid)
        runner.kill()                      # SIGKILL: the runner cannot stop its workers itself
        runner.wait(30)
        deadline = time.monotonic() + 60   # a liveness bound, not a speed claim
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(pid)
    finally:
        if runner.poll() is None:
            runner.kill()
