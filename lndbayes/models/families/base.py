r"""What every outcome family knows (the bambi idea): one object per family, see the registry in
:mod:`lndbayes.models.families`.

A family entry carries

* how to check an outcome column (``validate``), raising :class:`ModelInputError` with a fix;
* its link, the labels of its link and business scales, and the data-derived prior scale
  (``link_scale``) and centre (``link_center``) on the link scale;
* its observation model in the PyMC graph (``likelihood``) and its LaTeX line (``latex``);
* its sufficient statistics (``cell_keys``, ``cell_stats``, ``row_stats``), used by
  :func:`lndbayes.models.sufficient.collapse`;
* its own parameters (``aux_priors``: ``sigma``, ``overdispersion``, ``cutpoints``), each named
  alike in the graph, the priors and the per-draw ``aux``/``params`` dicts that
  ``business_mean`` and ``replicate`` read, and drawn from their priors by ``draw_aux``;
* how to turn a linear predictor ``eta`` into the business-scale mean (``business_mean``), a
  plain mean and standard error of a group of rows (``raw_mean_se``), and a crude link-scale
  estimate (``link_estimate``, only to choose centred or non-centred parameters);
* its predictive check (``arm_value``, ``replicate``; ``checked`` is False where it has none);
* how the panel (:mod:`lndbayes.design.outcomes`) forms its outcome: one number per entity from
  the window's periods (``aggregate_window``), events as a count over an exposure or as a share
  (``needs_exposure``), one row per person (``one_row_per_person``).

Adding a family: a file with its subclass and one line in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lndbayes.errors import ModelInputError

#: categories of the ordinal family (a 1..5 scale)
N_ORDINAL = 5


def expit(x):
    """Inverse logit (the one copy in the package)."""
    return 1.0 / (1.0 + np.exp(-x))


def _as_float(y, outcome: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        bad = next((v for v in y if isinstance(v, (str, bytes)) or not _is_number(v)), None)
        if bad is not None:
            raise ModelInputError(
                f"outcome column '{outcome}' holds text, not numbers (for example {bad!r}). "
                "Fix: give numbers (0/1 for a binary outcome) or choose another column."
            )
    return np.asarray(y, dtype=float)


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


#: up to this many covariates the linear predictor is written out column by column
UNROLL_COVARIATES = 16


def linear_predictor(spec, d: dict, a, beta):
    """:math:`\\eta = a + X\\beta` per cell (``a`` holds every term but the covariates).

    Written as a sum of columns, :math:`\\sum_k x_{\\cdot k}\\beta_k` (above
    :data:`UNROLL_COVARIATES` covariates as a broadcast product summed over the covariates),
    not ``pt.dot``. Why: PyTensor's Numba ``Dot`` and the variants its gradient needs are each
    a ~550 KB Numba function taking 12-21 s to compile on an empty cache (five of them in the
    example's run), and every model's compiled callback re-links them. Measured on
    manager_coaching/engagement (2 cores, load ~3): a cold compile took 50 s without ``Dot``
    against 124 s with it, and 10 s against 17 s when only the callbacks were new. The
    broadcast form still needed a sum over an axis of a matrix (and its gradient), a Numba
    reduction that alone took ~3-4 CPU-s to compile cold on engagement (one covariate); column
    by column everything fuses into the elementwise kernels and the gradient of each slope is
    a plain sum. With K a handful of covariates either is as fast as BLAS.
    """
    if not spec.K:
        return a
    X = d["c_X"]
    if spec.K > UNROLL_COVARIATES:
        return a + (X * beta[None, :]).sum(-1)
    return a + sum(X[:, k] * beta[k] for k in range(spec.K))


@dataclass(frozen=True)
class Family:
    name: str
    link: str
    #: what a link-scale effect is (e.g. "log odds ratio")
    link_label: str = ""
    #: what a business-scale (absolute) effect is measured in
    abs_label: str = ""
    #: NUTS target acceptance of the first attempt (retries go higher, see lndbayes.inference)
    target_accept: float = 0.8
    #: (design, target_accept) pairs where a design's first attempt starts elsewhere
    #: (:meth:`first_target_accept`; measured per family, lndbayes.models.families)
    target_accept_by_design: tuple = ()

    #: the model has an overall intercept (the ordinal family's cutpoints take its place)
    has_intercept: ClassVar[bool] = True
    #: only non-centred team and department parameters (see lndbayes.models.centring)
    noncentred_only: ClassVar[bool] = False
    #: rows need an exposure column (events per unit of exposure). The panel then keeps an event
    #: count as the outcome and what it was counted over (people, periods or the exposure KPI)
    #: as the exposure; other families get the share of people with the event.
    needs_exposure: ClassVar[bool] = False
    #: rows may be right censored (a censored column the model reads)
    needs_censored: ClassVar[bool] = False
    #: the outcome is one number per employee, their latest KPI value and whether it is
    #: censored, whatever the design: the panel has one row per employee (layout "unit") and
    #: the design only decides, by hire date, who counts as treated. A panel-layout question,
    #: kept apart from ``needs_censored`` (a model column), which a family measured per period
    #: could also need.
    one_row_per_person: ClassVar[bool] = False
    #: a residual sd ``sigma`` (Gaussian on the link scale)
    has_sigma: ClassVar[bool] = False
    #: cells keep covariate sums instead of covariate values (the Gaussian families)
    gaussian_sums: ClassVar[bool] = False
    #: the family's own parameters: each name is its graph variable and its prior
    #: (lndbayes.models.priors.PRIOR_SPECS); their draws reach ``business_mean`` and ``replicate``
    aux_priors: ClassVar[tuple] = ()
    #: the observation model, LaTeX (:math:`\\eta_i` is the linear predictor)
    latex: ClassVar[str] = ""
    #: ``business_mean`` as LaTeX, :math:`\mu(\eta) = ...` (the report's estimand block)
    business_mean_latex: ClassVar[str] = ""
    #: a prior/posterior predictive check of the arm means exists
    checked: ClassVar[bool] = True
    #: why there is no predictive check (a sentence the report shows); None where checked
    no_check_reason: ClassVar[str | None] = None
    #: what the predictive check compares
    check_statistic: ClassVar[str] = "mean outcome"

    def first_target_accept(self, design: str) -> float:
        """target_accept of the first sampling attempt of this family in ``design``."""
        return float(dict(self.target_accept_by_design).get(design, self.target_accept))

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        # the docstring's likelihood is the line the report's model math shows (one source)
        if cls.latex:
            cls.__doc__ = (f"{cls.__name__} family.\n\n.. math::\n\n    {cls.latex}\n\n"
                           "Link scale, business scale, sufficient statistics and checks: see "
                           ":class:`lndbayes.models.families.base.Family`.")

    # -- validation -------------------------------------------------------------------------
    def validate(self, y, outcome: str = "outcome") -> np.ndarray:
        y = _as_float(np.asarray(y), outcome)
        if not np.all(np.isfinite(y)):
            raise ModelInputError(f"outcome column '{outcome}' holds infinite values.")
        if y.size and np.all(y == y[0]):
            raise ModelInputError(
                f"every value of outcome '{outcome}' is {y[0]:g}: there is no variation to "
                "explain, so no effect can be estimated. Fix: check the outcome column and the "
                "rows selected."
            )
        self._check(y, outcome)
        return y

    def _check(self, y, outcome):  # family-specific
        pass

    # -- scales -----------------------------------------------------------------------------
    def link_scale(self, y, exposure, censored) -> float:
        """A typical spread on the link scale: priors are multiples of it."""
        return 1.0

    def link_center(self, y, exposure, censored) -> float:
        """Where the intercept prior is centred (the link of the overall mean)."""
        return 0.0

    # -- the graph --------------------------------------------------------------------------
    def likelihood(self, spec, d: dict, P, a, beta) -> None:
        """Add the observation model to the PyMC model in context.

        ``d``: the model's data (``pm.Data``) by name; ``P(prior, parameter)``: a prior
        parameter; ``a``: the linear predictor without covariates, per cell; ``beta``: the
        covariate slopes (None without covariates). The family's own parameters are created
        here, after every shared one, so the graph's variable order is the family's business.
        """
        raise NotImplementedError

    # -- sufficient statistics --------------------------------------------------------------
    def cell_keys(self, base: np.ndarray, rows: dict) -> np.ndarray:
        """Columns that define a cell: the shared keys ``base`` and, by default, covariates."""
        return np.column_stack([base, rows["X"]])

    def cell_stats(self, rows: dict, uniq: np.ndarray, inv: np.ndarray, n_base: int) -> dict:
        """The family's arrays per cell (``uniq``: each cell's keys, ``inv``: each row's cell)."""
        K = rows["X"].shape[1]
        return {"c_X": uniq[:, n_base:n_base + K].astype(float)}

    def row_stats(self, rows: dict) -> dict:
        """Extra arrays of the row-level (not collapsed) likelihood."""
        return {}

    # -- business scale ---------------------------------------------------------------------
    def business_mean(self, eta, aux: dict):
        raise NotImplementedError

    def raw_mean_se(self, y, exposure, censored) -> tuple[float, float]:
        """Plain business-scale mean of a group of rows and its standard error."""
        n = len(y)
        if n == 0:
            return np.nan, np.nan
        sd = np.std(y, ddof=1) if n > 1 else np.nan
        return float(np.mean(y)), float(sd / np.sqrt(n)) if n > 1 else np.nan

    def display_scale(self, unit_label: str | None = None) -> tuple[float, str]:
        """(multiplier, unit) of an absolute effect as a manager reads it; ``unit_label``: the
        outcome's own unit from programs.yaml, if any."""
        return 1.0, unit_label or "units"

    def link_estimate(self, y, exposure, censored) -> tuple[float, float]:
        """Crude link-scale mean and its standard error (used for parameterisation choice)."""
        raise NotImplementedError

    # -- the panel --------------------------------------------------------------------------
    def aggregate_window(self, values):
        """One outcome per entity from its KPI values over the window's periods (randomized
        designs). ``values``: the values grouped by entity, in period order (a pandas
        ``SeriesGroupBy``). Default: the mean over the window."""
        return values.mean()

    # -- predictive checks ------------------------------------------------------------------
    def arm_value(self, y, exposure) -> float:
        """The checked statistic of a group of observed rows."""
        return float(np.mean(y))

    def draw_aux(self, P, n: int, rng) -> dict:
        """``n`` draws of each own parameter (``aux_priors``) from its prior, as ``likelihood``
        declares it; ``P(prior, parameter)``: a prior parameter. Default: half-normal."""
        return {name: np.abs(rng.normal(0.0, P(name, "sigma"), n)) for name in self.aux_priors}

    def replicate(self, cells: dict, eta, params: dict, s: int, rng):
        """Replicated (total, denominator) per cell for parameter draw ``s``."""
        raise NotImplementedError

    # -- simulation (tests, calibration) ----------------------------------------------------
    def simulate(self, eta, rng, *, sigma: float = 1.0, overdispersion: float = 0.5,
                 censor_time: float | None = None) -> tuple[np.ndarray, dict]:
        """Outcomes drawn from the likelihood at ``eta`` and any extra columns (exposure,
        censored) the family's rows carry."""
        raise NotImplementedError
