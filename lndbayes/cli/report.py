"""`lndbayes report`: placeholder until the command moves here (restructure in progress)."""

from lndbayes.reporting import register_cli as register  # noqa: F401
