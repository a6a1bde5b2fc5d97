r"""The skill-proficiency model: latent team x skill proficiency over time, fitted to cell means.

One job: the PyMC graph and its fit (sampling, convergence checks, posterior cache). The data
it reads are the sufficient statistics of :mod:`lndbayes.skills.data`: one row per team x
skill x quarter with assessments, not one row per assessment (about 2,200 cells instead of
44,000 assessments in the example organisation).

The model
---------
For cell :math:`c` (team :math:`j`, skill :math:`s`, department :math:`d`, quarter at time
:math:`t_c` in years, centred at :math:`t_0`), the observed mean of the :math:`n_c` people
assessed, minus their mean person offset :math:`\bar\alpha_c` (the mix of people, see
:mod:`lndbayes.skills.data`), is

.. math::

    \bar y_c - \bar\alpha_c \sim \mathcal N\big(\theta_{js}(t_c),\ \sqrt{se_c^2 + \sigma_q^2}\big)

    \theta_{js}(t) = a_{js} + b_{js}\,(t - t_0)
        + \sum_{p \ni s} \gamma_{ps}\, \frac{1}{n_c} \sum_{i \in c,\ \text{completed } p}
          2^{-(t - t_{ip}) / h}

* :math:`se_c`: measurement error of the cell mean (one assessment's error around the person's
  level, and the error of the person offsets, over :math:`n_c`); :math:`\sigma_q`: a team x
  skill x quarter shock that the trend does not explain.
* Level and drift, pooled skill -> department x skill -> team:
  :math:`a_{js} \sim \mathcal N(\mu_s + \delta^a_{ds}, \sigma_a)`,
  :math:`b_{js} \sim t_2(\beta_s + \delta^b_{ds}, \sigma_b)` (points per year; the net
  of practice and forgetting on the job). The drifts are Student-t with 2 degrees of freedom:
  most teams drift like their peers and a few decline fast (a team that stopped practising, a
  product switch). With a normal the few pulled the rest's mean drift down and were themselves
  pulled up: in the example's backtest declining pairs were forecast 0.12 points too high and
  steady pairs near their requirement too low, so P(gap) between 0.3 and 0.85 ran high
  (forecast 0.52, observed 0.43); Brier 0.067 -> 0.062 with t_2 (docs/skill-gaps.md).
* Gains from completed programs that target the skill: completer :math:`i` of program
  :math:`p` adds :math:`\gamma_{ps}` to their own proficiency at completion, fading with the
  **half-life** :math:`h` (years) when not practised, so a team's mean gains
  :math:`\gamma_{ps}` times the decayed share of its completers;
  :math:`\gamma_{ps} \sim \mathcal N(\bar\gamma, 0.25)`, pooled across programs and skills
  towards the common mean :math:`\bar\gamma` (the between-program spread is fixed: an
  organisation has a handful of program x skill pairs, too few to learn it, and a learned
  spread gave divergent transitions when one pair is measured precisely and others are not).

Priors (proficiency on the 0-5 scale, time in years)::

    mu_s ~ Normal(2.5, 1.5)             beta_s ~ Normal(0, 0.25)
    delta^a_ds ~ ZeroSumNormal(sd_dept_a) over the departments of skill s, sd_dept_a ~ HalfNormal(0.5)
    delta^b_ds ~ ZeroSumNormal(sd_dept_b) over the departments of skill s, sd_dept_b ~ HalfNormal(0.2)
    sigma_a ~ HalfNormal(0.5)           sigma_b ~ HalfNormal(0.3)    (b: Student-t, 2 df)
    gamma_bar ~ Normal(0, 0.5)          gamma_ps ~ Normal(gamma_bar, 0.25)
    h ~ LogNormal(log 2, 0.5)           # median 2 years, 90% prior interval 0.9-4.6 years
    sigma_q ~ HalfNormal(0.1)

The half-life prior draws on the estimate, cited in the source material (an OECD study quoted
in the L&D playbook, /work/shared/seeds/001), that a technical skill now stays useful for
about two years; the spread lets the data move it by a factor of two either way
(docs/skill-gaps.md).

The department offsets sum to zero within each skill (each has marginal prior sd
``sd_dept``, as in PyMC's ZeroSumNormal), so :math:`\mu_s` and :math:`\beta_s` are the skill's
level and drift averaged over its departments; a skill assessed in one department only has no
department offset. Why: with free offsets, a skill in one or two departments can move its drift
between :math:`\beta_s` and the offsets with nothing in the data to tell them apart, a ridge
that NUTS crossed slowly (effective sample size of ``beta``, ``sd_dept_b`` 400-650 of 4,000
draws on the example's backtest fit).

Parametrisation (why each choice: docs/skill-gaps.md, "Sampling"):

* where departments have one or two teams with a skill (the median department x skill group:
  :func:`lndbayes.skills.levels.levels_integrated_for`), the **Gaussian parts of the hierarchy
  are integrated out** (session 31, :mod:`lndbayes.skills.levels`): given the drifts, gains,
  half-life and :math:`\sigma_q`, the cells are Gaussian in the team levels, the department
  level offsets and the skill means, so the likelihood is their closed-form marginal (sums per
  pair, department and skill); and with the drifts' Student-t written as its scale mixture (a
  Gamma(1, 1) scale :math:`\lambda_j` per pair: the same t), the skill drifts and department
  drift offsets integrate out of the team drifts' prior the same way. All of them are drawn
  back from their exact conditionals through standard normals. The sampler keeps the spreads
  (the level spreads in polar coordinates: the same HalfNormal(0.5) priors), the gains, and
  the team drifts with their scales. Why: with one team per department the team and
  department spreads are one spread the data cannot split, and each end of that ridge was a
  funnel for whatever was sampled beneath (at 200 employees every fit failed its checks after
  the whole retry ladder, with divergences; benchmarks/results/skill_small_orgs.md).
  Elsewhere everything is sampled as below (the graph of sessions 9-30, the same draws):
  integrated, a gradient costs more (levels alone: sampling +40-45% at 20,000 employees) and
  nothing failed to mix there;
* (the sampled graph) team levels and drifts are centred (each is informed by several precise
  cell means), department offsets non-centred (few, weakly informed);
* the sampler moves the team level and drift **net of the gains' linear trend**: with
  :math:`g_c` the gain term of cell :math:`c` and :math:`(\alpha_{js}, \beta_{js})` the
  weighted least-squares line through the pair's :math:`g_c` over its :math:`t_c - t_0`
  (weights :math:`1/se_c^2`), the free parameters are :math:`a'_{js} = a_{js} + \alpha_{js}`
  and :math:`b'_{js} = b_{js} + \beta_{js}`, and the likelihood reads
  :math:`a' + b'(t - t_0) + (g_c - \alpha - \beta (t - t_0))`. The joint density is the same
  (a shift given the gains, Jacobian 1): the model does not change, but a program's gain no
  longer pulls every trained team's drift along with it (posterior correlation of a gain with
  its skill's mean drift -0.5 before). ``a`` and ``b`` are reported as before (with the levels
  integrated out only the drift's shift remains);
* the log density is computed, not changed, for speed (sampling is gradient evaluations): the
  likelihood with the variance :math:`se_c^2 + \sigma_q^2` (no square root per cell), the gain's
  fading once per distinct age in months, and (the sampled graph) the Student-t prior's
  constant in :math:`\nu` as data (:func:`_drift_prior_arrays`); 15% less per gradient at 20,000 employees
  (benchmarks/results/skill_gaps.md, session 19);
* the gains are sampled as their mean over the program x skill pairs and their zero-sum
  deviations (a Helmert basis), each a standard normal times its prior sd with
  :math:`\bar\gamma` integrated out: :math:`\gamma = \sqrt{\tau^2 + \sigma^2/n}\,c + \sigma H z`
  (:math:`\tau = 0.5`, :math:`\sigma = 0.25`, :math:`n` pairs); :math:`\bar\gamma` is then
  drawn from its exact conditional given the gains,
  :math:`\mathcal N(w \sum_p \gamma_p,\ \sigma\tau/\sqrt{\sigma^2 + n\tau^2})`,
  :math:`w = \tau^2/(\sigma^2 + n\tau^2)`, through a standard normal of its own. The same
  joint prior (a linear change of coordinates, constant Jacobian). Why: centred, :math:`\bar\gamma`
  moved only with the mean of all gains, a direction ~30 times narrower given the gains than
  its marginal at ~200 pairs the data barely inform (the large preset: ESS of ``gain_mean``
  700-900 of 4,000 draws, the R-hat near miss of some fits); now it is a coordinate of its
  own (ESS 4,400-5,700), and where the data pin each gain (the example, planted gains) the
  fits mix as before (benchmarks/results/skill_gaps.md, session 27). Unlike non-centred gains
  around a sampled :math:`\bar\gamma` (rejected, docs/skill-gaps.md) no scale couples the
  coordinates: the spread is fixed;
* the cells are held as a pairs x slots matrix (row: a team x skill pair, slot :math:`k`: its
  :math:`k`-th cell, :func:`cell_slots`; empty slots masked out of the likelihood), so a pair's
  level and drift reach its cells by broadcasting and the sums behind each pair's line through
  its gain terms (and its levels' marginal) are row sums, where a flat list of cells needed four gathers and two
  scatter-adds over the cells and exposure rows, and as many again in the gradient: 25% less
  per gradient at 20,000 employees, 13% on the example (benchmarks/results/skill_gaps.md,
  session 27). The number of slots (the most quarters a pair has) is data, not structure;
* parameter arrays are padded to multiples of :data:`PAD` so that the backtest fit and the full
  fit of one organisation (and organisations of similar size) share one compiled model. Padding
  entries (no data) are standard normals tied to nothing (for the sampled graph's drifts a t with 10,000
  degrees of freedom, i.e. a normal). Drawn from the Student-t 2 prior they were the sampler's
  worst-mixing coordinates (heavy tails: tail ESS ~350-450 and R-hat up to 1.016 on the
  example, ESS 33 at 597 teams), and tied to the hyper-parameters they slowed those down.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lndbayes.skills.data import SkillData
from lndbayes.skills.levels import levels_integrated_for

PAD = 32
#: prior sds (HalfNormal) of the team drifts' scale and of the department drift offsets
DRIFT_SD_PRIOR = 0.3
DRIFT_DEPT_SD_PRIOR = 0.2
#: between program x skill sd of the gains (fixed: see the module docstring)
GAIN_SD = 0.25
#: prior sd of the gains' common mean gain_mean
GAIN_MEAN_SD = 0.5
#: degrees of freedom of the Student-t of team drifts around their department x skill mean
#: (heavy tails: most teams drift like their peers, a few decline fast; None: a normal, for
#: benchmarks/bench_skills.py --drift-nu normal). Part of the cache key.
DRIFT_NU: float | None = 2.0
HALF_LIFE_PRIOR_YEARS = 2.0
HALF_LIFE_PRIOR_SD_LOG = 0.5
#: sampler settings of a skill-gap fit (the forecast's and the backtest's defaults). 500 tuning
#: steps, not the impact fits' 1,000: this model's adaptation has settled by then (measured on the
#: example and the large preset, 2 seeds each and more: the same step size, 31 and 15 leapfrog steps
#: a draw, the same ESS and R-hat spread, posterior means within Monte Carlo error), so the other
#: 500 cost a quarter of every fit (114 -> 89 s at 20,000 employees) and bought nothing
#: (benchmarks/results/skill_gaps.md, session 25). The impact fits keep 1,000: there half the
#: tuning sent more fits up the retry ladder (benchmarks/results/target_accept.md, session 19).
DEFAULT_SETTINGS = {"draws": 1000, "tune": 500, "chains": 4, "seed": 0}
PARAMS = ("a", "b", "mu", "beta", "gain", "gain_mean", "half_life", "sd_q",
          "sd_a", "sd_b", "sd_dept_a", "sd_dept_b", "dept_a", "dept_b")


#: arrays whose length the structure (the padded sizes) fixes: their shape is static in the graph.
#: Why: with an unknown length PyTensor adds run-time shape checks (``SpecifyShape``), each a Numba
#: function to compile on a machine that never compiled the model (as lndbayes.models.graph)
STRUCTURE_SIZED = ("pair_skill", "pair_ds", "pair_real", "ps_real", "ds_skill", "ds_inv_n", "ds_scale",
                   "gain_basis", "gain_scales",
                   "line_s0", "line_s1", "line_m1", "line_inv_s0", "b_nu", "b_t_const")
#: the cells' pairs x slots matrices: as many rows as (padded) pairs, static; the number of slots
#: (the most quarters a pair has) is not, so that a new quarter of data loads the same model
PAIRS_BY_SLOTS = ("y", "se2", "t", "cell_mask", "w", "wt")


def _data_shape(name: str, value) -> dict:
    if name in STRUCTURE_SIZED:
        return {"shape": np.shape(value)}
    if name in PAIRS_BY_SLOTS:
        return {"shape": (np.shape(value)[0], None)}
    return {}


def _pad(n: int) -> int:
    return max(PAD, int(np.ceil(max(n, 1) / PAD) * PAD))


@dataclass
class ModelInputs:
    """Arrays for the graph (names match its ``pm.Data``) and the padded sizes; ``cells``: the
    cell-level arrays the graph's dense layout was made from (``y``, ``se``, ``t``, ``pair``, and
    each exposure row's ``e_cell``), for readers and tests."""

    arrays: dict
    sizes: dict
    t0: float
    skills: list
    dept_skills: list
    cells: dict
    levels_integrated: bool = False


