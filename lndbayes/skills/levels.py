r"""The skill model's hierarchy integrated out where it cannot be sampled well: levels and drifts.

One job: the closed-form marginals of the Gaussian parts of the skill model's hierarchy
(:mod:`lndbayes.skills.model`), and the exact conditional draws that give them back: the levels
(skill means, department offsets, team levels) out of the cells' likelihood, and the skill
drifts and department drift offsets out of the team drifts' prior (:func:`drift_prior`). PyTensor
on the model's arrays (the draws declare their standard normals); the graph that calls it is
:func:`lndbayes.skills.model.build_model` (where :func:`levels_integrated_for` says so).

The model (unchanged)
---------------------
Given everything else (drifts, gains, half-life, ``sd_q``), each cell's residual
:math:`r_c = \bar y_c - \bar\alpha_c - b_{js}(t_c - t_0) - g_c` is the level of its pair plus noise,
and the levels are Gaussian all the way up:

.. math::

    r_c \sim \mathcal N(a_{js}, v_c),\quad v_c = se_c^2 + \sigma_q^2;\qquad
    a_{js} \sim \mathcal N(\mu_s + \delta^a_{ds}, \sigma_a^2);\qquad
    \delta^a_{\cdot s} \sim \text{ZeroSumNormal}(\sigma^a_{dept});\qquad
    \mu_s \sim \mathcal N(2.5, 1.5^2).

So the levels can be integrated out exactly, one stage at a time (each stage's sums are over
the stage below):

1. *cells -> pair*: with :math:`P_j = \sum_c 1/v_c`, :math:`\bar r_j = P_j^{-1}\sum_c r_c / v_c`,
   the cells give :math:`\mathcal N(\bar r_j; a_j, 1/P_j)` times a within-pair factor;
2. *pairs -> department*: :math:`\bar r_j \sim \mathcal N(\mu_s + \delta_d, u_j)`,
   :math:`u_j = \sigma_a^2 + 1/P_j`; with :math:`W_d = \sum_{j \in d} 1/u_j` and
   :math:`M_d = W_d^{-1} \sum_j \bar r_j / u_j`, the pairs give :math:`\mathcal N(M_d; \mu_s +
   \delta_d, 1/W_d)` times a within-department factor;
3. *departments -> skill*: the :math:`k` departments' :math:`M_d` of a skill are jointly normal,
   mean 2.5 and covariance :math:`\text{diag}(A_d) + \gamma\,\mathbf 1\mathbf 1^\top` with
   :math:`A_d = 1/W_d + c`, :math:`c = \sigma_{dept}^{a\,2}\,k/(k-1)` (0 for a one-department
   skill: the zero-sum offsets' covariance is :math:`c(I - \mathbf 1\mathbf 1^\top/k)`) and
   :math:`\gamma = 1.5^2 - c/k`. Sherman-Morrison and the determinant lemma give its density
   from three sums per skill: :math:`H = \sum_d 1/A_d`, :math:`D = 1 - (c/k) H = k^{-1}
   \sum_d (1/W_d)/A_d` (written so, without the cancellation) and :math:`G = 1 + \gamma H = D +
   1.5^2 H`.

The levels come back through exact conditional draws, each driven by standard normals that
the sampler carries (independent of everything in the joint, so they mix at once):

* :math:`\mu_s \mid \text{rest}`: precision :math:`H/D + 1/1.5^2`, mean
  :math:`(\sum_d M_d/A_d / D + 2.5/1.5^2) / \text{precision}` (``mu_z``);
* :math:`\delta^a \mid \mu, \text{rest}` by Matheron's rule: a prior draw
  :math:`\delta^* = \sigma^a_{dept}\,\text{zerosum}(z)` and noise :math:`\epsilon^*_d = n_d /
  \sqrt{W_d}` are conditioned on the residuals :math:`e_d = M_d - \mu_s`:
  :math:`\delta = \delta^* + C\,\Sigma^{-1}(e - \delta^* - \epsilon^*)`, :math:`\Sigma = C +
  \text{diag}(1/W)` (``dept_a_prior_z``, ``dept_a_noise_z``);
* :math:`a_j \mid \delta, \mu, \text{rest}`: precision :math:`P_j + 1/\sigma_a^2`, written so
  that :math:`\sigma_a \to 0` stays finite (``a_z``).

The drifts (:func:`drift_prior`) are the same stages 2-3 one level down: the team drifts' Student-t
(2 df) is written as its scale mixture, a normal with variance :math:`\sigma_b^2/\lambda_j` and
:math:`\lambda_j \sim` Gamma(1, rate 1) (the same t marginally), so given the scales the team
drifts are the pairs' "observations" of the Gaussian skill drifts :math:`\beta_s \sim \mathcal
N(0, 0.25^2)` plus zero-sum department offsets, which integrate out and are drawn back the same
way (``beta_z``, ``dept_b_prior_z``, ``dept_b_noise_z``).

Why (docs/skill-gaps.md, "Sampling"): in small organisations a department often has one team
with a skill, so the team and department spreads are one spread the data cannot split, and each
end of that ridge was a funnel for whatever was sampled under them (``sd_a`` -> 0 pinned every
centred level and each skill's mean; a large department spread pinned the non-centred offsets;
the same for the drifts). At 200 employees every forecast fit failed its checks after the whole
retry ladder (first attempts: R-hat up to 1.27, ESS down to 5, divergences in every one). With the levels alone integrated out, 6 of
12 still failed, on ``sd_b`` and ``beta``; with the drifts' hierarchy too, see
benchmarks/results/skill_small_orgs.md. The sampler moves the spreads (the level spreads in
polar coordinates, :func:`level_spreads`), the gains, the team drifts with their scales, and
independent standard normals. Only there (:func:`levels_integrated_for`): a gradient of the
integrated model costs more, and at 20,000 employees (80-119 teams per department x skill) a fit
with the levels integrated sampled 40-45% longer with nothing to gain.
"""

