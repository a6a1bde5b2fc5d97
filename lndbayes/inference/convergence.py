"""Vectorized convergence diagnostics: rank-normalized split R-hat, bulk ESS and tail ESS.

These are the diagnostics of Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021),
"Rank-normalization, folding, and localization: an improved R-hat for assessing convergence
of MCMC", Bayesian Analysis 16(2), 667-718 (arXiv:1903.08008).

The code mirrors the NumPy/SciPy base implementation of ``arviz_stats`` (the statistics
backend of ArviZ 1: ``arviz_stats/base/diagnostics.py`` and ``base/core.py``) step by step
-- split chains, rank-normalization with Blom's offset 3/8 (``rankdata(method="average")``
over all draws of one element), FFT autocovariance with ``next_fast_len(2n)``, Geyer's
initial positive and initial monotone sequences, the ``1/log10(ess)`` floor on tau, the
constant-array rule (``ess = size``) and the validity rules (at least 4 draws, R-hat needs at
least 2 chains, any NaN -> NaN) -- so the numbers match ``az.rhat``, ``az.ess`` and
``az.summary`` to rounding (~1e-15 relative). What differs is only that every step runs on
all elements of a variable at once instead of a Python loop over scalar elements (a
4-chain x 1000-draw posterior with 806 scalar elements: ~0.9 s instead of ~3.9 s).

Arrays are shaped ``(chain, draw, *element_shape)``; results have ``element_shape``.
"""

from __future__ import annotations

import numpy as np
from arviz_base import rcParams
from scipy import stats
from scipy.fft import next_fast_len

__all__ = ["rhat_rank", "ess_bulk", "ess_tail", "summarize"]

_BLOM_C = 3 / 8
_CHUNK_VALUES = 1 << 18  # elements per chunk are chosen so a chunk holds ~256k draws


# ------------------------------------------------------------------------------ layout helpers
def _as_elements(values) -> tuple[np.ndarray, tuple]:
    """(chain, draw, *shape) -> contiguous (n_elements, chain, draw) and the element shape."""
    ary = np.asarray(values)
    if ary.ndim < 2:
        raise ValueError(f"expected an array shaped (chain, draw, ...), got shape {ary.shape}")
    n_chain, n_draw = ary.shape[:2]
    shape = ary.shape[2:]
    flat = ary.reshape(n_chain, n_draw, -1)
    return np.ascontiguousarray(np.moveaxis(flat, -1, 0)), shape


