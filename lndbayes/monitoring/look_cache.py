"""Interim-monitoring checkpoints computed before, read back by the data known at them.

Why: a month of new data changes only the checkpoints after it, yet the report recomputed
every checkpoint of every program (as-of cut, panels, team contrasts, ROI money: ~0.1-0.3 s a
checkpoint, 1-2.4 s a program on the example). A checkpoint is kept under a key of everything
that decides it: the data known at its cut (:class:`lndbayes.monitoring.asof.KnownDigest`), the
programs' configuration, the monitored outcome, the rule, the seed, the checkpoint's position
and month, and the package source. Entries live in the posterior cache folder
(``$LNDBAYES_CACHE/monitoring``); deleting it only costs time, and an entry that cannot be
read is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import pickle

from lndbayes import __version__
from lndbayes.atomic import atomic_path
from lndbayes.code_version import package_source_hash
from lndbayes.data.org import derived
from lndbayes.monitoring.asof import KnownDigest
from lndbayes.paths import cache_dir


class LookCache:
    """``get``/``put`` of one program's checkpoints (a no-op when ``enabled`` is False)."""

    def __init__(self, org, program_id: str, outcome_id: str, rule, seed: int, *, enabled: bool = True):
        # one digest per loaded organisation: a worker's reports share it (data.org.derived)
        self._known = derived(org, "known_digest", lambda: KnownDigest(org)) if enabled else None
        if not enabled:
            return
        programs = org.programs.model_dump(mode="json") if hasattr(org.programs, "model_dump") else str(org.programs)
        self._context = hashlib.sha256(json.dumps(
            {"programs": programs, "program": program_id, "outcome": outcome_id, "rule": rule.to_dict(),
             "seed": int(seed), "version": __version__, "source": package_source_hash()},
            sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, i: int, month: int, cut):
        key = hashlib.sha256(f"{self._context}|{i}|{month}|{self._known.digest(cut)}".encode()).hexdigest()
        return cache_dir() / "monitoring" / key[:2] / f"{key[:40]}.pkl"

    def get(self, i: int, month: int, cut):
        if self._known is None:
            return None
        try:
            return pickle.loads(self._path(i, month, cut).read_bytes())
        except Exception:  # noqa: BLE001 - missing, damaged or of another version: recompute
            return None

    def put(self, i: int, month: int, cut, look) -> None:
        if self._known is None:
            return
        try:
            with atomic_path(self._path(i, month, cut)) as tmp:
                tmp.write_bytes(pickle.dumps(look, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, TypeError, AttributeError):   # only costs time
            pass