from __future__ import annotations

import numpy as np

#: prior of each skill's mean level mu_s (0-5 scale)
MU_PRIOR = (2.5, 1.5)
#: prior of each skill's mean drift beta_s (points a year)
BETA_PRIOR = (0.0, 0.25)
#: prior sd of both level spreads, sd_a (teams) and sd_dept_a (departments): HalfNormal
LEVEL_SD_PRIOR = 0.5
#: the levels are integrated out when the median department x skill group has at most this many
#: teams (:func:`levels_integrated_for`)
INTEGRATE_MAX_TEAMS = 2
_LOG_2PI = float(np.log(2.0 * np.pi))


def levels_integrated_for(teams_per_group) -> bool:
    """Whether the skill model integrates the levels out, from the number of teams in each
    department x skill group."""
    teams = np.asarray(teams_per_group)
    return bool(len(teams)) and float(np.median(teams)) <= INTEGRATE_MAX_TEAMS


def level_spreads():
    r"""``sd_a`` and ``sd_dept_a`` (both HalfNormal(:data:`LEVEL_SD_PRIOR`) a priori) from polar
    coordinates: the total :math:`\rho = \sqrt{\sigma_a^2 + \sigma_{dept}^2}` and the angle
    :math:`\phi`, :math:`\sigma_a = \rho\sin\phi`, :math:`\sigma_{dept} = \rho\cos\phi`. Two
    independent half-normals of one scale :math:`s` are exactly :math:`\rho \sim` Rayleigh(s)
    (a Weibull with shape 2, scale :math:`s\sqrt 2`) and :math:`\phi \sim U(0, \pi/2)`, so the
    prior is the same. Why: where the data say only how far teams' levels spread, not how much of
    it is between departments, the posterior lies roughly along :math:`\phi` (the data pin
    :math:`\sigma_a^2 + \sigma_{dept}^2\,k/(k-1)` per skill of :math:`k` departments, so not
    exactly) instead of on a quarter circle in the two sds."""
    import pymc as pm
    import pytensor.tensor as pt

    total = pm.Weibull("level_sd_total", alpha=2.0, beta=LEVEL_SD_PRIOR * np.sqrt(2.0))
    angle = pm.Uniform("level_sd_angle", 0.0, np.pi / 2)
    sd_a = pm.Deterministic("sd_a", total * pt.sin(angle))
    sd_dept_a = pm.Deterministic("sd_dept_a", total * pt.cos(angle))
    return sd_a, sd_dept_a


def _segment_sum(values, index, size):
    import pytensor.tensor as pt

    shape = (size,) if values.ndim == 1 else (size, values.shape[1])
    return pt.inc_subtensor(pt.zeros(shape)[index], values)


