r"""EffectResult: what a fit returns, and how it is saved and read back.

``summary()`` rows (columns ``estimand, scale, mean, sd, lower, upper, p_gt_0, p_beats_target``
plus ``converged``):

* ``effect_mean``: mean of the team-effect distribution, link scale;
* ``effect_sd_team``: between-team sd of the effect, link scale;
* ``effect_new_team``: predictive effect for a new team (new department too when there are
  several): ``effect_mean + effect_sd_dept z1 + effect_sd_team z2``;
* ``average_effect_abs``: mean over the analysed units of E[y | D=1] - E[y | D=0] under each
  posterior draw, business scale (randomized: all units, i.e. the average effect; pre/post and
  staggered: the treated x post observations, i.e. the effect on the treated);
* ``average_effect_rel``: the same difference divided by the mean counterfactual E[y | D=0].

Several programs (``fit_effects(..., program="program")`` with more than one program):
``effect_mean`` is the portfolio mean :math:`\mu_\theta` of the program means, a row
``effect_sd_program`` (between-program sd of the mean effect, link scale) follows
``effect_sd_team``, ``effect_new_team`` is the predictive effect for a new team of a *new*
program (``+ effect_sd_program z0``), and the ``average_effect_*`` rows average over all
programs' analysed units. Per program: :meth:`EffectResult.program_effects` (one row per
program: ``n`` rows, ``mean .. p_gt_0`` of the program mean :math:`\mu_p` on the link scale,
``abs_mean .. abs_p_gt_0`` of the business-scale average effect over that program's analysed
units); ``team_effects()`` has a ``program`` column and one row per program x team.

Intervals are 90% equal-tailed (``lndbayes.INTERVAL``). A fit that failed its diagnostics has
``converged == False``, ``summary().attrs["converged"] == False`` and a ``converged`` column of
False, so a report cannot miss it.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from lndbayes import INTERVAL
from lndbayes.atomic import atomic_path, write_json
from lndbayes.errors import LndbayesError

SUMMARY_COLUMNS = ["estimand", "scale", "mean", "sd", "lower", "upper", "p_gt_0", "p_beats_target"]
TEAM_COLUMNS = ["team", "n", "raw_effect", "raw_se", "mean", "sd", "lower", "upper", "p_gt_0"]
PROGRAM_COLUMNS = ["program", "n", "scale", "mean", "sd", "lower", "upper", "p_gt_0",
                   "abs_scale", "abs_mean", "abs_sd", "abs_lower", "abs_upper", "abs_p_gt_0"]


def interval_bounds():
    a = (1 - INTERVAL) / 2
    return a, 1 - a


def describe(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": np.nan, "sd": np.nan, "lower": np.nan, "upper": np.nan, "p_gt_0": np.nan}
    lo, hi = interval_bounds()
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "lower": float(np.quantile(x, lo)), "upper": float(np.quantile(x, hi)),
            "p_gt_0": float(np.mean(x > 0))}


def p_beats(x: np.ndarray, threshold: float, direction: str) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.mean(x <= threshold) if direction == "decrease" else np.mean(x >= threshold))


def json_safe(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    return obj


def _frame(records, columns) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=columns)
    for c in df.columns:
        if c in ("estimand", "scale", "team", "program", "abs_scale"):
            df[c] = df[c].astype(str)
        elif c == "converged":
            df[c] = df[c].astype(bool)
        elif c == "n":
            df[c] = df[c].astype("int64")
        else:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


class EffectResult:
    """The outcome of a fit: estimands, team effects, draws, diagnostics, metadata."""

    def __init__(self, idata, summary: pd.DataFrame, team_effects: pd.DataFrame,
                 diagnostics: dict, meta: dict, extra: dict | None = None):
        self.idata = idata
        self._summary = summary
        self._team = team_effects
        self._diag = dict(diagnostics)
        self.meta = dict(meta)
        self.extra = dict(extra or {})

    # ---------------------------------------------------------------- views
    @property
    def converged(self) -> bool:
        return bool(self._diag.get("converged", False))

    def summary(self) -> pd.DataFrame:
        df = self._summary.copy()
        df["converged"] = self.converged
        df.attrs["converged"] = self.converged
        df.attrs["interval"] = self.meta.get("interval", 0.9)
        if not self.converged:
            df.attrs["warning"] = "; ".join(self._diag.get("messages", []))
        return df

    def team_effects(self) -> pd.DataFrame:
        return self._team.copy()

    def diagnostics(self) -> dict:
        return dict(self._diag)

    def program_effects(self) -> pd.DataFrame:
        r"""Fits with ``program=``: one row per program with the number of rows ``n``, the
        program's mean effect :math:`\mu_p` (``mean, sd, lower, upper, p_gt_0``; link scale,
        ``scale``) and its business-scale average effect over the program's analysed units
        (``abs_*``; unit in ``abs_scale``). Empty for fits without ``program=``."""
        return _frame(self.extra.get("program_effects", []), PROGRAM_COLUMNS)

    def predictive_means_by_arm(self, kind: str = "posterior"):
        """``(observed, replicated)``: the mean outcome per arm (control, program) in the data,
        and its draws in data replicated from the ``"posterior"`` or the ``"prior"``
        (lndbayes.models.checks). Raises LookupError when the family has no such check."""
        pc = self.extra.get("predictive") or {}
        if kind not in pc:
            raise LookupError(f"no {kind} predictive check stored for this "
                              f"{self.meta.get('family')} fit")
        return dict(pc["observed"]), {a: np.asarray(v, dtype=float) for a, v in pc[kind].items()}

    def event_time_effects(self) -> pd.DataFrame:
        """Staggered designs: the average effect at each time since start (link scale), with
        the number of treated observations behind it; empty for other designs."""
        cols = ["event_time", "n", "scale", "mean", "sd", "lower", "upper", "p_gt_0"]
        return pd.DataFrame(self.extra.get("event_time_effects", []), columns=cols)

    def draws(self, name: str, **sel) -> np.ndarray:
        """All chains' draws of ``name`` as a 1-D array (select vector entries with ``team=...``;
        with ``program=``: ``draws("effect_program", program="A")``,
        ``draws("average_effect_abs_program", program="A")``,
        ``draws("effect_team", program="A", team="t1")``)."""
        post = self.idata["posterior"].to_dataset()
        if name not in post:
            raise KeyError(f"no posterior variable '{name}'; available: {', '.join(post.data_vars)}")
        da = post[name]
        if sel:
            da = da.sel(**sel)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:
            raise ValueError(f"'{name}' has dimensions {extra}: select one entry, e.g. "
                             f"draws('{name}', {extra[0]}=...)")
        return np.asarray(da.values, dtype=float).reshape(-1)

    def __repr__(self) -> str:
        s = self._summary.set_index("estimand")
        flag = "" if self.converged else "  [NOT CONVERGED]"
        em = s.loc["effect_mean"] if "effect_mean" in s.index else None
        txt = f"EffectResult({self.meta.get('family')}, {self.meta.get('design')}{flag}"
        if em is not None:
            txt += f", effect_mean={em['mean']:.3g} [{em['lower']:.3g}, {em['upper']:.3g}]"
        return txt + ")"

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return json_safe({
            "summary": self._summary.to_dict(orient="records"),
            "team_effects": self._team.to_dict(orient="records"),
            "diagnostics": self._diag,
            "meta": self.meta,
            "extra": self.extra,
            "converged": self.converged,
        })

    def save(self, path) -> Path:
        """Write ``path/summary.json`` (summary, team effects, diagnostics, meta) and
        ``path/posterior.nc`` (h5netcdf), each atomically (lndbayes.atomic).

        ``posterior.nc`` is copied from :func:`saved_posterior_store` when a file written from
        exactly the same draws, coordinates, attributes and encodings is there (a report built
        again from a cached posterior: writing it anew cost ~0.2 s per outcome in h5netcdf's
        per-variable bookkeeping, copying ~10 ms); otherwise it is written and kept there."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "summary.json", self.to_dict())
        _write_posterior(self.idata, path / "posterior.nc")
        return path


