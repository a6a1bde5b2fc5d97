r"""Centred or non-centred parameters, chosen from the data (which is data to the graph, not structure).

Centred or non-centred is chosen **per team**: :func:`choose_centering` compares a crude
link-scale standard error of each team's intercept (effect) with a method-of-moments estimate
of the between-team sd (within departments, as in the model):
:math:`\kappa_j = \hat\tau^2/\mathrm{se}_j^2`. Teams whose data dominate
(:math:`\kappa_j > 8`, a wide margin because the DerSimonian-Laird estimate of :math:`\tau` is noisy and a wrongly centred small team diverges, while a wrongly non-centred large team only mixes more slowly) get centred parameters, the others non-centred ones. Which teams are centred is a 0/1 data
vector (``centre_intercept``, ``centre_effect``), not graph structure, so a compiled model
serves every dataset of the same shape (see :func:`_mixed`). The department level is chosen the
same way, one flag for the intercepts and one for the effects
(:func:`choose_department_centering`: centred when every department's level, the mean of its
teams, is known far better than the departments differ).
"""

from __future__ import annotations

import numpy as np

from lndbayes.models.families import get_family
from lndbayes.models.sufficient import indices_by


def _team_link_stats(fam, y, exposure, censored, team, mask, J):
    r"""Each team's crude link-scale estimate and standard error over the rows in ``mask``.

    Families with a residual sd (normal, lognormal) get :math:`\mathrm{se}_j = s/\sqrt{n_j}`
    with :math:`s` the pooled within-team sd, as the model has one ``sigma``. Why: a team's own
    sample sd from ~13 people is noisy, and one that came out low by chance (se 1.2 where its
    peers had ~2.6) centred that team's intercept alone; where the posterior let the team sd fall
    below that se the fit diverged (large-preset trials; with it non-centred, 0 divergences:
    benchmarks/results/target_accept.md, session 22).
    """
    est = np.full(J, np.nan)
    se = np.full(J, np.inf)
    n = np.zeros(J)
    for j, idx in enumerate(indices_by(team, J)):
        sel = idx[mask[idx]]
        if len(sel) >= 2:
            est[j], se[j] = fam.link_estimate(y[sel], exposure[sel], censored[sel])
            n[j] = len(sel)
    ok = np.isfinite(se) & (n >= 2)
    if fam.has_sigma and ok.any():
        pooled = np.sum((n[ok] - 1) * n[ok] * se[ok] ** 2) / np.sum(n[ok] - 1)
        se[ok] = np.sqrt(pooled / n[ok])
    return est, se


def team_arm_stats(family: str, rows: dict, J: int, unit=None):
    """Each team's crude link-scale estimate and standard error over its control rows and over
    its effect rows, ``((e0, s0), (e1, s1))``: what :func:`choose_centering`,
    :func:`choose_department_centering` and :func:`choose_treated_mean` read, computed once
    (``arm_stats=``) rather than by each (~0.1-0.2 s each at a million rows). ``unit`` (per row,
    ``J`` of them): other units than the teams, e.g. program x team combinations."""
    fam = get_family(family)
    y, D = rows["y"], rows["D"].astype(bool)
    unit = rows["team"] if unit is None else unit
    expo, cens = rows["exposure"], rows["censored"]
    ctrl = ~D if (~D).any() else np.ones_like(D)
    return (_team_link_stats(fam, y, expo, cens, unit, ctrl, J),
            _team_link_stats(fam, y, expo, cens, unit, D, J))


def _kappa(est, se, group=None, min_df: int = 2):
    r""":math:`\kappa_j = \hat\tau^2/\mathrm{se}_j^2`, with :math:`\hat\tau^2` the between-unit
    variance *within* ``group`` (departments), DerSimonian-Laird with a categorical moderator:

    .. math::

        \hat\tau^2 = \frac{Q - \sum_g (n_g - 1)}{\sum_g \big(\sum w - \sum w^2/\sum w\big)_g},
        \qquad Q = \sum_g \sum_{j \in g} w_j (\hat y_j - \bar y_{w,g})^2,\ w_j = \mathrm{se}_j^{-2}.

    Why within departments: the model's team sd is the spread around the department level, and
    measured, department differences counted as team spread centred every team of a 12-team,
    4-department simulation whose teams differ by 0.1 (se 0.18): 29 and 68 divergences on two
    seeds; judged within departments, no team is centred and 1-3 remain.
    """
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    grp = np.zeros(len(est), int) if group is None else np.asarray(group)
    q = df = denom = 0.0
    for g in _groups_of_two(ok, grp):
        m = ok & (grp == g)
        # DerSimonian-Laird: precision weights keep one tiny, noisy team (3 people) from
        # inflating the between-team variance and tipping well-measured teams into a funnel.
        w = 1.0 / se[m] ** 2
        mean_w = np.sum(w * est[m]) / np.sum(w)
        q += np.sum(w * (est[m] - mean_w) ** 2)
        df += m.sum() - 1
        denom += np.sum(w) - np.sum(w**2) / np.sum(w)
    if df < min_df:
        return np.zeros_like(est)
    tau2 = (q - df) / denom
    if not tau2 > 0:
        return np.zeros_like(est)
    with np.errstate(divide="ignore"):
        return np.where(ok, tau2 / se**2, 0.0)


