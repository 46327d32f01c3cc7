"""Published arm-level results of the Ashar 2022 PRT trial (facts, with their sources).

Ashar YK, Gordon A, Schubiner H, et al. Effect of Pain Reprocessing Therapy vs Placebo and Usual
Care for Patients With Chronic Back Pain: A Randomized Clinical Trial. JAMA Psychiatry.
2022;79(1):13-23. doi:10.1001/jamapsychiatry.2021.2669 (NCT03294148).
Pain: Table 2, Figure 1 (n), supplement eTable 2. TSK-11: supplement eTable 6. PCS: computed from
the public data (the supplement's PCS row is a copy error). Oswestry: Table 2. Attributions:
Ashar YK et al., JAMA Netw Open 2023;6(9):e2333846 (public STR/MB coding).

:func:`prt_sim.data.published_ashar2022` packs these figures into a validated arm-level
:class:`prt_sim.data.TrialData`.
"""

from __future__ import annotations

__all__ = [
    "CITATION",
    "ATTRIBUTION_CITATION",
    "ARMS",
    "VISIT_DAYS",
    "PAIN",
    "PAIN_FREE",
    "TSK11",
    "PCS",
    "ODI",
    "MIND_BRAIN_SHARE",
    "MIND_BRAIN_N",
]

CITATION = (
    "Ashar YK, Gordon A, Schubiner H, et al. JAMA Psychiatry. 2022;79(1):13-23. "
    "doi:10.1001/jamapsychiatry.2021.2669"
)

#: The secondary analysis of pain attributions (mind-brain vs structural causes).
ATTRIBUTION_CITATION = "Ashar YK, Lumley MA, Perlis RH, et al. JAMA Netw Open. 2023;6(9):e2333846"

#: Arm names and randomized n.
ARMS = {"prt": 50, "placebo": 51, "usual_care": 50}

#: Study day of each published visit (day 0 = T1; post = T2 about day 30; follow-ups after post).
#: "baseline" is the mean of the eligibility visit (day -10) and T1 (day 0), dated at the midpoint;
#: "t1" only carries the attributions.
VISIT_DAYS = {
    "baseline": -5,
    "t1": 0,
    "post": 30,
    "m1": 60,
    "m2": 91,
    "m3": 121,
    "m6": 213,
    "m12": 395,
}

#: Average pain (BPI, 0-10): visit -> arm -> (mean, SD, n observed). Baseline = mean of
#: eligibility and T1.
PAIN = {
    "baseline": {
        "prt": (4.22, 1.21, 50),
        "placebo": (4.16, 1.33, 51),
        "usual_care": (3.91, 1.24, 50),
    },
    "post": {"prt": (1.18, 1.24, 44), "placebo": (2.84, 1.64, 44), "usual_care": (3.13, 1.45, 47)},
    "m1": {"prt": (1.26, 1.77, 38), "placebo": (2.91, 1.97, 44), "usual_care": (3.07, 1.63, 41)},
    "m2": {"prt": (1.59, 1.92, 37), "placebo": (3.06, 1.89, 35), "usual_care": (3.00, 1.86, 38)},
    "m3": {"prt": (1.54, 1.68, 37), "placebo": (3.21, 2.02, 38), "usual_care": (3.27, 1.95, 37)},
    "m6": {"prt": (1.39, 1.48, 41), "placebo": (2.68, 2.08, 37), "usual_care": (2.95, 1.93, 38)},
    "m12": {"prt": (1.51, 1.59, 45), "placebo": (2.79, 1.78, 43), "usual_care": (3.00, 1.77, 36)},
}

#: Pain 0-1 responders: visit -> arm -> (count, randomized n); missing counted as non-responder.
PAIN_FREE = {
    "post": {"prt": (33, 50), "placebo": (10, 51), "usual_care": (5, 50)},
    "m12": {"prt": (26, 50), "placebo": (14, 51), "usual_care": (8, 50)},
}

#: TSK-11 (11-44): visit -> arm -> (mean, SD).
TSK11 = {
    "baseline": {"prt": (23.62, 5.46), "placebo": (23.10, 4.62), "usual_care": (23.93, 4.68)},
    "post": {"prt": (16.41, 5.37), "placebo": (22.16, 4.94), "usual_care": (22.51, 6.30)},
    "m12": {"prt": (17.16, 5.82), "placebo": (23.33, 5.40), "usual_care": (21.75, 5.88)},
}

#: PCS (0-52): visit -> arm -> (mean, SD).
PCS = {
    "baseline": {"prt": (12.11, 7.98), "placebo": (10.32, 6.54), "usual_care": (12.23, 8.09)},
    "post": {"prt": (4.84, 5.72), "placebo": (7.36, 5.34), "usual_care": (9.34, 7.75)},
}

#: Oswestry Disability Index (0-100): visit -> arm -> mean.
ODI = {
    "baseline": {"prt": 23.70, "placebo": 23.06, "usual_care": 23.26},
    "post": {"prt": 10.14, "placebo": 19.00, "usual_care": 20.68},
    "m12": {"prt": 11.16, "placebo": 18.52, "usual_care": 18.78},
}

#: Share of attributed causes coded mind-brain: visit -> arm -> share.
MIND_BRAIN_SHARE = {
    "t1": {"prt": 0.093, "placebo": 0.111, "usual_care": 0.100},
    "post": {"prt": 0.598, "placebo": 0.121, "usual_care": 0.085},
}

#: Patients with coded causes behind :data:`MIND_BRAIN_SHARE` (public STR/MB coding: every
#: observed patient has all 3 causes coded): visit -> arm -> n.
MIND_BRAIN_N = {
    "t1": {"prt": 50, "placebo": 51, "usual_care": 50},
    "post": {"prt": 44, "placebo": 44, "usual_care": 47},
}
