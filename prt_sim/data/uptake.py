"""Who started treatment: each patient's probability, from whether they left any record during it.

The public records do not say which patients started their arm's treatment; the trial reports
how many did (PRT: 45 of 50, the protocol's ``uptake``). Whether a patient left any record
during treatment (a weekly survey or the end-of-treatment visit) is evidence: a patient who
never started rarely fills in the treatment-period surveys, while patients of the control arms
(nothing to start) show how often anyone leaves none. Bayes' rule then gives each patient's
probability of having started, from participation counts only (no outcome enters it):

    P(started | no record) = u r / (u r + (1 - u) q)
    P(started | a record)  = u (1 - r) / (u (1 - r) + (1 - u) (1 - q))

with ``u`` the arm's uptake, ``r`` the share of patients of the arms whose uptake is 1 with no
treatment-period record, and ``q`` the share of non-starters with none, solved from the arm's
own count of patients with none (``n_none / n = u r + (1 - u) q``, kept within ``[r, 1]``).

On the public data: 5 of 50 PRT patients left no treatment-period record against 2 of 101 in
the control arms, so ``r = 0.020``, ``q = 0.82``; P(started) is 0.18 for those 5 and 0.98 for
the other 45 (45.0 expected starters, as reported).
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from .trial import MEASURES

__all__ = [
    "posterior_start",
    "start_probabilities",
    "treatment_period_record",
]


def _evidence_visits(data, upto: str | None) -> list[str]:
    # A record during treatment: any measure at a survey-mode visit (the weekly treatment
    # surveys) or at the first regular visit after T1 (the end of treatment, "post").
    days = {v.name: v.day for v in data.visits}
    if upto is not None and upto not in days:
        raise ValidationError("upto", upto, f"one of the data's visits {tuple(days)}")
    if "t1" not in days:
        return []
    after = [v for v in data.visits if v.day > days["t1"]]
    post = next((v.name for v in after if v.mode == "visit"), None)
    out = [v.name for v in after if v.mode == "survey" or v.name == post]
    return out if upto is None else [n for n in out if days[n] <= days[upto]]


def treatment_period_record(data, upto: str | None = None) -> np.ndarray:
    """Whether each patient left any record during treatment (bool over ``patient``).

    Parameters
    ----------
    data : TrialData
        Patient-level records.
    upto : str, optional
        Count only visits up to this one (a patient followed so far); default: all.
    """
    return _records_at(data, _evidence_visits(data, upto))


def _records_at(data, visits: list[str]) -> np.ndarray:
    if data.level != "patient":
        raise ValidationError("data.level", data.level, "'patient' (records)")
    rec = data.records
    has = np.zeros(rec.sizes["patient"], dtype=bool)
    for var in MEASURES:  # attrib_coded counts the coded causes (0 when none): not a record
        da = rec.get(var)
        if da is not None and "visit" in da.dims and visits:
            v = da.sel(visit=visits).transpose("patient", "visit").values.astype(float)
            has |= np.isfinite(v).any(axis=1)
    return has


def _posterior(started: float, not_started: float, prior: float) -> float:
    # A pattern neither kind of patient shows carries no evidence: the prior stands.
    total = started + not_started
    return started / total if total > 0 else prior


def start_probabilities(data, upto: str | None = None) -> np.ndarray:
    """Each patient's probability of having started their arm's treatment, given whether they
    left a record during it (module docstring). 1 in arms whose uptake is 1; the arm's uptake
    when no treatment-period visit is counted (``upto`` before treatment) or when no patient of
    the arms with uptake 1 can show the missingness rate.

    Parameters
    ----------
    data : TrialData
        Patient-level records with every arm's protocol.
    upto : str, optional
        As in :func:`treatment_period_record`.

    Returns
    -------
    numpy.ndarray
        Probabilities in [0, 1] over ``patient``.
    """
    visits = _evidence_visits(data, upto)
    has = _records_at(data, visits)
    arms = np.array([str(a) for a in data.records["arm"].values])
    uptake = {a: float(data.protocols[a].uptake) for a in data.arms}
    return posterior_start(has, arms, uptake, informative=bool(visits))


def posterior_start(
    has_record: np.ndarray, arms: np.ndarray, uptake: dict[str, float], informative: bool = True
) -> np.ndarray:
    """:func:`start_probabilities` from its counts: whether each patient left a treatment-period
    record (bool), each patient's arm, and each arm's uptake (probability, [0, 1]).
    ``informative=False`` (no treatment-period visit counted) gives every patient their arm's
    uptake."""
    has = np.asarray(has_record, dtype=bool)
    arms = np.asarray(arms).astype(str)
    full = np.isin(arms, [a for a, u in uptake.items() if u >= 1.0])
    out = np.ones(len(arms))
    r = float(np.mean(~has[full])) if full.any() else None
    for a, u in uptake.items():
        idx = arms == a
        if u >= 1.0 or not idx.any():
            continue
        if r is None or not informative:
            out[idx] = u
            continue
        q = float(np.clip((np.mean(~has[idx]) - u * r) / (1.0 - u), r, 1.0))
        none = _posterior(u * r, (1 - u) * q, u)
        some = _posterior(u * (1 - r), (1 - u) * (1 - q), u)
        out[idx] = np.where(has[idx], some, none)
    return out