def _group_marginal(x, u, D, sizes, sd_dept, prior):
    """Stages 2-3 of the module docstring for any pair-level quantity: the log density of the
    pairs' ``x_j ~ N(m_s + delta_d, u_j)`` with the zero-sum department offsets (sd ``sd_dept``)
    and each skill's mean ``m_s ~ N(*prior)`` integrated out; and the sums the draws need.
    Padding pairs (``pair_real`` 0) are left out."""
    import pytensor.tensor as pt

    realf = D["pair_real"]
    ds_skill, inv_k = D["ds_skill"], D["ds_inv_n"]
    n_ds, n_sk = sizes["dept_skills"], sizes["skills"]
    # pairs -> department: W and the weighted sum of x per department, in one scatter
    per_ds = _segment_sum(pt.stack([realf / u, realf * x / u], axis=1), D["pair_ds"], n_ds)
    W, Sw = per_ds[:, 0], per_ds[:, 1]
    M = Sw / W
    ll_ds = (-0.5 * (realf * (x ** 2 / u + _LOG_2PI + pt.log(u))).sum()
             + (0.5 * Sw * M + 0.5 * (_LOG_2PI - pt.log(W))).sum())
    # departments -> skill, the skill's mean integrated out too
    m0, m_sd = prior
    c = sd_dept ** 2 * D["ds_scale"] ** 2            # c = sd^2 k / (k - 1); 0 for one department
    c_over_k = c * inv_k
    A = 1.0 / W + c
    e = M - m0
    H = _segment_sum(1.0 / A, ds_skill, n_sk)
    Dk = _segment_sum(inv_k / (W * A), ds_skill, n_sk)
    G = Dk + m_sd ** 2 * H
    gamma = m_sd ** 2 - _segment_sum(c_over_k * inv_k, ds_skill, n_sk)
    Se = _segment_sum(e / A, ds_skill, n_sk)
    ll_skill = (-0.5 * (n_ds * _LOG_2PI + pt.log(A).sum() + (e ** 2 / A).sum() + pt.log(G).sum())
                + 0.5 * (gamma * Se ** 2 / G).sum())
    parts = {"W": W, "M": M, "A": A, "c": c, "c_over_k": c_over_k, "H": H, "Dk": Dk,
             "SM": _segment_sum(M / A, ds_skill, n_sk), "prior": prior}
    return ll_ds + ll_skill, parts


def _draw_group(parts, D, sizes, sd_dept, zero_sum, names):
    """Each skill's mean and the department offsets of :func:`_group_marginal` from their exact
    conditionals, through the standard normals ``<mean>_z``, ``<offsets>_prior_z`` and
    ``<offsets>_noise_z``; ``names``: (mean, offsets)."""
    import pymc as pm
    import pytensor.tensor as pt

    mean_name, dept_name = names
    p = parts
    m0, m_sd = p["prior"]
    n_ds, n_sk = sizes["dept_skills"], sizes["skills"]
    ds_skill = D["ds_skill"]
    mean_z = pm.Normal(f"{mean_name}_z", 0.0, 1.0, shape=n_sk)
    prec = p["H"] / p["Dk"] + 1.0 / m_sd ** 2
    mean = pm.Deterministic(mean_name, (p["SM"] / p["Dk"] + m0 / m_sd ** 2) / prec + mean_z / pt.sqrt(prec))
    # Matheron's rule: a prior draw of the offsets and of the departments' noise, conditioned
    dept_z = pm.Normal(f"{dept_name}_prior_z", 0.0, 1.0, shape=n_ds)
    noise_z = pm.Normal(f"{dept_name}_noise_z", 0.0, 1.0, shape=n_ds)
    prior_draw = sd_dept * zero_sum(dept_z)
    v = p["M"] - mean[ds_skill] - prior_draw - noise_z / pt.sqrt(p["W"])
    v_over_A = v / p["A"]
    sigma_inv_v = v_over_A + p["c_over_k"] / p["A"] * (_segment_sum(v_over_A, ds_skill, n_sk) / p["Dk"])[ds_skill]
    within_mean = _segment_sum(sigma_inv_v * D["ds_inv_n"], ds_skill, n_sk)[ds_skill]
    dept = pm.Deterministic(dept_name, prior_draw + p["c"] * (sigma_inv_v - within_mean))
    return mean, dept


