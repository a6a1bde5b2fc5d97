"""Interim monitoring of a running program (issue #13 item 5; docs/monitoring.md).

``monitor_program(org, program_id, ...) -> Monitoring``: at each checkpoint the posterior
P(works) and P(ROI > 0) from the data known then, the rule's action (scale, alter, stop,
continue, or too little data) and the rule's operating characteristics measured by simulation.

Modules: :mod:`~lndbayes.monitoring.asof` (what is known at a date), :mod:`~.approx` (the fast
interim posterior), :mod:`~.rule` (the rule), :mod:`~.oc` (operating characteristics),
:mod:`~.core` (``monitor_program``, ``Monitoring``).
"""

from lndbayes.monitoring.asof import as_of, cut_date
from lndbayes.monitoring.core import (TABLE_COLUMNS, Monitoring, checkpoint_months, data_end_month,
                                      monitor_program)
from lndbayes.monitoring.oc import MonitorDesign, operating_characteristics, threshold_table
from lndbayes.monitoring.rule import ACTIONS, DEFAULT_RULE, MonitoringRule, MonitoringSettingsError

__all__ = ["monitor_program", "Monitoring", "MonitoringRule", "MonitoringSettingsError", "DEFAULT_RULE", "ACTIONS",
           "MonitorDesign", "operating_characteristics", "threshold_table", "as_of", "cut_date",
           "checkpoint_months", "data_end_month", "TABLE_COLUMNS"]
