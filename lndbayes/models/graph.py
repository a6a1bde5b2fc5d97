r"""The hierarchical GLM engine: one PyMC graph for every family and design.

Model
-----
For an observation (or cell) :math:`i` in team :math:`j[i]`, department :math:`d[j]`, period
:math:`t[i]` and (staggered designs) event time :math:`e[i]`, with effect indicator
:math:`D_i` (randomized: treated; pre/post and staggered: treated :math:`\times` post):

{MODEL}
and :math:`y_i \sim \mathcal{F}(\eta_i)` for the family's likelihood (``Family.latex``, see
:mod:`lndbayes.models.families`). The equations are assembled from the fragments of
:mod:`lndbayes.models.math`, which also writes each fit's model for the report.

The department intercepts :math:`a_d` sum to zero, so
:math:`\mu_\alpha` is the average of the departments' levels. Why: with iid :math:`a_d` only
:math:`\mu_\alpha + \bar a` is identified by the data and the sampler crawls along the ridge
(measured on the example compliance program, 6 departments, negative binomial: ESS 72 for
``intercept_mean`` and 134 divergences at seed 0, target_accept 0.8; sum-to-zero: smallest bulk
ESS 764-1,156 and 1, 1, 0, 0 divergences on seeds 0-3 at 0.8; at the count family's 0.9, ESS
657-802 and one divergence over seeds 0-5). Business-scale estimates read the team intercepts
:math:`\alpha_j`, so nothing reported changes meaning.
The department *effects* :math:`b_d` stay iid: :math:`\mu_\theta` is the mean of the
population of departments, which the new-team prediction needs (a sum-to-zero version was
measured too and sampled worse: 28 divergences at seed 0).

Names in the graph: ``intercept_mean`` (:math:`\mu_\alpha`), ``intercept_sd_team``,
``intercept_dept``, ``intercept_team``, ``effect_mean`` (:math:`\mu_\theta`), ``effect_sd_team``
(:math:`\sigma_\theta`), ``effect_dept``, ``effect_team`` (:math:`\theta_j`), ``period_effect``,
``event_time_dev``, ``beta``, ``sigma``, ``overdispersion``, ``cutpoints``. Priors: :mod:`lndbayes.models.priors`.

Designs
-------
* **randomized**: :math:`D_i` = treated, no period effects; a standardised ``baseline`` and
  other covariates enter :math:`x_i`.
* **pre_post** (difference in differences): team intercepts :math:`\alpha_j` absorb fixed team
  differences, :math:`\gamma_t` the common period shocks, and :math:`D_i` = treated x post
  carries the team-varying effect. When treatment varies *within* teams a ``treated_group``
  column enters :math:`x_i` (the time-invariant arm difference).
* **staggered** rollout: as pre/post, with the effect of treated x post observations allowed to
  vary by team *and* by event time, :math:`\theta_j + \delta_e`. Why this avoids the
  two-way-fixed-effects (TWFE) bias: TWFE fits one common :math:`\theta`, so with effects that
  change over time the already-treated observations act as controls for later cohorts
  ("forbidden comparisons") and receive negative weights. Here every treated x post observation
  carries its own effect :math:`\theta_{j} + \delta_{e}` (by team and time since start), so it
  is explained by its effect term and contributes (next to nothing) to :math:`\alpha_j` and
  :math:`\gamma_t`: the counterfactual :math:`\alpha_j + \gamma_t` is learned from the never- and
  not-yet-treated observations only, as in the imputation estimator of Borusyak, Jaravel and
  Spiess (2024). The residual assumption is that effects are additive in team and event time
  (no team x event-time interaction beyond that); ``effect_mean`` is the effect averaged over
  teams and, with equal weight, over the observed event times (``event_time_dev`` sums to zero).

Several programs
----------------
With ``program=`` (and more than one program in the column) every row belongs to one program
:math:`p[i]`: treated rows are that program's participants, control rows its comparison units.
Team intercepts :math:`\alpha_j`, period effects :math:`\gamma_t`, event-time deviations
:math:`\delta_e`, covariate slopes and the residual scale are **shared** by the programs (same
outcome, same teams); the effect belongs to the program x team combination
:math:`c = (p, j)`, and only combinations that occur in the data get one:

{PROGRAMS}
with :math:`\sigma_{\theta,\mathrm{prog}} \sim \mathrm{HalfNormal}(0.5\,s)`, so the program means :math:`\mu_p` (``effect_program``, dimension ``program``) are partially
pooled toward the portfolio mean :math:`\mu_\theta` (``effect_mean``) with between-program sd
``effect_sd_program``; centred when the programs' data dominate, else non-centred
(:func:`choose_program_centering`). One between-team sd :math:`\sigma_\theta` (``effect_sd_team``) and one set
of department deviations :math:`b_d` are shared by all programs: with a handful of programs a
separate team sd per program would be poorly identified for the small ones. Without a team
level (``group=None``) :math:`\theta_{p} = \mu_p`. ``effect_team`` then runs over the
combinations (dimension ``combo``; the result relabels it ``(program, team)``). A ``program``
column with a single value gives exactly the one-program model (same graph and cache keys).

Parameterisation: centred or non-centred per team, chosen from the data in
:mod:`lndbayes.models.centring`; which teams are centred is data (see :func:`_mixed`). With one
program and teams, the sampler moves the treated teams' mean effect and ``effect_mean`` is
derived from it (:func:`_treated_team_effects`: the same model, other coordinates). Where
few teams inform their spread (a program in up to four teams), it moves the pinned teams'
mean intercept and derives ``intercept_mean`` (:func:`_intercepts_through_teams`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from lndbayes.models import math as model_math
from lndbayes.models.families import get_family

# the math of this docstring comes from the one source the report uses too
__doc__ = __doc__.replace("{MODEL}", model_math.general_model_rst()).replace(
    "{PROGRAMS}", model_math.general_model_rst(several_programs=True))


@dataclass(frozen=True)
class GLMSpec:
    """Everything that changes the *structure* of the graph (the compile-cache key)."""

    family: str
    design: str
    hier: bool
    J: int
    n_dept: int
    n_period: int
    n_event: int
    K: int
    int_centred: tuple
    eff_centred: tuple
    exact: bool
    prior_names: tuple
    #: several programs: number of programs (1 = the one-program model) and of program x team
    #: combinations that carry an effect (0 when there is one program)
    n_program: int = 1
    n_combo: int = 0
    prog_centred: bool = False
    #: department intercepts / effects centred (else non-centred); data, like the team choice
    dept_int_centred: bool = False
    dept_eff_centred: bool = False
    #: one program: the teams whose mean effect is sampled (data, like the centring; see
    #: _treated_team_effects and centring.choose_treated_mean)
    mean_teams: tuple = ()
    #: few teams for the between-team spread: the teams whose mean intercept is
    #: sampled (data; whether there are any is structure: see _intercepts_through_teams and
    #: centring.choose_intercept_mean)
    int_mean_teams: tuple = ()

    def key(self) -> str:
        d = asdict(self)
        # which teams and departments are centred is data (centring_data), not structure
        for k in ("int_centred", "eff_centred", "dept_int_centred", "dept_eff_centred",
                  "mean_teams", "int_mean_teams"):
            d.pop(k)
        if self.int_mean_teams:  # absent otherwise: every other structure keeps its key
            d["intercept_through_teams"] = True
        # the graph holds slots, not the teams, periods and event times themselves
        d["n_period"], d["n_event"] = time_slots(d["n_period"]), time_slots(d["n_event"])
        if self.hier:
            d["J"] = team_slots(d["J"])
        if d["n_program"] == 1:  # one program: the key (and disk cache) of the one-program model
            for k in ("n_program", "n_combo", "prog_centred"):
                d.pop(k)
        return repr(sorted(d.items()))


def zero_sum_basis(n: int) -> np.ndarray:
    r"""An ``n x (n-1)`` matrix :math:`H` with orthonormal columns orthogonal to :math:`\mathbf 1`.

    With :math:`z \sim \mathrm{Normal}(0, I_{n-1})`, :math:`\sigma H z` has covariance
    :math:`\sigma^2 (I - \mathbf 1\mathbf 1^\top/n)`, i.e. it is ``ZeroSumNormal(sigma)``.
    Written out rather than ``pm.ZeroSumNormal`` because, measured, nutpie's ``with_data`` path
    then gave different draws for the same seed depending on what the process fitted before.
    The Helmert basis (column :math:`k`: :math:`1/\sqrt{k(k+1)}` on the first :math:`k` rows,
    :math:`-k/\sqrt{k(k+1)}` on row :math:`k+1`) is closed-form, so the same seed gives the same
    draws on every machine (an SVD basis is not unique and may vary with the BLAS build).
    """
    k = np.arange(1, n)
    h = np.zeros((n, n - 1))
    rows = np.arange(n)[:, None]
    h[rows < k] = np.broadcast_to(1.0 / np.sqrt(k * (k + 1.0)), (n, n - 1))[rows < k]
    h[k, k - 1] = -k / np.sqrt(k * (k + 1.0))
    return h


#: periods and event times a graph holds are rounded up to a multiple of this (see time_slots)
TIME_SLOTS = 12


def time_slots(n: int) -> int:
    """How many periods (or event times) the graph holds for ``n`` in the data: ``n`` rounded up
    to a multiple of :data:`TIME_SLOTS` (0 and 1 stay: no period effects).

    Why: a month of KPIs adds a period (and, in staggered designs, an event time), and a graph
    sized by them was recompiled for every pre/post and staggered outcome after each new month
    (benchmarks/results/compile.md). With slots, 13 to 24 months share one compiled graph. The
    effects are :math:`\\gamma = H z` with the zero-sum basis of the used periods in the top-left
    corner of ``H`` (data, :func:`padded_zero_sum_basis`) and zeros elsewhere, so the used
    periods' effects are exactly ``ZeroSumNormal(sigma)``; the coordinates of ``z`` no period
    uses only draw their prior (a fixed scale) and enter nothing else. The posterior is cut back
    to the used periods (:func:`used_slots`).
    """
    n = int(n)
    return n if n <= 1 else TIME_SLOTS * -(-n // TIME_SLOTS)


def team_slots(n: int) -> int:
    """How many teams the graph holds for ``n`` teams in the data: up to 16 exactly, above that
    ``n`` rounded up to ``m * 2**k`` with ``m`` in 8..15, so at most 1/8 of the slots go unused.

    Why: programs and months differ in their number of teams, and a graph sized by it compiled
    again (~10-20 CPU-s) whenever the count changed, even by one team. With slots, 61 to 64
    teams share one graph, 577 to 640 another. Unused slots hold non-centred team
    parameters that enter no likelihood term, so they only draw their prior and change nothing
    else; the posterior is cut back to the data's teams (:func:`used_slots`).
    """
    n = int(n)
    if n <= 16:
        return n
    k = n.bit_length() - 4
    return -(-n // (1 << k)) << k


def padded_teams(values, spec: "GLMSpec") -> np.ndarray:
    """A per-team data vector padded with zeros to the graph's team slots."""
    values = np.asarray(values)
    n = team_slots(spec.J) if spec.hier else spec.J
    return np.concatenate([values, np.zeros(n - len(values), dtype=values.dtype)])


