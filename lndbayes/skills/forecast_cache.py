"""Where skill-gap forecasts and backtests are kept between reports and runs.

One job: the cache keys and files of :mod:`lndbayes.skills.forecast` (and the backtest). A
forecast is kept under :func:`forecast_key` (the model's posterior key and everything else the
forecast reads) and found again from its *inputs* through a pointer under :func:`inputs_key`
(the processed tables ``prepare`` reads, programs.yaml, dates, threshold, settings, source), so
a program report need not prepare the skill data (~16 s at 20,000 employees) to find it.
:func:`inputs_lock` lets one process compute a forecast while the others wait or defer.
"""

from __future__ import annotations

import pandas as pd

from lndbayes.skills.data import SkillData


def forecast_key(data: SkillData, **settings) -> str:
    """Cache key of a forecast: the model's posterior key and everything else the forecast reads."""
    from lndbayes.inference.cache import hash_payload
    from lndbayes.skills.data import data_fingerprint
    from lndbayes.skills.model import model_inputs, posterior_key

    post_settings = {"seed": int(settings["seed"]), "draws": int(settings["draws"]),
                     "tune": int(settings["tune"]), "chains": int(settings["chains"]),
                     "retry": bool(settings.get("retry", True))}
    return "skillfc-" + hash_payload({"posterior": posterior_key(model_inputs(data), post_settings),
                                      "data": data_fingerprint(data), "settings": settings,
                                      "source": _forecast_source_hash()}, {})


def inputs_key(org, as_of=None, today=None, min_group: int | None = None, **settings) -> str:
    """Cache key of a forecast from what :func:`prepare` reads (the processed tables, programs.yaml,
    ``as_of``, ``today``'s date, the privacy threshold) and the skills package's source: equal keys
    mean equal prepared data, so the forecast found under it is the one :func:`forecast_key` names."""
    import hashlib
    from pathlib import Path

    from lndbayes.inference.cache import hash_payload
    from lndbayes.privacy import min_group_of
    from lndbayes.skills.data import inputs_fingerprint

    src = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")) + [Path(__file__).parents[1] / "privacy.py"]:
        src.update(f.read_bytes())
    return "skillin-" + hash_payload({
        "inputs": inputs_fingerprint(org),
        "as_of": None if as_of is None else str(pd.Timestamp(as_of).normalize().date()),
        "today": str(pd.Timestamp(today if today is not None else pd.Timestamp.today()).normalize().date()),
        "min_group": min_group_of(org.programs) if min_group is None else int(min_group),
        "settings": settings, "source": src.hexdigest()}, {})


def inputs_lock(ikey: str, wait: bool | float = True):
    """An exclusive lock on one forecast's inputs while it is computed (a read-only cache: none).
    ``wait``: True waits as long as it takes; a number of seconds (or False: none) raises
    :class:`lndbayes.errors.Deferred` when the lock is still held after it."""
    from lndbayes.atomic import file_lock
    from lndbayes.inference.cache import _cache_dir

    return file_lock(_cache_dir() / "locks" / f"{ikey}.lock", wait, optional=True,
                     busy="the organisation's skill-gap forecast is being computed by another worker of this run")


def _pointer_file(ikey: str):
    return _cache_file(ikey).with_suffix(".key")


def load_pointer(ikey: str, kind: type):
    try:
        key = _pointer_file(ikey).read_text().strip()
    except OSError:
        return None
    return load(key, kind)


def save_pointer(ikey: str | None, key: str) -> None:
    if ikey is None:
        return
    from lndbayes.atomic import write_text

    try:
        _pointer_file(ikey).parent.mkdir(parents=True, exist_ok=True)
        write_text(_pointer_file(ikey), key)
    except OSError:
        pass


def _forecast_source_hash() -> str:
    import hashlib
    from pathlib import Path

    # the modules that turn the posterior into the forecast: a change to how the draws are
    # post-processed (draws.py) must not find a forecast the old code made
    h = hashlib.sha256()
    for name in ("forecast.py", "draws.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    return h.hexdigest()


def _cache_file(key: str):
    from lndbayes.inference.cache import _cache_dir

    return _cache_dir() / "skill-forecasts" / f"{key}.pkl"


def load(key: str, kind: type):
    import pickle

    try:
        with open(_cache_file(key), "rb") as fh:
            obj = pickle.load(fh)
        return obj if isinstance(obj, kind) else None
    except Exception:  # noqa: BLE001 - a missing or unreadable entry is a miss
        return None


def save(key: str, obj) -> None:
    import pickle

    from lndbayes.atomic import atomic_path

    path = _cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(pickle.dumps(obj))
    except OSError:
        pass
