"""Planning the next study: who gets the program (``assignment``) and how likely the finished
study is to show that it works (``assurance``). See docs/experiment-design.md.

Light on import (numpy and pandas): PyMC is not needed to plan.
"""

from __future__ import annotations

from lndbayes.planning.assignment import Assignment, design_experiment

__all__ = ["Assignment", "design_experiment"]
