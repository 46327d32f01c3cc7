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
from prt_sim.dynamics import State  # noqa: E402
from prt_sim.protocols import PRT  # noqa: E402
from prt_sim.protocols import get as get_protocol  # noqa: E402
from prt_sim.rng import derive_key, uniform_array  # noqa: E402
from prt_sim.timeline import build_timeline  # noqa: E402

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
    """Run the numba kernel in float64 exactly as simulate() does; return final arrays."""
    protocol = get_protocol(protocol)
    p = (params or ModelParams()).to_tuple()
    tl = build_timeline(protocol, horizon_days=horizon_days)
    key_sim = np.uint64(derive_key(seed, "simulate", "dynamics"))
    key_up = np.uint64(derive_key(seed, "simulate", "uptake"))
    n = len(cohort)
    state, traits, pids = cohort.state_array(), cohort.traits_array(), cohort.patient_id
    treating = uniform_array(key_up, pids, np.uint64(0)) < protocol.uptake
    attended = np.zeros(n, dtype=np.int32)
    ring = np.empty((7, n))
    daily = np.empty((len(engine.DAILY_VARS), n, 0), dtype=np.float32)
    engine.prime_ring(state, traits, ring, p)
    # simulate() stops the kernel after each visit day to observe
    stops = sorted({v.day - tl.start_day + 1 for v in tl.visits} | {tl.n_days})
    t = 0
    for t_stop in stops:
        engine.advance(
            state,
            traits,
            pids,
            treating,
            attended,
            ring,
            key_sim,
            tl.start_day,
            t,
            t_stop,
            tl.education,
            tl.exposure,
            tl.placebo,
            tl.session,
            tl.self_guided,
            tl.flare_multiplier,
            protocol.attendance,
            protocol.dropout,
            p,
            daily,
            0,
        )
        t = t_stop
    return state, ring, treating, attended


@pytest.fixture(scope="module")
def cohort():
    return Cohort.from_trial_baseline(N, seed=SEED)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_final_state_matches_engine(cohort, name):
    protocol = PROTOCOLS[name]
    ref = run_mesa(cohort, protocol, HORIZON, SEED)
    state, ring, treating, attended = engine_final(cohort, protocol, HORIZON, SEED)
    assert ref.state.shape == state.shape == (7, N)
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
