"""fit_mediation: check the table, sample the graph (compiled models reused), report effects."""

from __future__ import annotations

import functools
import hashlib
import warnings
from pathlib import Path

import numpy as np

import lndbayes
from lndbayes import INTERVAL, inference
from lndbayes.decisions import interval
from lndbayes.errors import FitFailedError, ModelInputError
from lndbayes.fitting import cached_posterior, check_settings
from lndbayes.mediation.data import prepare
from lndbayes.mediation.effects import binary_effects, linear_effects, paths
from lndbayes.mediation.model import PRIORS, build_model, graph_data, structure_key
from lndbayes.mediation.result import MediationResult
from lndbayes.mediation.sensitivity import sensitivity

FAMILIES = {"normal": "normal", "gaussian": "normal", "binary": "binary", "bernoulli": "binary"}

ASSUMPTIONS = (
    "Sequential ignorability (Imai, Keele & Yamamoto 2010): (1) given the covariates, the "
    "treatment is as good as randomly assigned (true by design in a randomised program); (2) "
    "given the treatment and covariates, each mediator is as good as randomly assigned with "
    "respect to the later mediators and the outcome: no unmeasured variable drives both a "
    "mediator and the outcome, and no other consequence of the treatment confounds them. (2) "
    "cannot be tested from the data and randomising the program does not make it true; the "
    "sensitivity analysis shows how large a violation (rho, the correlation of the last "
    "mediator's and the outcome's errors) would remove the indirect effect. Also assumed: "
    "linear effects without treatment-mediator interaction, normal errors for continuous "
    "variables, and group intercepts that vary by team while the effects do not.")


@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    h = hashlib.sha256()
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _row(estimand, draws, *, label, path=None, unstable=None, prob=INTERVAL) -> dict:
    iv = interval(draws, prob)
    return {"estimand": estimand, "path": list(path) if path else None, "label": label,
            "mean": iv.mean, "sd": float(np.std(draws)), "lower": iv.lower, "upper": iv.upper,
            "p_gt_0": float(np.mean(draws > 0)), "unstable": unstable}


def _coef_row(parameter, source, target, draws, scale, prob=INTERVAL) -> dict:
    iv = interval(draws, prob)
    return {"parameter": parameter, "from": source, "to": target, "scale": scale,
            "mean": iv.mean, "sd": float(np.std(draws)), "lower": iv.lower, "upper": iv.upper}