def padded_zero_sum_basis(n: int, slots: int) -> np.ndarray:
    """``slots x (slots - 1)``: :func:`zero_sum_basis` of ``n`` in the top-left corner, zeros
    elsewhere (the used levels' deviations sum to zero; the unused slots stay at zero)."""
    h = np.zeros((slots, slots - 1))
    h[:n, : n - 1] = zero_sum_basis(n)
    return h


def used_slots(post, spec: "GLMSpec"):
    """The posterior (an xarray Dataset) cut back to the teams, periods and event times in the
    data, without the basis coordinates ``period_z`` / ``event_time_z`` (see :func:`team_slots`,
    :func:`time_slots`)."""
    sizes = [("period", spec.n_period), ("event_time", spec.n_event)]
    if spec.hier:
        sizes.append(("team", spec.J))
    cut = {dim: slice(0, n) for dim, n in sizes if dim in post.dims}
    post = post.isel(cut) if cut else post
    return post.drop_vars([v for v in ("period_z", "event_time_z") if v in post.data_vars])


def _mixed(name, mu, sd, centred, dim="team"):
    r"""Team parameters, centred where the 0/1 data vector ``centred`` is 1, else non-centred.

    .. math::

        r_j \sim \mathrm{Normal}(c_j\,\mu_j,\ \sigma^{c_j}), \qquad
        \theta_j = \begin{cases} r_j & c_j = 1 \\ \mu_j + \sigma r_j & c_j = 0 \end{cases}

    Both branches give :math:`\theta_j \sim \mathrm{Normal}(\mu_j, \sigma)`. Why the choice
    is data and not graph structure: which teams are centred changes with every dataset, and a
    graph that depended on it was recompiled (7-17 s of Numba) for nearly every new fit.
    """
    is_c = centred > 0
    raw = pm.Normal(f"{name}_raw", pt.switch(is_c, mu, 0.0), pt.switch(is_c, sd, 1.0), dims=dim)
    return pm.Deterministic(name, pt.switch(is_c, raw, mu + sd * raw), dims=dim)


