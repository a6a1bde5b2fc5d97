"""Atomic writes: a reader (or a Ctrl-C) never meets a half-written file or folder.

Every file lndbayes writes goes through here: it is written under a temporary name in the
same folder (so the final ``os.replace`` is a rename on one file system, atomic on POSIX) and
moved into place only when complete. An interrupted write leaves the previous file, or
nothing, and no temporary file behind. :func:`file_lock` lets one process at a time do a piece
of work that others then read (a fit, a forecast, a report folder).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: Path, kind: str = "tmp") -> Path:
    """A hidden name beside ``path`` that no other process or thread will choose."""
    path = Path(path)
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; moved into place on success.

    For writers that want a file name rather than text (``DataFrame.to_parquet``, DuckDB's
    ``COPY ... TO``, ``DataTree.to_netcdf``). On any error, Ctrl-C included, the temporary file
    is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: Path, obj, *, default: Callable | None = None, **dumps) -> Path:
    """Write ``obj`` as JSON atomically (``dumps`` options as in :func:`json.dumps`)."""
    dumps.setdefault("indent", 1)
    return write_text(path, json.dumps(obj, default=default, **dumps))


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces ``final`` whole when the block succeeds.

    The previous ``final`` stays readable until the new one is complete; on an error (or
    Ctrl-C) the temporary folder is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the complete folder ``tmp`` to ``final``; an old ``final`` is removed afterwards."""
    old = temporary_sibling(final, "old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def file_lock(path: Path, wait: bool | float = True, *, optional: bool = False,
              busy: str = "another process holds the lock") -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed) for the block.

    ``wait``: True waits as long as it takes; a number of seconds (False: none) raises
    :class:`lndbayes.errors.Deferred` with ``busy`` when the lock is still held after it.
    ``optional``: a lock file that cannot be created (a read-only cache) means no lock.
    """
    import fcntl
    import time

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")
    except OSError:
        if not optional:
            raise
        yield
        return
    with fh:
        deadline = None if wait is True else time.monotonic() + float(wait or 0)
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX if deadline is None else fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    from lndbayes.errors import Deferred
                    raise Deferred(busy) from None
                time.sleep(0.25)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