def _groups_of_two(ok, grp):
    """The groups holding at least two usable units: the ones a within-group spread is
    estimated from (one degree of freedom each, less one)."""
    return [g for g in np.unique(grp[ok]) if (ok & (grp == g)).sum() >= 2]


def _spread_df(ok, grp) -> int:
    """Degrees of freedom of the within-group between-unit spread (:func:`_kappa`)."""
    return int(sum((ok & (grp == g)).sum() - 1 for g in _groups_of_two(ok, grp)))


def choose_intercept_mean(family: str, rows: dict, J: int, prior_sd: float, *,
                          dept_of_team=None, threshold: float = 8.0, min_df: int = 4,
                          arm_stats=None) -> tuple[tuple, bool]:
    r"""``(teams, centred)``: the teams whose mean intercept is sampled directly
    (``intercept_weight``, :func:`lndbayes.models.graph._intercepts_through_teams`) and whether
    their intercepts are centred, where few teams inform the between-team spread (at most
    ``min_df`` teams with a usable standard error, and under ``min_df`` degrees of freedom within
    departments: a program in two to four teams); else ``((), False)``, and
    :func:`choose_centering` decides. Where teams are chosen, their centring here replaces
    :func:`choose_centering`'s for the intercepts.

    The teams: those whose crude intercept standard error is small against the prior's team
    sd, :math:`s_\alpha^2/\mathrm{se}_j^2 >` ``threshold`` (:math:`s_\alpha` =
    ``intercept_sd_team``'s HalfNormal scale: with a few teams the spread the sampler meets is
    mostly the prior's, as in :func:`choose_treated_mean`). Centred (all or none) when the
    few degrees of freedom there are show the teams differ by far more than their standard errors
    (:func:`_kappa` from one degree of freedom up, above ``threshold`` for each), else
    non-centred.

    Why: with two to four teams whose data pin their intercepts, :math:`\mu_\alpha` is what the
    sampler could not move. Non-centred, the data pin :math:`\mu_\alpha + \sigma_\alpha z_j`;
    centred, :math:`\mu_\alpha` given :math:`\sigma_\alpha` spreads as
    :math:`\sigma_\alpha/\sqrt J` over a range of :math:`\sigma_\alpha` the data barely
    limit. ``intercept_mean``, ``intercept_sd_team`` and ``intercept_team_raw`` had the worst
    R-hats (up to 1.23) of two-team first attempts; centring alone failed more fits than it
    saved. Sampling the pinned teams' mean intercept takes :math:`\mu_\alpha` off that ridge;
    the centring of the teams then only has to suit their differences: centred teams that look
    alike meet the centred funnel where :math:`\sigma_\alpha` falls below their standard
    errors. Measured (benchmarks/results/target_accept.md, session 30): fits failing after the
    whole retry ladder 17 -> 2 of 30 with two teams, 6 -> 1 of 18 with three and 3 -> 0 of 18
    with four; with five (4 degrees of freedom) the DerSimonian-Laird rule had no failure in 12.
    """
    fam = get_family(family)
    if fam.noncentred_only or prior_sd is None:
        return (), False
    (e0, s0), _ = arm_stats or team_arm_stats(family, rows, J)
    ok = np.isfinite(e0) & np.isfinite(s0) & (s0 > 0)
    grp = np.zeros(J, int) if dept_of_team is None else np.asarray(dept_of_team)
    # and at most min_df teams with a usable standard error: what was measured (two to four
    # teams); many teams, each alone in its department, leave no degree of freedom either, but
    # that layout was not measured, so choose_centering keeps it
    if _spread_df(ok, grp) >= min_df or ok.sum() > min_df:
        return (), False
    with np.errstate(divide="ignore"):
        kappa = np.where(ok, prior_sd**2 / s0**2, 0.0)
    teams = tuple(int(j) for j in np.flatnonzero(kappa > threshold))
    differ = _kappa(e0, s0, grp, min_df=1)
    return teams, bool(teams) and bool(np.all(differ[list(teams)] > threshold))