def model_inputs(data: SkillData) -> ModelInputs:
    cells, pairs = data.cells, data.pairs[data.pairs["pair"] >= 0]
    skills = sorted(pairs["skill"].unique())
    s_idx = {s: i for i, s in enumerate(skills)}
    ds = sorted(set(zip(pairs["department"], pairs["skill"])))
    ds_idx = {k: i for i, k in enumerate(ds)}
    n_pairs = len(pairs)
    # skills and department x skill groups exactly (a prior-only level on the 0-5 scale next to
    # posteriors a hundred times narrower stalled chains); pairs and program-skill gains padded
    sizes = {"pairs": _pad(n_pairs), "skills": len(skills), "dept_skills": len(ds),
             "program_skills": _pad(len(data.program_skills))}
    pair_skill = np.zeros(sizes["pairs"], dtype=np.int64)
    pair_ds = np.zeros(sizes["pairs"], dtype=np.int64)
    order = pairs.sort_values("pair")
    pair_skill[:n_pairs] = order["skill"].map(s_idx).to_numpy()
    pair_ds[:n_pairs] = [ds_idx[(d, s)] for d, s in zip(order["department"], order["skill"])]
    # padding pairs borrow the first slots; they have no data and are standard normals (the mask)
    pair_real = np.zeros(sizes["pairs"])
    pair_real[:n_pairs] = 1.0
    ps_real = np.zeros(sizes["program_skills"])
    ps_real[:len(data.program_skills)] = 1.0
    # zero-sum department offsets within a skill: each offset's z minus its skill's mean z,
    # scaled by sqrt(k / (k - 1)) so that its prior sd stays sd_dept (0 for a one-department skill)
    ds_skill = np.array([s_idx[s] for _, s in ds], dtype=np.int64)
    k = np.bincount(ds_skill, minlength=len(skills)).astype(float)[ds_skill]
    ds_scale = np.where(k > 1, np.sqrt(k / np.maximum(k - 1, 1)), 0.0)
    t0 = float(np.average(cells["t"], weights=cells["n"]))
    expo = data.exposure
    if len(expo):
        e_cell = expo["cell"].to_numpy(np.int64)
        e_ps = expo["ps"].to_numpy(np.int64)
        e_age = (expo["age"].to_numpy(float) + 0.5) / 12.0
        e_share = expo["share"].to_numpy(float)
    else:                              # no completions at all: one inert row
        e_cell, e_ps, e_age, e_share = (np.zeros(1, np.int64), np.zeros(1, np.int64),
                                        np.zeros(1), np.zeros(1))
    # ages are whole months: the gain's fading 2^(-age/h) is computed once per distinct age (~20
    # at 20,000 employees) and looked up by each exposure row (~16,000), not once per row
    age_level, age_of = np.unique(e_age, return_inverse=True)
    # the weighted least-squares line of each pair's gain terms over time (see the docstring):
    # its data-only sums, and the pair and weights of each exposure row
    t_c = cells["t"].to_numpy(float) - t0
    w_c = 1.0 / cells["se"].to_numpy(float) ** 2
    pair_c = cells["pair"].to_numpy(np.int64)
    s0, s1, s2 = (np.bincount(pair_c, weights=w_c * t_c ** j, minlength=sizes["pairs"]) for j in range(3))
    det = s0 * s2 - s1 ** 2
    sloped = det > 1e-9 * s0 * s2                # one quarter of data (or none): no slope
    arrays_line = {
        "line_s0": np.where(sloped, s0 / np.where(sloped, det, 1.0), 0.0),
        "line_s1": np.where(sloped, s1 / np.where(sloped, det, 1.0), 0.0),
        "line_m1": s1, "line_inv_s0": np.where(s0 > 0, 1.0 / np.where(s0 > 0, s0, 1.0), 0.0),
    }
    y_c = (cells["mean"] - cells["comp"]).to_numpy(float)
    se_c = cells["se"].to_numpy(float)
    # the cells in the dense pairs x slots layout the graph reads (see the docstring)
    slot, n_slots = cell_slots(pair_c, sizes["pairs"])

    def dense(values, fill):
        out = np.full(sizes["pairs"] * n_slots, fill)
        out[slot] = values
        return out.reshape(sizes["pairs"], n_slots)

    arrays = {
        **arrays_line,
        "y": dense(y_c, 0.0), "se2": dense(se_c ** 2, 1.0), "t": dense(t_c, 0.0),
        "cell_mask": dense(1.0, 0.0), "w": dense(w_c, 0.0), "wt": dense(w_c * t_c, 0.0),
        "pair_skill": pair_skill, "pair_ds": pair_ds,
        "e_slot": slot[e_cell], "e_ps": e_ps, "e_share": e_share,
        "age_level": age_level, "e_age_idx": age_of.astype(np.int64).ravel(),
        **(_drift_prior_arrays(pair_real) if DRIFT_NU is not None else {}),
        "pair_real": pair_real, "ps_real": ps_real, **_gain_arrays(len(data.program_skills), sizes),
        "ds_skill": ds_skill, "ds_inv_n": 1.0 / k, "ds_scale": ds_scale,
    }
    cell_arrays = {"y": y_c, "se": se_c, "t": t_c, "pair": pair_c, "e_cell": e_cell}
    integrated = levels_integrated_for(pairs.groupby(["department", "skill"]).size().to_numpy())
    if integrated:   # the levels' shift by the gains' line is moot there, and the t is a scale mixture
        for name in ("line_m1", "line_inv_s0", "b_nu", "b_t_const"):
            arrays.pop(name, None)
    return ModelInputs(arrays, sizes, t0, skills, ds, cell_arrays, integrated)


