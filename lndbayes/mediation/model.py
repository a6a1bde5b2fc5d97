r"""The PyMC graph of the mediation model (one mediator, or a sequential chain of them).

Variables are standardised before they reach the graph (mediators, a continuous outcome and
covariates: mean 0, sd 1; the treatment stays 0/1), so one set of weakly informative priors
fits any units; :mod:`lndbayes.mediation.effects` turns the draws back into the data's units.
With mediators :math:`M_1, \dots, M_K` in causal order, treatment :math:`T_i \in \{0, 1\}`,
covariates :math:`x_i` and group (team) :math:`j[i]`:

.. math::

    M_{ki} &= \alpha_{k,j[i]} + a_k T_i + \sum_{l<k} d_{kl} M_{li} + x_i^\top\theta_k
              + \varepsilon_{ki}, \qquad \varepsilon_{ki} \sim \mathrm{Normal}(0, \sigma_k) \\
    Y_i &= \beta_{j[i]} + c' T_i + \sum_k b_k M_{ki} + x_i^\top\phi + \varepsilon_{Yi},
           \qquad \varepsilon_{Yi} \sim \mathrm{Normal}(0, \sigma_Y)

(binary outcome: :math:`Y_i \sim \mathrm{Bernoulli}(\mathrm{logit}^{-1}(\eta_i))` with
:math:`\eta_i` the right-hand side above without :math:`\varepsilon_{Yi}`). The errors are
independent of each other (sequential ignorability; :mod:`lndbayes.mediation.sensitivity`
asks what a correlation :math:`\rho` between the last mediator's and the outcome's errors
would change). Group intercepts, non-centred, with deviations that sum to zero over the groups (so
:math:`\mu` is the mean intercept and does not trade off against the deviations' mean, which
left it and :math:`\tau` with a short effective sample size):

.. math::

    \alpha_{kj} = \mu_k + \tau_k z_{kj}, \quad \beta_j = \mu_Y + \tau_Y z_{Yj}, \quad
    z_{e\cdot} \sim \mathrm{ZeroSumNormal}(1)\ \text{(a Helmert basis times Normal(0, 1))}

(sampled centred, :math:`\tau z \sim \mathrm{ZeroSumNormal}(\tau)`, when there are at least
``CENTRED_ROWS_PER_GROUP`` rows per group: the same prior, better geometry when the groups'
own rows dominate it.)

Priors (standardised scale): :math:`\mu, a, c', d, b, \theta, \phi \sim \mathrm{Normal}(0, 1)`
(an effect of one standard deviation of the variable is already large),
:math:`\tau \sim \mathrm{HalfNormal}(0.5)`, :math:`\sigma \sim \mathrm{HalfNormal}(1)`.
Without a group, :math:`\alpha_{kj} = \mu_k` and :math:`\beta_j = \mu_Y`.
"""

from __future__ import annotations

import numpy as np

#: the priors, by parameter (standardised scale); recorded in every result's meta
PRIORS = {
    "intercept": "Normal(0, 1)",
    "a (treatment -> mediator)": "Normal(0, 1)",
    "d (earlier -> later mediator)": "Normal(0, 1)",
    "b (mediator -> outcome)": "Normal(0, 1)",
    "c_prime (direct effect)": "Normal(0, 1)",
    "covariate coefficients": "Normal(0, 1)",
    "group intercept sd (tau)": "HalfNormal(0.5)",
    "residual sd (sigma)": "HalfNormal(1)",
}


#: rows per group from which the group intercepts are sampled centred. Measured (4 chains):
#: 20 rows per team, ESS of the group sd 950 centred vs 650-720 non-centred; 10 rows per team
#: (a simulated chain, sd 0.4 vs unit errors), centred R-hat 1.015-1.026 and one sd's ESS
#: 124-272 vs non-centred 1.006 and 736-815; 3.6 rows per team (the example's managers),
#: centred R-hat 1.4 vs 1.01
CENTRED_ROWS_PER_GROUP = 20


def group_slots(J: int) -> int:
    """Group intercepts the graph holds: ``J`` rounded up to a power of two (at least 8).

    Why: the number of groups is part of a compiled graph's shape, and compiling dominates a
    small fit (10-40 s against ~2 s of sampling on 2 cores). With slots, tables with 17..32
    teams share one compiled model; the slots no row uses only draw their prior, which
    changes nothing else (their intercepts enter no likelihood term).
    """
    return max(8, 1 << max(0, int(J) - 1).bit_length())


def structure_key(*, K: int, P: int, J: int, hier: bool, family: str) -> str:
    """What changes the graph's structure (the compiled-model cache key); data are swapped in."""
    return f"mediation:v2:{family}:K={K}:P={P}:slots={group_slots(J) if hier else 0}"


