r"""Early-warning pooling: the spike-and-slab model of team changes, computed exactly on a grid.

One job: from each team's window means of one KPI (:func:`window_stats`) to the posterior of
every team's change (:func:`pool_changes`); pure numpy/scipy, no sampler. The KPI and HRIS
series it reads are built by :mod:`lndbayes.skills.kpi_series`; the table, the flags and the
reasons by :mod:`lndbayes.skills.early_warning`.

The model
---------
For team :math:`j` (of :math:`J`) and month :math:`t`,

.. math::

   y_{jt} = \alpha_j + \theta_j \, 1[t \in R] + \gamma_t + \varepsilon_{jt},\qquad
   \varepsilon_{jt} \sim N(0, \sigma_j^2 \lambda_{j,W(t)} / w_{jt}),\qquad \gamma_t \sim N(0, \sigma_\gamma^2)

:math:`\theta_j` is the team's **change** (recent minus baseline level, KPI units or a rate),
:math:`\gamma_t` month shocks common to all teams (a bad month for everybody), and the noise
shrinks with the exposure. :math:`\lambda_{j,W}` is how the noise grows with the level of
window :math:`W` (``VARIANCE``): 1 for normal-type KPIs, the window's rate for counts
(Poisson-like, with half an event added), :math:`p(1-p)` for shares (binomial). The raw change :math:`\delta_j = \bar y_{jR} - \bar y_{jB}`
(exposure-weighted window means) gives

.. math::

   \delta_j = \theta_j + c + e_j,\quad e_j \sim N(0, s_j^2),\quad
   s_j^2 = \tilde\sigma_j^2 \left(\tfrac{\lambda_{jR}}{W_{jR}} + \tfrac{\lambda_{jB}}{W_{jB}}\right),\quad
   c = \bar\gamma_R - \bar\gamma_B \sim N\!\left(0,\ s_c^2 = \sigma_\gamma^2 (\tfrac{1}{n_R} + \tfrac{1}{n_B})\right)

with :math:`W_{jR} = \sum_{t \in R} w_{jt}`. The noise variances are estimated from the
residuals around the window means after removing the month means common to all teams:

* :math:`\tilde\sigma_j^2 = (d_0 \sigma_0^2 + d_j \hat\sigma_j^2) / (d_0 + d_j)`, the team's own
  residual variance (:math:`d_j` degrees of freedom) moderated toward the pooled
  :math:`\sigma_0^2` of all teams with :math:`d_0` = ``PRIOR_DF`` = 8 prior degrees of freedom
  (a scaled inverse-chi-square prior). A single wild month inflates the team's own variance, so
  it cannot by itself make a tight change; the prior keeps a team of zeros from looking exact.
* :math:`\hat\sigma_\gamma^2` = variance of the cross-team month means minus their expected
  noise (method of moments, at least 0; 0 with fewer than 3 teams).

Prior on the changes: spike and slab, for the KPI's overall change and for each team's
deviation from it, so that "no change" is a real possibility and not just a small one:

.. math::

   \theta_j = \mu + u_j,\qquad
   \mu \sim (1-\pi)\,\delta_0 + \pi\, N(0, \sigma_\mu^2),\qquad
   u_j \sim (1-\rho)\,\delta_0 + \rho\, N(0, \tau^2)

* :math:`\pi` = ``P_OVERALL`` = 0.5: a priori the KPI is as likely to have moved for
  everybody as not;
* :math:`\sigma_\mu` uniform on 4 log-spaced values from 0.25 x the median :math:`s_j` to
  3 x (largest :math:`|\delta_j|` + median :math:`s_j`);
* :math:`\rho \sim \text{Beta}(1, 3)` = ``RHO_PRIOR``: the share of teams that deviate from the
  overall change (sceptical: a quarter a priori);
* :math:`\tau` log-uniform (20 values) from ``TAU_MIN`` = 0.25 x the median :math:`s_j`
  (smaller deviations are indistinguishable from none) to 3 x (largest deviation of a
  :math:`\delta_j` from their median + median :math:`s_j`).

Computation (exact up to the grid): the realised common level :math:`m = \mu + c` sits on
nodes: 12 Gauss-Hermite nodes of :math:`N(0, s_c^2)` carry the spike :math:`\mu = 0` (a
single node at 0 when :math:`s_c = 0`), a 61-point grid refined around the likelihood's mass
carries the slab, for each :math:`\sigma_\mu`; :math:`\rho` and :math:`\tau` are on 10 x 20
grids. On every node the likelihood :math:`\prod_j [(1-\rho) N(\delta_j; m, s_j^2) + \rho
N(\delta_j; m, s_j^2+\tau^2)]` is exact. Given a node, :math:`\mu \mid m` is exactly 0 (spike)
or :math:`N(k m, k s_c^2)`, :math:`k = \sigma_\mu^2/(\sigma_\mu^2+s_c^2)` (slab); team
:math:`j` deviates with probability :math:`q_j = \rho N(\delta_j; m, s_j^2+\tau^2) /
p(\delta_j \mid m, \rho, \tau)`, and then :math:`u_j \sim N((1-B_j)(\delta_j - m), (1-B_j)
s_j^2)`, :math:`B_j = s_j^2/(s_j^2+\tau^2)`. So a team that does not deviate carries the
overall change, which is 0 at a spike node; every team's posterior carries the common-shock
variance :math:`s_c^2` (a month that was bad for everybody is not a trend); and a team whose
own numbers are noisy (small, or one wild month) is pulled toward the others.

"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

#: prior degrees of freedom of the team noise variances (moderation toward the pooled variance)
PRIOR_DF = 8.0
#: Beta prior of the share of teams whose change deviates from the KPI's overall change
RHO_PRIOR = (1.0, 3.0)
#: prior probability that the KPI changed for everybody (the overall change mu is not 0)
P_OVERALL = 0.5
#: smallest deviation scale on the tau grid, in units of the median noise sd of the raw changes
TAU_MIN = 0.25
#: a team needs this many months in each window to be assessed
MIN_MONTHS = 2
N_DRAWS = 4000


# ---------------------------------------------------------------------------------------------
# the pooling (pure numpy; see this module's docstring)

def window_stats(tm: pd.DataFrame, rec: tuple[int, int], base: tuple[int, int], variance: str = "constant") -> dict:
    """Window means, raw changes, moderated noise and the common-shock variance of one KPI.

    ``tm`` has team, month, y, w; ``rec`` and ``base`` are inclusive month-index ranges. Teams
    with fewer than MIN_MONTHS months in either window are returned in ``dropped``.
    ``variance``: how a month's noise depends on the window's level ``lam`` (``constant``:
    it does not; ``poisson``: ∝ rate, counts per exposure; ``binomial``: ∝ p(1 - p), shares), so
    that a window whose rate doubled also counts as twice as noisy.
    """
    tm = tm[(tm["month"] >= base[0]) & (tm["month"] <= rec[1])].copy()
    tm["recent"] = tm["month"] >= rec[0]
    counts = tm.groupby(["team", "recent"]).size().unstack(fill_value=0)
    for col in (False, True):
        if col not in counts:
            counts[col] = 0
    ok = (counts[False] >= MIN_MONTHS) & (counts[True] >= MIN_MONTHS)
    dropped = {t: (int(counts.loc[t, True]), int(counts.loc[t, False])) for t in counts.index[~ok]}
    tm = tm[tm["team"].isin(counts.index[ok])]
    teams = sorted(tm["team"].unique())
    if not teams:
        return {"teams": [], "dropped": dropped}
    tm["wy"] = tm["w"] * tm["y"]
    g = tm.groupby(["team", "recent"])
    W = g["w"].sum().unstack().loc[teams]
    mean = (g["wy"].sum().unstack().loc[teams] / W)
    delta = (mean[True] - mean[False]).to_numpy()
    # the level-dependent part of the noise, per team and window; half an event keeps a window
    # without events from looking noise-free
    if variance == "poisson":
        lam = (mean * W + 0.5) / W
    elif variance == "binomial":
        p_ = (mean * W + 0.5) / (W + 1)
        lam = p_ * (1 - p_)
    else:
        lam = mean * 0 + 1.0
    idx = pd.MultiIndex.from_frame(tm[["team", "recent"]])
    tm["lam"] = lam.stack().reindex(idx).to_numpy()
    # residuals around each team's window mean
    tm["r"] = tm["y"] - mean.stack().reindex(idx).to_numpy()
    J = len(teams)
    n_months = tm.groupby("team").size().loc[teams].to_numpy(float)
    if J >= 3:
        gw = tm.groupby("month")
        g_t = (gw.apply(lambda d: np.sum(d["w"] * d["r"]) / np.sum(d["w"]), include_groups=False))
        tm["e"] = tm["r"] - tm["month"].map(g_t).to_numpy()
        dof = (n_months - 2) * (1 - 1 / J)
    else:
        g_t = None
        tm["e"] = tm["r"]
        dof = n_months - 2
    ss = (tm["w"] * tm["e"] ** 2 / tm["lam"]).groupby(tm["team"]).sum().loc[teams].to_numpy()
    dof = np.maximum(dof, 0.5)
    v_own = ss / dof
    v0 = ss.sum() / dof.sum()
    scale = float(np.nanvar(tm["y"])) or 1.0
    v0 = max(v0, 1e-12 * scale)
    v_mod = (PRIOR_DF * v0 + dof * v_own) / (PRIOR_DF + dof)
    s2 = v_mod * (lam[True].to_numpy() / W[True].to_numpy() + lam[False].to_numpy() / W[False].to_numpy())
    s_c2 = 0.0
    n_r = int(tm.loc[tm["recent"], "month"].nunique())
    n_b = int(tm.loc[~tm["recent"], "month"].nunique())
    if g_t is not None:
        vm = dict(zip(teams, v_mod))
        tm["wv"] = tm["w"] * tm["team"].map(vm) * tm["lam"]
        noise = tm.groupby("month").apply(lambda d: d["wv"].sum() / d["w"].sum() ** 2, include_groups=False)
        # month means are centred within each window: df = n_r + n_b - 2; dividing by df - 2
        # (the posterior mean of a scaled inverse-chi-square) rather than df leans against the
        # under-estimates that would make a common bad month look like a trend
        df_g = n_r + n_b - 2
        var_g = float(np.sum(g_t.to_numpy() ** 2)) / max(df_g - 2, 1)
        sigma_g2 = max(0.0, var_g - float(noise.mean()))
        s_c2 = sigma_g2 * (1 / max(n_r, 1) + 1 / max(n_b, 1))
    return {"teams": teams, "delta": delta, "s2": s2, "s_c2": s_c2, "dropped": dropped,
            "base_level": mean[False].to_numpy(), "recent_level": mean[True].to_numpy(),
            "n_recent": n_r, "n_base": n_b}


def _norm_logpdf(x, var):
    return -0.5 * (np.log(2 * np.pi * var) + x ** 2 / var)


def _team_loglik(delta, s2, m, rho, tau):
    """log p(delta_j | m, rho, tau) of the spike-and-slab deviations: shape (M, R, T, J), and the
    log of each team's slab term (log rho + log N(delta_j; m, s_j^2 + tau^2)) of the same shape."""
    l0 = _norm_logpdf(delta[None, :] - m[:, None], s2[None, :])                  # (M, J)
    v1 = s2[None, :] + tau[:, None] ** 2                                           # (T, J)
    l1 = _norm_logpdf(delta[None, None, :] - m[:, None, None], v1[None, :, :])     # (M, T, J)
    a = np.log1p(-rho)[None, :, None, None] + l0[:, None, None, :]
    b = np.log(rho)[None, :, None, None] + l1[:, None, :, :]
    return np.logaddexp(a, b), b


