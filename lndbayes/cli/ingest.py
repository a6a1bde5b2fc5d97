"""`lndbayes ingest`: placeholder until the command moves here (restructure in progress)."""

from lndbayes.data.ingest import register_cli as register  # noqa: F401
