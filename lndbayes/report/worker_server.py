"""The report workers' fork server: one process imports what a worker needs, workers fork from it.

Why: a spawned worker imports SciPy, matplotlib, Numba, PyMC, pandas, PyTensor, ArviZ, IPython
and nbconvert itself before its first build, ~3.5 s of a core on the 2-core VM (py-spy of the
example's new month). Two workers starting together paid it twice, on both cores. The server
(Python's ``forkserver`` start method, preloading :mod:`lndbayes.report.worker_preload`) pays
it once, and a run whose data changed starts it before ingesting them (``load_org``'s
``before_ingest``), so those imports overlap the ingestion instead of following it; ``lndbayes
report`` starts it earlier still, before importing the runner, when the raw files changed since
their last ingest (:func:`lndbayes.cli.report._start_workers_early`). Measured on
the example's new month (benchmarks/results.md, "End to end", session 16), alternating
runs: 22.7 -> 21.3 s (five pairs, every pair faster by 0.9-1.6 s), and 21.4 -> 20.4 s with the
example's fixed key (``benchmarks/new_month_ab.sh``); the first fit starts ~1 s sooner.

A forked worker has the server's environment, standard streams, working modules and package
source, not the runner's at the moment it forks. So :func:`context` gives the server only while
they are what the server started with, except the progress variables (``TASK_ENV``), which the
runner sends with every task (:func:`task_env`, :func:`apply_task_env`). Anything else differs
(a test that points ``LNDBAYES_CACHE`` elsewhere, a changed source, a captured stdout) and the
worker is spawned as before. Results never depend on which: the same code builds the same task.

Lifetime: the server asks Linux for SIGTERM when the runner's thread that started it dies, and
each worker asks it of the server (``worker_init``), so killing the runner stops the server and
then its workers. That is why it is started from the main thread only: the death of a helper
thread would otherwise take the server down. Where there is no fork server (Windows, macOS's
default), or off the main thread, workers are spawned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from multiprocessing import forkserver

from lndbayes.progress.events import ENV, ENV_PROGRAM
from lndbayes.report.stamps import source_hash

PRELOAD = "lndbayes.report.worker_preload"
#: read when a task runs, not when a module is imported: sent with each task
TASK_ENV = (ENV, ENV_PROGRAM)

#: what the server this process started was started with (None: none started by lndbayes)
_launched: dict | None = None


def available() -> bool:
    """Can this process use the fork server (Linux, main thread, not turned off with
    ``LNDBAYES_FORKSERVER=0``: spawn every worker, as before; for benchmarks and debugging)?"""
    return (os.environ.get("LNDBAYES_FORKSERVER", "1") != "0" and sys.platform.startswith("linux")
            and "forkserver" in mp.get_all_start_methods()
            and threading.current_thread() is threading.main_thread())


def _server_pid() -> int | None:
    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)


def _state(source: str) -> dict:
    """What a forked worker inherits from the server that must equal this process's now
    (``source``: the package's :func:`~lndbayes.report.stamps.source_hash`)."""
    streams = []
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
            streams.append((st.st_dev, st.st_ino))
        except OSError:
            streams.append(None)
    return {"env": {k: v for k, v in os.environ.items() if k not in TASK_ENV},
            "source": source, "streams": streams, "path": list(sys.path)}


def launch(source: str | None = None) -> None:
    """Start the server with this process's environment if it is not running; returns at once
    (the server imports in the background; the first worker's start waits for it). Call it
    with the workers' environment set (``process_env.worker_env``). ``source``: the source hash
    when the caller has it (reading the package again costs ~0.1 s)."""
    global _launched
    if not available():
        return
    mp.get_context("forkserver").set_forkserver_preload([PRELOAD])
    before = _server_pid()
    forkserver.ensure_running()
    pid = _server_pid()
    if pid is not None and pid != before:          # started now (a server we did not start is not used)
        _launched = {"pid": pid, **_state(source or source_hash())}


def context(source: str | None = None):
    """The multiprocessing context to start a report worker with: the fork server when it matches
    this process (see the module docstring), else spawn. Call it with the workers' environment
    set, as :func:`launch`; ``source`` as there."""
    if available():
        source = source or source_hash()
        launch(source)
        if _launched is not None and _launched == {"pid": _server_pid(), **_state(source)}:
            return mp.get_context("forkserver")
    return mp.get_context("spawn")


def task_env() -> dict:
    """The variables a worker reads when it builds (progress), as this process has them now."""
    return {k: os.environ.get(k) for k in TASK_ENV}


def apply_task_env(env: dict | None) -> None:
    """In the worker: take the runner's ``task_env`` (a variable it does not have is removed)."""
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