def _treated_team_effects(m, offset, sd, centred, weight, P):
    r"""The one-program model's team effects, sampled through the treated teams' mean effect.

    .. math::

        \mu_\theta = m - \sigma_\theta \sum_j w_j r_j, \qquad
        \theta_j = \begin{cases} r_j & c_j = 1 \\
                   \mu_\theta + b_{d[j]} + \sigma_\theta r_j & c_j = 0 \end{cases}

    with :math:`r_j \sim \mathrm{Normal}(\mu_\theta + b_{d[j]}, \sigma_\theta)` where centred
    (:math:`c_j = 1`), :math:`r_j \sim \mathrm{Normal}(0, 1)` where not, and
    :math:`\mu_\theta \sim \mathrm{Normal}(\mu_0, s_0)` (``effect_mean``'s prior), exactly as
    in :func:`_mixed`. :math:`w_j = 1/|T|` on the non-centred teams :math:`T` that have
    effect observations that the data pin well, 0 elsewhere (data: ``treated_weight``,
    :func:`treated_weights`, chosen by :func:`lndbayes.models.centring.choose_treated_mean`), so
    :math:`m = \mu_\theta + \sigma_\theta \bar r_T` (``effect_mean_treated``) is those teams'
    mean effect less their departments' deviations. What is sampled is :math:`(m, r, \sigma_\theta)`
    instead of :math:`(\mu_\theta, r, \sigma_\theta)`: a shift of :math:`\mu_\theta` by a
    function of the other coordinates, Jacobian 1, so :math:`m` gets a flat prior and the priors
    of :math:`\mu_\theta` and :math:`r` enter as potentials: the same posterior.

    Why: the data pin each treated team's effect :math:`\mu_\theta + \sigma_\theta r_j`, and
    with :math:`\sigma_\theta` large the non-centred coordinates left :math:`\mu_\theta` and
    the :math:`r_j` on a thin ridge (lean_workshop/error_count, 5 treated teams: 1-22 divergences
    on half of seeds 0-7). Their mean is what the data identify, so it is sampled directly
    (benchmarks/results/target_accept.md, session 22). Where no team is chosen the weights are 0,
    :math:`m = \mu_\theta`, and this is the plain model.
    """
    is_c = centred > 0
    raw = pm.Flat("effect_team_raw", dims="team")
    effect_mean = pm.Deterministic("effect_mean", m - sd * (weight * raw).sum())
    pm.Potential("effect_mean_prior", pm.logp(
        pm.Normal.dist(P("effect_mean", "mu"), P("effect_mean", "sigma")), effect_mean))
    mu = effect_mean + offset
    pm.Potential("effect_team_prior", pt.switch(
        is_c, pm.logp(pm.Normal.dist(mu, sd), raw), pm.logp(pm.Normal.dist(0.0, 1.0), raw)).sum())
    return pm.Deterministic("effect_team", pt.switch(is_c, raw, mu + sd * raw), dims="team")


