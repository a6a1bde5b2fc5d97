"""The incremental report build: which programs to run, in parallel worker processes.

::

    from lndbayes.report.runner import run_reports
    summary = run_reports()                 # every program of the default data root
    summary = run_reports(programs=["manager_coaching"], jobs=1, force=True)

What it writes, per program, into ``reports/<program>/`` (see docs/reports.md):
``report.ipynb`` (executed), ``report.html`` (self-contained, code hidden), ``summary.json``
(headline numbers), ``analysis.json`` and ``posterior/<outcome>/`` (the saved analysis,
:func:`lndbayes.load_analysis`), ``status.json`` and ``.stamp``. ``reports/index.html``
lists every program (:mod:`lndbayes.report.portfolio`), with the top skill gaps and a link to
``reports/skill-gaps/`` (the skill-gap forecast of issue #14: ``notebooks/skill_gaps.ipynb``,
built like a program by :mod:`lndbayes.report.skill_build` whenever the data root has skill
assessments and the run is not limited to some programs).

Incremental: a program is re-run only when its stamp changes (its programs.yaml entry, the
processed data, the package source, the notebook template, the settings). The no-op path
reads stamps only: it imports neither PyMC nor Papermill and starts no process.

Atomic and interruptible: each program is built by a worker process into a temporary folder
that this process chose; only this process moves it into place (with Ctrl-C held off for the
two renames). Workers ignore Ctrl-C; on Ctrl-C (or any error) this process stops them, removes
their temporary folders and re-raises, so the previous reports stay whole and nothing
half-written is left.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from lndbayes.atomic import replace_dir, temporary_sibling, write_json
from lndbayes.data.org import load_org
from lndbayes.errors import LndbayesError
from lndbayes.paths import NOTEBOOKS_DIR, REPORTS_DIR, default_data_root
from lndbayes.report import worker_server
from lndbayes.report.portfolio import build_index
from lndbayes.report.process_env import DEFAULT_JOBS, worker_env
from lndbayes.report.stamps import (STATUS_FILE, SUMMARY_FILE, Settings, data_stamp, is_current,
                                    program_stamp, read_json, sha, source_hash)

#: the skill-gap report's folder under reports/ (not a valid program id: ids are [a-z0-9_]+)
SKILL_GAPS = "skill-gaps"
#: the skill-gap backtest's fit, a task of its own beside the skill-gap report (skill_build.py)
SKILL_BACKTEST = "skill-gaps-backtest"
#: the skill-gap forecast's fit, a task of its own when a run builds some programs' reports but
#: not the skill-gap report (``--program``): their skills sections then read it back
SKILL_FORECAST = "skill-gaps-forecast"
#: tasks that fit into the cache and leave no folder
CACHE_FITS = (SKILL_BACKTEST, SKILL_FORECAST)
SKILL_TEMPLATE = NOTEBOOKS_DIR / "skill_gaps.ipynb"

#: seconds a stopped worker gets to shut its kernel down before it is killed
STOP_GRACE = 10.0


@dataclass
class ProgramRun:
    program: str
    status: str                  # ok | skipped (up to date) | failed | invalid (programs.yaml)
    seconds: float = 0.0
    reason: str | None = None
    converged: bool | None = None
    recommendation: str | None = None
    ran: bool = False            # its notebook was executed in this run


@dataclass
class RunSummary:
    runs: list[ProgramRun] = field(default_factory=list)
    index: Path | None = None
    index_rebuilt: bool = False
    seconds: float = 0.0

    @property
    def executed(self) -> list[str]:
        """Programs whose notebook was executed in this run."""
        return [r.program for r in self.runs if r.ran]

    @property
    def failed(self) -> list[ProgramRun]:
        return [r for r in self.runs if r.status in ("failed", "invalid")]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def table(self) -> str:
        rows = [("program", "status", "time", "recommendation / reason")]
        for r in self.runs:
            what = r.reason if r.status in ("failed", "invalid") else (r.recommendation or "")
            if r.status in ("ok", "skipped") and r.converged is False:
                what = f"{what} (fit failed diagnostics)"
            rows.append((r.program, {"skipped": "up to date"}.get(r.status, r.status),
                         f"{r.seconds:.0f} s" if r.seconds else "-", (what or "")[:100]))
        widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3]
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 24)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def lock(path: Path):
    """An exclusive advisory lock (two `make -j` runs never build the same report at once)."""
    from lndbayes.atomic import file_lock

    return file_lock(path)


@contextmanager
def sigint_held():
    """Ctrl-C waits until the block is done (two renames must not be split)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Plain:
    """Program states as plain lines (when no progress session is given)."""

    def program(self, program: str, state: str, seconds=None, reason=None) -> None:
        tail = f" in {seconds:.0f} s" if seconds else ""
        print(f"  {program}: {state}{tail}" + (f": {reason}" if reason else ""), flush=True)

    def line(self, text: str) -> None:
        print(text, flush=True)