def graph_data(d, hier: bool) -> dict:
    """The arrays the graph reads, by their pm.Data names: ``V`` = [mediators, outcome]."""
    out = {"T": d.T, "V": np.ascontiguousarray(np.column_stack([d.M, d.Y]))}
    if d.P:
        out["X"] = np.ascontiguousarray(d.X)
    if hier:
        out["g"] = d.g
        out["H"] = group_basis(d.J)
        # centred when a group's own rows dominate its prior (many rows per group), else
        # non-centred; data, not structure, so the choice costs no compile (as models.graph)
        out["centred"] = np.full(d.K + 1, float(d.n / d.J >= CENTRED_ROWS_PER_GROUP))
    return out


def group_basis(J: int) -> np.ndarray:
    """``slots x (slots - 1)``: the zero-sum (Helmert) basis of the ``J`` used groups in its
    top-left corner, zeros elsewhere, so the used groups' deviations sum to 0 (data, swapped
    in like the rest: tables with different numbers of groups share one compiled graph)."""
    from lndbayes.models.graph import padded_zero_sum_basis

    return padded_zero_sum_basis(J, group_slots(J))


def build_model(data: dict, *, K: int, P: int, J: int, hier: bool, family: str):
    r"""The graph (see the module docstring); ``data`` as :func:`graph_data` gives it.

    Each of the K + 1 equations (mediators, then the outcome) is its own vector expression over
    the rows, with the coefficients as scalars: :math:`\eta_e = \mu_e + (a_e \text{ or } c')
    T + \sum_{l<e} (d_{el} \text{ or } b_l) V_l + \sum_p \theta_{ep} X_p + \text{dev}_{e, g}`,
    and one likelihood term per equation. Why: on a machine that never compiled the model, the
    former single matrix expression (coefficient matrix ``W`` assembled with ``set_subtensor``
    and ``concatenate``, ``V @ W`` and ``X @ coef`` as broadcast products summed over an axis
    of a 3-D array) made PyTensor emit Join/Split, 2-D slice updates and 3-D reductions in the
    gradient, each a Numba function of its own: manager_coaching's chain compiled cold in
    37.5 CPU-s, this form in 25.7 (benchmarks/results/compile.md, "Session 11"). The data with
    a column per equation or covariate (``V``, ``X``), the basis ``H`` and ``centred`` have
    their static number of columns (no run-time shape checks). Matrix products are never
    ``@``: PyTensor's Numba ``Dot`` costs 12-21 s of compile per variant on an empty cache (see
    :func:`lndbayes.models.families.base.linear_predictor`). ``dev`` (slots x equations) is
    recorded as before.
    """
    import pymc as pm
    import pytensor.tensor as pt

    E = K + 1
    di = d_index(K)
    with pm.Model() as model:
        T = pm.Data("T", data["T"])
        V = pm.Data("V", data["V"], shape=(None, E))
        X = pm.Data("X", data["X"], shape=(None, P)) if P else None
        g = pm.Data("g", data["g"]) if hier else None
        H = pm.Data("H", data["H"], shape=np.shape(data["H"])) if hier else None
        centred = pm.Data("centred", data["centred"], shape=(E,)) if hier else None

        mu = pm.Normal("mu", 0.0, 1.0, shape=E)            # intercepts: mediators, then outcome
        a = pm.Normal("a", 0.0, 1.0, shape=K)
        b = pm.Normal("b", 0.0, 1.0, shape=K)
        c_prime = pm.Normal("c_prime", 0.0, 1.0)
        d = pm.Normal("d", 0.0, 1.0, shape=K * (K - 1) // 2) if K > 1 else None
        coef = pm.Normal("coef", 0.0, 1.0, shape=(E, P)) if P else None
        sigma = pm.HalfNormal("sigma", 1.0, shape=E if family != "binary" else K)
        coef_flat = coef.reshape((E * P,)) if P else None
        if hier:
            tau = pm.HalfNormal("tau", 0.5, shape=E)
            is_c = centred > 0
            z_raw = pm.Normal("dev_raw", 0.0, pt.switch(is_c, tau, 1.0)[None, :],
                              shape=(group_slots(J) - 1, E))
            scale = pt.switch(is_c, 1.0, tau)
            pm.Deterministic("dev", (H[:, :, None] * z_raw[None, :, :]).sum(1) * scale[None, :])

        etas = []
        for e in range(E):
            eta = mu[e] + T * (a[e] if e < K else c_prime)
            for l_ in range(e):
                eta = eta + V[:, l_] * (d[di[(e, l_)]] if e < K else b[l_])
            for p in range(P):
                eta = eta + X[:, p] * coef_flat[e * P + p]
            if hier:
                eta = eta + ((H * z_raw[:, e][None, :]).sum(1) * scale[e])[g]
            etas.append(eta)
        if family == "binary":
            pm.Normal("M_obs", etas[0], sigma[0], observed=V[:, 0])
            pm.Bernoulli("Y_obs", logit_p=etas[1], observed=V[:, 1])
        else:
            for e in range(E):
                pm.Normal(f"V{e}_obs", etas[e], sigma[e], observed=V[:, e])
    return model


def d_index(K: int) -> dict:
    """(k, l) -> position in ``d`` (the coefficient of mediator l in mediator k's equation)."""
    out, pair = {}, 0
    for k in range(K):
        for l_ in range(k):
            out[(k, l_)] = pair
            pair += 1
    return out