def _chunks(n_elem: int, n_values: int):
    step = max(1, _CHUNK_VALUES // max(1, n_values))
    for start in range(0, n_elem, step):
        yield slice(start, min(n_elem, start + step))


def _split_chains(x: np.ndarray) -> np.ndarray:
    """(E, chain, draw) -> (E, 2 chain, draw // 2): first halves, then second halves."""
    half = x.shape[-1] // 2
    return np.concatenate((x[:, :, :half], x[:, :, x.shape[-1] - half:]), axis=1)


def _rank_average(flat: np.ndarray) -> np.ndarray:
    """``scipy.stats.rankdata(method="average")`` along the last axis of a NaN-free 2-D array.

    Average ranks are half-integers, so the result is exactly scipy's (this is ~5x faster).
    """
    n_rows, n = flat.shape
    order = np.argsort(flat, axis=1)
    sv = np.take_along_axis(flat, order, axis=1)
    new = np.empty((n_rows, n), dtype=bool)
    new[:, 0] = True
    np.not_equal(sv[:, 1:], sv[:, :-1], out=new[:, 1:])
    starts = np.flatnonzero(new)  # flat positions where a run of ties starts (every row starts one)
    counts = np.diff(np.append(starts, new.size))
    pos = starts % n  # 0-based position of the run inside its row
    avg = 0.5 * ((pos + counts) + pos + 1)  # as scipy: 0.5 * (cum_count[i] + cum_count[i-1] + 1)
    sorted_rank = np.repeat(avg, counts).reshape(n_rows, n)
    rank = np.empty((n_rows, n))
    np.put_along_axis(rank, order, sorted_rank, axis=1)
    return rank


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalize each element over all its (split) draws; x is (E, chain, draw)."""
    n_elem = x.shape[0]
    flat = x.reshape(n_elem, -1)
    size = flat.shape[1]
    rank = _rank_average(flat)
    # ranks are k/2 for k = 2..2 size: back-transform (Blom) and norm.ppf once per possible
    # rank, then look up -- elementwise the same numbers as norm.ppf on the whole array
    # (scipy returns float32 ranks for float32 draws; the reference then back-transforms in
    # float32, so the table is built in the dtype scipy would give)
    rank_dtype = stats.rankdata(np.zeros(2, dtype=flat.dtype)).dtype
    half_ranks = (np.arange(2, 2 * size + 1) / 2.0).astype(rank_dtype)
    table = stats.norm.ppf((half_ranks - _BLOM_C) / (size - 2 * _BLOM_C + 1))
    idx = (rank * 2.0).astype(np.intp) - 2
    return table[idx].reshape(x.shape)


def _median(x: np.ndarray) -> np.ndarray:
    return np.median(x.reshape(x.shape[0], -1), axis=1).reshape(-1, 1, 1)


def _autocov(x: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis (FFT, zero-padded to next_fast_len(2n))."""
    n = x.shape[-1]
    m = next_fast_len(2 * n)
    x = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(x, n=m, axis=-1)
    f *= np.conjugate(f)
    cov = np.fft.irfft(f, n=m, axis=-1)[..., :n]
    cov /= n
    return cov


# ------------------------------------------------------------------------------ core statistics
def _rhat_core(x: np.ndarray) -> np.ndarray:
    """Plain R-hat of (E, chain, draw) arrays (arviz_stats ``_rhat``)."""
    x = np.asarray(x, dtype=float)
    num_samples = x.shape[-1]
    chain_mean = np.mean(x, axis=2)
    chain_var = np.var(x, axis=2, ddof=1)
    between = num_samples * np.var(chain_mean, axis=1, ddof=1)
    within = np.mean(chain_var, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + num_samples - 1) / num_samples)


