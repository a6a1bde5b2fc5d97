"""The posterior's variables from the sampler's unconstrained draws, computed after sampling.

nutpie turns each kept draw's unconstrained position into the trace's variables (the
parameters on their own scale, the deterministics) through an "expand" callback. Compiled with
Numba like the log density, that callback cost 1.1-4.2 CPU-s per model structure on a machine
that never compiled it: 22 of the 133 CPU-s the example organisation's nine structures took to
compile cold, plus its share of PyTensor's function build (benchmarks/results/compile.md,
session 28). Here the sampler keeps the unconstrained position itself (one copy callback,
:func:`lndbayes.inference.compiled.identity_expand`, compiled once per machine for every model)
and :class:`Expansion` computes the variables afterwards, for all draws at once: the same
PyTensor graph nutpie compiles, vectorised over draws and run by PyTensor's Python linker
(numpy, nothing to compile). Measured on the example's models: 0.07-0.8 s to build per
structure and process, 0.04-0.8 s per fit of 4,000 draws, the same values as the Numba
callback to 3.6e-15; at the large preset the skill-gap model's 6,000 draws x 11,598 variables
take ~5 s (+2% on its fit's CPU).
"""

from __future__ import annotations

from math import prod

import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import clone_replace, graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors, applys_between
from pytensor.tensor.math import Sum

#: the one variable of nutpie's trace: the unconstrained position of each draw
UNCONSTRAINED = "__lndbayes_unconstrained"
#: draws per evaluation: bounds the memory of the vectorised graph's intermediates (a
#: deterministic built as a broadcast sum holds draws x teams x basis columns at once)
CHUNK = 500
_PYTHON = Mode(linker="py", optimizer="fast_compile")


class Expansion:
    """The trace variables of ``model`` as a function of the unconstrained draws.

    ``free_info``: nutpie's ``(names, slices, shapes)`` of the free value variables (the layout
    of the sampler's position); ``reparam``: the value variables that are transforms of a
    parameter (``sigma_log__``), which, as in nutpie's trace, are not kept. The variables come
    in nutpie's order and with its dims and coords (the model's), so a posterior is the one
    nutpie's own expand callback gives.
    """

    def __init__(self, model, free_info, reparam):
        names, slices, shapes = (list(x) for x in free_info)
        self.n_dim = sum(prod(s) for s in shapes)
        joined = pt.TensorType("float64", shape=(self.n_dim,))("x")
        values = {}
        for rv, sl, shape in zip(model.free_RVs, slices, shapes, strict=True):
            values[model.rvs_to_values[rv]] = joined[sl].reshape(shape).astype(rv.dtype)
        # the variables nutpie's expand function returns after the free values, in its order
        rest = [v for v in model.unobserved_value_vars if v.name not in set(names)]
        batch = pt.matrix("draws", dtype="float64")
        outputs = _sums_without_copy(vectorize_graph(clone_replace(rest, values), {joined: batch}))
        #: the model's shared arrays the variables read (passed in at each call: a compiled
        #: model reused by structure holds other data than the model it was built from)
        self.shared = [v for v in ancestors(outputs) if isinstance(v, SharedVariable)]
        inputs = [v.type() for v in self.shared]
        self._fn = pytensor.function([batch, *inputs], outputs, givens=list(zip(self.shared, inputs)),
                                     mode=_PYTHON, on_unused_input="ignore")
        self._free = [(n, sl, tuple(s)) for n, sl, s in zip(names, slices, shapes)
                      if n not in set(reparam)]
        self._rest = [v.name for v in rest]
        # shapes of the computed variables: from one evaluation (they are fixed by the structure)
        probe = self._fn(np.zeros((1, self.n_dim)), *[v.get_value(borrow=True) for v in self.shared])
        rest_shapes = [tuple(a.shape[1:]) for a in probe]
        self._rest_shapes = rest_shapes
        self.shape_info = (names + self._rest, [*slices, *[None] * len(rest)],
                           [tuple(s) for s in shapes] + rest_shapes)
        self._dims, self._coords = _dims_and_coords(model, self.shape_info, reparam)

    def posterior(self, x: np.ndarray, shared_values: list) -> xr.Dataset:
        """The posterior variables of unconstrained draws ``x`` (chains x draws x n_dim), with
        ``shared_values`` the arrays of :attr:`shared`, in order."""
        chains, draws, n = x.shape
        if n != self.n_dim:
            raise ValueError(f"draws of {n} unconstrained values, the model has {self.n_dim}")
        flat = np.ascontiguousarray(x.reshape(chains * draws, n))
        parts = [self._fn(flat[i:i + CHUNK], *shared_values) for i in range(0, len(flat), CHUNK)]
        data = {name: x[:, :, sl].reshape(chains, draws, *shape) for name, sl, shape in self._free}
        for k, (name, shape) in enumerate(zip(self._rest, self._rest_shapes)):
            computed = [p[k] for p in parts] or [np.empty((0, *shape))]   # no draws: empty
            data[name] = np.concatenate(computed).reshape(chains, draws, *computed[0].shape[1:])
        return _as_dataset(data, self._dims, self._coords)


class _SumOf(Op):
    """``Sum`` over ``axis`` in Python mode without a copy of its input. Why: PyTensor's
    ``CAReduce.perform`` copies the input first (``np.array``); on the skill-gap model's
    draws x pairs x slots products at the large preset that copy was ~60% of the expansion."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x, like):
        return Apply(self, [x], [like.type()])

    def perform(self, node, inputs, outputs):
        out = np.sum(inputs[0], axis=self.axis, dtype=node.outputs[0].type.dtype)
        outputs[0][0] = np.asarray(out)


def _sums_without_copy(outputs):
    """``outputs`` with every floating ``Sum`` of the graph computed by :class:`_SumOf` (a
    replacement may hold another sum: replaced in the next round)."""
    for _ in range(100):
        sums = {}
        for node in applys_between([], outputs):
            op = node.op
            if (isinstance(op, Sum) and node.outputs[0].type.dtype == "float64"
                    and node.inputs[0].type.dtype == "float64"):
                axis = None if op.axis is None else tuple(op.axis)
                sums[node.outputs[0]] = _SumOf(axis).make_node(node.inputs[0], node.outputs[0]).outputs[0]
        if not sums:
            break
        outputs = graph_replace(outputs, sums, strict=False)
    return outputs


def _dims_and_coords(model, shape_info, reparam):
    from nutpie.compile_pymc import _UNCONSTRAINED_PARAMETER, _prepare_dims_and_coords

    dims, coords = _prepare_dims_and_coords(model, shape_info, reparam)
    coords.pop(_UNCONSTRAINED_PARAMETER, None)   # the sampler's own axis, not a trace variable's
    return dims, coords


def _as_dataset(data: dict, dims: dict, coords: dict) -> xr.Dataset:
    """As nutpie builds its posterior (``arviz.from_dict`` with the model's dims and coords)."""
    import arviz

    tree = arviz.from_dict({"posterior": data}, dims={k: list(dims.get(k, [])) for k in data},
                           coords=coords)
    return tree["posterior"].to_dataset()
