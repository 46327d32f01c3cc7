"""The daily update: ranges, numpy/numba agreement, and the mechanisms it encodes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    assert_state_in_ranges,
    bounded_floats,
    model_params,
    property_settings,
    random_drive,
    random_shocks,
    random_state,
    random_traits,
)
from hypothesis import given
from hypothesis import strategies as st

from prt_sim import ModelParams
from prt_sim.model import dynamics as dyn
from prt_sim.model.dynamics import (
    STATE_RANGES,
    TRAIT_RANGES,
    Drive,
    Shocks,
    State,
    Traits,
    belief,
    daily_step,
    daily_step_jit,
)

SEEDS = st.integers(0, 2**32 - 1)


def _scalar(nt, i):
    """Patient ``i`` of a NamedTuple of arrays (or scalars), as a NamedTuple of Python floats."""
    return type(nt)(*(float(np.broadcast_to(v, np.shape(nt[0]))[i]) for v in nt))


# -- one source of truth ------------------------------------------------------------------------
def test_jit_kernel_is_compiled_from_daily_step():
    assert daily_step_jit.py_func is daily_step


@property_settings
@given(params=model_params(), seed=SEEDS, binary=st.booleans())
def test_numpy_step_equals_jit_step_patient_by_patient(params, seed, binary):
    rng = np.random.default_rng(seed)
    n, days = 25, 8
    p = params.to_tuple()
    x = random_traits(rng, n)
    s = random_state(rng, n)
    for _ in range(days):
        d = random_drive(rng, n)
        z = random_shocks(rng, n, binary=binary)
        s_np, pain_np = daily_step(s, x, d, z, p)
        for i in range(n):
            s_jit, pain_jit = daily_step_jit(
                _scalar(s, i), _scalar(x, i), _scalar(d, i), _scalar(z, i), p
            )
            # atol: numba's and numpy's exp may differ by one ulp, and 1 - (1 - s) * exp(-learn)
            # turns that into ~1e-16 absolute error on a safety near 0 (cancellation).
            np.testing.assert_allclose(pain_jit, pain_np[i], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(
                np.array(s_jit), np.array([v[i] for v in s_np]), rtol=1e-12, atol=1e-14
            )
        s = s_np


# -- ranges -------------------------------------------------------------------------------------
@property_settings
@given(params=model_params(), seed=SEEDS, binary=st.booleans())
def test_daily_step_on_arrays_keeps_states_in_range(params, seed, binary):
    rng = np.random.default_rng(seed)
    n, days = 200, 150
    p = params.to_tuple()
    x = random_traits(rng, n)
    s = random_state(rng, n)
    for day in range(days):
        s, today = daily_step(s, x, random_drive(rng, n), random_shocks(rng, n, binary=binary), p)
        assert_state_in_ranges(s, f"day {day}: ")
        assert np.isfinite(today).all()
        assert (today >= 0).all() and (today <= 10).all()


def _state_strategy():
    fields = []
    for name, (lo, hi) in STATE_RANGES.items():
        if name == "fluctuation":
            fields.append(bounded_floats(-20.0, 20.0))
        elif name == "course":
            fields.append(bounded_floats(-5.0, 5.0))
        else:
            fields.append(bounded_floats(lo, hi))
    return st.tuples(*fields).map(lambda v: State(*v))


def _traits_strategy():
    return st.tuples(*(bounded_floats(lo, hi) for lo, hi in TRAIT_RANGES.values())).map(
        lambda v: Traits(*v)
    )


def _drive_strategy():
    doses = [
        bounded_floats(0.0, 10.0),
        bounded_floats(0.0, 10.0),
        bounded_floats(0.0, 1.0),
        bounded_floats(0.0, 1.0),
    ]
    if "dt" in Drive._fields:  # step length in days: 1 to 365 (the simulator uses 1)
        doses.append(st.one_of(st.just(1.0), bounded_floats(1.0, 365.0)))
    return st.tuples(*doses).map(lambda v: Drive(*v))


def _shocks_strategy():
    return st.builds(
        Shocks,
        bounded_floats(-10.0, 10.0),
        bounded_floats(0.0, 1.0),
        bounded_floats(0.0, 1.0),
        bounded_floats(0.0, 1.0),
    )


@property_settings
@given(
    params=model_params(),
    s=_state_strategy(),
    x=_traits_strategy(),
    d=_drive_strategy(),
    z=_shocks_strategy(),
)
def test_daily_step_scalar_any_valid_input_stays_in_range(params, s, x, d, z):
    p = params.to_tuple()
    for step in (daily_step, daily_step_jit):
        new, today = step(s, x, d, z, p)
        assert_state_in_ranges(State(*new), f"{step.__name__}: ")
        assert 0.0 <= today <= 10.0
        assert 0.0 <= belief(new, x) <= 1.0


# -- mechanisms ---------------------------------------------------------------------------------
def _patients(n, **overrides):
    """Traits/state arrays for ``n`` identical mid-range patients, with overrides."""
    t = {
        "schema": 0.9,
        "floor": 0.5,
        "gain": 5.0,
        "fear_prop": 1.0,
        "avoid_prop": 3.0,
        "cat_prop": 0.5,
        "edu_efficacy": 0.2,
        "adherence": 1.0,
        "placebo_response": 0.2,
        "chronicity": 5.0,
        "drift": 0.0,
        "variability": 1.0,
    }
    s = {
        "safety": 0.3,
        "catastrophizing": 0.3,
        "fear": 0.6,
        "avoidance": 0.5,
        "expectancy": 0.0,
        "fluctuation": 0.0,
        "flare": 0.0,
        "consolidated": 0.0,
        "course": 0.0,
        "contact": 0.0,
    }
    for k, v in overrides.items():
        (t if k in t else s)[k] = v
    x = Traits(*(np.full(n, t[k], dtype=float) for k in Traits._fields))
    st_ = State(*(np.full(n, s[k], dtype=float) for k in State._fields))
    return x, st_


NO_DRIVE = Drive(0.0, 0.0, 0.0, 0.0)
CALM = Shocks(0.0, 0.0, 0.0, 0.0)


def test_full_avoidance_blocks_everyday_disconfirmation():
    """Untreated, no flares: safety memory grows at zero avoidance, not at full avoidance."""
    p = ModelParams(safety_decay=0.0).to_tuple()
    # avoid_prop 3 and fear >= 1/3 keep the avoidance target at 1; fear_prop 0 keeps the
    # avoidance target at 0 for the comparison patient.
    x_avoid, s_avoid = _patients(1, avoidance=1.0, avoid_prop=3.0, fear=0.8, fear_prop=1.0)
    x_free, s_free = _patients(1, avoidance=0.0, avoid_prop=0.0)
    safety0 = s_avoid.safety.copy()
    for _ in range(200):
        s_avoid, _ = daily_step(s_avoid, x_avoid, NO_DRIVE, CALM, p)
        s_free, _ = daily_step(s_free, x_free, NO_DRIVE, CALM, p)
        assert s_avoid.avoidance[0] == 1.0
    # Full avoidance: the everyday learning term is exactly zero (and no decay here).
    np.testing.assert_allclose(s_avoid.safety, safety0, rtol=1e-12)
    assert s_free.safety[0] > safety0[0] + 0.01


def test_full_avoidance_lets_safety_decay():
    p = ModelParams(safety_decay=0.01).to_tuple()
    x, s = _patients(1, avoidance=1.0, avoid_prop=3.0, fear=0.8)
    safety0 = s.safety[0]
    for _ in range(50):
        s, _ = daily_step(s, x, NO_DRIVE, CALM, p)
    np.testing.assert_allclose(s.safety[0], safety0 * np.exp(-0.01 * 50), rtol=1e-12)


def test_flare_read_as_damage_raises_belief_more_when_belief_is_higher():
    p = ModelParams(reinstatement=0.3).to_tuple()
    schemas = np.array([0.2, 0.5, 0.8, 1.0])
    x, s = _patients(len(schemas), safety=0.4)
    x = x._replace(schema=schemas)
    b0 = belief(s, x)
    no_flare, _ = daily_step(s, x, NO_DRIVE, CALM, p)
    flare, _ = daily_step(s, x, NO_DRIVE, CALM._replace(flare=1.0), p)
    rise = belief(flare, x) - belief(no_flare, x)
    assert (rise > 0).all()
    assert (np.diff(rise) > 0).all(), f"belief rise {rise} not increasing in belief {b0}"


def test_flare_raises_pain_today():
    p = ModelParams().to_tuple()
    x, s = _patients(1)
    _, calm = daily_step(s, x, NO_DRIVE, CALM, p)
    _, flare = daily_step(s, x, NO_DRIVE, CALM._replace(flare=1.0), p)
    np.testing.assert_allclose(flare - calm, p.flare_pain, rtol=1e-12)


def test_education_reduces_belief_only_when_attended():
    p = ModelParams().to_tuple()
    x, s = _patients(3)
    d = Drive(1.0, 0.0, 0.0, 0.0)
    attend = np.array([0.0, 1.0, 1.0])
    x = x._replace(edu_efficacy=np.array([0.5, 0.5, 1.5]))
    new, _ = daily_step(s, x, d, Shocks(0.0, 0.0, attend, 1.0), p)
    b = belief(new, x)
    b_untreated = belief(daily_step(s, x, NO_DRIVE, CALM, p)[0], x)
    np.testing.assert_allclose(b[0], b_untreated[0], rtol=1e-12)
    assert b[1] < b_untreated[1]
    assert b[2] < b[1]


def test_placebo_sets_expectancy_to_response_then_fades():
    p = ModelParams(placebo_duration=30.0).to_tuple()
    x, s = _patients(1, placebo_response=0.4)
    s, _ = daily_step(s, x, Drive(0.0, 0.0, 1.0, 0.0), Shocks(0.0, 0.0, 1.0, 0.0), p)
    np.testing.assert_allclose(s.expectancy, 0.4)
    _, pain_with = daily_step(s, x, NO_DRIVE, CALM, p)
    _, pain_without = daily_step(s._replace(expectancy=np.zeros(1)), x, NO_DRIVE, CALM, p)
    assert pain_with[0] < pain_without[0]
    for _ in range(30):
        s, _ = daily_step(s, x, NO_DRIVE, CALM, p)
    np.testing.assert_allclose(s.expectancy, 0.4 * np.exp(-1.0), rtol=1e-12)


def test_fluctuation_is_stationary_standard_normal():
    """AR(1) with innovation sqrt(1 - phi^2): stationary N(0, 1) whatever the persistence."""
    rng = np.random.default_rng(3)
    for phi in (0.0, 0.5, 0.94):
        p = ModelParams(fluct_persistence=phi).to_tuple()
        x, s = _patients(20_000)
        s = s._replace(fluctuation=rng.normal(size=20_000))
        for _ in range(30):
            s, _ = daily_step(s, x, NO_DRIVE, CALM._replace(noise=rng.normal(size=20_000)), p)
        assert abs(s.fluctuation.mean()) < 0.05
        assert abs(s.fluctuation.std() - 1.0) < 0.05


@pytest.mark.parametrize("name", ["belief", "threat", "pain"])
def test_observables_helpers_accept_arrays_and_scalars(name):
    p = ModelParams().to_tuple()
    x, s = _patients(4)
    b = dyn.belief(s, x)
    arr = {
        "belief": lambda: dyn.belief(s, x),
        "threat": lambda: dyn.threat(b, s, p),
        "pain": lambda: dyn.pain(s, x, p, s.flare),
    }[name]()
    assert np.shape(arr) == (4,)
    lo, hi = (0.0, 10.0) if name == "pain" else (0.0, 1.0)
    assert ((arr >= lo) & (arr <= hi)).all()


def test_schema_now_moves_on_the_logit_scale_and_never_overflows():
    """logit(schema today) = logit(schema) + course; exactly the schema at course 0; 1 and 0
    (finite, no overflow warning) for courses far past any drift x horizon."""
    from prt_sim.model.dynamics import COURSE_MAX, schema_now

    schema = np.array([0.05, 0.5, 0.9, 0.999, 1.0])
    x = Traits(*(np.full(5, 0.5) for _ in Traits._fields))._replace(schema=schema)
    zero = State(*(np.zeros(5) for _ in State._fields))
    np.testing.assert_array_equal(schema_now(zero, x), schema)  # bit for bit
    course = np.full(5, 1.3)
    odds = schema[:4] / (1 - schema[:4]) * np.exp(1.3)
    moved = schema_now(zero._replace(course=course), x)
    np.testing.assert_allclose(moved[:4], odds / (1 + odds), rtol=1e-13)
    assert moved[4] == 1.0
    with np.errstate(all="raise"):
        up = schema_now(zero._replace(course=np.full(5, 5e3)), x)
        down = schema_now(zero._replace(course=np.full(5, -5e3)), x)
    assert up.max() == 1.0 and 1.0 - up.min() < 1e-10
    assert down[4] == 1.0 and down[:4].max() < 1e-10  # a schema of exactly 1 stays 1
    at_cut = schema_now(zero._replace(course=np.full(5, COURSE_MAX)), x)
    np.testing.assert_array_equal(at_cut, up)
