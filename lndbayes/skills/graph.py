"""The skill model's PyMC graphs (the math, the priors and the parametrisation: the docstring of
:mod:`lndbayes.skills.model`).

One job: from :class:`lndbayes.skills.model.ModelInputs` to a ``pm.Model``, either with every
level and drift sampled or with the hierarchy's Gaussian parts integrated out
(:mod:`lndbayes.skills.levels`; which one: ``inputs.levels_integrated``). The model's constants
are read from :mod:`lndbayes.skills.model` when a graph is built (benchmarks change
``DRIFT_NU`` there).
"""

from __future__ import annotations

import numpy as np

from lndbayes.skills import model as M
from lndbayes.skills.levels import (BETA_PRIOR, LEVEL_SD_PRIOR, MU_PRIOR, draw_drifts, draw_levels, drift_prior,
                                    integrate_levels, level_spreads)


def _student_t_logp(value, mu, sigma, nu, const):
    """PyMC's StudentT log-density with its nu-only constant given as data (the same function).
    Why: the prior's log-gamma terms of 2,752 pairs were ~10% of a gradient evaluation at
    20,000 employees (benchmarks/results/skill_gaps.md, session 19)."""
    import pytensor.tensor as pt

    z = (value - mu) / sigma
    return const - pt.log(sigma) - 0.5 * (nu + 1.0) * pt.log1p(z * z / nu)


def _student_t_dist(mu, sigma, nu, const, size):
    import pymc as pm

    return pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size)


def build_model(inputs: M.ModelInputs):
    """The PyMC graph (see the module docstring for the math, the priors and the parametrisation).

    ``inputs.levels_integrated`` picks the graph (:func:`lndbayes.skills.levels.levels_integrated_for`):
    the levels and the skill and department drifts integrated out (:mod:`lndbayes.skills.levels`),
    or everything sampled, levels and drifts centred net of the gains' line (the graph of
    sessions 9-30, unchanged, so organisations that use it get the same draws)."""
    import pymc as pm

    with pm.Model() as model:
        D = {k: pm.Data(k, v, **M._data_shape(k, v)) for k, v in inputs.arrays.items()}
        (_integrated_graph if inputs.levels_integrated else _sampled_graph)(D, inputs.sizes)
    return model


def _zero_sum(D, S):
    import pytensor.tensor as pt

    def zero_sum(z):
        """z minus its skill's mean, rescaled: offsets that sum to 0 within each skill."""
        z_bar = pt.inc_subtensor(pt.zeros(S["skills"])[D["ds_skill"]], z * D["ds_inv_n"])
        return (z - z_bar[D["ds_skill"]]) * D["ds_scale"]
    return zero_sum


def _gain_terms(D, S, with_level: bool):
    """The gains, half-life and quarter shock, and each cell's gain term (pairs x slots) with the
    slope (and, ``with_level``, the level) of each pair's weighted least-squares line through its
    gain terms."""
    import pymc as pm
    import pytensor.tensor as pt

    # the gains in coordinates that mix (see the docstring): their mean over the real program
    # x skill pairs and their zero-sum deviations, each a standard normal times its prior sd
    # (gain_mean integrated out), then gain_mean from its exact conditional given the gains
    gain_c = pm.Normal("gain_c", 0.0, 1.0)
    gain_z = pm.Normal("gain_z", 0.0, 1.0, shape=S["program_skills"] - 1)
    gain = pm.Deterministic("gain", D["ps_real"] * D["gain_scales"][0] * gain_c
                            + M.GAIN_SD * (D["gain_basis"] * gain_z[None, :]).sum(-1))
    gain_mean_z = pm.Normal("gain_mean_z", 0.0, 1.0)
    pm.Deterministic("gain_mean", D["gain_scales"][1] * gain.sum() + D["gain_scales"][2] * gain_mean_z)
    half_life = pm.LogNormal("half_life", np.log(M.HALF_LIFE_PRIOR_YEARS), M.HALF_LIFE_PRIOR_SD_LOG)
    sd_q = pm.HalfNormal("sd_q", 0.1)

    contrib = D["e_share"] * gain[D["e_ps"]] * pt.exp2(-D["age_level"] / half_life)[D["e_age_idx"]]
    # the cells as a pairs x slots matrix (see the docstring): the gain terms land in their
    # slots, and each pair's sums of w g and w t g for the least-squares line through its gain
    # terms are row sums (data-only sums precomputed)
    mask = D["cell_mask"]
    g_slots = pt.inc_subtensor(pt.zeros(mask.shape[0] * mask.shape[1])[D["e_slot"]], contrib)
    g_cell = g_slots.reshape(mask.shape)
    g0 = (D["w"] * g_cell).sum(axis=1)
    g1 = (D["wt"] * g_cell).sum(axis=1)
    g_slope = D["line_s0"] * g1 - D["line_s1"] * g0
    g_level = (g0 - g_slope * D["line_m1"]) * D["line_inv_s0"] if with_level else None
    return sd_q, g_cell, g_slope, g_level


