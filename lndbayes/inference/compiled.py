"""nutpie models whose compiled callbacks persist on disk, so a model structure compiles once.

Why: ``nutpie.compile_pymc_model`` (Numba backend) wraps PyTensor's log-density function in two
C callbacks (``numba.cfunc``). PyTensor caches its own Numba functions on disk, but nutpie's
callbacks are closures over per-compile data (random ``uuid`` keys, the data arrays as
constants), so Numba cannot cache them; compiling a callback links the whole log-density
function into it and re-optimises it, which is where the ~10 s per model went, in every process
(measured: benchmarks/results/compile.md). Here the callbacks are generated as plain source that
depends only on the model's structure (how many shared arrays, their ranks and dtypes), the
arrays are reached through a pointer table (``user_data``) filled at call time, and the source
is cached by Numba under a key made of that source and PyTensor's own cache key of the
log-density graph. A process that meets a structure already compiled anywhere on the machine
loads the callbacks from disk instead of compiling them.

The second callback, nutpie's "expand" (unconstrained position -> trace variables), is not
compiled per model: every model gets the same copy callback (:func:`identity_expand`), so the
trace holds the unconstrained draws, and :meth:`CachedPyMCModel.posterior` computes the
variables after sampling (:mod:`lndbayes.inference.expansion`). Why: compiling it cost 1.1-4.2
CPU-s a structure on an empty cache (benchmarks/results/compile.md, session 28).

Results do not depend on the cache: the log-density callback calls the same PyTensor function
with the same arrays as nutpie's, and the sampler (nuts-rs) is nutpie's. Measured: the same
draws bit for bit as ``nutpie.compile_pymc_model``, whether the callbacks were compiled in this
process or loaded; variables computed from them (transformed parameters, deterministics) agree
with nutpie's to rounding (tests/test_compile_reuse.py).

The cache folder: ``$LNDBAYES_COMPILE_CACHE`` if set, else ``<PyTensor base_compiledir>/lndbayes``.
Numba writes every cache file to a unique temporary name and renames it into place, so two
report workers (or Dask workers) sharing the folder never read a half-written entry; two that
compile the same structure at once both write the same (equivalent) entry, the last rename wins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import weakref
from contextlib import ExitStack
from pathlib import Path

import numba
import numpy as np
import pytensor
from numba.core.caching import CacheImpl, _CacheLocator
from numba.core.registry import CPUDispatcher
from nutpie.compile_pymc import (CompiledPyMCModel, _make_functions, _rv_dict_to_flat_array_wrapper,
                                 _wrap_with_lock, address_as_void_pointer)
from pytensor.compile.sharedvalue import SharedVariable
from pymc.initial_point import make_initial_point_fn
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

from lndbayes import progress
from lndbayes.atomic import file_lock
from lndbayes.code_version import package_source_hash
from lndbayes.errors import Deferred
from lndbayes.inference.expansion import UNCONSTRAINED, Expansion

#: bump when the generated source, the pointer table or the saved layout changes meaning
FORMAT = 4

_T = numba.types
_LOGP_SIG = _T.int64(_T.uint64, _T.CPointer(_T.double), _T.CPointer(_T.double),
                     _T.CPointer(_T.double), _T.voidptr)
_EXPAND_SIG = _T.int64(_T.uint64, _T.uint64, _T.CPointer(_T.double), _T.CPointer(_T.double),
                       _T.voidptr)
_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cache_dir() -> Path:
    """Where the compiled callbacks are kept (read at every compile, so a worker or a test may
    point ``LNDBAYES_COMPILE_CACHE`` elsewhere)."""
    env = os.environ.get("LNDBAYES_COMPILE_CACHE")
    return Path(env) if env else Path(pytensor.config.base_compiledir) / "lndbayes"


class _Locator(_CacheLocator):
    """Numba cache locator for the callbacks generated here: our folder, our key."""

    def __init__(self, py_func, key):
        self._py_func, self._key = py_func, key
        self._path = cache_dir()

    def ensure_cache_path(self):
        self._path.mkdir(parents=True, exist_ok=True)

    def get_cache_path(self):
        return str(self._path)

    def get_source_stamp(self):
        return FORMAT  # the key already names the source and versions

    def get_disambiguator(self):
        return self._key

    @classmethod
    def from_function(cls, py_func, py_file):
        key = _KEYS.get(py_func)
        return None if key is None else cls(py_func, key)


if _Locator not in CacheImpl._locator_classes:
    CacheImpl._locator_classes.insert(0, _Locator)


class UncacheableModel(RuntimeError):
    """PyTensor gave the log density no cache key (some op cannot be cached): use nutpie's own
    compile for this model."""


def _layout(arrays) -> tuple[list[int], int]:
    """Offsets of each array's entry in the pointer table: address, size, then its shape."""
    offsets, o = [], 0
    for a in arrays:
        offsets.append(o)
        o += 2 + a.ndim
    return offsets, max(o, 1)


