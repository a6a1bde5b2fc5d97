"""Prior and posterior predictive checks: the mean outcome by arm, observed against replicated.

For each draw of the parameters (from the posterior, or from the priors for the prior check) a
whole dataset is replicated cell by cell from the likelihood, using the sufficient statistics of
:mod:`lndbayes.models.sufficient` (so it costs the same for 1,000 or 1,000,000 rows), and the mean
outcome of each arm is computed as in the observed data:

each family replicates its own cells (``Family.replicate``: normal and lognormal from the cell
sums, binary Binomial, count negative binomial, ordinal Multinomial); time to event is not
checked (``Family.no_check_reason``).

"Arms": ``control`` are the rows with no effect (D = 0: control units, and before the start in
pre/post and staggered designs), ``program`` the rows that carry it (D = 1).
"""

from __future__ import annotations

import numpy as np

from lndbayes.models.families import get_family
from lndbayes.models.sufficient import collapse


def flat(post, name: str) -> np.ndarray:
    """Draws of ``name`` with chains and draws merged into the first axis."""
    v = np.asarray(post[name].values, dtype=float)
    return v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])


def observed_arm_means(family, rows: dict) -> dict:
    fam = get_family(family)
    y, D = rows["y"], rows["D"] > 0
    return {arm: fam.arm_value(y[sel], rows["exposure"][sel])
            for arm, sel in (("control", ~D), ("program", D)) if sel.any()}


def _eta(cells: dict, p: dict, s: int, fam) -> np.ndarray:
    a = p["alpha"][s][cells["c_team"]]
    if p.get("gamma") is not None:
        a = a + p["gamma"][s][cells["c_period"]]
    # several programs: the effect is indexed by the program x team combination
    eff = p["theta"][s][cells["c_combo"] if "c_combo" in cells else cells["c_team"]]
    if p.get("dev") is not None:
        eff = eff + p["dev"][s][cells["c_event"]]
    a = a + cells["c_D"] * eff
    if p.get("beta") is not None and not fam.gaussian_sums:  # Gaussian: in the cell sums
        a = a + cells["c_X"] @ p["beta"][s]
    return a


def replicate_arm_means(family: str, rows: dict, params: dict, seed: int = 0,
                        cells: dict | None = None) -> dict | None:
    """Replicated mean outcome by arm, one value per parameter draw; None where not checked.

    ``params``: per-draw arrays ``alpha`` (S, J), ``theta`` (S, J) and, where the model has them,
    ``gamma`` (S, periods), ``dev`` (S, event times), ``beta`` (S, K), and the family's own
    parameters (``aux_priors``: ``sigma`` (S,), ``overdispersion`` (S,), ``cutpoints`` (S, 4)).
    """
    fam = get_family(family)
    if not fam.checked:
        return None
    if cells is None:
        cells = collapse(family, rows, exact=True, by_combo=_combos(rows) is not None)
    rng = np.random.default_rng(seed)
    S = params["alpha"].shape[0]
    D = cells["c_D"] > 0
    out = {arm: np.empty(S) for arm, sel in (("control", ~D), ("program", D)) if sel.any()}
    for s in range(S):
        tot, denom = fam.replicate(cells, _eta(cells, params, s, fam), params, s, rng)
        for arm, sel in (("control", ~D), ("program", D)):
            if arm in out:
                out[arm][s] = float(np.sum(tot[sel]) / np.sum(denom[sel]))
    return out


def _combos(rows: dict):
    """Several programs: (program, team) of each program x team combination; else None."""
    if "program" not in rows or len(np.unique(rows["program"])) < 2:
        return None
    n_c = int(rows["combo"].max()) + 1
    first = np.unique(rows["combo"], return_index=True)[1]
    assert len(first) == n_c
    return rows["program"][first], rows["team"][first]