def _intercepts_through_teams(offset, sd, centred, weight, P):
    r"""Team intercepts with the chosen teams' mean intercept as the coordinate of
    :math:`\mu_\alpha`, where few teams inform the spread
    (:func:`lndbayes.models.centring.choose_intercept_mean`).

    With :math:`r_j \sim \mathrm{Normal}(\mu_\alpha + o_j, \sigma_\alpha)` where centred
    (:math:`c_j = 1`), :math:`r_j \sim \mathrm{Normal}(0, 1)` where not, and
    :math:`\mu_\alpha \sim \mathrm{Normal}(\mu_0, s_0)` (``intercept_mean``'s prior), as in
    :func:`_mixed` (:math:`o_j` the department deviation :math:`a_{d[j]}`, 0 without
    departments):

    .. math::

        \alpha_j = \begin{cases} r_j & c_j = 1 \\
                   \mu_\alpha + o_j + \sigma_\alpha r_j & c_j = 0 \end{cases},
        \qquad
        \mu_\alpha = \begin{cases}
            \sum_j w_j (r_j - o_j) + \sigma_\alpha \sqrt{\textstyle\sum_j w_j^2}\; u
                & \text{chosen teams centred} \\
            u - \sigma_\alpha \sum_j w_j r_j & \text{chosen teams non-centred}
        \end{cases}

    with :math:`w_j = 1/|C|` on the chosen teams :math:`C` (data ``intercept_weight``; all
    centred or all not). Non-centred, :math:`u = \sum_j w_j (\alpha_j - o_j)` is their mean
    intercept (a shift of :math:`\mu_\alpha`, Jacobian 1), as
    :func:`_treated_team_effects` does for effects; centred, :math:`u` is
    :math:`\mu_\alpha`'s standardised distance from their mean (Jacobian
    :math:`\sigma_\alpha \sqrt{\sum w_j^2}`). Either way :math:`u` gets a flat prior and the
    priors of :math:`\mu_\alpha` and :math:`r`, with the log Jacobian, enter as potentials:
    the same posterior, other coordinates.
    """
    is_c = centred > 0
    chosen_centred = (weight * centred).sum() > 0
    # a flat variable starts at 0; the centred levels and the non-centred mean intercept start
    # at the prior's centre instead (an outcome at level 100 started 1e6 log-density units off)
    mu0 = P("intercept_mean", "mu")
    raw = pm.Flat("intercept_team_raw", dims="team",
                  initval=pt.switch(is_c, mu0, 0.0) + pt.zeros_like(centred))
    u = pm.Flat("intercept_mean_offset", initval=pt.switch(chosen_centred, 0.0, mu0))
    spread = sd * pt.sqrt((weight**2).sum())
    mean = pm.Deterministic("intercept_mean", pt.switch(
        chosen_centred, (weight * (raw - offset)).sum() + spread * u,
        u - sd * (weight * raw).sum()))
    pm.Potential("intercept_mean_prior", pm.logp(
        pm.Normal.dist(mu0, P("intercept_mean", "sigma")), mean)
        + pt.switch(chosen_centred, pt.log(spread), 0.0))
    mu = mean + offset
    pm.Potential("intercept_team_prior", pt.switch(
        is_c, pm.logp(pm.Normal.dist(mu, sd), raw), pm.logp(pm.Normal.dist(0.0, 1.0), raw)).sum())
    return pm.Deterministic("intercept_team", pt.switch(is_c, raw, mu + sd * raw), dims="team")


