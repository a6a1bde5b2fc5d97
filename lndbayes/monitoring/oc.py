r"""Operating characteristics of the monitoring rule, measured by simulation.

A design is what the rule will see at each checkpoint: for every team, the sampling variance
:math:`v_{jk}` of its contrast at checkpoint :math:`k` (from the program's own data, or from a
stated size), the team structure (within-team comparisons or cluster arms), the between-team sd
of the effect :math:`\tau`, and the break-even effect for P(ROI > 0).

One simulated program draws team effects :math:`\theta + u_j`, :math:`u_j \sim N(0, \tau^2)`, and
the team's running estimate as a Brownian motion in its information :math:`I_{jk} = 1/v_{jk}`
(non-decreasing in :math:`k`):

.. math::

    y_{jk} = \theta + u_j + B_j(I_{jk}) / I_{jk}, \qquad B_j \text{ standard Brownian motion},

so that :math:`y_{jk} \sim N(\theta + u_j, v_{jk})` at every look and successive looks share
their data (the correlation between looks is :math:`\sqrt{I_{jk}/I_{jl}}`, as for a running
mean). At each look the interim posterior of :mod:`lndbayes.monitoring.approx` is computed
exactly as for the real data, and the rule is applied; the first *scale* or *stop* ends the
program. Everything is vectorised over simulations (numpy) and seeded.

Reported per true effect: P(scale), P(stop), P(alter at some look before the decision), P(no
decision by the last checkpoint), and the median (and quartiles) of the checkpoint month of
the first scale and of the first stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lndbayes.monitoring.approx import grid_posterior
from lndbayes.monitoring.rule import ACTIONS, MonitoringRule

__all__ = ["MonitorDesign", "simulate_paths", "apply_rule", "operating_characteristics",
           "threshold_table"]

_BIG = 1e30


@dataclass
class MonitorDesign:
    """What the rule sees at each checkpoint (see the module docstring)."""

    months: np.ndarray          # (K,) checkpoint months since the start
    v: np.ndarray               # (K, J) variance of each team's contrast (inf: no data yet)
    X: np.ndarray               # (J, p): [1] within-team / imputation, [1, T] cluster
    s_tau: float                # prior scale of tau used by the interim posterior
    tau: float = 0.0            # true between-team sd in the simulation
    enough: np.ndarray | None = None   # (K,) bool: enough data for a decision at that look
    break_even: float | None = None    # good-direction effect at which ROI = 0; None: no money
    #: the program is monetised: without P(ROI > 0) the rule cannot scale (rule.actions)
    roi_required: bool = False
    #: P(ROI > 0) when it does not depend on the simulated outcome (no money on it); else None
    p_roi_fixed: float | None = None
    #: (K,) variance of an error shared by all teams at each look (imputation: the period
    #: effects); None: none
    v_common: np.ndarray | None = None

    def __post_init__(self):
        self.months = np.asarray(self.months, int)
        self.v = np.atleast_2d(np.asarray(self.v, float))
        self.X = np.asarray(self.X, float).reshape(self.v.shape[1], -1)
        if self.enough is None:
            self.enough = np.ones(len(self.months), bool)
        self.v_common = (np.zeros(len(self.months)) if self.v_common is None
                         else np.asarray(self.v_common, float).reshape(len(self.months)))
        self.enough = np.asarray(self.enough, bool)

    @classmethod
    def from_size(cls, *, n_teams: int, people_per_team: int, months: int, sd: float,
                  tau: float = 0.0, within: bool = True, looks=None, break_even=None,
                  s_tau: float | None = None) -> "MonitorDesign":
        """A plain design of a stated size: ``n_teams`` teams of ``people_per_team`` people,
        half of each team treated (``within``) or half the teams treated; an outcome with row
        sd ``sd`` whose information grows linearly to its full value at ``months`` (each
        month adds as much as the one before). ``looks``: checkpoint months (default monthly)."""
        looks = np.arange(1, months + 1) if looks is None else np.asarray(looks, int)
        half = people_per_team / 2.0
        full = sd ** 2 * (2.0 / half if within else 1.0 / people_per_team)
        v = np.repeat((full * months / looks)[:, None], n_teams, axis=1)
        X = (np.ones((n_teams, 1)) if within else
             np.column_stack([np.ones(n_teams), (np.arange(n_teams) % 2).astype(float)]))
        return cls(months=looks, v=v, X=X, s_tau=0.5 * sd if s_tau is None else s_tau, tau=tau,
                   break_even=break_even)

    def to_dict(self) -> dict:
        finite = np.isfinite(self.v)
        return {"checkpoints": self.months.tolist(), "teams": int(self.v.shape[1]),
                "kind": "cluster" if self.X.shape[1] == 2 else "within",
                "tau": float(self.tau), "s_tau": float(self.s_tau),
                "break_even": None if self.break_even is None else float(self.break_even),
                "roi_required": bool(self.roi_required),
                "p_roi_fixed": None if self.p_roi_fixed is None else float(self.p_roi_fixed),
                "median_se_last": float(np.sqrt(np.median(self.v[-1][finite[-1]])))
                if finite[-1].any() else None}


def _information(v: np.ndarray) -> np.ndarray:
    info = np.where(np.isfinite(v) & (v > 0), 1.0 / np.where(v > 0, v, 1.0), 0.0)
    return np.maximum.accumulate(info, axis=0)     # information never shrinks


def simulate_paths(design: MonitorDesign, effect: float, direction: str, *, n_sims: int = 2000,
                   seed: int = 0, n_grid: int = 60):
    """P(works) and P(ROI > 0) at every look of ``n_sims`` simulated programs whose true effect
    is ``effect`` (business scale, signed). Returns ``(p_works, p_roi)``, arrays (n_sims, K);
    ``p_roi`` is None when the design has no break-even effect."""
    rng = np.random.default_rng(seed)
    K, J = design.v.shape
    info = _information(design.v)                                  # (K, J)
    dI = np.diff(np.vstack([np.zeros((1, J)), info]), axis=0)      # (K, J) >= 0
    B = np.cumsum(rng.standard_normal((n_sims, K, J)) * np.sqrt(dI), axis=1)
    u = rng.standard_normal((n_sims, 1, J)) * design.tau
    arm = design.X[:, -1] if design.X.shape[1] == 2 else np.ones(J)
    mean = effect * arm + u                                        # (S, 1, J)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(info > 0, mean + B / np.where(info > 0, info, 1.0), 0.0)
    if (design.v_common > 0).any():
        # the shared error (period effects) accumulates like a running mean of its own
        ic = np.maximum.accumulate(np.where(design.v_common > 0, 1.0 / np.where(
            design.v_common > 0, design.v_common, 1.0), 0.0))
        dic = np.diff(np.concatenate([[0.0], ic]))
        bc = np.cumsum(rng.standard_normal((n_sims, K)) * np.sqrt(dic), axis=1)
        c = np.where(ic > 0, bc / np.where(ic > 0, ic, 1.0), 0.0)
        y = y + c[:, :, None]
    v_eff = np.where(info > 0, 1.0 / np.where(info > 0, info, 1.0), _BIG)
    pw = np.full((n_sims, K), np.nan)
    pr = None if design.break_even is None else np.full((n_sims, K), np.nan)
    if pr is None and design.p_roi_fixed is not None:
        pr = np.full((n_sims, K), float(design.p_roi_fixed))
    be = None if design.break_even is None else (
        design.break_even if direction == "increase" else -design.break_even)
    for k in range(K):
        if not design.enough[k] or not (info[k] > 0).any():
            continue
        post = grid_posterior(y[:, k, :], v_eff[k], design.X, design.s_tau, n_grid=n_grid,
                              v_common=design.v_common[k])
        pw[:, k] = post.p_works(direction)
        if be is not None:
            pr[:, k] = post.prob_beyond(be, direction)
    return pw, pr


def apply_rule(rule: MonitoringRule, design: MonitorDesign, p_works, p_roi) -> dict:
    """The rule's operating characteristics on simulated paths (see the module docstring)."""
    S, K = p_works.shape
    alive = np.ones(S, bool)
    first = np.full(S, -1)                 # index of the deciding look
    decision = np.full(S, -1, dtype=np.int8)
    altered = np.zeros(S, bool)
    for k in range(K):
        enough = bool(design.enough[k]) and np.isfinite(p_works[:, k]).all()
        acts = rule.actions(p_works[:, k], None if p_roi is None else p_roi[:, k],
                            int(design.months[k]), enough, roi_required=design.roi_required)
        altered |= alive & (acts == ACTIONS.index("alter"))
        term = alive & np.isin(acts, (ACTIONS.index("scale"), ACTIONS.index("stop")))
        first[term], decision[term] = k, acts[term]
        alive &= ~term
    scale = decision == ACTIONS.index("scale")
    stop = decision == ACTIONS.index("stop")

    def when(mask):
        if not mask.any():
            return None
        m = design.months[first[mask]]
        return {"median": float(np.median(m)), "q25": float(np.quantile(m, 0.25)),
                "q75": float(np.quantile(m, 0.75))}

    return {"p_scale": float(scale.mean()), "p_stop": float(stop.mean()),
            "p_alter": float(altered.mean()), "p_no_decision": float((decision < 0).mean()),
            "scale_month": when(scale), "stop_month": when(stop), "n_sims": int(S)}


