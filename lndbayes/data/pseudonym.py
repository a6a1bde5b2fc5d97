"""Keyed pseudonyms for people: ``pseudonymise(ids, key) -> "p_" + 16 hex characters``.

HMAC-SHA256 of the UTF-8 identifier under a secret key, truncated to 64 bits. Stable for a
given key (the same person gets the same key across runs and files), unlinkable without the
key, and different under a different key. The key comes from, in order: the ``key`` argument,
the ``LNDBAYES_PSEUDONYM_KEY`` environment variable, or ``<root>/.pseudonym_key`` (generated
once with ``secrets.token_hex(32)``, file mode 0600; keep it out of git and back it up: a new
key gives everybody new pseudonyms).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from lndbayes.atomic import temporary_sibling

ENV_VAR = "LNDBAYES_PSEUDONYM_KEY"
KEY_FILE = ".pseudonym_key"
PREFIX = "p_"


def _key_bytes(key) -> bytes:
    if isinstance(key, bytes):
        return key
    if not isinstance(key, str) or not key:
        raise ValueError("pseudonym key must be a non-empty str or bytes")
    return key.encode("utf-8")


def _one(raw, k: bytes):
    if raw is None or (isinstance(raw, float) and raw != raw):  # None / NaN stay missing
        return None
    if raw is pd.NA or raw is pd.NaT:
        return None
    return PREFIX + hmac.new(k, str(raw).encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def pseudonymise(ids, key):
    """Pseudonymise one id (str -> str) or many (list/array/Series -> same kind).

    Missing values (None, NaN, pd.NA) stay missing. Identifiers are used exactly as given;
    ingestion trims surrounding whitespace before calling this.
    """
    k = _key_bytes(key)
    if isinstance(ids, (str, int)):
        return _one(ids, k)
    if isinstance(ids, pd.Series):
        uniq = {v: _one(v, k) for v in ids.dropna().unique()}
        return ids.map(uniq).astype("str").where(ids.notna(), None)
    if isinstance(ids, Iterable):
        cache: dict = {}
        out = []
        for v in ids:
            if v not in cache:
                cache[v] = _one(v, k)
            out.append(cache[v])
        return out
    return _one(ids, k)


def get_key(root=None, key=None) -> str:
    """The pseudonym key: ``key``, else $LNDBAYES_PSEUDONYM_KEY, else ``<root>/.pseudonym_key``
    (created on first use)."""
    if key:
        return key if isinstance(key, str) else key.hex()
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    if root is None:
        raise ValueError(f"no pseudonym key: set {ENV_VAR} or pass a data root")
    path = Path(root) / KEY_FILE
    if path.exists():
        text = path.read_text().strip()
        if text:
            return text
    return _write_key(path, secrets.token_hex(32))


def _write_key(path: Path, key: str) -> str:
    """Create the key file ``path`` holding ``key`` unless it exists; return the key in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole under a temporary name, then linked (not renamed) into place: os.link fails if
    # another process created the key meanwhile, so a key in use is never replaced
    tmp = temporary_sibling(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def example_key(seed: int) -> str:
    """The pseudonym key of the built-in *simulated* example organisation: derived from its
    simulation seed, so not secret, and never to be used for real people.

    Why: the posterior draws depend on the order of the rows, and the rows are ordered by
    pseudonym in places (group-bys on the person key), so two keys give two sets of draws that
    agree only up to Monte-Carlo error (on the example: quota_attainment's effect 4.168-4.182
    over three fresh clones, a retry in one of them). A key fixed by the seed makes every fresh
    clone's example reports the same, figure for figure.
    """
    return hashlib.sha256(f"lndbayes-example-organisation:{int(seed)}".encode()).hexdigest()


def ensure_example_key(root, seed: int) -> None:
    """Give the example's data root its seed's key (:func:`example_key`) unless a key is set
    ($LNDBAYES_PSEUDONYM_KEY) or the root already has one (a clone keeps its pseudonyms)."""
    path = Path(root) / KEY_FILE
    if os.environ.get(ENV_VAR) or (path.exists() and path.read_text().strip()):
        return
    _write_key(path, example_key(seed))


def key_fingerprint(key) -> str:
    """A short, non-secret fingerprint of the key (stored in the ingestion stamp)."""
    return hashlib.sha256(b"lndbayes-fingerprint:" + _key_bytes(key)).hexdigest()[:12]