def intercept_weights(spec: "GLMSpec") -> np.ndarray:
    """``intercept_weight`` of :func:`_intercepts_through_teams`: 1/|C| on the teams
    ``spec.int_mean_teams``, 0 elsewhere and on the padded slots."""
    w = np.zeros(team_slots(spec.J))
    w[list(spec.int_mean_teams)] = 1.0 / len(spec.int_mean_teams)
    return w


def treated_weights(spec: "GLMSpec") -> np.ndarray:
    """``treated_weight`` of :func:`_treated_team_effects`: 1/|T| on the teams ``spec.mean_teams``
    (:func:`lndbayes.models.centring.choose_treated_mean`), 0 elsewhere and on the padded slots;
    all 0 (the plain model) when there are none."""
    w = np.zeros(team_slots(spec.J))
    if spec.mean_teams:
        w[list(spec.mean_teams)] = 1.0 / len(spec.mean_teams)
    return w


def centring_data(spec: "GLMSpec") -> dict:
    """The 0/1 centring vectors :func:`build_model` reads (``pm.Data``, so they can change
    without recompiling)."""
    if not spec.hier:
        return {}
    # padded team slots are non-centred (0): they only draw their prior (team_slots)
    J = team_slots(spec.J)
    n_eff = spec.n_combo if spec.n_program > 1 else J
    ci, ce = np.zeros(J), np.zeros(n_eff)
    ci[list(spec.int_centred)] = 1.0
    ce[list(spec.eff_centred)] = 1.0
    out = {"centre_intercept": ci, "centre_effect": ce}
    if spec.n_dept > 1:
        out["centre_intercept_dept"] = np.asarray(float(spec.dept_int_centred))
        out["centre_effect_dept"] = np.asarray(float(spec.dept_eff_centred))
    return out