def run_reports(data_root=None, out_dir=REPORTS_DIR, programs=None, jobs=None, force: bool = False,
                settings: Settings | None = None, index: bool = True, scheduler: str | None = None,
                workers: int | None = None) -> RunSummary:
    """Build the reports of ``programs`` (default: all) and ``out_dir/index.html``.

    ``scheduler`` (a Dask scheduler address or scheduler file) or ``workers`` (start a local
    Dask cluster of that many one-thread processes) run the builds as Dask tasks
    (:mod:`lndbayes.report.cluster`); otherwise ``jobs`` local worker processes build them.

    A program is executed only when its stamp changed (or ``force``). ``jobs`` notebooks run in
    parallel processes (default 2). A failing program never stops the others; its folder then
    holds ``status.json`` with the reason (and ``failed.ipynb`` to debug it).
    """
    t_start = time.perf_counter()
    settings = settings or Settings()
    root = Path(data_root).resolve() if data_root else default_data_root()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = DEFAULT_JOBS if not jobs else max(1, int(jobs))

    # data to ingest means reports to build: the workers' fork server imports meanwhile
    org = load_org(root, before_ingest=None if (scheduler or workers) else _start_worker_server)
    cfg, root = org.programs, Path(getattr(org, "root", root))
    wanted = list(programs) if programs else None
    known = set(cfg.programs) | set(cfg.errors)
    if wanted:
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise LndbayesError(
                f"no program called {', '.join(map(repr, unknown))} in {cfg.path or 'programs.yaml'}. "
                f"Fix: use one of: {', '.join(sorted(known))}")

    summary = RunSummary()
    src = source_hash()
    dstamp = data_stamp(root)
    todo: list[tuple[str, str]] = []
    runs: dict[str, ProgramRun] = {}
    for pid, prog in cfg.programs.items():
        if wanted and pid not in wanted:
            continue
        stamp = program_stamp(prog, cfg.organisation, dstamp, src, settings)
        cur = None if force else is_current(out / pid, stamp)
        if cur and cur.get("status") == "ok":
            st = read_json(out / pid / SUMMARY_FILE) or {}
            runs[pid] = ProgramRun(pid, "skipped", converged=st.get("converged"),
                                   recommendation=(st.get("recommendation") or {}).get("action"))
        elif cur:
            runs[pid] = ProgramRun(pid, "failed", reason=cur.get("reason"))
        else:
            todo.append((pid, stamp))
    for key, err in cfg.errors.items():
        if wanted and key not in wanted:
            continue
        runs[str(key)] = ProgramRun(str(key), "invalid", reason=" ".join(str(err).split())[:500])

    todo = longest_first(todo, out)
    if not wanted and _has_skill_assessments(root):
        stamp = skill_gaps_stamp(cfg.organisation, dstamp, src, settings)
        cur = None if force else is_current(out / SKILL_GAPS, stamp)
        if cur and cur.get("status") == "ok":
            runs[SKILL_GAPS] = ProgramRun(SKILL_GAPS, "skipped", converged=cur.get("converged"),
                                          recommendation=cur.get("recommendation"))
        elif cur:
            runs[SKILL_GAPS] = ProgramRun(SKILL_GAPS, "failed", reason=cur.get("reason"))
        else:
            todo.insert(0, (SKILL_GAPS, stamp))   # first: program reports read its cached forecast
            if jobs > 1 or scheduler or workers:
                # its backtest fits beside it, not after it, but behind the first program: the
                # two share a compiled model, so on a machine that never compiled it the forecast
                # compiles it (~18 CPU-s on the example) while the other worker builds a report,
                # and the backtest then loads it instead of compiling it again at the same moment
                todo.insert(min(2, len(todo)), (SKILL_BACKTEST, stamp))
    elif wanted and todo and jobs > 1 and not (scheduler or workers) and _has_skill_assessments(root) \
            and any(cfg.programs[pid].program.skills for pid, _ in todo):
        # some of the chosen programs show the organisation's skill-gap forecast: one worker
        # fits it while the others build reports (deferring their skills section) instead of
        # one computing it inside a report and the others waiting on its lock (at 597 teams:
        # minutes of an idle worker). When it is cached already this task just reads it.
        todo.insert(0, (SKILL_FORECAST, skill_gaps_stamp(cfg.organisation, dstamp, src, settings)))

    if todo:
        from lndbayes import progress

        with progress.session(total=len(todo)) as show:
            show.line(f"lndbayes report: {sum(p not in CACHE_FITS for p, _ in todo)} program(s) to run "
                      f"({sum(r.status != 'invalid' for r in runs.values())} up to date), "
                      + (f"on Dask ({scheduler or f'{workers} local workers'})" if scheduler or workers
                         else f"{min(jobs, len(todo))} at a time") + f", data: {root}")
            for st in _execute(todo, root, out, settings, jobs, scheduler, workers, show):
                runs[st["program"]] = ProgramRun(st["program"], st["status"], st.get("seconds", 0.0),
                                                 st.get("reason"), st.get("converged"),
                                                 st.get("recommendation"), ran=True)
    order = list(cfg.programs) + [str(k) for k in cfg.errors] + [SKILL_GAPS]
    summary.runs = [runs[p] for p in order if p in runs]

    if index:
        summary.index = out / "index.html"
        summary.index_rebuilt = build_index(out, cfg, src, skill_gaps=_portfolio_skill_gaps(out))
    summary.seconds = round(time.perf_counter() - t_start, 1)
    return summary


