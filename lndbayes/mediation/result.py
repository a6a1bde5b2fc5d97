"""MediationResult: the rows a reader needs, the sensitivity curve, and strict JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lndbayes.atomic import write_text
from lndbayes.errors import ModelInputError

#: version of the JSON layout (``MediationResult.to_json``)
JSON_VERSION = 1
#: the rows every result has, in this order (path rows follow for a chain)
ROW_NAMES = ("indirect", "direct", "total", "proportion_mediated")
ROW_COLUMNS = ["estimand", "path", "label", "mean", "sd", "lower", "upper", "p_gt_0", "unstable"]


def _clean(obj):
    """Plain JSON types; NaN and infinities become null (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


@dataclass
class MediationResult:
    """A fitted mediation model (:func:`lndbayes.fit_mediation`, :func:`lndbayes.kirkpatrick_chain`).

    ``rows``: one dict per estimand (``ROW_COLUMNS``): ``indirect``, ``direct``, ``total``,
    ``proportion_mediated`` (``unstable`` True when the total effect's interval spans 0), then,
    for a chain, one ``indirect_path`` row per path (``path``: the mediators it passes).
    ``coefficients``: the model's coefficients on the data's scale (a, d, b, c_prime).
    ``sensitivity``: the rho analysis (None for a binary outcome).
    ``meta``: columns, n, groups, missing rows left out, priors, sampler, diagnostics.
    ``draws``: name -> numpy draws (in memory only; ``from_json`` gives None).
    """

    rows: list
    coefficients: list
    sensitivity: dict | None
    meta: dict
    draws: dict | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ reading
    def summary(self) -> pd.DataFrame:
        """The rows as a table (columns ``ROW_COLUMNS``)."""
        return pd.DataFrame(self.rows, columns=ROW_COLUMNS)

    def row(self, estimand: str, path=None) -> dict:
        for r in self.rows:
            if r["estimand"] == estimand and (path is None or list(r["path"] or []) == list(path)):
                return r
        raise KeyError(estimand if path is None else f"{estimand} {path}")

    def coefficients_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.coefficients)

    @property
    def converged(self) -> bool:
        return bool(self.meta.get("diagnostics", {}).get("converged", False))

    def diagnostics(self) -> dict:
        return dict(self.meta.get("diagnostics", {}))

    def draws_of(self, name: str) -> np.ndarray:
        """Draws of ``indirect``, ``direct``, ``total``, ``proportion_mediated`` or a path label."""
        if self.draws is None:
            raise ModelInputError("this result was read from JSON, which keeps no draws. Fix: refit "
                                  "(fit_mediation / kirkpatrick_chain) to get the draws")
        return self.draws[name]

    def plot_sensitivity(self, ax=None):
        """Figure: the indirect effect (mean, 90% band) against rho (lndbayes.mediation.figures)."""
        from lndbayes.mediation.figures import plot_sensitivity

        return plot_sensitivity(self, ax=ax)

    def __repr__(self) -> str:
        m = self.meta
        med = " -> ".join(m.get("mediators", []))
        return (f"MediationResult({m.get('treatment')} -> {med} -> {m.get('outcome')}: "
                f"n={m.get('n')}, groups={m.get('n_groups')}, converged={self.converged})")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return _clean({"kind": "mediation", "version": JSON_VERSION, "rows": self.rows,
                       "coefficients": self.coefficients, "sensitivity": self.sensitivity,
                       "meta": self.meta})

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 1) -> str:
        """Strict JSON (NaN written as null); also written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text(Path(path), text + "\n")
        return text

    @classmethod
    def from_dict(cls, obj: dict) -> "MediationResult":
        if not isinstance(obj, dict) or obj.get("kind") != "mediation":
            raise ModelInputError("not a mediation result (no \"kind\": \"mediation\"). Fix: give the "
                                  "JSON written by MediationResult.to_json or `lndbayes mediate`")
        if obj.get("version") != JSON_VERSION:
            raise ModelInputError(f"mediation result version {obj.get('version')} is not "
                                  f"{JSON_VERSION}, the one this lndbayes reads. Fix: refit with "
                                  "this version")
        return cls(rows=obj["rows"], coefficients=obj["coefficients"],
                   sensitivity=obj.get("sensitivity"), meta=obj["meta"], draws=None)

    @classmethod
    def from_json(cls, text_or_path) -> "MediationResult":
        """Read :meth:`to_json`'s output: a JSON string, or the path of a file holding it."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            p = Path(text_or_path)
            if not p.exists():
                raise ModelInputError(f"{p}: file not found. Fix: give the path of a mediation "
                                      "result JSON")
            text = p.read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))
