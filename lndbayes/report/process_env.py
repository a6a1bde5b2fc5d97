"""The environment of a process that runs reports, light enough for the runner to import.

Why a module of its own: the runner sets it for the workers it spawns, and the notebook
machinery (:mod:`lndbayes.report.notebook`: nbformat, nbconvert) took ~1 s to import there
before any worker could start (py-spy on the example's new-month run).
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

#: report worker processes of a run (``lndbayes report --jobs``)
DEFAULT_JOBS = 2


def kernel_env(threads: int = 1) -> None:
    """One thread per process: programs run in parallel processes, not in parallel BLAS."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


@contextmanager
def worker_env():
    """The environment a worker starts with (one BLAS/Numba thread, the inline figure
    backend), set only while it is spawned (or its fork server started): the calling process
    keeps its own."""
    saved = dict(os.environ)
    kernel_env()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def skip_iri_grammar() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` in this process.

    Why: nbformat imports jsonschema, whose format checkers import ``rfc3987_syntax`` when it is
    installed (jupyter-events pulls it in), and that module builds a Lark grammar at import:
    nbformat's import took 1.34 s in every report worker, 0.17 s without it (2-core VM), for
    the "iri" string formats that the notebook schema never uses. jsonschema treats the module as not
    installed and drops only those two format checks. Call before nbformat is imported; only in
    processes lndbayes owns (the report workers), never in a user's kernel.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask Linux to send this process SIGTERM when its parent dies; False where unsupported.

    Why: a runner killed with SIGTERM or SIGKILL (not Ctrl-C) left its workers running: two kept
    sampling a 597-team forecast for 30 minutes for nobody, slowing everything else. A worker
    waiting for a task notices a dead runner (its pipe closes); a busy one did not.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
    except (OSError, AttributeError):
        return False
