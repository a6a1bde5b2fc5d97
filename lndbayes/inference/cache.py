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
import os
from pathlib import Path

import numpy as np
import xarray as xr

from lndbayes import atomic, paths

_PACKAGE = Path(__file__).resolve().parent.parent
#: source that decides what a fit samples and how it is judged (relative to the package)
MODEL_SOURCES = ("inference/*.py", "models/graph.py", "models/centring.py", "models/priors.py",
                 "models/sufficient.py", "models/summary_model.py", "models/families/*.py")


def _cache_dir() -> Path:
    return Path(os.environ.get("LNDBAYES_CACHE", paths.CACHE_DIR))


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


def cache_load(key: str):
    folder = _cache_dir() / key[:2] / key
    nc, meta = folder / "posterior.nc", folder / "fit.json"
    if not (nc.exists() and meta.exists()):
        return None
    try:
        with xr.open_datatree(nc, engine="h5netcdf") as tree:
            idata = tree.load()
        return idata, json.loads(meta.read_text())
    except Exception:  # noqa: BLE001 - a corrupt cache entry is simply refit
        return None


def cache_save(key: str, idata, diag: dict) -> None:
    """Write the entry as a whole folder (never half-written); a failed write is only a miss."""
    folder = _cache_dir() / key[:2] / key
    if folder.exists():
        return
    try:
        with atomic.atomic_dir(folder) as tmp:
            idata.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
            (tmp / "fit.json").write_text(json.dumps(diag, default=float))
    except OSError:
        pass
