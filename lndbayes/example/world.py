"""The example organisation's fixed facts: calendar, departments, skills, true effects, shared helpers."""

from __future__ import annotations

import numpy as np

BASE = np.datetime64("2024-01-01", "D")
N_MONTHS = 24
MONTH_START = np.array(
    [(np.datetime64("2024-01", "M") + np.timedelta64(m, "M")).astype("datetime64[D]") - BASE
     for m in range(N_MONTHS + 1)]
).astype(np.int64)  # day offsets of 2024-01-01 .. 2026-01-01
DATA_END = int(MONTH_START[-1] - 1)  # 2025-12-31
PERIODS = [f"{2024 + m // 12}-{m % 12 + 1:02d}" for m in range(N_MONTHS)]

# department: share of teams, IC role, annual IC attrition, growth hires per team over 24 months
DEPARTMENTS = {
    "Sales": (0.20, "account_executive", 0.28, 4.0),
    "Support": (0.1667, "support_agent", 0.22, 0.8),
    "Engineering": (0.20, "engineer", 0.13, 0.8),
    "Operations": (0.1667, "operations_specialist", 0.18, 0.8),
    "Finance": (0.1333, "analyst", 0.12, 0.8),
    "People": (0.1333, "hr_partner", 0.14, 0.8),
}

SKILL_LEVEL = {
    "coaching": 3.5, "feedback": 3.0, "negotiation": 3.0, "product_knowledge": 3.0,
    "troubleshooting": 3.0, "system_design": 3.0, "process_improvement": 3.0,
    "financial_analysis": 3.0, "employment_law": 3.0, "compliance": 3.0,
}
ROLE_SKILLS = {
    "account_executive": ["negotiation", "product_knowledge", "compliance"],
    "support_agent": ["troubleshooting", "product_knowledge", "compliance"],
    "engineer": ["system_design", "troubleshooting", "compliance"],
    "operations_specialist": ["process_improvement", "compliance"],
    "analyst": ["financial_analysis", "compliance"],
    "hr_partner": ["employment_law", "coaching", "compliance"],
    "manager": ["coaching", "feedback", "compliance"],
    "team_lead": ["coaching", "feedback", "compliance"],
    "head": ["coaching", "compliance"],
}

PREFIX = "https://lms.example.org/activities"
HOME = "https://lms.example.org"
LEGACY_HOME = "https://legacy-lms.example.net"
VERB = "http://adlnet.gov/expapi/verbs/"

# manager_coaching: design start and the attrition window
COACH_START = int((np.datetime64("2024-07-01") - BASE).astype(np.int64))
COACH_END = int((np.datetime64("2025-07-01") - BASE).astype(np.int64))
SUPPORT_START_M = 12   # 2025-01
COMPLIANCE_START_M = 15  # 2025-04
LEAN_START_M = 14  # 2025-03: lean_workshop (Operations teams, pre/post)

#: ordinal cut points of the engagement survey (latent mean 0 -> 5%, 15%, 30%, 35%, 15%)
CUTPOINTS = np.log(np.array([0.05, 0.20, 0.50, 0.85]) / (1 - np.array([0.05, 0.20, 0.50, 0.85])))
ENGAGEMENT_BASELINE_COEF = 0.5

# true effect distributions (link scale)
EFFECTS = {
    ("manager_coaching", "attrition_12m"): (-0.45, 0.25),
    ("manager_coaching", "promotion_readiness"): (0.35, 0.20),
    ("manager_coaching", "engagement"): (0.40, 0.20),
    ("sales_onboarding", "time_to_first_deal"): (-0.30, 0.15),
    ("sales_onboarding", "quota_attainment"): (5.0, 2.5),
    ("support_upskilling", "csat"): (0.15, 0.06),
    ("support_upskilling", "error_count"): (-0.25, 0.12),
    ("compliance_training", "violations"): (-0.40, 0.20),
    # no effect in any team: the portfolio's "stop" (the workshop is liked, L1, but changes nothing)
    ("lean_workshop", "error_count"): (0.0, 0.0),
}

FIRST = ["Alex", "Maria", "Jonas", "Lea", "Omar", "Sofia", "Chen", "Priya", "Lukas", "Emma",
         "Noah", "Amira", "Mateo", "Hanna", "Yuki", "Ines", "David", "Sara", "Kofi", "Elena",
         "Tomas", "Aisha", "Felix", "Nora", "Ravi", "Julia", "Marek", "Zoe", "Ali", "Clara"]
LAST = ["Muller", "Garcia", "Smith", "Rossi", "Kowalski", "Nguyen", "Okafor", "Jensen", "Silva",
        "Novak", "Schmidt", "Haddad", "Brown", "Ivanova", "Costa", "Fischer", "Kim", "Dubois",
        "Moreau", "Weber", "Santos", "Larsen", "Ahmed", "Varga", "Becker", "Lopez", "Mensah"]


def logit(p):
    return np.log(p / (1 - p))


def dates(days) -> np.ndarray:
    return np.datetime_as_string(BASE + np.asarray(days, dtype=np.int64).astype("timedelta64[D]"))


def month_of(days) -> np.ndarray:
    return np.searchsorted(MONTH_START, np.asarray(days), side="right") - 1


def uuids(rng, n: int) -> np.ndarray:
    b = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = np.array([row.tobytes().hex() for row in b]) if n else np.array([], dtype=str)
    return np.array([f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}" for x in h], dtype=object)