def pointer_table(arrays) -> np.ndarray:
    """The ``user_data`` the callbacks read: per array its address, size and shape (uint64)."""
    offsets, n = _layout(arrays)
    table = np.zeros(n, dtype=np.uint64)
    for a, o in zip(arrays, offsets):
        table[o], table[o + 1] = a.ctypes.data, a.size
        table[o + 2:o + 2 + a.ndim] = a.shape
    return table


def _callback_source(arrays, used) -> str:
    """The log-density callback's source (the expand callback is the same copy for every
    model: :func:`identity_expand`). Each array is viewed with its shape directly (``carray``), and
    results are copied element by element after a length check, not with ``.reshape`` or
    ``out[...] = ...``. Why: those two make Numba compile its shape-mismatch error message
    (``raise_with_shape_context``: string formatting of the shapes), ~2 CPU-s in every
    process that compiles a callback on an empty cache (measured on manager_coaching/
    attrition_12m, 2 cores); the copy loop does the same work at run time."""
    offsets, n_table = _layout(arrays)
    lines, names = [], []
    for i in used:
        a, o = arrays[i], offsets[i]
        dims = [f"int(ud[{o + 2 + k}])" for k in range(a.ndim)]
        shape = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        lines.append(f"    s{i} = numba.carray(_ptr(ud[{o}]), {shape}, np.{a.dtype.name})")
        names.append(f"s{i}")
    args = ", ".join(["x", *names])
    table = [f"    ud = numba.carray(ud_, ({n_table},), np.uint64)", *lines]
    # the same return codes as nutpie's callback
    src = ["def callback(dim, x_, out_, logp_, ud_):",
           "    x = numba.carray(x_, (dim,))",
           "    out = numba.carray(out_, (dim,))",
           "    logp = numba.carray(logp_, ())", *table,
           "    try:",
           f"        lp, grad = _inner({args})",
           "        logp[()] = lp",
           "        if grad.shape[0] != dim:",
           "            return 1",
           "        for i in range(dim):",
           "            out[i] = grad[i]",
           "        if not np.all(np.isfinite(out)):",
           "            return 3",
           "        if not np.isfinite(lp):",
           "            return 4",
           "    except Exception:",
           "        return 1",
           "    return 0"]
    return "\n".join(src) + "\n"


_IDENTITY_SRC = "\n".join([
    "def callback(dim, expanded, x_, out_, ud_):",
    "    if expanded != dim:",
    "        return -2",
    "    x = numba.carray(x_, (dim,))",
    "    out = numba.carray(out_, (expanded,))",
    "    for i in range(dim):",
    "        out[i] = x[i]",
    "    return 0"]) + "\n"
_IDENTITY: list = []


def identity_expand():
    """nutpie's expand callback for every model: the draw's unconstrained position, copied.
    The trace variables are computed from it after sampling (:mod:`lndbayes.inference.expansion`),
    so this is the only expand callback a machine compiles (once; later processes load it)."""
    if not _IDENTITY:
        _IDENTITY.append(_cfunc("expand", _IDENTITY_SRC, f"expand-identity-{FORMAT}", None))
    return _IDENTITY[0]


