"""The Mesa per-agent reference (benchmarks/mesa_reference.py) reproduces the numba engine.

Both draw the same keyed random numbers and call the same ``daily_step``, so they agree patient
by patient: to float64 round-off on the final state (engine kernel run directly, as
:func:`prt_sim.simulate` drives it), and to float32 storage precision on the public outputs of
``simulate(..., record="daily")`` (daily record, latent states at visits, sessions attended).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mesa")

from prt_sim import Cohort, ModelParams, engine, simulate  # noqa: E402
from prt_sim.model.dynamics import State  # noqa: E402
from prt_sim.model.protocols import PRT  # noqa: E402
from prt_sim.model.protocols import get as get_protocol  # noqa: E402
from prt_sim.model.timeline import build_timeline  # noqa: E402
from prt_sim.runner import (  # noqa: E402
    make_calendars,
    make_draws,
    make_observations,
    make_patients,
    run,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mesa_reference import run_mesa  # noqa: E402

N, HORIZON, SEED = 20, 60, 11
RTOL = 1e-9
# simulate() stores its records as float32: half an ulp is 2**-24 relative.
RTOL32 = float(np.finfo(np.float32).eps)

PROTOCOLS = {
    "prt": "prt",
    # more missed sessions and dropout, to exercise every branch of the draws
    "prt_dropout": PRT(uptake=0.8, attendance=0.7, dropout=0.2),
    "placebo": "placebo",
    "usual_care": "usual_care",
    # self-guided material that dropout must stop
    "prt_self_guided": PRT(uptake=0.9, attendance=0.9, dropout=0.3).with_self_guided(
        start_day=2, daily_dose=0.2
    ),
}


def engine_final(cohort, protocol, horizon_days, seed, params=None):
    """Run the engine in float64 through the calendar runner exactly as simulate() does;
    return the final state, pain memory, treatment status and sessions attended (field-major,
    as the reference stores them)."""
    protocol = get_protocol(protocol)
    tl = build_timeline(protocol, horizon_days=horizon_days)
    batch = make_patients(cohort.trait_table(), cohort.state_table(), cohort.patient_id)
    out = make_observations(len(cohort), len(tl.visits))
    run(
        batch,
        make_calendars([tl], [protocol]),
        make_draws([params or ModelParams()], [seed]),
        tl.visits,
        np.ones((1, len(tl.visits))),
        out,
        n_days=tl.n_days,
    )
    return batch.state.T, batch.ring.T, batch.treating, batch.attended


@pytest.fixture(scope="module")
def cohort():
    return Cohort.from_trial_baseline(N, seed=SEED)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_final_state_matches_engine(cohort, name):
    protocol = PROTOCOLS[name]
    ref = run_mesa(cohort, protocol, HORIZON, SEED)
    state, ring, treating, attended = engine_final(cohort, protocol, HORIZON, SEED)
    assert ref.state.shape == state.shape == (len(State._fields), N)
    np.testing.assert_allclose(ref.state, state, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(ref.ring, ring, rtol=RTOL, atol=1e-12)
    np.testing.assert_array_equal(ref.treating, treating)
    np.testing.assert_array_equal(ref.attended, attended)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_daily_record_matches_simulate(cohort, name):
    protocol = PROTOCOLS[name]
    ref = run_mesa(cohort, protocol, HORIZON, SEED, record_daily=True)
    res = simulate(cohort, protocol, horizon_days=HORIZON, seed=SEED, record="daily")
    daily = np.stack([res.daily[v].values for v in engine.DAILY_VARS])
    assert ref.daily.shape == daily.shape == (len(engine.DAILY_VARS), N, ref.n_days)
    np.testing.assert_array_equal(res.daily["day"].values, ref.timeline.days)
    np.testing.assert_allclose(daily, ref.daily, rtol=RTOL32, atol=1e-30)

    latent = np.stack([res.latent[v].values.T for v in engine.LATENT_VARS])
    np.testing.assert_allclose(latent, ref.latent, rtol=RTOL32, atol=1e-30)

    np.testing.assert_array_equal(res.patients["started_treatment"].values, ref.started)
    np.testing.assert_array_equal(res.patients["sessions_attended"].values, ref.attended)


def test_reference_is_not_trivial(cohort):
    """The comparison above covers treatment: PRT changes the state, and draws differ by seed."""
    treated = run_mesa(cohort, "prt", HORIZON, SEED)
    untreated = run_mesa(cohort, "none", HORIZON, SEED)
    other_seed = run_mesa(cohort, "prt", HORIZON, SEED + 1)
    safety = State._fields.index("safety")
    assert (treated.state[safety] - untreated.state[safety]).max() > 0.05
    assert treated.attended.sum() > 0
    assert not np.allclose(treated.state, other_seed.state)
