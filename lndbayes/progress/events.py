"""Emitting progress events (any process): the file or Dask target, the scope, nutpie's draws
callback. See :mod:`lndbayes.progress`."""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager

#: the events file of the run (inherited by child processes)
ENV = "LNDBAYES_PROGRESS"
#: the program a process works for, inherited by its children (a report kernel)
ENV_PROGRAM = "LNDBAYES_PROGRESS_PROGRAM"
#: the value of ENV that sends events to the Dask scheduler instead of a file: a worker on
#: another machine cannot reach the runner's file (see :meth:`Session.attach_dask`)
DASK = "dask:"
#: the Dask event topic the runner subscribes to
TOPIC = "lndbayes-progress"
#: seconds between sampling events of one fit (the sampler's callback fires more often)
SAMPLING_EVERY = 1.0
#: longest free text (a retry's reason, a failure) kept in an event
MAX_TEXT = 300

_scope: dict = {}


def enabled() -> bool:
    """Whether events go anywhere (a report run is listening)."""
    return bool(os.environ.get(ENV))


def emit(stage: str, *, program: str | None = None, outcome: str | None = None, **fields) -> None:
    """Record one progress event; a no-op unless ``LNDBAYES_PROGRESS`` names a file.

    ``program`` and ``outcome`` default to the current :func:`scope` (then to the program this
    process was started for). Never raises: progress must not break a fit.
    """
    path = os.environ.get(ENV)
    if not path:
        return
    rec = {"t": time.time(), "pid": os.getpid(), "stage": str(stage),
           "program": program or _scope.get("program") or os.environ.get(ENV_PROGRAM) or None,
           "outcome": outcome or _scope.get("outcome")}
    for k, v in fields.items():
        rec[k] = v[:MAX_TEXT] if isinstance(v, str) else v
    if path == DASK:
        _to_dask(rec)
        return
    try:
        line = (json.dumps(rec, default=str) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, TypeError, ValueError):
        pass


#: the Dask worker of the task inside target(DASK): get_worker() only works in the task's own
#: thread, and nutpie calls the draws callback from another one
_dask_worker = None


def _to_dask(rec: dict) -> None:
    try:
        worker = _dask_worker
        if worker is None:
            from distributed import get_worker

            worker = get_worker()
        # log_event is thread-safe: from another thread it hands the message to the worker's loop
        worker.log_event(TOPIC, json.loads(json.dumps(rec, default=str)))
    except Exception:  # noqa: BLE001 - not in a Dask worker, or the scheduler is gone
        pass


@contextmanager
def target(where: str | None):
    """Send this process's events to ``where`` inside the block (a file, or :data:`DASK`); None
    leaves them as they are. For a Dask task: the runner puts :meth:`Session.task_target` in
    the task and the worker runs the build inside ``target(...)``."""
    global _dask_worker
    if not where:
        yield
        return
    old, old_worker = os.environ.get(ENV), _dask_worker
    os.environ[ENV] = where
    if where == DASK:
        try:
            from distributed import get_worker

            _dask_worker = get_worker()
        except Exception:  # noqa: BLE001 - not in a Dask task: events are dropped
            _dask_worker = None
    try:
        yield
    finally:
        _dask_worker = old_worker
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


@contextmanager
def scope(program: str | None = None, outcome: str | None = None):
    """Default ``program``/``outcome`` of :func:`emit` inside the block, in this process. The
    program is also put in the environment, so a kernel started inside the block inherits it."""
    global _scope
    old, old_env = _scope, os.environ.get(ENV_PROGRAM)
    _scope = {**old, **{k: v for k, v in (("program", program), ("outcome", outcome)) if v}}
    if program:
        os.environ[ENV_PROGRAM] = str(program)
    try:
        yield
    finally:
        _scope = old
        if program:
            if old_env is None:
                os.environ.pop(ENV_PROGRAM, None)
            else:
                os.environ[ENV_PROGRAM] = old_env


def draws_callback(every: float = SAMPLING_EVERY):
    """A ``progress_callback`` for ``nutpie.sample`` that emits ``sampling`` events (draws done
    and total over all chains, tuning included) at most every ``every`` seconds and once at
    the end; ``None`` when nobody listens (nutpie then skips the callback).

    Why this callback: nutpie calls it from its own thread with ``progress_bar=False`` too, so
    the fits stay silent on the kernel's output while the runner sees the draws.
    """
    if not enabled():
        return None
    ids = dict(_scope)   # the sampler's thread does not see later changes of the scope
    # None, not 0.0: monotonic() counts from boot, so on a machine up for less than `every`
    # seconds a zero start would hide the first report.
    last: list[float | None] = [None]
    lock = threading.Lock()

    def callback(chains) -> None:
        try:
            done = sum(int(c.finished_draws) for c in chains)
            total = sum(int(c.total_draws) for c in chains)
            tuning = any(bool(getattr(c, "tuning", False)) for c in chains)
        except Exception:  # noqa: BLE001 - a changed nutpie API must not stop sampling
            return
        now = time.monotonic()
        with lock:
            if done < total and last[0] is not None and now - last[0] < every:
                return
            last[0] = now
        emit("sampling", done=done, total=total, chains=len(chains), tuning=tuning, **ids)

    return callback