def _callback(kind: str, pt_fn, arrays, index, salt: str):
    """A ``numba.cfunc`` calling the PyTensor function ``pt_fn``, loaded from or saved to the
    disk cache, and what the fast load path needs to find it again (its source and key).

    The callback calls the function PyTensor's entry point forwards to (``def
    numba_funcified_fgraph(*args): return jitable_func(*args)``), not the entry point. Why:
    the entry point is compiled with the wrappers Python needs to call it, which nothing here
    uses, and its compile re-optimises and re-emits the whole linked log density once more:
    measured 36.2 -> 31.8 CPU-s for manager_coaching's 3 models cold (2 cores, load 2-3), and
    the same draws bit for bit (attrition_12m, engagement, compliance_training/violations)."""
    inner = pt_fn.vm.jit_fn
    inner_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if inner_key is None:
        raise UncacheableModel(f"the {kind} function has no PyTensor cache key")
    forwarded = inner.py_func.__globals__.get("jitable_func")
    target = forwarded if isinstance(forwarded, CPUDispatcher) else inner
    src = _callback_source(arrays, [index[v] for v in pt_fn.get_shared()])
    key = hashlib.sha256("|".join([
        src, inner_key, kind, salt, str(FORMAT), numba.__version__, pytensor.__version__,
        "fastmath0"]).encode()).hexdigest()
    # (_cfunc's env gets __name__: Numba refuses to cache functions whose globals have no
    # module name)
    cfunc = _cfunc(kind, src, f"{kind}-{key[:32]}", target)
    return cfunc, {"src": src, "key": f"{kind}-{key[:32]}"}


def _cfunc(kind: str, src: str, key: str, inner):
    """The ``numba.cfunc`` of callback source ``src`` under the disk-cache key ``key``.
    ``inner=None`` (the fast load path): the entry must be on disk; compiling it then fails
    (``_inner`` is untyped) and the caller falls back to the full compile. The copy callback
    (:func:`identity_expand`) calls nothing, so it compiles with ``inner=None``."""
    env = {"__name__": __name__, "numba": numba, "np": np, "_ptr": address_as_void_pointer,
           "_inner": inner}
    exec(compile(src, "lndbayes_callback.py", "exec"), env)  # noqa: S102 - our own source
    fn = env["callback"]
    _KEYS[fn] = key
    return numba.cfunc(_LOGP_SIG if kind == "logp" else _EXPAND_SIG, cache=True)(fn)


@dataclasses.dataclass(frozen=True)
class CachedPyMCModel(CompiledPyMCModel):
    """nutpie's compiled PyMC model with the callbacks above; ``with_data`` refills the
    pointer table (shapes may change, ranks and dtypes may not, nor a shape the graph fixed).
    nutpie's trace of it holds one variable, each draw's unconstrained position
    (``UNCONSTRAINED``); :meth:`posterior` turns it into the model's variables."""

    expansion: Expansion | None = None

    def with_data(self, **updates):
        shared = dict(self.shared_data)
        key_of = {v.name: k for v, k in self.shared_var_keys.items()}
        static = {v.name: v.type.shape for v in self.shared_var_keys}
        for name, value in updates.items():
            if name not in key_of:
                raise KeyError(f"Unknown shared variable: {name}")
            k = key_of[name]
            new = np.array(value, dtype=shared[k].dtype, order="C", copy=True)
            if new.ndim != shared[k].ndim:
                raise ValueError(f"Shared variable {name} must have rank {shared[k].ndim}")
            fixed = static[name]
            if any(f is not None and f != n for f, n in zip(fixed, new.shape)):
                # the graph was compiled for this size (graph.build_model: structure-sized data)
                raise ValueError(f"Shared variable {name} must have shape {fixed}, got "
                                 f"{new.shape}")
            new.flags.writeable = False
            shared[k] = new
        return dataclasses.replace(self, shared_data=shared,
                                   user_data=pointer_table(list(shared.values())))

    @property
    def loaded_by_structure(self) -> bool:
        """Loaded by :func:`_load_by_structure` (no PyTensor log-density function built)."""
        return self.logp_func is None

    @property
    def cache_hits(self) -> int:
        """1 when the model's compiled log density was loaded from the disk cache, else 0 (the
        expand callback is the same copy for every model: :func:`identity_expand`)."""
        return int(self.compiled_logp_func.cache_hits > 0)

    def posterior(self, idata) -> "xr.Dataset":
        """The posterior variables of nutpie's trace of this model (which holds each draw's
        unconstrained position): :meth:`lndbayes.inference.expansion.Expansion.posterior`
        with this model's current data."""
        x = idata["posterior"][UNCONSTRAINED].values
        values = [self.shared_data[self.shared_var_keys[v]] for v in self.expansion.shared]
        return self.expansion.posterior(x, values)