def longest_first(todo: list[tuple[str, str]], out: Path) -> list[tuple[str, str]]:
    """``todo`` with the programs whose last build took longest first; programs never built
    (or whose time is unknown) before all others, in their order.

    Why: with two workers, a short report queued last while a long one runs leaves a worker idle
    at the end; the example's new-month run ended with the 5 s lean_workshop started at 24 s.
    Longest first is the classic rule for this (LPT), and last run's time is the best estimate
    at hand. Results do not depend on the order (tests/test_runner_dask.py: byte-identical)."""
    def last_seconds(pid: str) -> float:
        sec = (read_json(out / pid / STATUS_FILE) or {}).get("seconds")
        return float(sec) if isinstance(sec, (int, float)) else float("inf")

    return sorted(todo, key=lambda item: -last_seconds(item[0]))  # stable: ties keep the order


def _execute(todo, root, out, settings, jobs, scheduler, workers, show) -> list[dict]:
    if not (scheduler or workers):
        return execute_all(todo, root, out, settings, jobs, show=show)
    from lndbayes.report.cluster import connect

    client, cluster = connect(scheduler, workers)
    if hasattr(show, "attach_dask"):
        show.attach_dask(client)        # the tasks' progress events (cluster.dask_task)
    try:
        return execute_all(todo, root, out, settings, jobs, client=client, show=show)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _has_skill_assessments(root: Path) -> bool:
    return (Path(root) / "processed" / "skill_assessments.parquet").is_file()


