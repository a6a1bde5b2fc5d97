"""The on-disk posterior cache and its keys.

Posteriors are cached under ``lndbayes.paths.CACHE_DIR`` (or ``$LNDBAYES_CACHE``) keyed by a
SHA-256 of the data arrays, the model spec, the priors, the sampler settings, the seed, the
package version and a hash of the model and inference source (:func:`model_code_hash`), so an
unchanged fit is never sampled twice and a changed model never reads an old posterior.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import xarray as xr

from lndbayes import atomic, paths

_PACKAGE = Path(__file__).resolve().parent.parent
#: source that decides what a fit samples and how it is judged (relative to the package)
MODEL_SOURCES = ("inference/*.py", "models/graph.py", "models/centring.py", "models/priors.py",
                 "models/sufficient.py", "models/summary_model.py", "models/families/*.py")


def _cache_dir() -> Path:
    return paths.cache_dir()


def hash_payload(payload: dict, arrays: dict) -> str:
    """SHA-256 of a JSON-able payload plus named numpy arrays (values, dtypes and shapes)."""
    h = hashlib.sha256()
    h.update(json.dumps(payload, sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def model_code_hash() -> str:
    """SHA-256 of the source that defines what a fit samples and how it is judged
    (:data:`MODEL_SOURCES`: the graph, families, priors, sufficient statistics, centring, the
    summary model and this package).

    Part of every posterior cache key: without it, a changed graph (a reparameterisation, a new
    prior form) under the same package version would be served the old posteriors from disk.
    """
    h = hashlib.sha256()
    files = sorted({f for pattern in MODEL_SOURCES for f in _PACKAGE.glob(pattern)})
    for f in files:
        h.update(str(f.relative_to(_PACKAGE)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


#: the entry's file. Why a pickle of the DataTree and not netCDF: the cache is read and written
#: only by this package on this machine, and a pickle writes in ~0.04-0.1 s what h5netcdf took
#: 0.16-0.65 s to (reads 0.01-0.04 s against 0.13-0.2 s), measured on the example's posteriors
#: (3-42 MB); every fit of a report run writes one and every unchanged fit reads one. Entries of
#: the former format (posterior.nc) are simply not found (refitted once).
ENTRY_FILE = "posterior.pkl"


def _entry(key: str) -> Path:
    return _cache_dir() / key[:2] / key


def cache_load(key: str):
    """The cached ``(idata, diagnostics)`` of ``key``, or ``None`` (missing or unreadable)."""
    folder = _entry(key)
    data, meta = folder / ENTRY_FILE, folder / "fit.json"
    if not (data.exists() and meta.exists()):
        return None
    try:
        idata = pickle.loads(data.read_bytes())
        if not isinstance(idata, xr.DataTree):
            return None
        return idata, json.loads(meta.read_text())
    except Exception:  # noqa: BLE001 - a corrupt entry (or one of another xarray) is simply refit
        return None


def cache_save(key: str, idata, diag: dict) -> None:
    """Write the entry as a whole folder (never half-written); a failed write is only a miss."""
    folder = _entry(key)
    if (folder / ENTRY_FILE).exists() and (folder / "fit.json").exists():
        return
    try:
        with atomic.atomic_dir(folder) as tmp:
            (tmp / ENTRY_FILE).write_bytes(pickle.dumps(idata, protocol=pickle.HIGHEST_PROTOCOL))
            (tmp / "fit.json").write_text(json.dumps(diag, default=float))
    except (OSError, pickle.PicklingError):
        pass
