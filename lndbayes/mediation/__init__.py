"""The Kirkpatrick chain: Bayesian causal mediation (program -> learning -> behaviour -> results).

``fit_mediation(df, treatment=, mediator=, outcome=, covariates=, group=)`` fits any table
(:mod:`lndbayes.mediation.fit`); ``kirkpatrick_chain(org, program_id)`` builds the table of a
program whose programs.yaml entry has a ``kirkpatrick:`` block and fits the chain
(:mod:`lndbayes.mediation.chain`). Both return a :class:`MediationResult` (rows ``indirect``,
``direct``, ``total``, ``proportion_mediated``, path rows for a chain, a sensitivity analysis,
strict JSON). Rooms: ``data`` (checks), ``model`` (the graph), ``effects`` (draw-by-draw
effects), ``sensitivity`` (medsens), ``result``, ``figures``. docs/kirkpatrick.md explains it.
"""

from lndbayes.mediation.chain import chain_table, kirkpatrick_chain
from lndbayes.mediation.figures import plot_sensitivity
from lndbayes.mediation.fit import ASSUMPTIONS, fit_mediation
from lndbayes.mediation.result import ROW_NAMES, MediationResult
from lndbayes.mediation.sensitivity import b_at_rho, iky_closed_form

__all__ = ["ASSUMPTIONS", "ROW_NAMES", "MediationResult", "b_at_rho", "chain_table",
           "fit_mediation", "iky_closed_form", "kirkpatrick_chain", "plot_sensitivity"]