def _gain_arrays(n: int, sizes: dict) -> dict:
    r"""The data of the gains' coordinates (see the module docstring) for ``n`` real program x
    skill pairs: the zero-sum (Helmert) basis of the real ones, padded; and three scales:
    the prior sd of the gains' mean :math:`\sqrt{\tau^2 + \sigma^2/n}`, and gain_mean's
    conditional given the gains, mean :math:`w \sum_p \gamma_p` with
    :math:`w = \tau^2 / (\sigma^2 + n\tau^2)` and sd :math:`\sigma\tau / \sqrt{\sigma^2 + n\tau^2}`
    (:math:`\sigma` = :data:`GAIN_SD`, :math:`\tau` = :data:`GAIN_MEAN_SD`)."""
    from lndbayes.models.graph import padded_zero_sum_basis

    sig, tau = GAIN_SD, GAIN_MEAN_SD
    basis = padded_zero_sum_basis(n, sizes["program_skills"]) if n else np.zeros(
        (sizes["program_skills"], sizes["program_skills"] - 1))
    mean_sd = np.sqrt(tau ** 2 + sig ** 2 / n) if n else 1.0
    return {"gain_basis": basis,
            "gain_scales": np.array([mean_sd, tau ** 2 / (sig ** 2 + n * tau ** 2),
                                     sig * tau / np.sqrt(sig ** 2 + n * tau ** 2)])}