def integrate_levels(r, var, mask, D, sizes, sd_a, sd_dept_a):
    """The cells' log likelihood with the levels integrated out (stages 1-3 of the module
    docstring), and the sums the conditional draws need.

    ``r``, ``var``, ``mask``: pairs x slots residuals, variances and cell mask; ``D``: the
    model's data (``pair_real``, ``pair_ds``, ``ds_skill``, ``ds_inv_n``, ``ds_scale``)."""
    import pytensor.tensor as pt

    real = D["pair_real"] > 0
    realf = D["pair_real"]
    # 1. cells -> pair (padding pairs have no cells: P = 0, masked below). Only P and S are
    # needed per pair; the rest of the within-pair factor is one sum over all cells (speed: each
    # per-row sum is a reduction and a broadcast in the gradient)
    prec = mask / var
    P = prec.sum(axis=1)
    P_safe = pt.switch(real, P, 1.0)
    S = (prec * r).sum(axis=1)
    r_bar = S / P_safe
    ll_cells = (-0.5 * (mask * (pt.log(var) + _LOG_2PI) + prec * r * r).sum()
                + (realf * (0.5 * S * r_bar + 0.5 * (_LOG_2PI - pt.log(P_safe)))).sum())
    # 2.-3. pairs -> department -> skill
    sa2 = sd_a ** 2
    ll_groups, parts = _group_marginal(r_bar, sa2 + 1.0 / P_safe, D, sizes, sd_dept_a, MU_PRIOR)
    return ll_cells + ll_groups, {**parts, "P": P, "S": S, "sa2": sa2}


def draw_levels(parts, D, sizes, sd_dept_a, zero_sum):
    """``mu``, ``dept_a`` and ``a`` from their exact conditionals (module docstring), through the
    standard normals ``mu_z``, ``dept_a_prior_z``, ``dept_a_noise_z`` and ``a_z`` declared here.
    ``zero_sum``: the model's map of standard normals to offsets summing to 0 within a skill."""
    import pymc as pm
    import pytensor.tensor as pt

    mu, dept_a = _draw_group(parts, D, sizes, sd_dept_a, zero_sum, ("mu", "dept_a"))
    # each pair's level given its department's: written so that sd_a -> 0 stays finite
    p = parts
    a_z = pm.Normal("a_z", 0.0, 1.0, shape=sizes["pairs"])
    m = mu[D["pair_skill"]] + dept_a[D["pair_ds"]]
    shrink = p["sa2"] / (p["sa2"] * p["P"] + 1.0)
    a = pt.switch(D["pair_real"] > 0, m + shrink * (p["S"] - p["P"] * m) + pt.sqrt(shrink) * a_z, 0.0)
    return mu, dept_a, pm.Deterministic("a", a)


def drift_prior(x, D, sizes, sd_b, sd_dept_b, precision_mix=None):
    r"""The team drifts' prior with the skill drifts :math:`\beta_s` and department drift offsets
    integrated out, and the sums their draws need (:func:`draw_drifts`).

    ``x``: each pair's drift net of its gains' slope (the sampler's ``b_raw`` minus it). The
    drifts are Student-t with :math:`\nu` degrees of freedom around their department's, written
    as the scale mixture :math:`x_j \mid \lambda_j \sim \mathcal N(\beta_s + \delta^b_d,
    \sigma_b^2/\lambda_j)` with ``precision_mix`` :math:`\lambda_j \sim \text{Gamma}(\nu/2,
    \text{rate } \nu/2)` (the same t marginally; the caller declares it); given the
    :math:`\lambda`, :math:`\beta_s \sim \mathcal N(0, 0.25^2)` and the zero-sum offsets are
    Gaussian and integrate out as the levels' stages 2-3. ``precision_mix`` None: normal drifts
    (:math:`\lambda = 1`). Padding pairs get a standard normal."""
    import pytensor.tensor as pt

    real = D["pair_real"] > 0
    u = pt.switch(real, sd_b ** 2 if precision_mix is None else sd_b ** 2 / precision_mix, 1.0)
    ll, parts = _group_marginal(x, u, D, sizes, sd_dept_b, BETA_PRIOR)
    ll_padding = pt.switch(real, 0.0, -0.5 * x ** 2 - 0.5 * _LOG_2PI).sum()
    return ll + ll_padding, parts


def draw_drifts(parts, D, sizes, sd_dept_b, zero_sum):
    """``beta`` and ``dept_b`` from their exact conditionals given the team drifts and their
    scales (:func:`drift_prior`)."""
    return _draw_group(parts, D, sizes, sd_dept_b, zero_sum, ("beta", "dept_b"))
