"""The Ashar 2022 trial's published arm-level results: facts with their sources, and the TrialData they make.

Ashar YK, Gordon A, Schubiner H, et al. Effect of Pain Reprocessing Therapy vs Placebo and Usual
Care for Patients With Chronic Back Pain: A Randomized Clinical Trial. JAMA Psychiatry.
2022;79(1):13-23. doi:10.1001/jamapsychiatry.2021.2669 (NCT03294148).
Pain: Table 2, Figure 1 (n), supplement eTable 2. TSK-11: supplement eTable 6. PCS: computed from
the public data (the supplement's PCS row is a copy error). Oswestry: Table 2. Attributions:
Ashar YK et al., JAMA Netw Open 2023;6(9):e2333846 (public STR/MB coding).

:func:`published_ashar2022` packs these figures into a validated arm-level
:class:`~prt_sim.data.TrialData`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..model.calendar import POST_DAY, month_day
from ..model.protocols import PRT, OpenLabelPlacebo, UsualCare
from ..model.timeline import Visit
from .trial import _PAIN_FREE, BASELINE_COMPOSITE, SUMMARY_MEASURES, TrialData, _make_coords

__all__ = [
    "published_ashar2022",
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

#: Study day of each published visit, from the trial calendar (day 0 = T1; post = T2; follow-ups
#: in months after post). "baseline" is the mean of the eligibility visit (day -10) and T1, dated
#: at the midpoint; "t1" only carries the attributions.
VISIT_DAYS = {
    "baseline": -5,
    "t1": 0,
    "post": POST_DAY,
    **{f"m{m}": month_day(m) for m in (1, 2, 3, 6, 12)},
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


def published_ashar2022() -> TrialData:
    """The published arm-level results of Ashar 2022 (:mod:`prt_sim.data.published`) as TrialData.

    Visits: ``baseline`` (composite: mean of eligibility and T1, day -5), ``t1`` (attributions
    only), ``post`` (day 30), ``m1``, ``m2``, ``m3``, ``m6``, ``m12``. Pain: mean, SD, n observed
    at every visit but t1; responders (pain 0-1) at post and m12 with randomized and observed n;
    TSK-11 at baseline/post/m12; PCS at baseline/post; Oswestry at baseline/post/m12 (no SD
    published: NaN); mind-brain share of causes at t1/post (no SD: NaN). Where no n is published
    for a measure (TSK-11, PCS, Oswestry) the pain n at that visit is used; for the mind-brain
    share the number of patients with coded causes. Everything else is NaN.

    Source: Ashar et al., JAMA Psychiatry 2022 (Table 2, Figure 1, supplement eTables 2 and 6);
    PCS from the public data (the supplement's PCS row is a copy error); attributions from Ashar
    et al., JAMA Netw Open 2023 (public STR/MB coding).
    """
    arms = tuple(ARMS)
    names = ("baseline", "t1", "post", "m1", "m2", "m3", "m6", "m12")
    visits = tuple(Visit(name=v, day=VISIT_DAYS[v]) for v in names)
    shape = (len(arms), len(visits))
    out = {
        f"{p}_{s}": np.full(shape, np.nan)
        for p in SUMMARY_MEASURES.values()
        for s in ("mean", "sd", "n")
    }
    out |= {k: np.full(shape, np.nan) for k in _PAIN_FREE}
    for i, a in enumerate(arms):
        for j, v in enumerate(names):
            pain = PAIN.get(v, {}).get(a)
            pain_n = pain[2] if pain else ARMS[a]
            if pain:
                out["pain_avg_mean"][i, j], out["pain_avg_sd"][i, j], out["pain_avg_n"][i, j] = pain
            if v in PAIN_FREE:
                k, n_rand = PAIN_FREE[v][a]
                out["pain_free_k"][i, j] = k
                out["pain_free_n_randomized"][i, j] = n_rand
                out["pain_free_n_observed"][i, j] = pain_n
            for m, table in (("tsk11", TSK11), ("pcs", PCS)):
                if v in table:
                    out[f"{m}_mean"][i, j], out[f"{m}_sd"][i, j] = table[v][a]
                    out[f"{m}_n"][i, j] = pain_n
            if v in ODI:
                out["odi_mean"][i, j] = ODI[v][a]
                out["odi_n"][i, j] = pain_n
            if v in MIND_BRAIN_SHARE:
                out["attrib_mb_share_mean"][i, j] = MIND_BRAIN_SHARE[v][a]
                n_mb = MIND_BRAIN_N.get(v, {}).get(a, pain_n)
                out["attrib_mb_share_n"][i, j] = n_mb
    data = {k: (("arm", "visit"), v) for k, v in out.items()}
    data["n_randomized"] = ("arm", np.array([float(ARMS[a]) for a in arms]))
    summaries = xr.Dataset(
        data,
        coords={"arm": np.array(arms, dtype=object), **_make_coords(visits)},
        attrs={"source": "prt_sim.data.published", "citation": CITATION},
    )
    return TrialData(
        arms=arms,
        protocols={"prt": PRT(), "placebo": OpenLabelPlacebo(), "usual_care": UsualCare()},
        visits=visits,
        summaries=summaries,
        composite_visits=BASELINE_COMPOSITE,
        source=(
            "prt_sim.data.published: Ashar 2022 Table 2, Figure 1, supplement eTables 2 and 6; PCS "
            "from the public data; attributions from Ashar 2023 (public STR/MB coding)"
        ),
        citation=f"{CITATION}; attributions: {ATTRIBUTION_CITATION}",
    )
