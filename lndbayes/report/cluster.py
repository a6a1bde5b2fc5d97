"""Building the reports on a Dask distributed cluster (``lndbayes report --scheduler/--workers``).

The runner (:mod:`lndbayes.report.runner`) decides what to build and moves each finished
folder into place; here each report is one Dask task, :func:`dask_task`, that receives plain
data (program id, data root, temporary folder, settings, stamp) and runs the same build as a
local worker (:func:`lndbayes.report.build.build_task`). No compiled function is ever sent
over the wire: each worker compiles (or loads from its own compile folder) what it fits.

Pitfalls handled:

- one thread per worker process (``threads_per_worker=1`` for a local cluster; a remote
  cluster must be started with ``--nthreads 1``): PyMC, Numba and the notebook's shell are
  not meant to share a process between concurrent tasks;
- one compilation folder per worker (PyTensor's ``base_compiledir`` and lndbayes' compiled
  callbacks under ``$LNDBAYES_WORKER_DIR/<worker name>/``, default
  ``~/.cache/lndbayes/workers``): PyTensor locks its compile folder, and workers of a cluster
  sharing a network home would wait on each other's lock;
- BLAS threads: Dask's nanny already starts workers with ``OMP_NUM_THREADS=1`` (and MKL,
  OpenBLAS); the local cluster adds Numba's.

The data root and the reports folder must be visible to the workers at the same paths (a
shared file system, as on an HPC cluster with dask-jobqueue); see docs/scaling.md.
Results are the same as a serial run's with the same seeds (tests/test_runner_dask.py).
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

from lndbayes.errors import LndbayesError

_READY = False


def _setup_worker() -> None:
    """Once per worker process: its own compile folders (before PyTensor is imported)."""
    global _READY
    if _READY:
        return
    try:
        from distributed import get_worker

        name = str(get_worker().name)
    except (ImportError, ValueError):
        name = str(os.getpid())
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    base = Path(os.environ.get("LNDBAYES_WORKER_DIR", Path.home() / ".cache" / "lndbayes" / "workers")) / name
    if "pytensor" not in sys.modules:
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        if "base_compiledir" not in flags:
            os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={base / 'pytensor'}"]))
    os.environ.setdefault("LNDBAYES_COMPILE_CACHE", str(base / "compiled"))
    _READY = True


def dask_task(task: dict) -> dict:
    """One report build on a Dask worker (the status dict of
    :func:`lndbayes.report.build.build_task`)."""
    _setup_worker()
    from lndbayes import progress
    from lndbayes.report.build import build_task

    with progress.target(progress.DASK):   # progress via the scheduler: the runner's file may be elsewhere
        return build_task(task)


def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: on the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``, or a scheduler file path), else on a local cluster of ``workers``
    processes with one thread each. Returns ``(client, cluster or None)``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise LndbayesError("running on a Dask cluster needs dask.distributed. "
                            "Fix: pip install 'dask[distributed]'") from err
    if scheduler:
        if Path(scheduler).is_file():
            return Client(scheduler_file=scheduler), None
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=max(1, int(workers or 1)), threads_per_worker=1, processes=True,
                           dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"})
    return Client(cluster), cluster


def execute_dask(jobs, root: Path, out: Path, params: dict, client, finished) -> list[dict]:
    """Submit one task per job (runner ``_Job``), and hand each result to ``finished(job,
    status)`` as it arrives (the runner moves the folder into place). On Ctrl-C or any error
    the tasks are cancelled and re-raised to the runner, which removes the temporary folders."""
    from distributed import as_completed

    futures = {}
    for job in jobs:
        job.tmp.mkdir(parents=True)
        fut = client.submit(dask_task, job.task(root, params), pure=False,
                            key=f"lndbayes-report-{job.program}-{uuid.uuid4().hex[:8]}")
        futures[fut] = job
    results = []
    try:
        for fut in as_completed(list(futures)):
            job = futures[fut]
            try:
                status = fut.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails its program only
                status = {"program": job.program, "status": "failed", "stamp": job.stamp,
                          "reason": f"the Dask task failed: {type(err).__name__}: {err}"[:500]}
                finished(job, None, reason=status["reason"])
                results.append(status)
                continue
            results.append(finished(job, status))
    except BaseException:
        client.cancel(list(futures))
        raise
    return results
