"""The built-in example organisation: a simulated company whose true program effects are known.

``simulate_org(out_dir)`` writes into ``out_dir`` (a ``raw/`` folder) exactly the files a user
would provide (docs/data-contract.md), and ``truth.json`` into ``out_dir.parent``.

The organisation
----------------
About ``n_employees`` people (head count on 2024-01-01) in about 60 teams of 25-45 people in six
departments, observed for 24 months (periods 2024-01 .. 2025-12). Each team has a team lead and
3-4 first-line managers (role ``manager``) with about 8 direct reports each; each department has
a head. Individual contributors leave at a monthly hazard (department and team specific; about
18% a year overall, 28% in Sales), every leaver is replaced after a few weeks by a new hire into
the same team and manager, and Sales also grows. Managers, team leads and heads do not leave.
HRIS events hold promotions (one level up) and a few transfers between teams (only of people
hired after 2024-07-01 outside Sales and Support, so that no analysed unit changes team).

The data-generating process of every outcome is the model the panel rules of
docs/architecture.md lead to, on that outcome's link scale, with a team-varying effect
``effect_team ~ Normal(effect_mean, effect_sd_team)``:

* ``manager_coaching`` (randomized within teams, managers are the units, outcomes on their
  direct reports employed on 2024-07-01):
  - ``attrition_12m``: ``logit P(leave in [2024-07-01, 2025-07-01)) = alpha_team + effect_team *
    treated``; outside that window the baseline monthly hazard of the team applies.
  - ``promotion_readiness``: one 0/1 KPI per employee in 2025-06, ``logit p = a_team +
    effect_team * treated``.
  - ``engagement``: Likert 1..5 in 2024-06 (baseline) and 2025-03 (outcome), cumulative logit
    with cut points ``CUTPOINTS``; the outcome's latent mean is ``a_team + 0.5 * (baseline - 3)
    + effect_team * treated``.
* ``sales_onboarding`` (staggered by Sales team, a few never-treated teams):
  - ``time_to_first_deal``: days from hire, Exponential with ``log mean = a_team + effect_team *
    treated`` (treated = hired on/after the team's start), right-censored at leaving or at the
    end of the data.
  - ``quota_attainment``: monthly % of quota, ``Normal(mu + a_team + g_period + effect_team *
    post, 15)`` with post = period >= the team's start period.
* ``support_upskilling`` (pre_post, half the Support teams from 2025-01-01), team-months:
  - ``csat``: ``Normal(4.1 + a_team + g_period + effect_team * treated * post, 0.08)``.
  - ``error_count``: NegativeBinomial(tickets * rate, alpha=25), ``log rate = log 0.025 + a_team
    + g_period + effect_team * treated * post``.
* ``compliance_training`` (pre_post, half the teams of each department from 2025-04-01):
  ``violations`` NegativeBinomial(headcount * rate, alpha=8) with the same log-rate structure.

``truth.json`` records, per program and outcome, ``effect_mean``, ``effect_sd_team``, the realised
``team_effects`` (randomized designs: every team; panel designs: the treated teams, the only ones
whose effect is realised), and ``average_effect_abs`` / ``average_effect_rel``: the average over
the units the estimand averages over (randomized: every analysed report, both arms; panel
designs: treated teams' post periods; staggered time to event: treated hires) of the difference
between the outcome's expected value with and without the program, on the business scale
(probability, score points, days, events per unit of exposure), and relative to the mean
without it. It also records the skill gaps the skill assessments were drawn from.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed writes byte-identical
files.

The generator, one job per module: ``world`` (calendar, departments, skills, true effects),
``people`` (the HRIS history), ``kpis`` (every outcome's KPI rows and truth), ``skills``,
``learning`` (the LMS's xAPI statements), ``truth`` (truth.json) and ``simulate`` (draws in a
fixed order and writes the files). ``programs.yaml`` beside them is the example's programs
file, written by hand as a user would, and copied as it is.

``simulate_org(out_dir, preset="large")`` writes the large preset instead: 20,000 employees drawn
the same way and 100 generated programs with three outcomes each (``large``; `lndbayes simulate
--preset large`), to measure how lndbayes scales; docs/example-organisation.md describes both.
"""

from lndbayes.example.simulate import simulate_org
from lndbayes.example.world import DEPARTMENTS, PERIODS

__all__ = ["simulate_org", "DEPARTMENTS", "PERIODS"]