#: bump when what :func:`tree_digest` covers changes, so no old store entry is reused
_STORE_VERSION = "1"


def saved_posterior_store() -> Path:
    """Where :meth:`EffectResult.save` keeps one ``posterior.nc`` per distinct content
    (``<posterior cache>/saved-posteriors``)."""
    from lndbayes.inference.cache import _cache_dir

    return _cache_dir() / "saved-posteriors"


def _array_bytes(values) -> bytes:
    a = np.asarray(values)
    if a.dtype.kind == "O":
        return repr(a.tolist()).encode()
    return np.ascontiguousarray(a).tobytes()


def tree_digest(tree) -> str:
    """SHA-256 of everything ``DataTree.to_netcdf`` writes: each group's path and attributes,
    and each coordinate and variable in order with its dimensions, dtype, shape, values,
    attributes and encoding."""
    h = hashlib.sha256(_STORE_VERSION.encode())
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        h.update(b"\x00group" + str(node.path).encode())
        h.update(json.dumps(ds.attrs, sort_keys=True, default=repr).encode())
        for kind, items in (("coord", ds.coords.items()), ("var", ds.data_vars.items())):
            for name, var in items:
                h.update(f"\x00{kind}:{name}:{var.dims}:{var.dtype}:{var.shape}".encode())
                h.update(json.dumps(var.attrs, sort_keys=True, default=repr).encode())
                h.update(json.dumps(var.encoding, sort_keys=True, default=repr).encode())
                h.update(_array_bytes(var.values))
    return h.hexdigest()


def _write_posterior(idata, target: Path) -> None:
    try:
        digest = tree_digest(idata)
        stored = saved_posterior_store() / digest[:2] / f"{digest}.nc"
    except Exception:  # noqa: BLE001 - anything unusual: just write the file
        stored = None
    if stored is not None and stored.is_file():
        try:
            with atomic_path(target) as tmp:
                shutil.copyfile(stored, tmp)
            return
        except OSError:
            pass
    with atomic_path(target) as tmp:
        idata.to_netcdf(tmp, engine="h5netcdf")
    if stored is not None:
        try:                       # a full store or a read-only cache only costs the next write
            with atomic_path(stored) as tmp:
                shutil.copyfile(target, tmp)
        except OSError:
            pass


def load_result(path) -> EffectResult:
    """Read a folder written by :meth:`EffectResult.save`."""
    path = Path(path)
    sj, nc = path / "summary.json", path / "posterior.nc"
    if not sj.exists():
        raise LndbayesError(f"{path}: no summary.json here. Fix: give the folder written by "
                            "EffectResult.save().")
    d = json.loads(sj.read_text())
    idata = None
    if nc.exists():
        with xr.open_datatree(nc, engine="h5netcdf") as tree:
            idata = tree.load()
    summary = _frame(d["summary"], SUMMARY_COLUMNS)
    team = _frame(d["team_effects"], (["program"] if (d.get("meta") or {}).get("program")
                                      is not None else []) + TEAM_COLUMNS)
    diag = {k: (np.nan if v is None and k not in ("messages",) else v)
            for k, v in d["diagnostics"].items()}
    return EffectResult(idata, summary, team, diag, d["meta"], d.get("extra"))
