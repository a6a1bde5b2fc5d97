"""Showing progress (the runner): tail the events file (or the Dask topic), print steps and
live lines. See :mod:`lndbayes.progress`."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lndbayes.progress.events import DASK, ENV, MAX_TEXT, TOPIC

def _clock(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 60}:{s % 60:02d}"


def _count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


#: how a model was compiled (sampling._compile's labels), in words
_HOW = {"disk-cached": "compiled, kept in the disk cache for later runs",
        "nutpie": "nutpie's compile, not cached on disk"}


@dataclass
class _Program:
    started: float
    stage: str = "started"
    outcome: str | None = None
    outcome_started: float | None = None
    done: int = 0
    total: int = 0
    retry: str | None = None
    sampled: bool = False          # a sampling event since the outcome started (else: cached)
    section: str | None = None     # the optional part of the analysis being computed
    outcomes_done: int = 0
    fit_seconds: float = 0.0       # the outcomes' fits, retries included
    retries: int = 0               # of every fit (sections too)
    compiles: int = 0
    compile_seconds: float = 0.0


def _where_time_went(p: _Program | None) -> str:
    """'; outcome fits 170 s (3), 4 retries, compiling 52 s (3 models)': the end of a program's
    last line, so a slow program says why (a log reader sees it without adding lines up)."""
    if p is None or not (p.outcomes_done or p.retries or p.compiles):
        return ""
    parts = []
    if p.outcomes_done:
        parts.append(f"outcome fits {p.fit_seconds:.0f} s ({p.outcomes_done})")
    if p.retries:
        parts.append(f"{p.retries} retr{'y' if p.retries == 1 else 'ies'}")
    if p.compiles:
        parts.append(f"compiling {p.compile_seconds:.0f} s ({p.compiles} model{'s' * (p.compiles > 1)})")
    return "; " + ", ".join(parts)


@dataclass
class Board:
    """What the events say, and how it is printed. ``handle`` takes one event (a dict as
    :func:`emit` writes it) and returns the step lines it produced; ``live`` gives the live
    lines of a terminal. Kept apart from the thread and the file so it can be tested alone."""

    total: int | None = None
    t0: float = field(default_factory=time.time)
    programs: dict = field(default_factory=dict)      # program -> _Program (running)
    finished: int = 0
    failed: int = 0
    ended: set = field(default_factory=set)           # programs done or failed: late events ignored
    by_pid: dict = field(default_factory=dict)        # process id -> the program it last worked for

    def _step(self, t: float, who: str, text: str) -> str:
        return f"[{t - self.t0:6.1f} s] {who}: {text}"

    def handle(self, ev: dict) -> list[str]:
        t = float(ev.get("t") or time.time())
        stage = str(ev.get("stage") or "")
        pid = ev.get("program")
        if pid and ev.get("pid") is not None:
            self.by_pid[ev["pid"]] = pid
        # an event without a program (a fit inside a section) belongs to its process's program
        pid = pid or self.by_pid.get(ev.get("pid")) or "lndbayes"
        oid = ev.get("outcome")
        who = f"{pid} / {oid}" if oid else str(pid)
        if pid in self.ended and stage != "started":
            return []      # e.g. the last sampling event, read after the runner said "done"
        self.ended.discard(pid)
        p = self.programs.get(pid)
        if p is None and stage not in ("done", "failed", "skipped", "deferred"):
            p = self.programs[pid] = _Program(started=t)
        if p is not None and not oid and p.section and stage not in ("section", "analysed", "rendering"):
            who = f"{pid} / {p.section}"      # a fit of the section being computed
        if stage == "started":
            return [self._step(t, who, "started")]
        if stage == "deferred" and not oid:
            self.programs.pop(pid, None)
            self.ended.add(pid)
            return [self._step(t, who, f"put back in the queue ({ev.get('reason') or 'a shared input is not ready'}); "
                                       "its fits are kept")]
        if stage in ("done", "failed", "skipped") and not oid:
            p = self.programs.pop(pid, None)
            self.ended.add(pid)
            if stage == "skipped":
                return [self._step(t, who, "up to date")]
            self.finished += 1
            self.failed += stage == "failed"
            secs = ev.get("seconds")
            took = f" in {secs:.0f} s" if isinstance(secs, (int, float)) else ""
            text = f"done{took}" if stage == "done" else f"FAILED{took}: {ev.get('reason') or 'no reason given'}"
            return [self._step(t, who, text + self._tally() + _where_time_went(p))]
        if stage == "fitting":
            p.stage, p.outcome, p.outcome_started, p.section = "fitting", oid, t, None
            p.done = p.total = 0
            p.retry, p.sampled = None, False
            return [self._step(t, who, "fitting")]
        if stage == "compiling":
            p.stage = "compiling"
            return []
        if stage == "compile-wait":     # lndbayes.inference.compiled: one compile per structure
            p.stage = "compiling"
            return [self._step(t, who, "waiting for another worker compiling the same model")]
        if stage == "compiled":
            p.stage = "fitting"
            p.compiles += 1
            p.compile_seconds += float(ev.get("seconds") or 0)
            how = _HOW.get(ev.get("how"), ev.get("how"))
            return [self._step(t, who, f"model compiled in {float(ev.get('seconds') or 0):.1f} s"
                               + (f" ({how})" if how else ""))]
        if stage == "sampling":
            if oid and p.outcome != oid:      # its "fitting" was missed (or came from elsewhere)
                p.outcome, p.outcome_started = oid, t
            p.stage, p.sampled = "sampling", True
            p.done, p.total = int(ev.get("done") or 0), int(ev.get("total") or 0)
            return []
        if stage == "retry":
            p.retries += 1
            p.retry = f"retry {ev.get('attempt')}: {ev.get('why') or ''}".strip()
            p.stage = "fitting"
            more = f"{ev.get('more_chains')} more chains: " if ev.get("more_chains") else ""
            return [self._step(t, who, f"retry {ev.get('attempt')} ({more}target_accept "
                               f"{ev.get('target_accept')}, tuning {ev.get('tune')}, "
                               f"{ev.get('draws')} draws) because {ev.get('why') or 'diagnostics failed'}")]
        if stage == "fitted":
            p.outcomes_done += 1
            p.stage, secs = "fitted", ev.get("seconds")
            p.fit_seconds += float(secs or 0)
            text = f"fitted in {float(secs or 0):.1f} s"
            if not p.sampled:
                text = f"read back in {float(secs or 0):.1f} s (posterior cached)"
            if ev.get("retries"):
                n = int(ev.get("retries"))
                text += f" after {n} retr{'y' if n == 1 else 'ies'}"
            if ev.get("converged") is False:
                text += "; diagnostics still failing (the report says so)"
            p.outcome = None
            return [self._step(t, who, text)]
        if stage == "failed":          # an outcome that cannot be estimated
            p.stage, p.outcome = "fitted", None
            return [self._step(t, who, f"cannot be estimated: {ev.get('reason') or ''}")]
        if stage == "section":
            p.stage, p.outcome, p.section = "computing", None, str(ev.get("section"))
            p.retry = None
            return [self._step(t, who, f"computing {ev.get('section')}")]
        if stage in ("analysed", "rendering"):
            was, p.stage, p.outcome, p.section = p.stage, "rendering", None, None
            if was == "rendering":
                return []          # a worker may say it as well: one line is enough
            return [self._step(t, who, "analysis done; rendering the report" if stage == "analysed"
                               else "rendering the report")]
        p.stage = stage
        return [self._step(t, who, stage)]

    def _tally(self) -> str:
        if not self.total:
            return ""
        return f" ({self.finished}/{self.total} programs finished" + (
            f", {self.failed} failed)" if self.failed else ")")

    def live(self, now: float | None = None) -> list[str]:
        """One line per running program, and a header."""
        now = time.time() if now is None else now
        if not self.programs:
            return []
        head = f"-- {_clock(now - self.t0)} elapsed" + (
            f", {self.finished}/{self.total} programs finished" if self.total else "")
        out = [head]
        width = max(len(str(pid)) for pid in self.programs)
        for pid, p in self.programs.items():
            parts = [f"{str(pid).ljust(width)}  {_clock(now - p.started)}"]
            if p.outcome:
                parts.append(f"{p.outcome} ({_clock(now - (p.outcome_started or now))})")
            elif p.section:
                parts.append(p.section)
            if p.stage == "sampling" and p.total and p.done >= p.total:
                parts.append(f"sampled {_count(p.total)} draws, checking the diagnostics")
            elif p.stage == "sampling" and p.total:
                parts.append(f"sampling {_count(p.done)}/{_count(p.total)} draws")
            else:
                parts.append({"fitted": "analysing", "compiling": "compiling the model",
                              "started": "starting: loading the data, building panels"}
                             .get(p.stage, p.stage))
            if p.retry and (p.outcome or p.section):
                parts.append(f"[{p.retry}]")
            out.append("  " + "  ".join(parts))
        return out


class Session:
    """The runner's view: tails the events file in a thread and prints (see :func:`session`)."""

    def __init__(self, total: int | None = None, stream=None, tty: bool | None = None,
                 interval: float | None = None):
        self.stream = stream if stream is not None else sys.stdout
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"
        self.tty = tty
        self.interval = interval if interval is not None else (0.5 if tty else 1.0)
        self.board = Board(total=total)
        self.dir = Path(tempfile.mkdtemp(prefix="lndbayes-progress-"))
        self.path = self.dir / "events.jsonl"
        self.path.touch()
        self._pos = 0
        self._partial = b""
        self._drawn = 0            # live lines on the screen now
        self._live: list[str] = []  # and their text (an unchanged block is not redrawn)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_env: str | None = None
        self._client = None        # a Dask client whose events are shown (attach_dask)

    # -- lifecycle
    def start(self) -> "Session":
        self._old_env = os.environ.get(ENV)
        os.environ[ENV] = str(self.path)
        self._thread = threading.Thread(target=self._run, name="lndbayes-progress", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.unsubscribe_topic(TOPIC)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with self._lock:
            self.poll(render=False)
            self._clear()
        if self._old_env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self._old_env
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - showing progress must never stop the run
                pass

    # -- input
    def program(self, program: str, state: str, seconds: float | None = None,
                reason: str | None = None) -> None:
        """A program's state from the runner itself: started, rendering, done, failed, skipped."""
        ev = {"t": time.time(), "stage": state, "program": program, "outcome": None}
        if seconds is not None:
            ev["seconds"] = float(seconds)
        if reason:
            ev["reason"] = " ".join(str(reason).split())[:MAX_TEXT]
        with self._lock:
            self.poll(render=False)     # the workers' events first: they happened before
            self._show(self.board.handle(ev))

    def attach_dask(self, client) -> str:
        """Show the events of tasks on the Dask cluster of ``client`` (they travel through the
        scheduler: ``Worker.log_event`` there, ``Client.subscribe_topic`` here). Returns the
        target to put in each task (:func:`target`)."""
        client.subscribe_topic(TOPIC, self._dask_event)
        self._client = client
        return DASK

    def _dask_event(self, event) -> None:
        try:
            _, rec = event
            if isinstance(rec, dict):
                with self._lock:
                    self._show(self.board.handle(rec))
        except Exception:  # noqa: BLE001 - showing progress must never stop the run
            pass

    def line(self, text: str) -> None:
        """Print ``text`` above the live lines (instead of ``print`` while the session is open)."""
        with self._lock:
            self.poll(render=False)     # what the workers said before this line comes first
            self._show([text])

    def poll(self, render: bool = True) -> None:
        """Read the events written since the last call and print what they say."""
        with self._lock:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(self._pos)
                    chunk = fh.read()
            except OSError:
                return
            self._pos += len(chunk)
            data = self._partial + chunk
            *lines, self._partial = data.split(b"\n")   # a line still being written waits
            steps = []
            for raw in lines:
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(ev, dict):
                    steps += self.board.handle(ev)
            if steps or (render and self.tty):
                self._show(steps)

    # -- output
    def _show(self, steps: list[str]) -> None:
        if not self.tty:
            for s in steps:
                self.stream.write(s + "\n")
            self.stream.flush()
            return
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        live = [s[:width] for s in self.board.live()]    # cut: a wrapped line breaks the redraw
        if not steps and live == self._live and self._drawn == len(live):
            return
        self._clear()
        for s in steps:
            self.stream.write(s + "\n")
        self._live = live
        for s in live:
            self.stream.write(s + "\n")
        self._drawn = len(live)
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            # to the start of the first live line, then erase to the end of the screen
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0


@contextmanager
def session(total: int | None = None, stream=None, tty: bool | None = None, interval: float | None = None):
    """Show the progress of a run while the block runs (see the module docstring).

    ``total``: programs to run (for "3/5 finished"); ``stream``: where to print (stdout);
    ``tty``: live lines (default: whether ``stream`` is a terminal). Yields the :class:`Session`.
    """
    s = Session(total=total, stream=stream, tty=tty, interval=interval).start()
    try:
        yield s
    finally:
        s.close()