def skill_gaps_stamp(organisation, data: str, source: str, settings: Settings) -> str:
    """What the skill-gap report depends on: the data, the package source, its notebook, the
    settings (hashlib and json only: the no-op path stays light)."""
    from lndbayes import __version__

    org = organisation.model_dump(mode="json") if hasattr(organisation, "model_dump") else organisation
    nb = sha(SKILL_TEMPLATE.read_text()) if SKILL_TEMPLATE.is_file() else None
    return sha({"report": SKILL_GAPS, "organisation": org, "data": data, "source": source, "notebook": nb,
                "settings": settings.as_params(), "version": __version__})


def _portfolio_skill_gaps(out: Path) -> dict | None:
    """The portfolio's skill-gap block (link and top gaps) from reports/skill-gaps/summary.json."""
    st = read_json(out / SKILL_GAPS / "status.json") or {}
    if st.get("status") != "ok":
        return None
    return (read_json(out / SKILL_GAPS / SUMMARY_FILE) or {}).get("portfolio")


@dataclass
class _Job:
    program: str
    stamp: str
    tmp: Path
    defer: bool = False        # may defer a section whose shared input is not ready (build.py)
    earlier: float = 0.0       # seconds of its deferred passes (they fitted its outcomes)

    def task(self, root: Path, params: dict) -> dict:
        """What a worker needs, as plain data (a pool worker or a Dask worker)."""
        return {"program": self.program, "data_root": str(root), "tmp": str(self.tmp),
                "settings": params, "stamp": self.stamp, "defer": self.defer}


@dataclass
class _Worker:
    process: mp.Process
    conn: object
    job: _Job | None = None
    source: str = ""           # the package source when it started (it imports lazily)


def _start_worker_server() -> None:
    with _worker_env():
        worker_server.launch()


_worker_env = worker_env      # the environment a worker starts with (process_env.worker_env)


def _finished(job: _Job, status: dict | None, out: Path, show, exitcode=None, reason=None) -> dict:
    """Move a finished job's folder into place (or remove it when its worker died)."""
    if status is None:
        status = {"program": job.program, "status": "failed", "stamp": job.stamp,
                  "reason": reason or f"the worker process ended without a result (exit code {exitcode})"}
        shutil.rmtree(job.tmp, ignore_errors=True)
    elif job.program in CACHE_FITS:          # a fit into the cache: no folder to keep
        shutil.rmtree(job.tmp, ignore_errors=True)
    else:
        if job.earlier and isinstance(status.get("seconds"), (int, float)):
            # its time is all its passes: the deferred one fitted the outcomes, and the next
            # run orders programs by this figure (longest_first)
            status = {**status, "seconds": round(status["seconds"] + job.earlier, 1)}
            if (job.tmp / STATUS_FILE).is_file():
                write_json(job.tmp / STATUS_FILE, status, indent=2)
        with sigint_held():
            replace_dir(job.tmp, out / job.program)
    show.program(job.program, "done" if status["status"] == "ok" else "failed",
                 seconds=status.get("seconds"), reason=status.get("reason"))
    return status


