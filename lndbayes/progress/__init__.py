"""Signs of life during long work: which program and outcome is fitting, sampling (draws done),
retrying (and why) or rendering, with elapsed time.

Two halves that meet in one events file (JSON lines), because the fits run in other processes
(the report runner's workers and their Papermill kernels) than the one that owns the terminal:

- **emit** (any process): :func:`emit` appends one line to the file named by the environment
  variable ``LNDBAYES_PROGRESS``; without it, it does nothing (a plain ``lb.fit_panel`` in a
  notebook prints nothing). Child processes inherit the variable, so a worker, its kernel and
  the sampler's background thread all write to the same file. Each event is one ``os.write``
  on a file opened with ``O_APPEND``, so lines from several processes never interleave.
- **show** (the runner): ``with session(total=N) as p:`` creates the file, sets the variable,
  and tails the file in a thread. On a terminal it keeps one live line per running program
  (stage, outcome, draws done, elapsed) under the finished steps; elsewhere (a log, CI) it
  prints one line per step and no draw counts.

::

    with progress.scope(program="manager_coaching", outcome="attrition_12m"):
        progress.emit("fitting")                 # program and outcome come from the scope

    with progress.session(total=4) as p:         # in the runner
        p.program("manager_coaching", "started")
        ...                                      # workers emit; p prints
        p.program("manager_coaching", "done", seconds=41.0)

Stages (``stage`` of an event): per program ``started``, ``section`` (an optional part of the
analysis: monitoring, the chain, skills), ``analysed`` / ``rendering``, ``done``, ``failed``,
``skipped``; per outcome ``fitting``, ``compiling``, ``compiled``, ``sampling`` (draws done of
the total, tuning included), ``retry`` (attempt, settings and why), ``fitted`` (seconds,
converged, retries), ``failed`` (reason). Unknown stages are shown as they come.
"""

from lndbayes.progress.events import (DASK, ENV, ENV_PROGRAM, MAX_TEXT, SAMPLING_EVERY, TOPIC,
                                     draws_callback, emit, enabled, scope, target)
from lndbayes.progress.show import Board, Session, session

__all__ = ["DASK", "ENV", "ENV_PROGRAM", "MAX_TEXT", "SAMPLING_EVERY", "TOPIC", "Board", "Session",
           "draws_callback", "emit", "enabled", "scope", "session", "target"]
