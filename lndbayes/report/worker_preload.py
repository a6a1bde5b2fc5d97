"""What the report workers' fork server imports once, before it forks any worker
(:mod:`lndbayes.report.worker_server`).

Importing this module is the server's whole setup: it first asks Linux to stop the server when
the runner that started it dies (its workers then get SIGTERM in turn, as they ask in
``build.worker_init``), keeps jsonschema's IRI grammar out (``skip_iri_grammar``), then imports
what a worker needs for its first build. An import that fails here is skipped, not raised: the
server must not die of it. A worker forked from it imports the module again when it needs it,
and the build reports that error as it would in a worker that was spawned.
"""

from __future__ import annotations

import gc
import importlib

from lndbayes.report.process_env import die_with_parent, skip_iri_grammar

die_with_parent()
skip_iri_grammar()

#: what a worker's first build imports (measured with -X importtime: ~3 s on the 2-core VM, most
#: of it SciPy, matplotlib, Numba, PyMC, pandas, PyTensor and ArviZ)
MODULES = (
    "lndbayes.report.build",
    "lndbayes.report.skill_build",
    "lndbayes.report.views",
    "lndbayes.analysis",
    "lndbayes.fitting",
    "lndbayes.inference.sampling",
    "lndbayes.inference.compiled",
    "lndbayes.monitoring.core",
    "lndbayes.skills.forecast",
    "lndbayes.skills.backtest",
    "lndbayes.skills.early_warning",
    "matplotlib.pyplot",
    "IPython.core.interactiveshell",
    "h5netcdf",
)

for _name in MODULES:
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: BLE001 - see the module docstring: the worker meets it again
        pass

# What the server imported lives as long as every worker forked from it: out of the garbage
# collector's sight from the start (as build.freeze_long_lived does after a worker's first
# build), so the first report's full collections, automatic or at its shell reset, walk only
# what it made. Forked workers inherit the frozen generation.
gc.collect()
gc.freeze()