def cell_slots(pair: np.ndarray, n_pairs: int) -> tuple[np.ndarray, int]:
    """Where each cell sits in the dense pairs x slots layout: the flat index ``pair * n_slots +
    k`` of the pair's ``k``-th cell (in the cells' order), and ``n_slots``, the most cells any
    pair has (at least 1). Every cell gets its own slot; slots without a cell stay empty."""
    if len(pair) and (pair.min() < 0 or pair.max() >= n_pairs):
        raise ValueError(f"cell pairs must lie in 0..{n_pairs - 1}")
    order = np.argsort(pair, kind="stable")
    in_order = pair[order]
    k = np.empty(len(pair), np.int64)
    k[order] = np.arange(len(pair)) - np.searchsorted(in_order, in_order, side="left")
    n_slots = int(k.max()) + 1 if len(k) else 1
    return pair * n_slots + k, n_slots


def _drift_prior_arrays(pair_real) -> dict:
    r"""Degrees of freedom of each pair's drift prior (:data:`DRIFT_NU`; 10,000, i.e. a normal, for
    the padding pairs) and the Student-t log-density's constant
    :math:`\log\Gamma(\tfrac{\nu+1}{2}) - \log\Gamma(\tfrac{\nu}{2}) - \tfrac12\log(\nu\pi)`:
    data, computed here once instead of at every gradient evaluation (:func:`lndbayes.skills.graph._student_t_logp`)."""
    from scipy.special import gammaln

    nu = np.where(pair_real > 0, DRIFT_NU, 1e4)
    return {"b_nu": nu, "b_t_const": gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * np.pi)}


