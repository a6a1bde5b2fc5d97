"""Planning the next study: who gets the program (``assignment``) and how likely the finished
study is to show that it works (``assurance``). See docs/experiment-design.md.

Light on import (numpy, pandas, scipy): PyMC is not needed to plan.
"""

from __future__ import annotations

from lndbayes.planning.assignment import Assignment, design_experiment
from lndbayes.planning.assurance import (
    AssuranceResult,
    assurance,
    assurance_closed_form,
    plot_assurance,
    smallest_sample_size,
)

__all__ = ["Assignment", "AssuranceResult", "assurance", "assurance_closed_form",
           "design_experiment", "plot_assurance", "smallest_sample_size"]
