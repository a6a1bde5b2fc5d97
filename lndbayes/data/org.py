"""The validated organisation: processed tables, the ledger and the programs configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Org:
    """Everything the models and reports read about one organisation.

    ``tables`` holds the processed tables of docs/architecture.md (pseudonymised); ``ledger``
    says, per table and source file, rows read = accepted + rejected.
    """

    root: Path
    tables: dict[str, pd.DataFrame]
    ledger: pd.DataFrame
    programs: object  # lndbayes.config.ProgramsConfig
    truth: dict | None = None
    meta: dict = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            return pd.DataFrame()
        return self.tables[name]

    @property
    def employees(self) -> pd.DataFrame:
        return self.table("employees")

    @property
    def kpis(self) -> pd.DataFrame:
        return self.table("kpis")

    @property
    def learning_events(self) -> pd.DataFrame:
        return self.table("learning_events")

    @property
    def enrollments(self) -> pd.DataFrame:
        return self.table("enrollments")

    @property
    def assignments(self) -> pd.DataFrame:
        return self.table("assignments")

    @property
    def hris_events(self) -> pd.DataFrame:
        return self.table("hris_events")


def load_org(path=None, *, refresh: bool = False, seed: int | None = None) -> Org:
    """Return the validated organisation at ``path`` (a data root holding ``raw/``).

    With no path, the default data root (lndbayes.paths.default_data_root): the user's data/
    or the built-in example organisation, simulated on first use.
    """
    raise NotImplementedError("load_org is being written (ingestion work in progress)")