def build_model(inputs: ModelInputs):
    """The PyMC graph of ``inputs`` (:func:`lndbayes.skills.graph.build_model`)."""
    from lndbayes.skills.graph import build_model as build

    return build(inputs)


_SOURCES = ("skills/model.py", "skills/graph.py", "skills/levels.py", "skills/data.py", "skills/inputs.py")


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """The skill model's source and the inference code: part of every cache key."""
    from lndbayes.inference.cache import model_code_hash

    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(model_code_hash().encode())
    for rel in _SOURCES:
        h.update(rel.encode())
        h.update((pkg / rel).read_bytes())
    return h.hexdigest()


def posterior_key(inputs: ModelInputs, settings: dict) -> str:
    """Cache key of a fit: the data arrays, padded sizes, sampler settings, version and code."""
    from lndbayes import __version__
    from lndbayes.inference.cache import hash_payload

    return "skills-" + hash_payload({"kind": "skill_gaps", "sizes": inputs.sizes, "settings": settings,
                                     "version": __version__, "code": code_hash(), "drift_nu": DRIFT_NU,
                                     "levels_integrated": inputs.levels_integrated},
                                    inputs.arrays)


def _fit_lock(key: str):
    from lndbayes.atomic import file_lock
    from lndbayes.inference.cache import _cache_dir

    return file_lock(_cache_dir() / "locks" / f"{key}.lock", optional=True)   # read-only cache: just fit