def prior_draws(spec, priors: dict, dept_of_team, n: int, seed: int, combos=None,
                family=None) -> dict:
    """Parameter draws from the priors the model uses (same names and parameters).

    ``combos``: several programs, (program, team) of each program x team combination;
    ``family``: whose own parameters (``aux_priors``) are drawn too (none without).
    """
    rng = np.random.default_rng(seed)

    def P(name, par):
        return float(priors[name][par])

    def half(name):
        return np.abs(rng.normal(0.0, P(name, "sigma"), n))

    J = spec.J
    em = rng.normal(P("effect_mean", "mu"), P("effect_mean", "sigma"), n)
    im = (rng.normal(P("intercept_mean", "mu"), P("intercept_mean", "sigma"), n)
          if "intercept_mean" in priors else np.zeros(n))
    mu_a, mu_t = np.repeat(im[:, None], J, 1), np.repeat(em[:, None], J, 1)
    dept_of_effect = dept_of_team
    if combos is not None:  # program means pooled toward effect_mean, then combinations
        c_prog, c_team = combos
        mu_p = em[:, None] + half("effect_sd_program")[:, None] * rng.standard_normal(
            (n, int(np.max(c_prog)) + 1))
        mu_t = mu_p[:, c_prog]
        dept_of_effect = np.asarray(dept_of_team)[c_team]
    if spec.hier:
        if spec.n_dept > 1:
            z = rng.standard_normal((n, spec.n_dept))  # sum-to-zero, as in the model
            a_d = half("intercept_sd_dept")[:, None] * (z - z.mean(1, keepdims=True))
            b_d = half("effect_sd_dept")[:, None] * rng.standard_normal((n, spec.n_dept))
            mu_a, mu_t = mu_a + a_d[:, dept_of_team], mu_t + b_d[:, dept_of_effect]
        alpha = mu_a + half("intercept_sd_team")[:, None] * rng.standard_normal((n, J))
        theta = mu_t + half("effect_sd_team")[:, None] * rng.standard_normal(mu_t.shape)
    else:
        alpha, theta = mu_a, mu_t
    out = {"alpha": alpha, "theta": theta}
    if spec.n_period > 1:
        g = rng.normal(0.0, P("period_effect", "sigma"), (n, spec.n_period))
        out["gamma"] = g - g.mean(1, keepdims=True)
    if spec.n_event > 1:
        z = rng.standard_normal((n, spec.n_event))
        out["dev"] = half("event_time_sd")[:, None] * (z - z.mean(1, keepdims=True))
    if spec.K:
        out["beta"] = rng.normal(P("beta", "mu"), P("beta", "sigma"), (n, spec.K))
    if family is not None:
        out.update(get_family(family).draw_aux(P, n, rng))
    return out


def posterior_param_draws(post, spec, n: int, seed: int, family) -> dict:
    """``n`` posterior draws (chains pooled, evenly thinned) in the layout of :func:`prior_draws`."""
    total = post.sizes["chain"] * post.sizes["draw"]
    idx = np.linspace(0, total - 1, min(n, total)).round().astype(int)
    out = {"alpha": flat(post, "intercept_team")[idx], "theta": flat(post, "effect_team")[idx]}
    for key, name, has in (("gamma", "period_effect", spec.n_period > 1),
                           ("dev", "event_time_dev", spec.n_event > 1),
                           ("beta", "beta", spec.K > 0)):
        if has:
            out[key] = flat(post, name)[idx]
    for name in get_family(family).aux_priors:
        out[name] = flat(post, name)[idx]
    return out


def predictive_checks(family, rows, spec, priors, post, dept_of_team, *, n: int = 200,
                      seed: int = 0) -> dict | None:
    """Observed arm means and their prior and posterior predictive replications (JSON-able)."""
    fam = get_family(family)
    if not fam.checked:
        return None
    observed = observed_arm_means(fam, rows)
    out = {"observed": observed, "statistic": fam.check_statistic}
    combos = _combos(rows)
    cells = collapse(family, rows, exact=True, by_combo=combos is not None)
    for kind, params in (("prior", prior_draws(spec, priors, dept_of_team, n, seed,
                                               combos=combos, family=fam)),
                         ("posterior", posterior_param_draws(post, spec, n, seed, fam))):
        with np.errstate(over="ignore", invalid="ignore"):
            rep = replicate_arm_means(family, rows, params, seed=seed + 1, cells=cells)
        out[kind] = {arm: [float(v) for v in vals] for arm, vals in rep.items()}
        out[f"{kind}_p_value"] = {
            arm: float(np.mean(np.asarray(vals) >= observed[arm])) for arm, vals in rep.items()}
    return out
