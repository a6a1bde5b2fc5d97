"""Figures a report worker has drawn before, read back from disk instead of drawn again.

Why: drawing a figure to PNG is most of a report's rendering (0.1-0.3 s a figure, 18 figures in
manager_coaching's report), and a new month of KPIs leaves most figures as they were: the
posteriors of unchanged outcomes are read back from the cache, earlier monitoring checkpoints
too, so their figures are the same objects with the same data.

How a figure is recognised: by a pickle of the whole figure (every artist, its data, fonts and
styles: everything drawing reads), made canonical where matplotlib stores bookkeeping that does
not reach the pixels and differs from one construction to the next (the ids in a transform's
back-references to its parents, callback counters, pyplot's figure number), plus the drawing
arguments, matplotlib's version and its rcParams. Pickling a report figure takes 3-10 ms.
A figure that cannot be pickled (a lambda in it) is simply drawn. Entries live in the posterior
cache folder (``$LNDBAYES_CACHE/figures``); deleting it only costs time.

Only the report workers use it (:func:`install`, called by
:func:`lndbayes.report.notebook.execute_in_process`'s shell): it replaces IPython's
``print_figure``, through which the inline backend turns every displayed figure into PNG.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle

from lndbayes.atomic import atomic_path
from lndbayes.paths import cache_dir

_ORIGINAL = None


def _canonical_pickler():
    from matplotlib.cbook import CallbackRegistry
    from matplotlib.figure import Figure
    from matplotlib.transforms import TransformNode

    class Canonical(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, TransformNode):
                state = obj.__getstate__()
                # {id(parent): parent}: the ids differ every time; the parents do not draw
                parents = state.get("_parents", {})
                return type(obj), (), {**state, "_parents": list(parents.values())}
            if isinstance(obj, Figure):
                state = obj.__getstate__()
                state.pop("_number", None)            # pyplot's counter of figures made
                return type(obj), (), state
            if isinstance(obj, CallbackRegistry):     # connected callbacks and their counter
                return type(obj), ()
            return NotImplemented

    return Canonical


@functools.lru_cache(maxsize=1)
def _pickler():
    return _canonical_pickler()


def figure_key(fig, *args, **kwargs) -> str | None:
    """The key of drawing ``fig`` with ``print_figure``'s arguments, or None (not picklable)."""
    import matplotlib

    buf = io.BytesIO()
    try:
        _pickler()(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(fig)
    except Exception:  # noqa: BLE001 - lambdas, open files ...: draw it, do not cache it
        return None
    h = hashlib.sha256(buf.getvalue())
    h.update(repr((args, sorted(kwargs.items()), matplotlib.__version__)).encode())
    h.update(repr(sorted((k, repr(v)) for k, v in matplotlib.rcParams.items())).encode())
    return h.hexdigest()


def cached_print_figure(fig, *args, **kwargs):
    """IPython's ``print_figure`` through the disk cache (same return value: bytes, or the
    base64 text when ``base64=True``; None for a figure with nothing drawn)."""
    key = figure_key(fig, *args, **kwargs)
    if key is None:
        return _ORIGINAL(fig, *args, **kwargs)
    path = cache_dir() / "figures" / key[:2] / f"{key[:40]}.bin"
    try:
        data = path.read_bytes()
        return data.decode("ascii") if kwargs.get("base64") else data
    except (OSError, UnicodeDecodeError):
        pass
    out = _ORIGINAL(fig, *args, **kwargs)
    if out is not None:
        try:
            with atomic_path(path) as tmp:
                tmp.write_bytes(out.encode("ascii") if isinstance(out, str) else out)
        except OSError:                       # a cache that cannot be written costs only time
            pass
    return out


def install() -> None:
    """Route IPython's figure formatting in this process through the cache (idempotent). The
    inline backend binds ``pylabtools.print_figure`` each time the figure formats are set
    (``%config InlineBackend.figure_formats``), so replacing it there reaches every report."""
    global _ORIGINAL
    from IPython.core import pylabtools

    if _ORIGINAL is None:
        _ORIGINAL = pylabtools.print_figure
        pylabtools.print_figure = cached_print_figure