def structure_key(inputs: ModelInputs) -> str:
    """The key compiled skill models are memoised under: every model of these sizes is one."""
    return ("skills|" + "|".join(f"{k}={v}" for k, v in sorted(inputs.sizes.items()))
            + f"|drift_nu={DRIFT_NU}|levels={'integrated' if inputs.levels_integrated else 'sampled'}")


def _sample(inputs: ModelInputs, settings: dict):
    from lndbayes.inference.sampling import sample_with_retry

    idata, diag = sample_with_retry(structure_key(inputs), lambda: build_model(inputs), inputs.arrays,
                                    draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                                    seed=settings["seed"], retry=settings["retry"])
    return idata, {k: v for k, v in diag.items() if k != "attempts"}


@dataclass
class SkillPosterior:
    """Posterior draws (chains x draws flattened) of the skill model, and its diagnostics."""

    draws: dict          # name -> array (n_draws, ...) ; padded entries removed
    diagnostics: dict
    inputs: ModelInputs
    cache_key: str
    from_cache: bool = False   # read back from the posterior cache, not sampled now

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged"))

    @property
    def n_draws(self) -> int:
        return int(self.draws["half_life"].shape[0])


def fit_settings(run: dict) -> dict:
    """The skill-gap fits' sampler settings for a report run's settings (``Settings.as_params``):
    its seed, draws, chains and retry, and its ``skill_tune`` as the tuning length (None: this
    model's default, :data:`DEFAULT_SETTINGS`). Why not the run's ``tune``: that is the impact
    fits' tuning, and this model needs half of it (see :data:`DEFAULT_SETTINGS`). Every reader of
    the organisation's forecast (the skill-gap report, its backtest task, the program reports'
    skills sections) calls this, so they all key the same cached fit."""
    out = {k: run[k] for k in ("seed", "draws", "chains", "retry") if k in run}
    tune = run.get("skill_tune")
    out["tune"] = int(tune) if tune is not None else DEFAULT_SETTINGS["tune"]
    return out


