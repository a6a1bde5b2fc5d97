"""What more data is worth: expected value of sample (and perfect) information, in currency.

The decision is *scale* (take the program's net benefit :math:`NB`) or *not* (0). With what is
known now, its value is :math:`\\max(E[NB], 0)`.

* **EVPI** (perfect information): :math:`E[\\max(NB, 0)] - \\max(E[NB], 0)`, on the posterior
  draws of :math:`NB`. An upper bound on what any study is worth.
* **EVSI** (sample information), by preposterior analysis with a normal approximation: the
  posterior of :math:`NB` is approximated by :math:`N(m, v)` (the draws' mean and variance). The
  data so far carry the information of :math:`n_0` units (teams, or months of follow-up);
  :math:`n` more units add information in proportion, so the posterior variance after them is
  :math:`v\\,n_0/(n_0+n)`. Before the data are seen, the future posterior mean
  :math:`M' = E[NB \\mid \\text{new data}]` is distributed :math:`N(m, s^2)` with
  :math:`s^2 = v - v\\,n_0/(n_0+n) = v\\,n/(n_0+n)` (the variance the new data resolve), so

  .. math::

      \\mathrm{EVSI}(n) = E[\\max(M', 0)] - \\max(m, 0)
                       = m\\,\\Phi(m/s) + s\\,\\varphi(m/s) - \\max(m, 0).

  It is >= 0, grows with :math:`n`, tends to the normal EVPI
  (:math:`s^2 \\to v`) and is ~0 when the decision is already certain (:math:`|m| \\gg \\sqrt v`).
  Information proportional to teams assumes the between-team spread and the within-team noise
  both shrink with more teams; proportional to months it is optimistic when team effects
  persist (more months of the same teams do not reduce the between-team uncertainty), which
  the report states.

:func:`evsi_monte_carlo` computes the same quantity by brute force for the normal-normal case
(the tests compare the two).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

_SQRT2 = math.sqrt(2.0)


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _Phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def expected_max0(mean: float, sd: float) -> float:
    """:math:`E[\\max(X, 0)]` for :math:`X \\sim N(mean, sd^2)`."""
    if sd <= 0 or not math.isfinite(sd):
        return max(mean, 0.0)
    z = mean / sd
    return mean * _Phi(z) + sd * _phi(z)


def evpi_normal(mean: float, sd: float) -> float:
    """EVPI of the scale / not decision when :math:`NB \\sim N(mean, sd^2)`."""
    return max(0.0, expected_max0(mean, sd) - max(mean, 0.0))


def evpi(nb_draws) -> float:
    """EVPI on the posterior draws of the net benefit: :math:`E[\\max(NB,0)] - \\max(E[NB],0)`."""
    nb = np.asarray(nb_draws, dtype=float)
    return float(max(0.0, np.mean(np.maximum(nb, 0.0)) - max(float(nb.mean()), 0.0)))


def evsi_normal(mean: float, sd: float, n0: float, n: float) -> float:
    """EVSI of ``n`` more units when the posterior :math:`N(mean, sd^2)` holds the information of
    ``n0`` units (module docstring)."""
    if n0 <= 0:
        raise ValueError("n0 (the information in the data so far) must be > 0")
    if n < 0:
        raise ValueError("n (the extra sample) must be >= 0")
    s = sd * math.sqrt(n / (n0 + n))
    return max(0.0, expected_max0(mean, s) - max(mean, 0.0))


def evsi(nb_draws, n0: float, n: float) -> float:
    """EVSI from net-benefit draws, with the normal approximation of their posterior."""
    nb = np.asarray(nb_draws, dtype=float)
    return evsi_normal(float(nb.mean()), float(nb.std(ddof=1)) if nb.size > 1 else 0.0, n0, n)


def evsi_monte_carlo(mean: float, sd: float, n0: float, n: float, *, sims: int = 200_000,
                     seed: int = 0) -> float:
    """Brute-force preposterior EVSI for the normal-normal model.

    The current posterior :math:`\\theta \\sim N(mean, sd^2)` is the posterior after ``n0``
    observations of noise variance :math:`\\sigma^2 = sd^2 n_0`. Simulate the truth
    :math:`\\theta`, then the mean of ``n`` new observations :math:`\\bar x \\sim N(\\theta,
    \\sigma^2/n)`, update the posterior mean conjugately, take :math:`\\max(\\cdot, 0)` and
    average.
    """
    rng = np.random.default_rng(seed)
    sigma2 = sd * sd * n0
    theta = rng.normal(mean, sd, sims)
    xbar = rng.normal(theta, math.sqrt(sigma2 / n)) if n > 0 else theta
    post_mean = (n0 * mean + n * xbar) / (n0 + n)
    return float(np.mean(np.maximum(post_mean, 0.0)) - max(mean, 0.0))


# ---------------------------------------------------------------------------------------------
# Options a manager can take

@dataclass
class SampleOption:
    kind: str          # "more_teams" | "longer"
    amount: float      # extra teams, or extra months
    unit: str          # "teams" | "months"
    n0: float          # the information so far, in the same unit
    evsi: float        # currency
    cost: float        # currency: what the extra data costs
    cost_basis: str    # how the cost was counted, in words
    benefit: float = 0.0       # currency: expected benefit the program earns while gathering it
    benefit_basis: str = ""    # how that benefit was counted, in words

    @property
    def net(self) -> float:
        """EVSI - cost + the benefit the extra participants receive (more teams: they get the
        program, and its expected benefit on them is a gain of the option, not only its cost)."""
        return self.evsi - self.cost + self.benefit

    def to_dict(self) -> dict:
        return {**asdict(self), "net": self.net}


#: an option must be worth at least one unit of the currency, net, to be called worth gathering:
#: a program that is clearly not worth scaling has EVSI of a fraction of a cent for free longer
#: follow-up (net 0.0002), which the report would otherwise call "worth gathering ... (net +EUR 0)"
MIN_NET = 1.0


@dataclass
class SampleInformation:
    """EVSI of a few ways to gather more data, next to their cost, and the EVPI bound."""

    expected_net_benefit: float
    sd_net_benefit: float
    evpi: float
    options: list[SampleOption] = field(default_factory=list)
    method: str = ("normal approximation of the net benefit's posterior; information proportional "
                   "to teams or months of follow-up (preposterior analysis)")

    @property
    def best(self) -> int | None:
        """Index of the option with the largest EVSI - cost of at least :data:`MIN_NET`, else None
        (none is worth it)."""
        nets = [o.net for o in self.options]
        if not nets or max(nets) < MIN_NET:
            return None
        return int(np.argmax(nets))

    def to_dict(self) -> dict:
        return {"expected_net_benefit": self.expected_net_benefit, "sd_net_benefit": self.sd_net_benefit,
                "evpi": self.evpi, "options": [o.to_dict() for o in self.options], "best": self.best,
                "method": self.method}

    @classmethod
    def from_dict(cls, d: dict) -> "SampleInformation":
        opts = [SampleOption(**{k: v for k, v in o.items() if k != "net"}) for o in d["options"]]
        return cls(d["expected_net_benefit"], d["sd_net_benefit"], d["evpi"], opts, d["method"])


def sample_information(nb_draws, *, teams: int, months_observed: float, horizon_months: float,
                       participants: float, cost_per_participant: float,
                       benefit_per_participant: float = 0.0,
                       extra_team_shares=(0.5, 1.0, 2.0), extra_months=(3, 6, 12)) -> SampleInformation:
    """EVSI of running the program on more teams or for longer, next to what that costs.

    * More teams: ``share x teams`` extra teams (rounded, at least 1), ``k/teams x participants``
      more people in the program arm (``participants``: the study's program arm; the study grows
      in proportion; control teams cost nothing extra). Cost: the program for them,
      ``x cost_per_participant``. Benefit: what the program is expected to earn on them over the
      horizon, ``x benefit_per_participant`` (E[benefit] / participants of the ROI), counted in
      the option's net (EVSI - cost + benefit) whatever the later decision, since they receive
      the program during the study.
    * EVSI of each option is at most the EVPI on the draws (the normal approximation can exceed
      it when the draws are skewed).
    * Longer: ``m`` more months of follow-up on top of ``months_observed``. Cost: the delay, the
      expected net benefit forgone by deciding ``m`` months later when scaling now looks worth it,
      ``m / horizon x max(E[NB], 0)``.
    """
    nb = np.asarray(nb_draws, dtype=float)
    m, sd = float(nb.mean()), float(nb.std(ddof=1)) if nb.size > 1 else 0.0
    out = SampleInformation(m, sd, evpi(nb))
    # The normal approximation overstates EVSI for skewed net benefits (a log-normal-like NB gave
    # EVSI 589 > the draws' EVPI 542); no study is worth more than perfect information, so each
    # option's EVSI is capped at the EVPI computed on the draws.
    def _evsi(n0: float, n: float) -> float:
        return min(evsi_normal(m, sd, n0, n), out.evpi)
    if teams >= 1:
        for share in extra_team_shares:
            k = max(1, int(round(share * teams)))
            extra = k / teams * participants
            out.options.append(SampleOption(
                "more_teams", float(k), "teams", float(teams), _evsi(teams, k),
                extra * cost_per_participant,
                f"the program for about {extra:,.0f} more participants",
                extra * benefit_per_participant,
                f"its expected benefit on those {extra:,.0f} participants over the horizon"))
    if months_observed > 0:
        for mo in extra_months:
            out.options.append(SampleOption(
                "longer", float(mo), "months", float(months_observed), _evsi(months_observed, mo),
                mo / horizon_months * max(m, 0.0),
                "the expected net benefit forgone by deciding later" if m > 0 else
                "nothing forgone: scaling now is not expected to pay"))
    return out