def time_bases(spec: "GLMSpec") -> dict:
    """The padded zero-sum bases of the period effects and event-time deviations (data)."""
    out = {}
    if spec.n_period > 1:
        out["period_basis"] = padded_zero_sum_basis(spec.n_period, time_slots(spec.n_period))
    if spec.n_event > 1:
        out["event_basis"] = padded_zero_sum_basis(spec.n_event, time_slots(spec.n_event))
    return out


def prior_data_names(priors: dict) -> dict:
    """Flat ``pm.Data`` names for prior parameters: ``p__<prior>__<param>``."""
    out = {}
    for name, vals in priors.items():
        for par, v in vals.items():
            if par != "dist":
                out[f"p__{name}__{par}"] = np.asarray(float(v))
    return out


#: data whose size the structure key fixes (team and time slots, combinations): their static
#: shape goes into the graph (see build_model)
STRUCTURE_SIZED = ("centre_intercept", "centre_effect", "treated_weight", "intercept_weight",
                   "dept_of_team",
                   "combo_program", "combo_team", "period_basis", "event_basis")


def build_model(spec: GLMSpec, data: dict, priors: dict) -> pm.Model:
    """The PyMC graph. All arrays and prior parameters are ``pm.Data`` (swappable).

    The arrays sized by the structure (:data:`STRUCTURE_SIZED`: slots, not the data's teams or
    periods) get their shape as a static shape; the cells' arrays stay resizable. Why: with an
    unknown length, PyTensor checks at run time that e.g. ``centre_intercept`` has the team
    slots' length (``SpecifyShape``), and Numba's version of that check, with its error
    message, took 1.4-2 CPU-s to compile on an empty cache in every model with team
    parameters (manager_coaching, 2 cores). ``CachedPyMCModel.with_data`` refuses another size.
    """
    J, fam = (team_slots(spec.J) if spec.hier else spec.J), get_family(spec.family)
    coords = {"team": np.arange(J), "department": np.arange(spec.n_dept),
              "period": np.arange(time_slots(spec.n_period)),
              "event_time": np.arange(time_slots(spec.n_event)),
              "covariate": np.arange(spec.K)}
    multi = spec.n_program > 1
    if multi:
        coords.update(program=np.arange(spec.n_program), combo=np.arange(spec.n_combo))
    with pm.Model(coords=coords) as model:
        d = {k: pm.Data(k, v, **({"shape": np.shape(v)} if k in STRUCTURE_SIZED else {}))
             for k, v in data.items()}
        p = {k: pm.Data(k, v) for k, v in prior_data_names(priors).items()}

        def P(name, par):
            return p[f"p__{name}__{par}"]

        # --- intercepts -------------------------------------------------------------------
        # few teams for their spread: intercept_mean is derived from the chosen teams' mean
        # intercept (_intercepts_through_teams), which is what is sampled
        through_teams = spec.hier and bool(spec.int_mean_teams) and fam.has_intercept
        if through_teams:
            intercept_mean = pt.constant(0.0)  # the teams' offsets below are added to it
        elif fam.has_intercept:
            intercept_mean = pm.Normal("intercept_mean", P("intercept_mean", "mu"),
                                       P("intercept_mean", "sigma"))
        else:
            intercept_mean = pt.constant(0.0)
        # one program with teams: effect_mean is derived from the treated teams' mean effect,
        # which is what is sampled (_treated_team_effects)
        treated_mean = spec.hier and not multi
        if treated_mean:
            m_treated = pm.Flat("effect_mean_treated")
        else:
            effect_mean = pm.Normal("effect_mean", P("effect_mean", "mu"),
                                    P("effect_mean", "sigma"))
        if multi:
            # program means, partially pooled toward the portfolio mean
            sd_prog = pm.HalfNormal("effect_sd_program", P("effect_sd_program", "sigma"))
            if spec.prog_centred:
                mu_prog = pm.Normal("effect_program", effect_mean, sd_prog, dims="program")
            else:
                z_prog = pm.Normal("effect_program_z", 0.0, 1.0, dims="program")
                mu_prog = pm.Deterministic("effect_program", effect_mean + sd_prog * z_prog,
                                           dims="program")
        if spec.hier:
            mu_int = intercept_mean + pt.zeros((J,))
            mu_eff = mu_prog[d["combo_program"]] if multi else pt.zeros((J,))
            if spec.n_dept > 1:
                dept = d["dept_of_team"]
                sd_id = pm.HalfNormal("intercept_sd_dept", P("intercept_sd_dept", "sigma"))
                # sum-to-zero department intercepts (see the module docstring): n_dept - 1 free
                # coordinates mapped onto the sum-zero subspace by a fixed orthonormal basis;
                # the coordinates are centred or not like team parameters (a 0/1 data scalar)
                c_id = d["centre_intercept_dept"] > 0
                z_id = pm.Normal("intercept_dept_z", 0.0, pt.switch(c_id, sd_id, 1.0),
                                 shape=spec.n_dept - 1)
                # H z as a broadcast sum, not pt.dot: see families.base.linear_predictor
                a_d = pm.Deterministic(
                    "intercept_dept", (pt.constant(zero_sum_basis(spec.n_dept))
                                       * pt.switch(c_id, z_id, sd_id * z_id)[None, :]).sum(-1),
                    dims="department")
                sd_ed = pm.HalfNormal("effect_sd_dept", P("effect_sd_dept", "sigma"))
                b_d = _mixed("effect_dept", pt.zeros((spec.n_dept,)), sd_ed,
                             d["centre_effect_dept"] + pt.zeros((spec.n_dept,)), dim="department")
                mu_int = mu_int + a_d[dept]
                mu_eff = mu_eff + (b_d[dept[d["combo_team"]]] if multi else b_d[dept])
            sd_int = pm.HalfNormal("intercept_sd_team", P("intercept_sd_team", "sigma"))
            sd_eff = pm.HalfNormal("effect_sd_team", P("effect_sd_team", "sigma"))
            if through_teams:
                alpha = _intercepts_through_teams(mu_int, sd_int, d["centre_intercept"],
                                                  d["intercept_weight"], P)
            else:
                alpha = _mixed("intercept_team", mu_int, sd_int, d["centre_intercept"])
            if multi:
                theta = _mixed("effect_team", mu_eff, sd_eff, d["centre_effect"], dim="combo")
            else:
                theta = _treated_team_effects(m_treated, mu_eff, sd_eff, d["centre_effect"],
                                              d["treated_weight"], P)
        else:
            alpha = pm.Deterministic("intercept_team", intercept_mean + pt.zeros((1,)), dims="team")
            if multi:
                theta = pm.Deterministic("effect_team", mu_prog[d["combo_program"]], dims="combo")
            else:
                theta = pm.Deterministic("effect_team", effect_mean + pt.zeros((1,)), dims="team")

        c_team, c_D = d["c_team"], d["c_D"]
        a = alpha[c_team]
        eff = theta[d["c_combo"]] if multi else theta[c_team]
        # ZeroSumNormal over the used periods / event times, as H z on padded slots (time_slots)
        if spec.n_period > 1:
            z_p = pm.Normal("period_z", 0.0, P("period_effect", "sigma"),
                            shape=time_slots(spec.n_period) - 1)
            gamma = pm.Deterministic("period_effect", (d["period_basis"] * z_p[None, :]).sum(-1),
                                     dims="period")
            a = a + gamma[d["c_period"]]
        if spec.n_event > 1:
            sd_ev = pm.HalfNormal("event_time_sd", P("event_time_sd", "sigma"))
            z_ev = pm.Normal("event_time_z", 0.0, 1.0, shape=time_slots(spec.n_event) - 1)
            dev = pm.Deterministic("event_time_dev",
                                   sd_ev * (d["event_basis"] * z_ev[None, :]).sum(-1),
                                   dims="event_time")
            eff = eff + dev[d["c_event"]]
        a = a + c_D * eff
        beta = None
        if spec.K:
            beta = pm.Normal("beta", P("beta", "mu"), P("beta", "sigma"), dims="covariate")

        # --- the family's observation model (and its own parameters, created last) ---------
        fam.likelihood(spec, d, P, a, beta)
    return model