def choose_centering(family: str, rows: dict, J: int, threshold: float = 8.0, *,
                     effect_unit=None, n_effect=None, effect_group=None, dept_of_team=None,
                     effect_team=None, arm_stats=None):
    """Indices of teams that get centred intercepts and of effect units that get centred effects.

    Effect units are teams, or (several programs) the program x team combinations given by
    ``effect_unit`` (per row, ``n_effect`` of them, ``effect_team`` the team of each);
    ``effect_group`` (per combination: its program) makes the between-unit sd a within-program
    one, so that program differences do not pass for team heterogeneity. ``dept_of_team`` (when
    the model has a department level) does the same for department differences.
    """
    fam = get_family(family)
    if fam.noncentred_only:
        return (), ()
    (e0, s0), (e1, s1) = arm_stats or team_arm_stats(family, rows, J)
    dept = None if dept_of_team is None else np.asarray(dept_of_team)
    k_int = _kappa(e0, s0, dept)
    if effect_unit is not None:
        (f0, g0), (f1, g1) = team_arm_stats(family, rows, n_effect, unit=effect_unit)
        eff, se_eff = f1 - f0, np.sqrt(g0**2 + g1**2)
        grp = np.zeros(n_effect, int) if effect_group is None else np.asarray(effect_group)
        if dept is not None:  # program x department cells
            if effect_team is None:
                raise ValueError("choose_centering: effect_team (the team of each effect unit) "
                                 "is needed with dept_of_team and effect_unit.")
            grp = grp * (int(dept.max()) + 1) + dept[np.asarray(effect_team)]
        k_eff = _kappa(eff, se_eff, grp)
    else:
        eff = e1 - e0
        se_eff = np.sqrt(s0**2 + s1**2)
        k_eff = _kappa(eff, se_eff, dept)
    # effects: a wider margin (their moment estimate is noisier; STACK.md found non-centred
    # effects best even at 250 people per team)
    return (tuple(int(j) for j in np.flatnonzero(k_int > threshold)),
            tuple(int(j) for j in np.flatnonzero(k_eff > 2.5 * threshold)))


def choose_treated_mean(family: str, rows: dict, J: int, prior_sd: float, centred=(),
                        threshold: float = 4.0, arm_stats=None) -> tuple:
    r"""Teams whose mean effect the one-program model samples directly (``treated_weight``,
    :func:`lndbayes.models.graph._treated_team_effects`): all non-centred teams with effect
    observations, when their crude effect standard errors are small against the prior's team
    sd, the median of :math:`s_\theta^2/\mathrm{se}_j^2` above ``threshold``
    (:math:`s_\theta` = ``effect_sd_team``'s HalfNormal scale); else none.

    All or none: with only the well-measured teams of a mixed set (one of 8 on a large-preset
    trial), every other team's effect hung on that team's coordinate through the team sd, and
    the fit diverged at large sd (11 divergences where the plain model had none).

    Why the prior's scale and not the data's between-team sd (as :func:`choose_centering`): the
    ridge this removes lies where the posterior lets the team sd be large against each team's
    standard error, and with a few treated teams that sd reaches into the prior's tail whatever
    the teams' spread. Measured on the example's outcomes, seeds 1-6 (benchmarks/results/
    target_accept.md, session 22): where the ratio was ~20 (the two error counts) retries fell
    from 4 of 12 fits to 1; where it was below 2 (compliance, attrition, engagement, time to
    first deal: many small teams) sampling every treated team's mean sampled worse in a first
    trial (time to first deal retried on 3 of 6 seeds against none), so those keep
    :math:`\mu_\theta` as the coordinate (no team chosen: the plain model).
    """
    team, D = rows["team"], rows["D"].astype(bool)
    if not D.any():
        return ()
    (_, s0), (_, s1) = arm_stats or team_arm_stats(family, rows, J)
    se2 = s0**2 + s1**2
    with np.errstate(divide="ignore"):
        ratio = np.where(np.isfinite(se2) & (se2 > 0), prior_sd**2 / se2, 0.0)
    candidates = np.zeros(J, bool)
    candidates[np.unique(team[D])] = True
    candidates[list(centred)] = False
    candidates &= ratio > 0  # a team too small for a crude se says nothing either way
    if not candidates.any() or not np.median(ratio[candidates]) > threshold:
        return ()
    return tuple(int(j) for j in np.flatnonzero(candidates))