def _ess_core(x: np.ndarray) -> np.ndarray:
    """ESS of (E, chain, draw) arrays (arviz_stats ``_ess`` with ``relative=False``)."""
    x = np.asarray(x, dtype=float)
    n_elem, n_chain, n_draw = x.shape
    size = n_chain * n_draw
    out = np.empty(n_elem)
    flat = x.reshape(n_elem, -1)
    const = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    out[const] = size
    if const.all():
        return out
    live = ~const
    x = x[live]
    n_live = x.shape[0]

    acov = _autocov(x)  # (E, chain, draw)
    chain_mean = x.mean(axis=2)
    mean_acov = np.mean(acov, axis=1)  # (E, lag): mean over chains at each lag
    mean_var = mean_acov[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + np.var(chain_mean, axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    rho[:, 0] = 1.0

    # Geyer's initial positive sequence, as the reference loop runs it: iteration i = 1, 2, ...
    # computes pair i (rho[2i], rho[2i+1]) while t = 2i - 1 < n_draw - 3 and the previous pair
    # sum is > 0. K = number of iterations run (pair K is the last one computed).
    n_iter = len(range(1, n_draw - 3, 2))
    n_pairs = n_iter + 1  # pairs 0..n_iter are the only ones the loop may look at
    rows = np.arange(n_live)
    even = rho[:, 0:2 * n_pairs:2]
    odd = rho[:, 1:2 * n_pairs:2]
    psum = even + odd  # psum[:, 0] == 1.0 + rho1 exactly as the loop adds it
    stop = ~(psum[:, :n_iter] > 0.0)  # iteration i+1 does not run when pair i sum is not > 0
    if n_iter:
        k_last = np.where(stop.any(axis=1), stop.argmax(axis=1), n_iter)  # K per element
    else:
        k_last = np.zeros(n_live, dtype=np.intp)

    # rho_hat_t as the loop leaves it: pairs 0..K-1 kept, pair K kept if its sum >= 0,
    # index 2K set to rho[2K] when that is > 0 (index 0 is 1.0 in any case)
    pair_idx = np.arange(n_pairs)
    keep = pair_idx[None, :] < k_last[:, None]
    s_last = psum[rows, k_last]
    e_last = even[rows, k_last]
    last_kept = (k_last >= 1) & (s_last >= 0)

    # Geyer's initial monotone sequence over pairs 1..K-1: the pair sums become their running
    # minimum; a replaced pair gets (previous, already replaced pair sum) / 2 in both slots.
    runmin = np.minimum.accumulate(np.where(keep, psum, np.inf), axis=1)
    prev_min = np.concatenate((np.full((n_live, 1), np.inf), runmin[:, :-1]), axis=1)
    replaced = keep & (pair_idx[None, :] >= 1) & (psum > prev_min)
    half_min = prev_min / 2.0
    even_t = np.where(keep, np.where(replaced, half_min, even), 0.0)
    odd_t = np.where(keep, np.where(replaced, half_min, odd), 0.0)
    body = np.empty((n_live, 2 * n_pairs))
    body[:, 0::2] = even_t
    body[:, 1::2] = odd_t

    tail_val = np.where((e_last > 0) | last_kept | (k_last == 0), e_last, 0.0)
    tau_hat = -1.0 + 2.0 * np.sum(body, axis=1) + tail_val
    ess = float(size)
    tau_hat = np.maximum(tau_hat, 1 / np.log10(ess))
    res = ess / tau_hat
    # the loop stores a value only after a comparison that NaN fails, except rho1 (stored
    # unconditionally): rho_hat_t holds a NaN, and ess is NaN, exactly when rho1 is NaN
    res[np.isnan(rho[:, 1]) | np.isnan(var_plus)] = np.nan
    out[live] = res
    return out


def _invalid(x: np.ndarray, min_chains: int) -> np.ndarray:
    """arviz_stats ``not_valid``: any NaN, fewer than 4 draws or fewer than min_chains chains."""
    n_elem, n_chain, n_draw = x.shape
    if n_chain < min_chains or n_draw < 4:
        return np.ones(n_elem, dtype=bool)
    if x.dtype.kind in "fc":
        return np.isnan(x).reshape(n_elem, -1).any(axis=1)
    return np.zeros(n_elem, dtype=bool)


def _max_like_python(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Python's ``max(a, b)``: b only when b > a (so a NaN in b is ignored, in a propagates)."""
    return np.where(b > a, b, a)


def _min_like_python(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b < a, b, a)


def _tail_probs(prob):
    if prob is None:  # ArviZ's default interval, so the tail ESS matches az.ess(method="tail")
        prob = rcParams["stats.ci_prob"]
    if np.ndim(prob) == 0:
        prob = sorted((prob, 1 - prob))
    return tuple(prob)


def _rhat_chunk(x: np.ndarray, z_split=None) -> np.ndarray:
    split = _split_chains(x)
    if z_split is None:
        z_split = _z_scale(split)
    bulk = _rhat_core(z_split)
    folded = abs(split - _median(split))
    tail = _rhat_core(_z_scale(folded))
    return _max_like_python(bulk, tail)


def _ess_tail_chunk(x: np.ndarray, probs) -> np.ndarray:
    p_low, p_high = probs
    flat = x.reshape(x.shape[0], -1)
    q = np.quantile(flat, [p_low, p_high], axis=1, method="linear")  # (2, E)
    low = _ess_core(_split_chains(x <= q[0][:, None, None]))
    high = _ess_core(_split_chains(x <= q[1][:, None, None]))
    return _min_like_python(low, high)


def _apply(values, fn, min_chains: int) -> np.ndarray:
    x, shape = _as_elements(values)
    out = np.full(x.shape[0], np.nan)
    bad = _invalid(x, min_chains)
    idx = np.flatnonzero(~bad)
    for sl in _chunks(idx.size, x.shape[1] * x.shape[2]):
        out[idx[sl]] = fn(x[idx[sl]])
    return out.reshape(shape)


# ------------------------------------------------------------------------------ public API
def rhat_rank(values) -> np.ndarray:
    """Rank-normalized split R-hat (max of bulk and folded), like ``az.rhat(method="rank")``."""
    return _apply(values, _rhat_chunk, min_chains=2)


def ess_bulk(values) -> np.ndarray:
    """Bulk ESS (ESS of the rank-normalized split chains), like ``az.ess(method="bulk")``."""
    return _apply(values, lambda x: _ess_core(_z_scale(_split_chains(x))), min_chains=1)


def ess_tail(values, prob=None) -> np.ndarray:
    """Tail ESS: min of the quantile ESS at ``(1 - prob, prob)``, like ``az.ess(method="tail")``.

    ``prob=None`` uses ArviZ's ``rcParams["stats.ci_prob"]`` (0.89 by default, i.e. the 0.11
    and 0.89 quantiles) exactly as ``az.ess(method="tail")`` and ``az.summary`` do; pass
    ``prob=(0.05, 0.95)`` for the 5%/95% quantiles of Vehtari et al. (2021).
    """
    probs = _tail_probs(prob)
    return _apply(values, lambda x: _ess_tail_chunk(x, probs), min_chains=1)


def diagnostics(values, prob=None) -> dict:
    """R-hat, bulk ESS and tail ESS of one array in one pass (the z-scaling is shared)."""
    probs = _tail_probs(prob)
    x, shape = _as_elements(values)
    res = {k: np.full(x.shape[0], np.nan) for k in ("rhat", "ess_bulk", "ess_tail")}
    bad_ess = _invalid(x, 1)
    bad_rhat = _invalid(x, 2)
    idx = np.flatnonzero(~bad_ess)
    for sl in _chunks(idx.size, x.shape[1] * x.shape[2]):
        sel = idx[sl]
        xc = x[sel]
        z_split = _z_scale(_split_chains(xc))
        res["ess_bulk"][sel] = _ess_core(z_split)
        res["ess_tail"][sel] = _ess_tail_chunk(xc, probs)
        if not bad_rhat.all():
            res["rhat"][sel] = _rhat_chunk(xc, z_split)
    res["rhat"][bad_rhat] = np.nan
    return {k: v.reshape(shape) for k, v in res.items()}


def _nan_reduce(arrays, fn) -> float:
    vals = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)
    vals = vals[~np.isnan(vals)]
    return float(fn(vals)) if vals.size else float("nan")


def summarize(dataset, var_names=None, prob=None) -> dict:
    """``rhat_max``, ``ess_bulk_min``, ``ess_tail_min`` over the variables of an xarray Dataset.

    Each variable must have dims ``chain`` and ``draw``; NaN results (too few draws or chains,
    NaN draws) are ignored; a quantity that is NaN everywhere is returned as NaN.
    """
    names = list(dataset.data_vars) if var_names is None else list(var_names)
    rh, eb, et = [], [], []
    for name in names:
        da = dataset[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *other).values
        if values.size == 0:
            continue
        d = diagnostics(values, prob=prob)
        rh.append(d["rhat"])
        eb.append(d["ess_bulk"])
        et.append(d["ess_tail"])
    return {"rhat_max": _nan_reduce(rh, np.max), "ess_bulk_min": _nan_reduce(eb, np.min),
            "ess_tail_min": _nan_reduce(et, np.min)}
