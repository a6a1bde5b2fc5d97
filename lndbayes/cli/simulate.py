"""`lndbayes simulate`: placeholder until the command moves here (restructure in progress)."""

from lndbayes.data.simulate import register_cli as register  # noqa: F401