def execute_all(todo, root: Path, out: Path, settings: Settings, jobs: int, client=None,
                show=None, target=None) -> list[dict]:
    """Run each (program, stamp) of ``todo`` in a pool of ``jobs`` long-lived worker processes
    and move each finished folder into place. Ctrl-C stops everything and leaves no temporary
    folder.

    Why long-lived: a worker imports lndbayes once and keeps its compiled models
    (lndbayes.inference.sampling) from one report to the next, and executes each notebook in
    its own process (lndbayes.report.notebook.execute_in_process) instead of starting a kernel.
    With a Dask ``client`` the builds are Dask tasks instead (lndbayes.report.cluster).

    A worker imports lndbayes lazily, so one started before the package's source changed would
    mix old and new code (an ImportError mid-run, seen when code landed during a long run): a
    worker gets a new task only while the source is what it was when the worker started;
    otherwise it is let go and a fresh one takes the task. ``target``: the worker's entry point
    (tests).
    """
    from lndbayes.report.worker_entry import worker_loop

    target = target or worker_loop

    show = show or _Plain()
    params = settings.as_params()
    # program reports may defer their skill-gap section while the skill-gap task of this run
    # computes the forecast (minutes at 597 teams): the worker builds other reports meanwhile,
    # and the deferred ones come again at the end of the queue, reading their fits back
    defer = client is None and jobs > 1 and any(pid in (SKILL_GAPS, SKILL_FORECAST) for pid, _ in todo)
    pending = [_Job(pid, stamp, temporary_sibling(out / pid),
                    defer=defer and pid not in (SKILL_GAPS, *CACHE_FITS)) for pid, stamp in todo]
    locked: set[str] = set()
    workers: list[_Worker] = []
    results: list[dict] = []
    with ExitStack() as locks:
        try:
            if client is not None:
                from lndbayes.report.cluster import execute_dask

                for job in pending:
                    locks.enter_context(lock(out / f".{job.program}.lock"))
                for job in pending:
                    show.program(job.program, "started")
                return execute_dask(pending, root, out, params, client,
                                    lambda job, status, reason=None: _finished(job, status, out, show,
                                                                               reason=reason))
            while pending or any(w.job for w in workers):
                while pending and len(workers) < jobs:
                    src = source_hash()
                    with _worker_env():
                        ctx = worker_server.context(src)
                        conn, child = ctx.Pipe(duplex=True)
                        proc = ctx.Process(target=target, args=(child,), name="lndbayes-report-worker")
                        proc.start()
                    child.close()
                    workers.append(_Worker(proc, conn, source=src))
                idle = [w for w in workers if w.job is None]
                now = source_hash() if pending and idle else None
                stale = [w for w in idle if now and w.source != now]
                for w in stale:
                    _retire(w)
                    workers.remove(w)
                if stale:
                    continue                         # fresh workers take the tasks
                for w in workers:
                    if w.job is None and pending:
                        job = pending.pop(0)
                        w.job = job                  # from here on, a Ctrl-C cleans its folder up
                        if job.program not in locked:    # a deferred job keeps its lock
                            locks.enter_context(lock(out / f".{job.program}.lock"))
                            locked.add(job.program)
                        job.tmp.mkdir(parents=True)
                        w.conn.send({**job.task(root, params), "env": worker_server.task_env()})
                        show.program(job.program, "started")
                busy = [w for w in workers if w.job]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
                for w in busy:
                    status = None
                    try:
                        if w.conn.poll():
                            status = w.conn.recv()
                    except (EOFError, OSError):
                        status = None
                    if status is None and w.process.is_alive():
                        continue
                    job, w.job = w.job, None
                    if status is None:           # the worker died: a new one takes its place
                        w.process.join()
                        workers.remove(w)
                    if status is not None and status.get("status") == "deferred":
                        shutil.rmtree(job.tmp, ignore_errors=True)
                        pending.append(_Job(job.program, job.stamp, temporary_sibling(out / job.program),
                                            earlier=job.earlier + float(status.get("seconds") or 0.0)))
                        show.program(job.program, "deferred", reason=status.get("reason"))
                        continue
                    results.append(_finished(job, status, out, show, w.process.exitcode))
            for w in workers:                    # all done: let the workers end
                w.conn.send(None)
            for w in workers:
                w.process.join(STOP_GRACE)
            _stop([w for w in workers if w.process.is_alive()])
        except BaseException as exc:
            _stop(workers)
            for job in [w.job for w in workers if w.job] + pending:
                shutil.rmtree(job.tmp, ignore_errors=True)
            if isinstance(exc, (KeyboardInterrupt, LndbayesError)):
                raise
            from lndbayes.report.build import failure_reason

            raise LndbayesError(f"report run stopped: {failure_reason(exc)}") from exc
    return results


def _retire(w: _Worker) -> None:
    """Let an idle worker end (it finishes nothing: it has no task)."""
    try:
        w.conn.send(None)
    except (OSError, EOFError):
        pass
    w.process.join(STOP_GRACE)
    if w.process.is_alive():
        _stop([w])


def _stop(workers: list[_Worker]) -> None:
    """Stop workers: SIGTERM (unwinds like Ctrl-C), then SIGKILL after a grace."""
    for w in workers:
        if w.process.is_alive():
            w.process.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