def pool_changes(delta, s2, s_c2: float = 0.0, *, n_draws: int = N_DRAWS, seed: int = 0) -> dict:
    """Posterior of each team's change theta_j under the spike-and-slab model of the docstring.

    ``delta``: raw changes, ``s2``: their noise variances, ``s_c2``: the common-shock variance.
    Returns per team ``mean``, ``p_below`` = P(theta < 0), ``p_above`` = P(theta > 0) (the rest
    is P(theta = 0)), ``draws`` (n_draws x J); and KPI-wide ``overall_mean``, ``overall_sd``,
    ``p_overall`` = P(mu != 0), ``rho_mean`` and ``tau_median``.

    Computation: the realised common level m = mu + c is put on nodes: Gauss-Hermite nodes of
    N(0, s_c^2) carry the prior mass 1 - P_OVERALL of mu = 0 (one node at 0 when s_c = 0), a
    uniform grid carries mu ~ N(0, sigma_mu^2) (prior density times the step, for each of the
    sigma_mu values). On each node x rho x tau the likelihood is exact; given the node, mu | m is
    0 (spike) or N(k m, k s_c^2) with k = sigma_mu^2 / (sigma_mu^2 + s_c^2) (slab).
    """
    delta = np.asarray(delta, float)
    s2 = np.asarray(s2, float)
    J = len(delta)
    s = np.sqrt(s2)
    s_c = float(np.sqrt(max(s_c2, 0.0)))
    med_s = float(np.median(s))
    spread = float(np.max(np.abs(delta - np.median(delta)))) + med_s
    tau = np.geomspace(TAU_MIN * med_s, 3 * spread, 20)            # log-uniform prior on tau
    sig_mu = np.geomspace(max(TAU_MIN, 0.25) * med_s, 3 * (float(np.max(np.abs(delta))) + med_s), 4)
    rho = (np.arange(10) + 0.5) / 10
    log_prior_rho = stats.beta.logpdf(rho, *RHO_PRIOR)
    log_prior_rho -= special.logsumexp(log_prior_rho)

    def marg_ll(m):                                              # (M, R, T): sum over teams
        lj, _ = _team_loglik(delta, s2, m, rho, tau)
        return lj.sum(-1)

    # the slab grid of m: wide first, then refined around the likelihood's mass
    m_w = np.linspace(np.min(delta - 4 * s), np.max(delta + 4 * s), 121)
    lm = special.logsumexp(marg_ll(m_w) + log_prior_rho[None, :, None], axis=(1, 2))
    cdf = np.cumsum(np.exp(lm - special.logsumexp(lm)))
    step = m_w[1] - m_w[0]
    lo = m_w[max(np.searchsorted(cdf, 1e-6) - 1, 0)] - step
    hi = m_w[min(np.searchsorted(cdf, 1 - 1e-6) + 1, len(m_w) - 1)] + step
    m_slab = np.linspace(lo, hi, 61)
    dm = m_slab[1] - m_slab[0]
    # nodes: (m, log prior weight, k, v) with mu | m ~ N(k m, v)
    if s_c > 0:
        x, wx = special.roots_hermite(12)
        m_spike, lw_spike = np.sqrt(2) * s_c * x, np.log(wx / np.sqrt(np.pi))
    else:
        m_spike, lw_spike = np.zeros(1), np.zeros(1)
    sm = np.repeat(sig_mu, len(m_slab))
    mm = np.tile(m_slab, len(sig_mu))
    node_m = np.concatenate([m_spike, mm])
    node_lw = np.concatenate([np.log1p(-P_OVERALL) + lw_spike,
                              np.log(P_OVERALL) - np.log(len(sig_mu)) + np.log(dm)
                              + _norm_logpdf(mm, sm ** 2 + s_c ** 2)])
    k = np.concatenate([np.zeros(len(m_spike)), sm ** 2 / (sm ** 2 + s_c ** 2)])
    v = k * s_c ** 2
    is_slab = np.arange(len(node_m)) >= len(m_spike)
    # likelihood on the unique m values (the slab grid repeats per sigma_mu)
    um, inv = np.unique(node_m, return_inverse=True)
    lj, lb = _team_loglik(delta, s2, um, rho, tau)                                 # (U, R, T, J)
    lp = lj.sum(-1)[inv] + node_lw[:, None, None] + log_prior_rho[None, :, None]    # (N, R, T)
    W = np.exp(lp - lp.max())
    W /= W.sum()
    # keep the grid points that hold all but 1e-6 of the posterior mass (a few thousand)
    flat = np.sort(W.ravel())[::-1]
    cut = flat[min(np.searchsorted(np.cumsum(flat), 1 - 1e-6), len(flat) - 1)]
    keep = W >= cut
    Wk = W[keep] / W[keep].sum()
    Ni, Ri, Ti = np.nonzero(keep)
    Ui = inv[Ni]
    q = np.exp(lb[Ui, Ri, Ti, :] - lj[Ui, Ri, Ti, :])                              # (G, J) P(team deviates)
    mg, kg, vg, tg = node_m[Ni][:, None], k[Ni][:, None], v[Ni][:, None], tau[Ti][:, None]
    B = s2[None, :] / (s2[None, :] + tg ** 2)
    null_mean = kg * mg                                                            # theta = mu
    slab_mean = null_mean + (1 - B) * (delta[None, :] - mg)                        # theta = mu + u_j
    slab_sd = np.sqrt(vg + (1 - B) * s2[None, :])
    null_sd = np.sqrt(vg)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(null_sd > 0, -null_mean / np.where(null_sd > 0, null_sd, 1), 0.0)
    # P(theta < 0) of a team that does not deviate: with sd 0 theta is exactly k m, which is
    # exactly 0 at a spike node (no change: neither below nor above)
    nb = np.where(null_sd > 0, special.ndtr(z0), null_mean < 0)
    na = np.where(null_sd > 0, special.ndtr(-z0), null_mean > 0)
    sb = special.ndtr(-slab_mean / slab_sd)
    p_below = Wk @ ((1 - q) * nb + q * sb)
    p_above = Wk @ ((1 - q) * na + q * (1 - sb))
    mean = Wk @ ((1 - q) * null_mean + q * slab_mean)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(Wk), size=n_draws, p=Wk)
    z = rng.standard_normal((n_draws, J))
    dev = rng.random((n_draws, J)) < q[idx]
    draws = np.where(dev, slab_mean[idx] + slab_sd[idx] * z, null_mean[idx] + null_sd[idx] * z)
    mu_mean = float(Wk @ null_mean[:, 0])
    mu_var = float(Wk @ (vg[:, 0] + null_mean[:, 0] ** 2)) - mu_mean ** 2
    tau_cdf = np.cumsum(np.bincount(Ti, weights=Wk, minlength=len(tau)))
    return {"mean": mean, "p_below": np.clip(p_below, 0, 1), "p_above": np.clip(p_above, 0, 1),
            "draws": draws, "overall_mean": mu_mean, "overall_sd": float(np.sqrt(max(mu_var, 0.0))),
            "p_overall": float(Wk @ is_slab[Ni]), "rho_mean": float(Wk @ rho[Ri]),
            "tau_median": float(tau[min(np.searchsorted(tau_cdf, 0.5), len(tau) - 1)])}