def fit_skill_model(data: SkillData, *, seed: int = 0, draws: int = 1000,
                    tune: int = DEFAULT_SETTINGS["tune"],
                    chains: int = 4, cache: bool = True, retry: bool = True) -> SkillPosterior:
    """Fit the model to ``data``; an unchanged fit (same data, code and settings) is read from
    the posterior disk cache (:mod:`lndbayes.inference.cache`) instead of being sampled again."""
    from lndbayes.inference.cache import cache_load, cache_save

    inputs = model_inputs(data)
    settings = {"seed": int(seed), "draws": int(draws), "tune": int(tune), "chains": int(chains),
                "retry": bool(retry)}
    key = posterior_key(inputs, settings)
    hit = cache_load(key) if cache else None
    from_cache = hit is not None
    if hit is None and cache:
        # several report workers may ask for the same fit at once: one samples, the others
        # wait for it and read the cache
        with _fit_lock(key):
            hit = cache_load(key)
            from_cache = hit is not None
            if hit is None:
                idata, diag = _sample(inputs, settings)
                cache_save(key, idata, diag)
                hit = (idata, diag)
    idata, diag = hit if hit is not None else _sample(inputs, settings)
    post = idata["posterior"]
    n_pairs = int((data.pairs["pair"] >= 0).sum())
    trim = {"a": n_pairs, "b": n_pairs, "gain": len(data.program_skills), "mu": len(inputs.skills),
            "beta": len(inputs.skills), "dept_a": len(inputs.dept_skills), "dept_b": len(inputs.dept_skills)}
    out = {}
    for name in PARAMS:
        v = np.asarray(post[name].values)
        v = v.reshape((-1,) + v.shape[2:])
        if name in trim:
            v = v[:, :trim[name]]
        out[name] = v
    return SkillPosterior(out, diag, inputs, key, from_cache)
