"""A hash of the package's Python source: part of every on-disk cache key whose content the
code decides (compiled models by structure, interim-monitoring checkpoints), so that changed
code never reads what older code wrote."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def package_source_hash() -> str:
    """SHA-256 over the path and bytes of every ``.py`` file of lndbayes (read once a process)."""
    h = hashlib.sha256()
    for f in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" not in f.parts:
            h.update(str(f.relative_to(PACKAGE)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()
