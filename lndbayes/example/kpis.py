"""The KPI rows of every program's outcomes, drawn from the model the panel rules lead to, and
the truth of each outcome (its team effects and business-scale average effect)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.example.people import active_matrix, team_of_at
from lndbayes.example.world import (
    COACH_START,
    COMPLIANCE_START_M,
    CUTPOINTS,
    DATA_END,
    DEPARTMENTS,
    EFFECTS,
    ENGAGEMENT_BASELINE_COEF,
    LEAN_START_M,
    MONTH_START,
    N_MONTHS,
    PERIODS,
    SUPPORT_START_M,
    dates,
    logit,
    month_of,
)
from lndbayes.models.families import expit


def coaching_outcomes(rng, H, ids):
    """promotion_ready and engagement KPI rows; truth of the three coaching outcomes."""
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    reports = H["ic"] & H["is_mgr"][np.maximum(H["manager"], 0)] & (H["manager"] >= 0)
    arm = H["arm_of"][np.maximum(H["manager"], 0)] * reports
    analysed = reports & (hire <= COACH_START) & (term >= COACH_START)
    truth = {}

    # attrition_12m (already simulated in simulate_hris). A randomized design's business-scale
    # estimand averages over every analysed unit, both arms (lndbayes.estimands), so the truth
    # does too; the treated arm alone would be the effect on the treated, a different number.
    tr = analysed & (arm == 1)
    p0 = expit(H["alpha_att"][team[analysed]])
    p1 = expit(H["alpha_att"][team[analysed]] + H["eff_att"][team[analysed]])
    truth["attrition_12m"] = dict(
        family="binary", link="logit", team_effects=H["eff_att"], avg_abs=float(np.mean(p1 - p0)),
        avg_rel=float(np.mean(p1 - p0) / np.mean(p0)),
        extra={"team_intercept_sd": 0.25, "baseline_annual_rate_by_department":
               {d: DEPARTMENTS[d][2] for d in H["depts"]},
               "n_analysed": int(analysed.sum()), "n_treated": int(tr.sum())})

    rows = []
    # promotion_readiness: one 0/1 value per report employed during 2025-06
    m_pr, s_pr = EFFECTS[("manager_coaching", "promotion_readiness")]
    a_pr = logit(0.22) + rng.normal(0, 0.30, n_teams)
    e_pr = rng.normal(m_pr, s_pr, n_teams)
    d0, d1 = MONTH_START[17], MONTH_START[18] - 1
    has = reports & (hire <= d1) & (term >= d0)
    eta = a_pr[team] + e_pr[team] * arm
    y = (rng.random(len(team)) < expit(eta)).astype(float)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has],
                              "kpi": "promotion_ready", "period": "2025-06", "value": y[has]}))
    an = has & analysed  # both arms, as the estimand (see attrition_12m)
    q0, q1 = expit(a_pr[team[an]]), expit(a_pr[team[an]] + e_pr[team[an]])
    truth["promotion_readiness"] = dict(
        family="binary", link="logit", team_effects=e_pr, avg_abs=float(np.mean(q1 - q0)),
        avg_rel=float(np.mean(q1 - q0) / np.mean(q0)),
        extra={"team_intercept_sd": 0.30, "baseline_rate": 0.22})

    # engagement: Likert 1..5 in 2024-06 (baseline) and 2025-03 (outcome)
    m_en, s_en = EFFECTS[("manager_coaching", "engagement")]
    a_en = rng.normal(0, 0.30, n_teams)
    e_en = rng.normal(m_en, s_en, n_teams)

    def draw(latent):
        return 1 + (latent[:, None] + rng.logistic(size=len(latent))[:, None] > CUTPOINTS[None, :]).sum(1)

    def expect(latent):
        return 1 + expit(latent[:, None] - CUTPOINTS[None, :]).sum(1)

    has_pre = reports & (hire <= COACH_START) & (term >= MONTH_START[5])
    y_pre = draw(a_en[team])
    base = np.where(has_pre, y_pre - 3.0, 0.0)
    has_post = reports & (hire <= MONTH_START[15] - 1) & (term >= MONTH_START[14])
    lat0 = a_en[team] + ENGAGEMENT_BASELINE_COEF * base
    y_post = draw(lat0 + e_en[team] * arm)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has_pre],
                              "kpi": "engagement", "period": "2024-06", "value": y_pre[has_pre].astype(float)}))
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[has_post],
                              "kpi": "engagement", "period": "2025-03", "value": y_post[has_post].astype(float)}))
    an = has_post & analysed  # both arms, as the estimand (see attrition_12m)
    g0, g1 = expect(lat0[an]), expect(lat0[an] + e_en[team[an]])
    truth["engagement"] = dict(
        family="ordinal", link="logit", team_effects=e_en, avg_abs=float(np.mean(g1 - g0)),
        avg_rel=float(np.mean(g1 - g0) / np.mean(g0)),
        extra={"team_intercept_sd": 0.30, "cutpoints": [round(float(c), 4) for c in CUTPOINTS],
               "baseline_coef": ENGAGEMENT_BASELINE_COEF,
               "baseline_note": "latent mean of the outcome = team + baseline_coef * (baseline - 3) "
                                "+ effect_team * treated"})
    return rows, truth


def sales_outcomes(rng, H, ids):
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    sales_teams = np.flatnonzero(np.array(H["depts"])[H["team_dept"]] == "Sales")
    k = len(sales_teams)
    n_never = min(max(1, int(round(k / 6))), k - 1)  # a lone Sales team (tiny org) is treated
    order = rng.permutation(sales_teams)
    never, treated = np.sort(order[:n_never]), order[n_never:]
    cohort_m = np.full(n_teams, -1)
    cohort_m[treated] = np.round(np.linspace(3, 17, len(treated))).astype(int)  # 2024-04..2025-06
    start_day = np.where(cohort_m >= 0, MONTH_START[np.maximum(cohort_m, 0)], 10 ** 9)
    truth, rows = {}, []

    ae = H["role"] == "account_executive"
    # time to first deal of new hires
    m_tt, s_tt = EFFECTS[("sales_onboarding", "time_to_first_deal")]
    a_tt = np.log(80.0) + rng.normal(0, 0.20, n_teams)
    e_tt = rng.normal(m_tt, s_tt, n_teams)
    new = ae & (hire >= 0)
    trt = (hire >= start_day[team]).astype(int)
    mean_t = np.exp(a_tt[team] + e_tt[team] * trt)
    t = rng.exponential(mean_t)
    follow = np.minimum(term, DATA_END) - hire
    cens = t > follow
    val = np.maximum(np.round(np.where(cens, follow, t), 1), 0.1)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[new], "kpi": "days_to_first_deal",
                              "period": np.array(PERIODS)[month_of(hire[new])], "value": val[new],
                              "censored": np.where(cens[new], "true", "false")}))
    tr = new & (trt == 1)
    d0, d1 = np.exp(a_tt[team[tr]]), np.exp(a_tt[team[tr]] + e_tt[team[tr]])
    truth["time_to_first_deal"] = dict(
        family="time_to_event", link="log", team_effects={t_: e_tt[t_] for t_ in treated},
        avg_abs=float(np.mean(d1 - d0)), avg_rel=float(np.mean(d1 - d0) / np.mean(d0)),
        extra={"team_intercept_sd": 0.20, "baseline_mean_days": 80.0, "n_new_hires": int(new.sum()),
               "n_treated_hires": int(tr.sum()), "n_censored": int((cens & new).sum())})

    # monthly quota attainment
    m_q, s_q = EFFECTS[("sales_onboarding", "quota_attainment")]
    a_q = rng.normal(0, 6.0, n_teams)
    g_q = rng.normal(0, 3.0, N_MONTHS) + np.linspace(-1.5, 1.5, N_MONTHS)
    e_q = rng.normal(m_q, s_q, n_teams)
    act = active_matrix(hire, term, MONTH_START[:-1], MONTH_START[1:] - 1) & ae[None, :]
    mm, pp = np.nonzero(act)
    post = (cohort_m[team[pp]] >= 0) & (mm >= cohort_m[team[pp]])
    mu0 = 85.0 + a_q[team[pp]] + g_q[mm]
    y = np.maximum(mu0 + e_q[team[pp]] * post + rng.normal(0, 15.0, len(pp)), 0.0)
    rows.append(pd.DataFrame({"entity_type": "employee", "entity_id": ids[pp], "kpi": "quota_attainment",
                              "period": np.array(PERIODS)[mm], "value": np.round(y, 1)}))
    eff = e_q[team[pp]][post]
    truth["quota_attainment"] = dict(
        family="normal", link="identity", team_effects={t_: e_q[t_] for t_ in treated},
        avg_abs=float(eff.mean()), avg_rel=float(eff.mean() / mu0[post].mean()),
        extra={"team_intercept_sd": 6.0, "period_effect_sd": 3.0, "sigma": 15.0, "mean": 85.0})
    assign = pd.DataFrame({"program_id": "sales_onboarding", "unit_type": "team",
                           "unit_id": H["team_names"][sales_teams],
                           "arm": np.where(cohort_m[sales_teams] >= 0, "treatment", "control"),
                           "start_date": np.where(cohort_m[sales_teams] >= 0,
                                                  dates(MONTH_START[np.maximum(cohort_m[sales_teams], 0)]), "")})
    design_start = str(dates([MONTH_START[cohort_m[treated].min()]])[0])
    return rows, truth, assign, start_day, design_start


def _nb(rng, mu, alpha):
    return rng.poisson(rng.gamma(alpha, mu / alpha))


def support_outcomes(rng, H):
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    sup = np.flatnonzero(np.array(H["depts"])[H["team_dept"]] == "Support")
    order = rng.permutation(sup)
    treated = np.sort(order[: max(1, len(sup) // 2)])  # a lone team (tiny org) is treated: before/after only
    is_tr = np.isin(np.arange(n_teams), treated)
    agents = H["role"] == "support_agent"
    act = active_matrix(hire, term, MONTH_START[:-1], MONTH_START[1:] - 1) & agents[None, :]
    n_ag = np.zeros((N_MONTHS, n_teams), dtype=int)
    for m in range(N_MONTHS):
        n_ag[m] = np.bincount(team[act[m]], minlength=n_teams)
    T, M = np.meshgrid(sup, np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    post = M >= SUPPORT_START_M
    d = (is_tr[T] & post).astype(float)
    rows, truth = [], {}
    per = np.array(PERIODS)[M]
    names = H["team_names"][T]

    m_c, s_c = EFFECTS[("support_upskilling", "csat")]
    a_c, g_c, e_c = rng.normal(0, 0.15, n_teams), rng.normal(0, 0.05, N_MONTHS), rng.normal(m_c, s_c, n_teams)
    mu0 = 4.1 + a_c[T] + g_c[M]
    y = mu0 + e_c[T] * d + rng.normal(0, 0.08, len(T))
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "csat", "period": per,
                              "value": np.round(y, 3)}))
    sel = d == 1
    truth["csat"] = dict(family="normal", link="identity", team_effects={t: e_c[t] for t in treated},
                         avg_abs=float(e_c[T][sel].mean()), avg_rel=float(e_c[T][sel].mean() / mu0[sel].mean()),
                         extra={"team_intercept_sd": 0.15, "period_effect_sd": 0.05, "sigma": 0.08,
                                "mean": 4.1})

    m_e, s_e = EFFECTS[("support_upskilling", "error_count")]
    a_e, g_e, e_e = rng.normal(0, 0.20, n_teams), rng.normal(0, 0.08, N_MONTHS), rng.normal(m_e, s_e, n_teams)
    tickets = rng.poisson(58.0 * n_ag[M, T])
    lr0 = np.log(0.025) + a_e[T] + g_e[M]
    errors = _nb(rng, tickets * np.exp(lr0 + e_e[T] * d), 25.0)
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "tickets", "period": per,
                              "value": tickets.astype(float)}))
    rows.append(pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "errors", "period": per,
                              "value": errors.astype(float)}))
    r0, r1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e_e[T][sel])
    truth["error_count"] = dict(family="count", link="log", team_effects={t: e_e[t] for t in treated},
                                avg_abs=float(np.mean(r1 - r0)), avg_rel=float(np.mean(r1 - r0) / np.mean(r0)),
                                extra={"team_intercept_sd": 0.20, "period_effect_sd": 0.08,
                                       "nb_alpha": 25.0, "baseline_rate_per_ticket": 0.025,
                                       "business_unit": "errors per ticket"})
    assign = pd.DataFrame({"program_id": "support_upskilling", "unit_type": "team",
                           "unit_id": H["team_names"][sup], "arm": np.where(is_tr[sup], "treatment", "control"),
                           "start_date": np.where(is_tr[sup], dates([MONTH_START[SUPPORT_START_M]])[0], "")})
    return rows, truth, assign, treated


def compliance_outcomes(rng, H):
    n_teams = H["n_teams"]
    treated = []
    for d in range(len(H["depts"])):
        ts = np.flatnonzero(H["team_dept"] == d)
        treated += list(rng.permutation(ts)[: max(1, len(ts) // 2)])
    treated = np.sort(np.array(treated, dtype=int))
    is_tr = np.isin(np.arange(n_teams), treated)
    mid = MONTH_START[:-1] + 14
    tm = team_of_at(H, mid)
    act = active_matrix(H["hire"], H["term"], MONTH_START[:-1], MONTH_START[1:] - 1)
    head = np.zeros((N_MONTHS, n_teams), dtype=int)
    for m in range(N_MONTHS):
        head[m] = np.bincount(tm[m][act[m]], minlength=n_teams)
    T, M = np.meshgrid(np.arange(n_teams), np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    d = (is_tr[T] & (M >= COMPLIANCE_START_M)).astype(float)
    m_v, s_v = EFFECTS[("compliance_training", "violations")]
    a_v, g_v, e_v = rng.normal(0, 0.30, n_teams), rng.normal(0, 0.10, N_MONTHS), rng.normal(m_v, s_v, n_teams)
    lr0 = np.log(0.012) + a_v[T] + g_v[M]
    hc = head[M, T]
    y = _nb(rng, hc * np.exp(lr0 + e_v[T] * d), 8.0)
    per, names = np.array(PERIODS)[M], H["team_names"][T]
    rows = [pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "headcount", "period": per,
                          "value": hc.astype(float)}),
            pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "violations", "period": per,
                          "value": y.astype(float)})]
    sel = d == 1
    r0, r1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e_v[T][sel])
    truth = {"violations": dict(family="count", link="log", team_effects={t: e_v[t] for t in treated},
                                avg_abs=float(np.mean(r1 - r0)), avg_rel=float(np.mean(r1 - r0) / np.mean(r0)),
                                extra={"team_intercept_sd": 0.30, "period_effect_sd": 0.10, "nb_alpha": 8.0,
                                       "baseline_rate_per_employee_month": 0.012,
                                       "business_unit": "violations per employee-month (x100: per 100 employees)"})}
    assign = pd.DataFrame({"program_id": "compliance_training", "unit_type": "team",
                           "unit_id": H["team_names"], "arm": np.where(is_tr, "treatment", "control"),
                           "start_date": np.where(is_tr, dates([MONTH_START[COMPLIANCE_START_M]])[0], "")})
    return rows, truth, assign, treated


#: lean_workshop draws from its own stream, numpy.random.default_rng([seed, LEAN_STREAM]), after
#: everything else: the other programs' data are byte-identical with or without it
LEAN_STREAM = 0x4C57


def lean_outcomes(rng, H):
    """lean_workshop (Operations teams, pre/post from 2025-03): errors per ticket, as support's.

    The true effect is zero in every team (world.EFFECTS), so the business-scale truth is exactly
    0; the KPIs are the ones support_upskilling reads (``errors`` with exposure ``tickets``), for
    the Operations teams.
    """
    n_teams, team, hire, term = H["n_teams"], H["team"], H["hire"], H["term"]
    ops = np.flatnonzero(np.array(H["depts"])[H["team_dept"]] == "Operations")
    treated = np.sort(rng.permutation(ops)[: max(1, len(ops) // 2)])
    is_tr = np.isin(np.arange(n_teams), treated)
    staff = H["role"] == "operations_specialist"
    act = active_matrix(hire, term, MONTH_START[:-1], MONTH_START[1:] - 1) & staff[None, :]
    n_st = np.zeros((N_MONTHS, n_teams), dtype=int)
    for m in range(N_MONTHS):
        n_st[m] = np.bincount(team[act[m]], minlength=n_teams)
    T, M = np.meshgrid(ops, np.arange(N_MONTHS))
    T, M = T.ravel(), M.ravel()
    d = (is_tr[T] & (M >= LEAN_START_M)).astype(float)
    per, names = np.array(PERIODS)[M], H["team_names"][T]

    m_e, s_e = EFFECTS[("lean_workshop", "error_count")]
    a_e, g_e, e_e = rng.normal(0, 0.20, n_teams), rng.normal(0, 0.08, N_MONTHS), rng.normal(m_e, s_e, n_teams)
    tickets = rng.poisson(45.0 * n_st[M, T])
    lr0 = np.log(0.02) + a_e[T] + g_e[M]
    errors = _nb(rng, tickets * np.exp(lr0 + e_e[T] * d), 25.0)
    rows = [pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "tickets", "period": per,
                          "value": tickets.astype(float)}),
            pd.DataFrame({"entity_type": "team", "entity_id": names, "kpi": "errors", "period": per,
                          "value": errors.astype(float)})]
    sel = d == 1
    r0, r1 = np.exp(lr0[sel]), np.exp(lr0[sel] + e_e[T][sel])
    truth = {"error_count": dict(family="count", link="log", team_effects={t: e_e[t] for t in treated},
                                 avg_abs=float(np.mean(r1 - r0)), avg_rel=float(np.mean(r1 - r0) / np.mean(r0)),
                                 extra={"team_intercept_sd": 0.20, "period_effect_sd": 0.08, "nb_alpha": 25.0,
                                        "baseline_rate_per_ticket": 0.02, "business_unit": "errors per ticket",
                                        "note": "no effect in any team: the program changes nothing"})}
    assign = pd.DataFrame({"program_id": "lean_workshop", "unit_type": "team", "unit_id": H["team_names"][ops],
                           "arm": np.where(is_tr[ops], "treatment", "control"),
                           "start_date": np.where(is_tr[ops], dates([MONTH_START[LEAN_START_M]])[0], "")})
    return rows, truth, assign, treated
