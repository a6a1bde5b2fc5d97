"""`lndbayes fit`: placeholder until the command moves here (restructure in progress)."""

from lndbayes.api import register_cli as register  # noqa: F401
