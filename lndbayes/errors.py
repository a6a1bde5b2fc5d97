"""Errors a user reads. Each names where the problem is and how to fix it."""

from __future__ import annotations


class LndbayesError(Exception):
    """Base class: the message is written for the person who runs lndbayes."""


class ContractError(LndbayesError):
    """Input breaks the data contract (docs/data-contract.md)."""

    def __init__(self, problem: str, *, file=None, row=None, column=None, fix=None):
        self.problem = problem
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        text = (", ".join(where) + ": " if where else "") + self.problem.rstrip(".")
        if self.fix:
            text += f". Fix: {self.fix.rstrip('.')}"
        return text + "."


class ConfigError(ContractError):
    """programs.yaml problem; ``row`` is the YAML line number."""


class ModelInputError(LndbayesError):
    """Data handed to a model is unfit for it (wrong type, not binary, no variation...)."""


class NotApplicableYet(ModelInputError):
    """An optional analysis has nothing to work on yet (a program whose first month is not over):
    its report section says so as "does not apply", not as a failure."""


class Deferred(LndbayesError):
    """A shared result (the organisation's skill-gap forecast) is being computed by another
    worker of this run: a report section that may not wait says so, and the runner builds the
    report again once the result is there (its fits are cached by then)."""


class FitFailedError(LndbayesError):
    """A fit did not converge even after retries (raised only with strict=True)."""