def fit_mediation(df, *, treatment: str, mediator, outcome: str, covariates=(),
                  group: str | None = None, family: str = "normal", drop_missing: bool = False,
                  seed: int = 0, draws: int = 1000, tune: int = 1000, chains: int = 4,
                  sampler: str = "nutpie", cache: bool = True, strict: bool = False,
                  rho=None, source: str | None = None) -> MediationResult:
    r"""Bayesian causal mediation: how much of the treatment's effect on ``outcome`` runs
    through ``mediator`` (one column, or a list of columns in causal order: the Kirkpatrick
    chain program -> learning (L2) -> behaviour (L3) -> results (L4)).

    Model (:mod:`lndbayes.mediation.model`; variables standardised inside, results in the
    data's units), mediators :math:`M_1..M_K` in order, group (team) :math:`j[i]`:

    .. math::

        M_{ki} = \alpha_{k,j[i]} + a_k T_i + \sum_{l<k} d_{kl} M_{li} + x_i^\top\theta_k
                 + \varepsilon_{ki},\quad
        Y_i = \beta_{j[i]} + c' T_i + \sum_k b_k M_{ki} + x_i^\top\phi + \varepsilon_{Yi}

    with independent normal errors (a binary outcome: Bernoulli with a logit link, one
    mediator); :math:`\alpha_{kj} \sim \mathrm{Normal}(\mu_k, \tau_k)` and likewise
    :math:`\beta_j` when ``group`` is given (non-centred), else one intercept per equation.
    Priors on the standardised scale: intercepts, :math:`a, d, b, c', \theta, \phi \sim
    \mathrm{Normal}(0, 1)`, :math:`\tau \sim \mathrm{HalfNormal}(0.5)`, :math:`\sigma \sim
    \mathrm{HalfNormal}(1)`.

    Effects, draw by draw (:mod:`lndbayes.mediation.effects`): ``indirect`` (one mediator
    :math:`ab`; a chain: the sum over the paths, e.g. :math:`a_1 d_{21} b_2 + a_1 b_1 + a_2
    b_2`, each also a row ``indirect_path``), ``direct`` :math:`c'`, ``total`` = direct +
    indirect, ``proportion_mediated`` = indirect / total, flagged ``unstable`` when the total
    effect's interval spans 0. Each row: mean, sd, 90% interval (``lndbayes.INTERVAL``),
    P(> 0). A binary outcome's effects are differences in probability (see
    :mod:`lndbayes.mediation.effects`).

    Assumptions: sequential ignorability (``ASSUMPTIONS``). Its untestable half, no unmeasured
    mediator-outcome confounding, is probed by ``result.sensitivity``
    (:mod:`lndbayes.mediation.sensitivity`, as ``medsens`` in R's ``mediation``): the indirect
    effect as a function of the error correlation rho, the rho at which it is 0 and where its
    interval includes 0 (continuous outcomes).

    Bad input (ModelInputError naming the column): a column that is not in the table, a
    non-numeric value, missing values (counted per column; pass ``drop_missing=True`` to
    leave those rows out, and they are counted in ``meta["dropped"]``), a treatment that is
    not 0/1 or has fewer than 3 rows in an arm, a constant mediator, outcome or covariate.
    ``source``: the file name the table came from, so messages give file lines.
    """
    fam = FAMILIES.get(str(family).lower())
    if fam is None:
        raise ModelInputError(f"family '{family}' is not available for mediation. Fix: use "
                              "'normal' (continuous outcome) or 'binary' (0/1 outcome)")
    check_settings(draws=draws, tune=tune, chains=chains, direction="increase")
    mediators = [mediator] if isinstance(mediator, str) else list(mediator or [])
    if not mediators:
        raise ModelInputError("no mediator given. Fix: name the mediator column (or a list of "
                              "columns in causal order, e.g. [learning, behaviour])")
    if fam == "binary" and len(mediators) > 1:
        raise ModelInputError("a binary outcome is supported with one mediator only. Fix: fit one "
                              "mediator at a time, or use a continuous outcome for the chain")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    d = prepare(df, treatment=treatment, mediators=mediators, outcome=outcome,
                covariates=covariates, group=group, family=fam, drop_missing=drop_missing,
                source=source)
    hier = group is not None
    if hier and d.J < 2:
        raise ModelInputError(f"column '{group}': only one group ({d.groups[0]!r}), so there is no "
                              "spread across groups to estimate. Fix: omit the group")
    K, P, J = d.K, d.P, d.J
    skey = structure_key(K=K, P=P, J=J, hier=hier, family=fam)
    data = graph_data(d, hier)
    settings = {"draws": int(draws), "tune": int(tune), "chains": int(chains), "seed": int(seed),
                "sampler": sampler}
    key = inference.hash_payload(
        {"model": skey, "priors": PRIORS, "settings": settings, "code": _code_hash(),
         "model_code": inference.model_code_hash(), "version": lndbayes.__version__,
         "thresholds": inference.THRESHOLDS}, data)
    idata, diag = cached_posterior(key, cache=cache, sample=lambda: inference.sample_with_retry(
        skey, lambda: build_model(data, K=K, P=P, J=J, hier=hier, family=fam), data,
        draws=int(draws), tune=int(tune), chains=int(chains), seed=int(seed), sampler=sampler,
        target_accept=0.9))
    post = idata["posterior"].to_dataset()

    eff = binary_effects(post, d) if fam == "binary" else linear_effects(post, d)
    ind, dirc, tot = eff["indirect"], eff["direct"], eff["total"]
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = ind / tot
    prop = np.where(np.isfinite(prop), prop, np.nan)
    tot_iv = interval(tot)
    unstable = bool(tot_iv.lower <= 0 <= tot_iv.upper)
    chain = " -> ".join([treatment, *mediators, outcome])
    rows = [_row("indirect", ind, label=f"indirect: {chain}" if K > 1 else
                 f"indirect: {treatment} -> {mediators[0]} -> {outcome}"),
            _row("direct", dirc, label=f"direct: {treatment} -> {outcome}"),
            _row("total", tot, label=f"total: {treatment} -> {outcome}"),
            _row("proportion_mediated", prop[np.isfinite(prop)], label="indirect / total",
                 unstable=unstable)]
    all_draws = {"indirect": ind, "direct": dirc, "total": tot, "proportion_mediated": prop}
    if K > 1:
        for p in paths(K):
            names = [mediators[i] for i in p]
            label = " -> ".join([treatment, *names, outcome])
            rows.append(_row("indirect_path", eff["paths"][p], label=label, path=names))
            all_draws[label] = eff["paths"][p]

    co = eff["coefficients"]
    y_scale = "log-odds" if fam == "binary" else "data"
    coefs = [_coef_row("a", treatment, m, co["a"][:, k], "data") for k, m in enumerate(mediators)]
    for k in range(K):
        for l_ in range(k):
            coefs.append(_coef_row("d", mediators[l_], mediators[k], co["dmat"][:, k, l_], "data"))
    coefs += [_coef_row("b", m, outcome, co["b"][:, k], y_scale) for k, m in enumerate(mediators)]
    coefs.append(_coef_row("c_prime", treatment, outcome, co["c_prime"], y_scale))

    sens = None
    if fam == "normal":
        sens = sensitivity(post, d, eff, rho=rho)
        sens["mediator"] = mediators[-1]
    meta = {
        "treatment": treatment, "mediators": mediators, "outcome": outcome,
        "covariates": covariates, "group": group, "family": fam,
        "effect_scale": ("difference in the probability of the outcome (0..1)" if fam == "binary"
                         else f"units of '{outcome}'"),
        "n": d.n, "n_read": d.n_read, "n_dropped_rows": d.n_read - d.n, "dropped": d.dropped,
        "n_treated": int(d.T.sum()), "n_control": int(d.n - d.T.sum()),
        "n_groups": J if hier else 0, "interval": INTERVAL, "priors": PRIORS,
        "assumptions": ASSUMPTIONS, "seed": int(seed),
        "sampler": {**settings, "structure": skey},
        "diagnostics": {k: diag.get(k) for k in ("converged", "rhat_max", "ess_bulk_min",
                                                  "ess_tail_min", "divergences", "ebfmi_min",
                                                  "retries", "messages", "cached")},
        "attempts": diag.get("attempts"),
        "version": lndbayes.__version__,
    }
    res = MediationResult(rows=rows, coefficients=coefs, sensitivity=sens, meta=meta,
                          draws=all_draws)
    if not res.converged:
        msg = ("lndbayes mediation did NOT converge; do not report these numbers as they are: "
               + " ".join(diag.get("messages", [])))
        if strict:
            raise FitFailedError(msg)
        warnings.warn(msg, stacklevel=2)
    return res