def compile_pymc_model(model, *, salt: str = "", structure_key: str | None = None) -> CachedPyMCModel:
    """``nutpie.compile_pymc_model(model)`` (Numba backend, default initialisation) with
    callbacks cached on disk. ``salt`` goes into the cache key (tests use it to force a fresh
    compile). Raises :class:`UncacheableModel` when PyTensor cannot cache the graph.

    ``structure_key``: the caller's key of everything that shapes the graph (for lndbayes'
    models :meth:`lndbayes.models.graph.GLMSpec.key`, the same key the in-process reuse in
    :mod:`lndbayes.inference.sampling` swaps data under). With it, a structure compiled before
    on this machine is loaded without building PyTensor's log-density functions at all
    (:func:`_load_by_structure`): their graph rewrites cost ~1.4 of the ~2.4 s a load took
    (py-spy on sales_onboarding's two models, 2 cores), in every report worker and every run.

    Always without Numba's fastmath: with it, a function compiled afresh and the same function
    loaded from the cache rounded differently and gave different draws (see
    :func:`lndbayes.inference.sampling.sample`); measured again here, a fresh compile in one
    process and in another disagreed on the draws of a small normal model with fastmath on.
    """
    with pytensor.config.change_flags(numba__fastmath=False):
        if structure_key is None:
            return _compile(model, salt)[0]
        fast = _load_by_structure(model, salt, structure_key)
        if fast is not None:
            return fast
        # One process of this machine compiles a structure at a time; another that needs it
        # waits and then loads it (~0.5 s) instead of compiling the same ~40 Numba functions at
        # the same moment (the skill-gap forecast and its backtest share a structure: on a
        # machine that never compiled it, both took 18-19 CPU-s side by side).
        path = _structure_file(salt, structure_key)
        lock = path.with_name(path.name + ".lock")
        with ExitStack() as held:
            try:
                held.enter_context(file_lock(lock, wait=False, optional=True))
            except Deferred:             # another process is compiling it: say so, then wait
                progress.emit("compile-wait")
                held.enter_context(file_lock(lock, optional=True))
            fast = _load_by_structure(model, salt, structure_key)
            if fast is not None:
                return fast
            compiled, layout = _compile(model, salt)
            _save_layout(path, layout)
        return compiled


def _compile(model, salt: str):
    initial = _initial_point_fn(model)
    # var_names=[]: nutpie's expand function is not built for the trace variables (it would
    # be compiled with Numba); they are computed after sampling (lndbayes.inference.expansion)
    n_dim, _, logp_pt, _, initial_point_fn, free_info, reparam = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial,
        var_names=[])
    expansion = Expansion(model, free_info, reparam)
    shared_vars = list(dict.fromkeys([*logp_pt.get_shared(), *expansion.shared]))
    arrays = [np.asarray(v.get_value(borrow=True)) for v in shared_vars]  # ranks and dtypes
    index = {v: i for i, v in enumerate(shared_vars)}
    logp_c, logp_src = _callback("logp", logp_pt, arrays, index, salt)
    layout = {"n_dim": n_dim, "free_info": free_info, "reparam": reparam,
              "n_free": len(model.free_RVs), "shared": [_shared_signature(v) for v in shared_vars],
              "logp": logp_src}
    compiled = _assemble(initial_point_fn, expansion, n_dim, shared_vars, logp_c, logp_pt)
    return compiled, layout


def _initial_point_fn(model):
    return _wrap_with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))


