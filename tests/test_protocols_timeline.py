"""Protocols and the study calendar: where sessions, visits, self-guided doses and stress land."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import prt_sim as ps
from prt_sim import protocols
from prt_sim.model.protocols import PRT_SESSION_DAYS
from prt_sim.model.timeline import DAYS_PER_MONTH, RECALL_DAYS, build_timeline, trial_visits

# Latent states at visits are opt-in (record="visits").
simulate_visits = functools.partial(ps.simulate, record="visits")

TRIAL_VISIT_DAYS = [-10, 0, 7, 14, 21, 28, 30, 60, 91, 121, 213, 395]


# -- protocols ----------------------------------------------------------------------------------
def test_prt_sessions_on_published_days():
    tl = build_timeline(protocols.PRT(), horizon_days=60)
    assert tl.session_days == [1, 4, 7, 11, 14, 18, 21, 25, 28]
    assert [s.day for s in protocols.PRT().sessions] == list(PRT_SESSION_DAYS)


def test_prt_doses_on_the_calendar():
    tl = build_timeline(protocols.PRT(), horizon_days=60)
    edu = dict(zip(tl.days.tolist(), tl.education))
    exp = dict(zip(tl.days.tolist(), tl.exposure))
    assert edu[1] == 1.0 and exp[1] == 0.0
    for d in PRT_SESSION_DAYS[1:]:
        assert edu[d] == 0.5 and exp[d] == 1.0
    assert tl.education.sum() == pytest.approx(1.0 + 8 * 0.5)
    assert tl.exposure.sum() == pytest.approx(8.0)
    assert not tl.placebo.any()
    off = ~np.isin(tl.days, PRT_SESSION_DAYS)
    assert not tl.education[off].any() and not tl.exposure[off].any()


def test_boosters_land_on_given_days():
    prt = protocols.PRT().with_boosters([180, 365], education=0.7, exposure=0.3)
    tl = build_timeline(prt, horizon_days=400)
    assert tl.session_days == [*PRT_SESSION_DAYS, 180, 365]
    i = {d: k for k, d in enumerate(tl.days.tolist())}
    assert tl.education[i[180]] == 0.7 and tl.exposure[i[365]] == 0.3
    boosters = [e for e in tl.events if e[1] == "booster"]
    assert [e[0] for e in boosters] == [180, 365]
    assert prt.name == "prt+boosters"


def test_sessions_are_sorted_whatever_the_input_order():
    p = protocols.custom([(20, 1.0, 0.0), (3, 0.5, 1.0), (10, 0.0, 1.0)])
    assert [s.day for s in p.sessions] == [3, 10, 20]
    assert build_timeline(p, horizon_days=30).session_days == [3, 10, 20]


def test_open_label_placebo_day():
    tl = build_timeline(protocols.OpenLabelPlacebo(day=5), horizon_days=30)
    assert tl.session_days == [5]
    assert tl.placebo[tl.days == 5][0] == 1.0
    assert tl.placebo.sum() == 1.0
    assert not tl.education.any()


@pytest.mark.parametrize("name", ["prt", "placebo", "usual_care", "none", "PRT", "None"])
def test_get_builtin_by_name(name):
    p = protocols.get(name)
    assert isinstance(p, ps.Protocol)
    assert p.name == name.lower()
    assert protocols.get(p) is p


def test_protocol_dict_roundtrip():
    p = protocols.PRT().with_boosters([100]).with_self_guided(40, 0.1, half_life=20.0)
    q = ps.Protocol.from_dict(p.to_dict())
    assert q == p
    assert q.to_dict() == p.to_dict()


# -- visits -------------------------------------------------------------------------------------
def test_trial_visit_days():
    v = trial_visits()
    assert [x.day for x in v] == TRIAL_VISIT_DAYS
    assert [x.name for x in v] == [
        "eligibility",
        "t1",
        "week1",
        "week2",
        "week3",
        "week4",
        "post",
        "m1",
        "m2",
        "m3",
        "m6",
        "m12",
    ]
    m = {x.name: x.day for x in v}
    for k in (1, 2, 3, 6, 12):
        assert m[f"m{k}"] == 30 + round(k * DAYS_PER_MONTH)


def test_default_visits_are_trial_visits_up_to_horizon():
    tl = build_timeline(protocols.PRT(), horizon_days=100)
    assert tl.visit_days() == [d for d in TRIAL_VISIT_DAYS if d <= 100]


def test_user_extra_visits():
    v = trial_visits(extra_days=(45, 730))
    assert [x.day for x in v] == sorted([*TRIAL_VISIT_DAYS, 45, 730])
    assert {"day45", "day730"} <= {x.name for x in v}
    custom_visits = (ps.Visit("b", 50), ps.Visit("a", 12), ps.Visit("c", -3))
    tl = build_timeline(protocols.NoTreatment(), horizon_days=50, visits=custom_visits)
    assert tl.visit_days() == [-3, 12, 50]
    assert [e[2] for e in tl.events if e[1] == "visit"] == ["c", "a", "b"]


def test_simulate_uses_user_visits(cohort_300):
    visits = (ps.Visit("late", 44), ps.Visit("early", 2))
    res = ps.simulate(cohort_300[:50], "prt", horizon_days=44, seed=1, visits=visits)
    assert list(res.instruments.visit.values) == ["early", "late"]
    assert list(res.instruments.day.values) == [2, 44]


def test_post_day_moves_follow_up():
    v = trial_visits(post_day=56, weekly=False, follow_up_months=(3,))
    assert [(x.name, x.day) for x in v] == [
        ("eligibility", -10),
        ("t1", 0),
        ("post", 56),
        ("m3", 56 + round(3 * DAYS_PER_MONTH)),
    ]


@pytest.mark.parametrize(
    "visits,sessions,first",
    [
        (None, (), -10),
        ((ps.Visit("a", 5),), (), 0),  # day 0 is always inside the timeline
        ((ps.Visit("a", 5),), ((-20, 1.0, 0.0),), -20),
        ((ps.Visit("a", -40), ps.Visit("b", 3)), ((1, 1.0, 0.0),), -40),
    ],
)
def test_timeline_starts_recall_days_before_first_visit(visits, sessions, first):
    p = protocols.custom(sessions) if sessions else protocols.NoTreatment()
    tl = build_timeline(p, horizon_days=30, visits=visits)
    assert RECALL_DAYS == 7
    assert tl.start_day == first - 7
    assert tl.stop_day == 31
    assert tl.n_days == len(tl.days) == 31 - (first - 7)
    assert tl.days[0] == tl.start_day and tl.days[-1] == 30


# -- self-guided --------------------------------------------------------------------------------
def test_self_guided_dose_fades_with_half_life():
    uc = protocols.UsualCare(post_day=30, daily_dose=0.04, half_life=20.0)
    tl = build_timeline(uc, horizon_days=200)
    dose = dict(zip(tl.days.tolist(), tl.self_guided))
    assert dose[29] == 0.0
    assert all(v == 0.0 for d, v in dose.items() if d < 30)
    assert dose[30] == pytest.approx(0.04)
    assert dose[50] == pytest.approx(0.02)
    assert dose[70] == pytest.approx(0.01)
    assert dose[200] == pytest.approx(0.04 * 2 ** (-170 / 20))
    days = np.arange(30, 201)
    np.testing.assert_allclose(tl.self_guided[tl.days >= 30], 0.04 * 2.0 ** (-(days - 30) / 20))


def test_self_guided_without_fading_and_end_day():
    sg = ps.SelfGuided(start_day=10, daily_dose=0.1, end_day=20)
    assert sg.dose(9) == 0.0 and sg.dose(10) == 0.1 and sg.dose(19) == 0.1 and sg.dose(20) == 0.0
    assert math.isinf(sg.half_life)
    p = ps.Protocol(self_guided=(sg,))
    tl = build_timeline(p, horizon_days=30)
    on = (tl.days >= 10) & (tl.days < 20)
    np.testing.assert_array_equal(tl.self_guided[on], 0.1)
    assert not tl.self_guided[~on].any()
    assert tl.session_days == []


def test_overlapping_self_guided_doses_add():
    p = protocols.NoTreatment().with_self_guided(0, 0.1).with_self_guided(5, 0.2, end_day=8)
    tl = build_timeline(p, horizon_days=10)
    dose = dict(zip(tl.days.tolist(), tl.self_guided))
    assert dose[4] == pytest.approx(0.1)
    assert dose[6] == pytest.approx(0.3)
    assert dose[8] == pytest.approx(0.1)


# -- stress -------------------------------------------------------------------------------------
def test_stress_multiplies_flare_rate_only_within_window():
    sp = ps.StressPeriod(start_day=40, duration_days=15, flare_multiplier=3.0)
    tl = build_timeline(protocols.NoTreatment(), horizon_days=100, stress=(sp,))
    inside = (tl.days >= 40) & (tl.days < 55)
    np.testing.assert_array_equal(tl.flare_multiplier[inside], 3.0)
    np.testing.assert_array_equal(tl.flare_multiplier[~inside], 1.0)


def test_overlapping_stress_periods_multiply_and_clip_to_timeline():
    a = ps.StressPeriod(start_day=-100, duration_days=110, flare_multiplier=2.0)  # to day 9
    b = ps.StressPeriod(start_day=5, duration_days=1000, flare_multiplier=3.0)  # past horizon
    tl = build_timeline(protocols.NoTreatment(), horizon_days=20, stress=(a, b))
    m = dict(zip(tl.days.tolist(), tl.flare_multiplier))
    assert m[tl.start_day] == 2.0 and m[4] == 2.0
    assert m[5] == 6.0 and m[9] == 6.0
    assert m[10] == 3.0 and m[20] == 3.0


def test_stress_raises_simulated_flares_only_within_window():
    """Count flare onsets in the daily record: about x5 inside the window, x1 outside."""
    rate = 0.02
    params = ps.ModelParams(flare_rate=rate)
    cohort = ps.Cohort.from_trial_baseline(1000, seed=2, params=params)
    sp = ps.StressPeriod(start_day=20, duration_days=40, flare_multiplier=5.0)
    res = ps.simulate(
        cohort,
        "none",
        horizon_days=100,
        seed=4,
        params=params,
        visits=(ps.Visit("end", 100),),
        stress=(sp,),
        record="daily",
    )
    onset = res.daily["flare"] == 1.0  # a new flare sets the intensity to exactly 1
    day = res.daily["day"]
    inside = (day >= 20) & (day < 60)
    rate_in = float(onset.where(inside, drop=True).mean())
    rate_out = float(onset.where(~inside, drop=True).mean())
    n_in = 1000 * 40
    n_out = 1000 * (res.daily.sizes["day"] - 40)
    assert abs(rate_in - 5 * rate) < 4 * math.sqrt(5 * rate / n_in)
    assert abs(rate_out - rate) < 4 * math.sqrt(rate / n_out)


# -- sessions in the simulation -----------------------------------------------------------------
def test_daily_record_marks_session_days(cohort_300):
    prt = protocols.PRT().with_boosters([35])
    res = ps.simulate(cohort_300[:50], prt, horizon_days=40, seed=1, record="daily")
    marked = res.daily["day"].values[res.daily["session_day"].values]
    assert marked.tolist() == [*PRT_SESSION_DAYS, 35]
    assert res.daily["session_day"].dims == ("day",)


def test_no_uptake_means_no_sessions(cohort_300):
    res = simulate_visits(cohort_300, protocols.PRT(uptake=0.0), horizon_days=30, seed=1)
    assert (res.patients["sessions_attended"] == 0).all()
    assert not res.patients["started_treatment"].any()
    # ... and it is then exactly the untreated course.
    none = simulate_visits(cohort_300, "none", horizon_days=30, seed=1)
    np.testing.assert_array_equal(res.latent["belief"].values, none.latent["belief"].values)


def test_attendance_counts(cohort_2000):
    res = ps.simulate(
        cohort_2000,
        protocols.PRT(uptake=0.5, attendance=0.8),
        horizon_days=30,
        seed=3,
        visits=(ps.Visit("post", 30),),
        record="instruments",
    )
    started = res.patients["started_treatment"].values
    att = res.patients["sessions_attended"].values
    assert (att[~started] == 0).all()
    assert att.max() <= len(PRT_SESSION_DAYS)
    assert abs(started.mean() - 0.5) < 0.05
    assert abs(att[started].mean() - 0.8 * 9) < 0.15


def test_dropout_stops_attendance(cohort_2000):
    res = ps.simulate(
        cohort_2000,
        protocols.PRT(uptake=1.0, attendance=1.0, dropout=1.0),
        horizon_days=30,
        seed=3,
        visits=(ps.Visit("post", 30),),
        record="instruments",
    )
    np.testing.assert_array_equal(res.patients["sessions_attended"].values, 1)