def _departments_dominate(est, dept, n_dept: int, threshold: float) -> bool:
    r"""Whether department-level parameters should be centred.

    Each department's level is the mean of its teams' crude estimates, with standard error
    :math:`\mathrm{se}_d^2 = s_d^2/n_d` from the spread of those teams (so team heterogeneity
    counts as noise, as it does in the model); between-department variance
    :math:`\hat\tau^2 = \mathrm{var}_d(\hat a_d) - \overline{\mathrm{se}_d^2}`. Centred when
    :math:`\hat\tau^2/\mathrm{se}_d^2` exceeds ``threshold`` for every department (one flag for
    all: the sum-to-zero coordinates mix departments).
    """
    ok = np.isfinite(est)
    lvl, se2 = np.full(n_dept, np.nan), np.full(n_dept, np.nan)
    for g in range(n_dept):
        x = est[ok & (dept == g)]
        if len(x) >= 2:
            lvl[g], se2[g] = x.mean(), x.var(ddof=1) / len(x)
    # se_d = 0 (teams with identical crude estimates) says nothing about precision: no choice
    if not np.all(np.isfinite(lvl)) or n_dept < 3 or not np.all(se2 > 0):
        return False
    tau2 = float(np.var(lvl, ddof=1) - np.mean(se2))
    return bool(tau2 > 0 and np.all(tau2 / se2 > threshold))


def choose_department_centering(family: str, rows: dict, J: int, dept_of_team,
                                threshold: float = 8.0, arm_stats=None) -> tuple[bool, bool]:
    """(centred department intercepts, centred department effects): centred when departments
    are told apart by their teams far better than the between-department sd (measured: with
    departments 1 apart and teams 0.1 apart within them, 16 teams, non-centred department
    intercepts gave 46 divergences and ESS 137 on 4 chains; centred, 9 and ESS 668, the rest from
    the weakly identified department effect sd, which the retry handles). A family with
    ``Family.noncentred_only`` (none at present): non-centred, as for its teams."""
    fam = get_family(family)
    if fam.noncentred_only:
        return False, False
    (e0, _), (e1, _) = arm_stats or team_arm_stats(family, rows, J)
    dept = np.asarray(dept_of_team)
    n_dept = int(dept.max()) + 1
    return (_departments_dominate(e0, dept, n_dept, threshold),
            _departments_dominate(e1 - e0, dept, n_dept, 2.5 * threshold))


def choose_program_centering(family: str, rows: dict, n_program: int,
                             threshold: float = 1.0) -> bool:
    r"""Centred program means :math:`\mu_p` when every program's data dominate.

    Crude link-scale effect per program (effect rows against the program's other rows) and its
    standard error :math:`\mathrm{se}_p`; method-of-moments between-program variance
    :math:`\hat\tau^2 = \max(0, \mathrm{var}_p(\hat\mu_p) - \overline{\mathrm{se}^2})`. Centred
    when :math:`\hat\tau^2/\mathrm{se}_p^2 > 1` for every program (programs usually hold hundreds
    of rows and differ: then the non-centred form leaves ``effect_mean`` and
    ``effect_sd_program`` on a thin ridge, measured ESS 75 of 2,000 on three programs x 12
    teams), non-centred when the programs look alike (the centred funnel at a small sd).
    """
    fam = get_family(family)
    y, prog, D = rows["y"], rows["program"], rows["D"].astype(bool)
    expo, cens = rows["exposure"], rows["censored"]
    e0, s0 = _team_link_stats(fam, y, expo, cens, prog, ~D, n_program)
    e1, s1 = _team_link_stats(fam, y, expo, cens, prog, D, n_program)
    est, se = e1 - e0, np.sqrt(s0**2 + s1**2)
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(se) & (se > 0))) or n_program < 2:
        return False
    tau2 = float(np.var(est, ddof=1) - np.mean(se**2))
    return bool(tau2 > 0 and np.all(tau2 / se**2 > threshold))
