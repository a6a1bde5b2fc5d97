"""Building one program's report folder, in a worker process of :mod:`lndbayes.report.runner`.

The worker fills a temporary folder the runner chose (notebook, HTML, summary.json, analysis,
posteriors, status.json, .stamp) and reports its status; only the runner moves the folder into
place, so that Ctrl-C in the runner can never be outlived by a worker that finishes a report.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pandas as pd

from lndbayes import progress
from lndbayes.atomic import write_json, write_text
from lndbayes.privacy import assert_no_identifiers, org_identifiers
from lndbayes.report.notebook import execute_in_process, export_html
from lndbayes.report.process_env import die_with_parent
from lndbayes.report.worker_server import apply_task_env
from lndbayes.report.stamps import REPORT_TEMPLATE, STAMP_FILE, STATUS_FILE, SUMMARY_FILE, read_json

#: touched in the temporary folder while the notebook runs, removed after: tests (and anyone
#: watching a long run) can tell that a build is inside its notebook without guessing by time
EXECUTING_MARKER = ".executing"


class _Ids:
    """The identifiers a report must never show (raw ids and pseudonymous keys)."""

    _last: tuple | None = None          # (files' signature, _Ids): see :meth:`of`

    def __init__(self, root: Path):
        self.root = Path(root)
        emp = self.root / "processed" / "employees.parquet"
        self.employees = pd.read_parquet(emp) if emp.is_file() else pd.DataFrame()
        self.raw, self.keys = org_identifiers(self)
        self.employees = None          # read for the keys only: not kept for the worker's life

    @classmethod
    def of(cls, root) -> "_Ids":
        """The identifiers of ``root``, read again only when a file they come from changed.
        Why: a worker builds many reports of one organisation, and reading its ~27,000 ids (20,000
        employees) again took ~0.13 s a report."""
        root = Path(root).resolve()
        sig = (root, *(_stat(root / rel) for rel in ("processed/employees.parquet", "raw/employees.csv")))
        if cls._last is None or cls._last[0] != sig:
            cls._last = (sig, cls(root))
        return cls._last[1]


def _stat(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def failure_reason(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}" if evalue else str(ename)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())[:500]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def worker_init() -> None:
    """Ctrl-C goes to the runner alone (it decides); the runner stops a worker with SIGTERM,
    which unwinds like Ctrl-C so Papermill shuts its kernel down. On Linux the worker also gets
    SIGTERM when the runner dies without stopping it (:func:`die_with_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    die_with_parent()


def build_program(program_id: str, data_root: str, tmp: str, settings: dict, stamp: str,
                  defer: bool = False) -> dict:
    """Fill ``tmp`` with one program's report. Returns its status (never raises but for Ctrl-C).

    ``defer``: a section whose shared input another worker is computing (the skill-gap
    forecast) is not waited for; the status is then ``deferred`` (nothing rendered) and the
    runner queues the program again, when its fits are read back from the cache."""
    from lndbayes.analysis_sections import deferring

    tmp = Path(tmp)
    t0 = time.perf_counter()
    status: dict = {"program": program_id, "status": "failed", "stamp": stamp}
    nb_out = tmp / "report.ipynb"
    params = dict(program_id=program_id, data_root=str(data_root), out_dir=str(tmp), **settings)
    try:
        write_text(tmp / EXECUTING_MARKER, str(os.getpid()))
        try:
            with deferring(defer) as deferred:
                execute_in_process(REPORT_TEMPLATE, nb_out, params, cwd=tmp, stop=lambda: bool(deferred))
        finally:
            (tmp / EXECUTING_MARKER).unlink(missing_ok=True)
        if deferred:
            status.update(status="deferred", reason=f"waits for: {', '.join(deferred)}",
                          seconds=round(time.perf_counter() - t0, 1))
            return status
        progress.emit("rendering", program=program_id)
        export_html(nb_out, tmp / "report.html", title=f"Impact report: {program_id}")
        ids = _Ids.of(data_root)
        assert_no_identifiers([tmp / "report.html", nb_out, tmp / SUMMARY_FILE, tmp / "analysis.json"],
                              raw_ids=ids.raw, keys=ids.keys)
        summ = read_json(tmp / SUMMARY_FILE) or {}
        status.update(status="ok", converged=summ.get("converged"),
                      recommendation=(summ.get("recommendation") or {}).get("action"), reason=None)
    except Exception as exc:  # noqa: BLE001 - a failing program never stops the others
        status.update(status="failed", reason=failure_reason(exc))
        _keep_only_failed_notebook(tmp, nb_out, data_root)
    status["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(tmp / STATUS_FILE, status, indent=2)
    write_text(tmp / STAMP_FILE, stamp + "\n")
    return status


def _keep_only_failed_notebook(tmp: Path, nb_out: Path, data_root) -> None:
    """A failed build keeps ``failed.ipynb`` to debug (when it shows no identifier), nothing else."""
    keep = tmp / "failed.ipynb"
    if nb_out.exists():
        os.replace(nb_out, keep)
        try:
            ids = _Ids.of(data_root)
            assert_no_identifiers([keep], raw_ids=ids.raw, keys=ids.keys)
        except Exception:  # noqa: BLE001 - when in doubt, do not keep it
            keep.unlink(missing_ok=True)
    for p in list(tmp.iterdir()):
        if p.name != keep.name:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()


def build_task(task: dict) -> dict:
    """Build one report folder from a task of plain data (``program``, ``data_root``, ``tmp``,
    ``settings``, ``stamp``): what a pool worker or a Dask worker runs."""
    from lndbayes.data.org import remember_loaded
    from lndbayes.report import skill_build

    remember_loaded()      # a worker's reports share one load of the organisation (data.org)
    with progress.scope(program=task["program"]):     # every event of this build names it
        if task["program"] == skill_build.NAME:
            return skill_build.build_skill_gaps(task["data_root"], task["tmp"], task["settings"], task["stamp"])
        if task["program"] == skill_build.BACKTEST:
            return skill_build.fit_backtest(task["data_root"], task["settings"])
        if task["program"] == skill_build.FORECAST:
            return skill_build.fit_forecast(task["data_root"], task["settings"])
        return build_program(task["program"], task["data_root"], task["tmp"], task["settings"], task["stamp"],
                             defer=bool(task.get("defer")))


def freeze_long_lived() -> None:
    """Move what is alive after a worker's first build (modules, compiled models, caches) out of
    the garbage collector's sight: every later full collection (one per report when the shell is
    reset, and the automatic ones while a report runs) then walks only what later builds made,
    not the millions of objects of PyMC, PyTensor, Numba and matplotlib (~0.4 s a collection).
    Garbage is collected first; what later builds make and drop is still freed."""
    gc.collect()
    gc.freeze()


def worker_loop(conn) -> None:
    """Entry point of a long-lived worker process: build the tasks the runner sends through
    ``conn`` (None: stop), send each status back. One process builds many reports, so its
    imports and its compiled models (lndbayes.inference.sampling) serve all of them."""
    worker_init()
    frozen = False
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            apply_task_env(task.pop("env", None))      # the runner's progress file, now
            conn.send(build_task(task))
            if not frozen:
                freeze_long_lived()
                frozen = True
    except (KeyboardInterrupt, EOFError):
        conn.close()
        gc.unfreeze()    # the interpreter's teardown frees frozen objects only once unfrozen
        return                                # stopped by the runner, which cleans up
    conn.close()
    # All work is on disk (files are written atomically, progress events synchronously):
    # skip the interpreter's teardown of PyMC, Numba and matplotlib, which took 1.5 s that
    # the runner spent waiting before it could write the index.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