def _sampled_graph(D, S):
    """Levels and drifts sampled (the variables in this order: it sets the draws)."""
    import pymc as pm
    import pytensor.tensor as pt

    zero_sum = _zero_sum(D, S)
    real = D["pair_real"] > 0
    pair_skill, pair_ds = D["pair_skill"], D["pair_ds"]
    mu = pm.Normal("mu", *MU_PRIOR, shape=S["skills"])
    beta = pm.Normal("beta", *BETA_PRIOR, shape=S["skills"])
    sd_dept_a = pm.HalfNormal("sd_dept_a", LEVEL_SD_PRIOR)
    sd_dept_b = pm.HalfNormal("sd_dept_b", M.DRIFT_DEPT_SD_PRIOR)
    dept_a_z = pm.Normal("dept_a_z", 0.0, 1.0, shape=S["dept_skills"])
    dept_b_z = pm.Normal("dept_b_z", 0.0, 1.0, shape=S["dept_skills"])
    dept_a = pm.Deterministic("dept_a", sd_dept_a * zero_sum(dept_a_z))
    dept_b = pm.Deterministic("dept_b", sd_dept_b * zero_sum(dept_b_z))
    sd_a = pm.HalfNormal("sd_a", LEVEL_SD_PRIOR)
    sd_b = pm.HalfNormal("sd_b", M.DRIFT_SD_PRIOR)
    sd_q, g_cell, g_slope, g_level = _gain_terms(D, S, with_level=True)

    a_mean = pt.switch(real, mu[pair_skill] + dept_a[pair_ds] + g_level, 0.0)
    b_mean = pt.switch(real, beta[pair_skill] + dept_b[pair_ds] + g_slope, 0.0)
    a_raw = pm.Normal("a_raw", a_mean, pt.switch(real, sd_a, 1.0), shape=S["pairs"])
    b_sd = pt.switch(real, sd_b, 1.0)
    b_raw = (pm.Normal("b_raw", b_mean, b_sd, shape=S["pairs"]) if M.DRIFT_NU is None else
             pm.CustomDist("b_raw", b_mean, b_sd, D["b_nu"], D["b_t_const"], dist=_student_t_dist,
                           logp=_student_t_logp, shape=S["pairs"]))
    pm.Deterministic("a", a_raw - g_level)
    pm.Deterministic("b", b_raw - g_slope)
    theta = (a_raw - g_level)[:, None] + (b_raw - g_slope)[:, None] * D["t"] + g_cell
    # Normal(theta, sqrt(se^2 + sd_q^2)) log-density of the cell means, written with the
    # variance: no square root per cell (~6% of a gradient evaluation at 20,000 employees);
    # empty slots masked out
    var = D["se2"] + sd_q ** 2
    pm.Potential("loglik", -0.5 * (D["cell_mask"] * ((D["y"] - theta) ** 2 / var + pt.log(var)
                                                     + np.log(2.0 * np.pi))).sum())


def _integrated_graph(D, S):
    """The levels, skill drifts and department drift offsets integrated out and drawn back from
    their exact conditionals (:mod:`lndbayes.skills.levels`); the sampler moves the spreads, the
    gains, the team drifts (net of their gains' slope) with their t scales, and standard normals."""
    import pymc as pm

    zero_sum = _zero_sum(D, S)
    sd_dept_b = pm.HalfNormal("sd_dept_b", M.DRIFT_DEPT_SD_PRIOR)
    sd_a, sd_dept_a = level_spreads()
    sd_b = pm.HalfNormal("sd_b", M.DRIFT_SD_PRIOR)
    sd_q, g_cell, g_slope, _ = _gain_terms(D, S, with_level=False)
    b_raw = pm.Flat("b_raw", shape=S["pairs"], initval=np.zeros(S["pairs"]))
    b = pm.Deterministic("b", b_raw - g_slope)
    # the drifts' Student-t as its scale mixture: lambda ~ Gamma(nu/2, rate nu/2) per pair
    # multiplies each team drift's prior precision (padding pairs' lambda is read by nothing)
    precision_mix = (None if M.DRIFT_NU is None else
                     pm.Gamma("drift_precision_mix", M.DRIFT_NU / 2.0, M.DRIFT_NU / 2.0, shape=S["pairs"]))
    drift_ll, drift_parts = drift_prior(b, D, S, sd_b, sd_dept_b, precision_mix)
    pm.Potential("drift_prior", drift_ll)
    loglik, parts = integrate_levels(D["y"] - b[:, None] * D["t"] - g_cell, D["se2"] + sd_q ** 2,
                                     D["cell_mask"], D, S, sd_a, sd_dept_a)
    pm.Potential("loglik", loglik)
    draw_levels(parts, D, S, sd_dept_a, zero_sum)
    draw_drifts(drift_parts, D, S, sd_dept_b, zero_sum)
