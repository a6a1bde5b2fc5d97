"""Skill-gap forecasts (issue #14): latent team x skill proficiency over time, from assessments.

One job per module:

* :mod:`lndbayes.skills.inputs` - reading and checks (rejections counted with their reason),
  who is where (HRIS), requirements, program completions;
* :mod:`lndbayes.skills.data` - sufficient statistics (team x skill x quarter means, person
  offsets for the mix of people, program exposures);
* :mod:`lndbayes.skills.model` - the PyMC model and its cached fit;
* :mod:`lndbayes.skills.forecast` - P(gap), expected shortfall, programs that would close gaps;
* :mod:`lndbayes.skills.backtest` - time-ordered backtest against naive baselines;
* :mod:`lndbayes.skills.early_warning` - candidate gaps from operational KPI trends, with
  :mod:`lndbayes.skills.kpi_series` (team-month KPI and HRIS series) and
  :mod:`lndbayes.skills.pooling` (the spike-and-slab pooling across teams).

``import lndbayes.skills`` stays light: the names below load their module on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "forecast_skill_gaps": "lndbayes.skills.forecast",
    "run_forecast": "lndbayes.skills.forecast",
    "skill_forecast_for_program": "lndbayes.skills.forecast",
    "SkillGapForecast": "lndbayes.skills.forecast",
    "backtest": "lndbayes.skills.backtest",
    "prepare": "lndbayes.skills.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lndbayes.skills' has no attribute {name!r}")