def _assemble(initial_point_fn, expansion, n_dim, shared_vars, logp_c, logp_pt=None) -> CachedPyMCModel:
    # stable keys (nutpie uses random ones, which would change the callbacks' source)
    keys = {v: f"s{i}" for i, v in enumerate(shared_vars)}
    shared = {keys[v]: np.array(v.get_value(), order="C", copy=True) for v in shared_vars}
    for a in shared.values():
        a.flags.writeable = False
    arrays = list(shared.values())
    trace = ([UNCONSTRAINED], [slice(0, n_dim)], [(n_dim,)])
    return CachedPyMCModel(
        _n_dim=n_dim, dims={}, _coords={}, _shapes={UNCONSTRAINED: (n_dim,)},
        compiled_logp_func=logp_c, compiled_expand_func=identity_expand(),
        initial_point_func=initial_point_fn, shared_data=shared, shared_var_keys=keys,
        user_data=pointer_table(arrays), n_expanded=n_dim, shape_info=trace,
        logp_func=logp_pt, expand_func=None, reparameterized_names=[], expansion=expansion)


def _shared_signature(var) -> tuple:
    """What a shared array must be for compiled callbacks to read it: name, dtype, static shape."""
    return (var.name, str(var.type.dtype), tuple(var.type.shape))


def _structure_file(salt: str, structure_key: str) -> Path:
    import nutpie
    import pymc

    key = hashlib.sha256("|".join([
        structure_key, salt, str(FORMAT), package_source_hash(), numba.__version__,
        pytensor.__version__, pymc.__version__, nutpie.__version__, pytensor.config.floatX,
        "fastmath0"]).encode()).hexdigest()
    return cache_dir() / f"structure-{key[:40]}.pkl"


def _save_layout(path: Path, layout: dict) -> None:
    """Keep what the fast load path needs (written to a temporary name, then renamed: a
    reader never sees half a file). A cache that cannot be written costs only speed."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(pickle.dumps(layout, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _load_by_structure(model, salt: str, structure_key: str) -> CachedPyMCModel | None:
    """The compiled model of a structure compiled before, without PyTensor's log-density
    functions: the layout saved by the full compile (sizes, names, shared arrays, the callbacks'
    source and Numba cache keys) and the callbacks from Numba's disk cache. ``None`` when
    anything does not match (no entry, another model's shared arrays, a callback missing from
    Numba's cache): the caller then compiles in full.

    Why it is safe: the in-process reuse already swaps new data into a model compiled for the
    same structure key; here the key also holds the package source and library versions, and
    the model's shared arrays must have the names, dtypes and static shapes the compiled
    callbacks read. The draws are the full compile's bit for bit
    (tests/test_compile_reuse.py)."""
    try:
        layout = pickle.loads(_structure_file(salt, structure_key).read_bytes())
    except Exception:  # noqa: BLE001 - missing or unreadable: compile in full (and rewrite it)
        return None
    try:
        if len(model.free_RVs) != layout["n_free"]:
            return None
        named = {}
        for v in model.named_vars.values():
            if isinstance(v, SharedVariable):
                named.setdefault(v.name, []).append(v)
        shared_vars = []
        for name, dtype, shape in layout["shared"]:
            found = named.get(name, [])
            if len(found) != 1 or _shared_signature(found[0]) != (name, dtype, shape):
                return None
            shared_vars.append(found[0])
        try:
            logp_c = _cfunc("logp", layout["logp"]["src"], layout["logp"]["key"], None)
        except numba.core.errors.NumbaError:      # not in Numba's cache (deleted, other machine)
            return None
        names, _, shapes = layout["free_info"]
        expansion = Expansion(model, layout["free_info"], layout["reparam"])
        if not set(expansion.shared) <= set(shared_vars):
            return None
        initial = _rv_dict_to_flat_array_wrapper(_initial_point_fn(model), names=names,
                                                 shapes=shapes)
        return _assemble(initial, expansion, layout["n_dim"], shared_vars, logp_c)
    except (KeyError, TypeError, ValueError):  # a layout of an older shape: compile in full
        return None