def operating_characteristics(design: MonitorDesign, rule: MonitoringRule, direction: str, *,
                              effects: dict, n_sims: int = 2000, seed: int = 0) -> dict:
    """OC of ``rule`` for each named true effect (``{"no effect": 0.0, "target": -0.02}``)."""
    out = {}
    for i, (name, eff) in enumerate(effects.items()):
        pw, pr = simulate_paths(design, float(eff), direction, n_sims=n_sims, seed=seed + i)
        out[name] = {"effect": float(eff), **apply_rule(rule, design, pw, pr)}
    return out


def threshold_table(design: MonitorDesign, rule: MonitoringRule, direction: str, *, effects: dict,
                    thresholds=(0.9, 0.95, 0.975, 0.99, 0.995), field: str = "scale_p_works",
                    n_sims: int = 2000, seed: int = 0) -> list[dict]:
    """OC for several values of one threshold of the rule (``field``, default
    ``scale_p_works``) on the same simulated paths (common random numbers, so differences
    between rows are the threshold's, not the simulation's)."""
    import dataclasses

    paths = {name: simulate_paths(design, float(eff), direction, n_sims=n_sims, seed=seed + i)
             for i, (name, eff) in enumerate(effects.items())}
    rows = []
    for t in thresholds:
        change = {field: float(t)}
        if field == "scale_p_works":
            change["alter_p_works"] = min(rule.alter_p_works, float(t))
        r = dataclasses.replace(rule, **change)
        row = {field: float(t)}
        for name, (pw, pr) in paths.items():
            row[name] = apply_rule(r, design, pw, pr)
        rows.append(row)
    return rows

