"""The report worker's entry point, light enough for the runner to import.

Why a module of its own: a spawned worker's target is pickled by name, so the runner imports the
module that defines it. :mod:`lndbayes.report.build` imports the notebook machinery (IPython,
nbformat, nbconvert, matplotlib via the report views), which took ~1.5 s in the runner before
any worker could start (py-spy on the example's new-month run); only the workers need it.
"""

from __future__ import annotations


def worker_loop(conn) -> None:
    """Run :func:`lndbayes.report.build.worker_loop` (imported here, in the worker)."""
    from lndbayes.report.process_env import skip_iri_grammar

    skip_iri_grammar()
    from lndbayes.report.build import worker_loop as loop

    loop(conn)
