"""Shared strategies, fixtures and helpers for the prt_sim test suite.

Strategies are plain functions (importable as ``from conftest import ...``) because hypothesis
cannot draw from pytest fixtures.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import prt_sim as ps
from prt_sim.model.dynamics import STATE_RANGES, TRAIT_RANGES, Drive, Shocks, State, Traits
from prt_sim.model.params import ModelParams

#: Settings of the property tests (applied per test, so other test modules keep their own):
#: numba compiles on first call, so no per-example deadline; modest example counts keep it fast.
property_settings = settings(
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- hypothesis strategies ----------------------------------------------------------------------
def bounded_floats(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> st.SearchStrategy[float]:
    """Finite floats in an interval with the given open/closed ends."""
    return st.floats(
        min_value=lo,
        max_value=hi,
        exclude_min=lo_open,
        exclude_max=hi_open,
        allow_nan=False,
        allow_infinity=False,
    )


@st.composite
def model_params(draw) -> ModelParams:
    """Any valid ModelParams: every field anywhere in its declared (open/closed) range."""
    values = {}
    for f in fields(ModelParams):
        m = f.metadata
        values[f.name] = draw(
            bounded_floats(m["lo"], m["hi"], lo_open=m["lo_open"], hi_open=m["hi_open"])
        )
    return ModelParams(**values)


# -- random inputs for daily_step on arrays -----------------------------------------------------
def _uniform_with_edges(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Uniform draws in [lo, hi] with about 10% exactly at each end (edges matter most)."""
    v = rng.uniform(lo, hi, n)
    k = rng.random(n)
    v[k < 0.1] = lo
    v[k > 0.9] = hi
    return v


def random_traits(rng: np.random.Generator, n: int) -> Traits:
    return Traits(*(_uniform_with_edges(rng, lo, hi, n) for lo, hi in TRAIT_RANGES.values()))


def random_state(rng: np.random.Generator, n: int) -> State:
    vals = []
    for name, (lo, hi) in STATE_RANGES.items():
        if name == "fluctuation":
            vals.append(rng.normal(0.0, 3.0, n))
        elif name == "course":
            vals.append(rng.normal(0.0, 1.0, n))
        else:
            vals.append(_uniform_with_edges(rng, lo, hi, n))
    return State(*vals)


def random_drive(rng: np.random.Generator, n: int) -> Drive:
    """Doses >= 0 (education/exposure up to 10 sessions), placebo in [0, 1]."""
    on = rng.random(n) < 0.5
    return Drive(
        np.where(on, _uniform_with_edges(rng, 0.0, 10.0, n), 0.0),
        np.where(on, _uniform_with_edges(rng, 0.0, 10.0, n), 0.0),
        np.where(rng.random(n) < 0.2, _uniform_with_edges(rng, 0.0, 1.0, n), 0.0),
        _uniform_with_edges(rng, 0.0, 1.0, n),
    )


def random_shocks(rng: np.random.Generator, n: int, *, binary: bool = True) -> Shocks:
    """0/1 draws as the simulator makes them, or expected values in [0, 1] (skeleton)."""
    if binary:
        return Shocks(
            rng.normal(size=n),
            (rng.random(n) < 0.2).astype(float),
            (rng.random(n) < 0.7).astype(float),
            (rng.random(n) < 0.7).astype(float),
        )
    return Shocks(rng.normal(size=n), *(_uniform_with_edges(rng, 0.0, 1.0, n) for _ in range(3)))


def assert_state_in_ranges(s: State, what: str = "") -> None:
    for name, (lo, hi) in STATE_RANGES.items():
        v = np.asarray(getattr(s, name))
        assert not np.isnan(v).any(), f"{what}{name} is NaN"
        assert (v >= lo).all() and (v <= hi).all(), (
            f"{what}{name} out of [{lo}, {hi}]: min {v.min()}, max {v.max()}"
        )


# -- comparing results --------------------------------------------------------------------------
def assert_results_identical(a: ps.SimulationResult, b: ps.SimulationResult) -> None:
    """Every dataset of two results identical (values incl. NaN positions, coords, attrs)."""
    for g in ("instruments", "latent", "daily", "patients"):
        da, db = getattr(a, g), getattr(b, g)
        assert (da is None) == (db is None), g
        if da is not None:
            xr.testing.assert_identical(da, db)


def assert_values_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    """Same variables with bit-identical values (NaN == NaN), ignoring attrs."""
    assert set(a.data_vars) == set(b.data_vars)
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def cohort_300() -> ps.Cohort:
    return ps.Cohort.from_trial_baseline(300, seed=11)


@pytest.fixture(scope="session")
def cohort_2000() -> ps.Cohort:
    return ps.Cohort.from_trial_baseline(2000, seed=5)


@pytest.fixture(scope="session")
def short_visits() -> tuple[ps.Visit, ...]:
    """Trial visits up to post (day 30)."""
    return tuple(v for v in ps.trial_visits() if v.day <= 30)


#: The public Ashar 2022 files (never copied into the repository): beside it, or PRT_SIM_DATA.
PUBLIC_DATA = Path(
    os.environ.get(
        "PRT_SIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "ashar2022"
    )
)


@pytest.fixture(scope="session")
def public_data():
    """The trial's patient-level records (the wide public file); CI must have them."""
    if not (PUBLIC_DATA / ps.data.WIDE_FILE).exists():
        if os.environ.get("CI"):
            pytest.fail(f"public data missing in CI: {PUBLIC_DATA}")
        pytest.skip(f"public data not found at {PUBLIC_DATA} (set PRT_SIM_DATA)")
    return ps.data.load_ashar2022_wide(PUBLIC_DATA)
