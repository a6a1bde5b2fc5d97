"""lndbayes: does the training program move the business KPI?

What an analyst types::

    import lndbayes as lb
    org = lb.load_org()                                   # the built-in example organisation
    res = lb.fit_program(org, "manager_coaching", "attrition_12m")
    res.summary()

Heavy modules (PyMC, DuckDB) load on first use, so ``import lndbayes`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: The one interval convention of the whole product: 90% equal-tailed posterior intervals.
INTERVAL = 0.90

_EXPORTS = {
    "load_org": "lndbayes.data.org",
    "Org": "lndbayes.data.org",
    "simulate_org": "lndbayes.example",
    "ingest": "lndbayes.data.ingest",
    "load_programs": "lndbayes.config",
    "build_panel": "lndbayes.design.panel",
    "fit_effects": "lndbayes.fitting",
    "fit_effects_summary": "lndbayes.fitting",
    "fit_program": "lndbayes.fitting",
    "fit_panel": "lndbayes.fitting",
    "fit_mediation": "lndbayes.mediation", "kirkpatrick_chain": "lndbayes.mediation",
    "load_result": "lndbayes.results",
    "EffectResult": "lndbayes.results",
    "analyse_program": "lndbayes.analysis",
    "ProgramAnalysis": "lndbayes.analysis",
    "load_analysis": "lndbayes.analysis",
    "design_experiment": "lndbayes.planning",
    "forecast_skill_gaps": "lndbayes.skills.forecast",
    "LndbayesError": "lndbayes.errors",
    "ContractError": "lndbayes.errors",
    "ConfigError": "lndbayes.errors",
    "ModelInputError": "lndbayes.errors",
    "FitFailedError": "lndbayes.errors",
}

__all__ = sorted(_EXPORTS) + ["INTERVAL", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lndbayes' has no attribute {name!r}")


def __dir__():
    return __all__
