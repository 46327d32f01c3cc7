"""Counter-based keyed random numbers: purity, distribution, independence, seed checks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import property_settings
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from prt_sim import ValidationError
from prt_sim.model import rng

U64 = st.integers(0, 2**64 - 1)


def _pids(n, offset=0):
    return np.arange(offset, offset + n, dtype=np.uint64)


def test_derive_key_is_stable_and_label_sensitive():
    k = rng.derive_key(7, "simulate", "dynamics")
    assert k == rng.derive_key(7, "simulate", "dynamics")
    assert 0 <= k < 2**64
    others = {
        rng.derive_key(8, "simulate", "dynamics"),
        rng.derive_key(7, "simulate", "observe"),
        rng.derive_key(7, "simulate"),
        rng.derive_key(7, "simulatedynamics"),
        rng.derive_key(7, "dynamics", "simulate"),
    }
    assert k not in others
    assert len(others) == 5


@property_settings
@given(key=U64, pid=U64, counter=st.integers(0, 2**40))
def test_draws_are_pure_functions_of_key_patient_counter(key, pid, counter):
    pk = np.uint64(rng.patient_key(np.uint64(key), np.uint64(pid)))
    assert pk == rng.patient_key(np.uint64(key), np.uint64(pid))
    u = rng.uniform(pk, np.uint64(counter))
    assert u == rng.uniform(pk, np.uint64(counter))
    assert 0.0 <= u < 1.0
    z = rng.normal(pk, np.uint64(counter))
    assert np.isfinite(z)
    assert z == rng.normal(pk, np.uint64(counter))


def test_array_draws_do_not_depend_on_which_patients_are_drawn_together():
    key = np.uint64(rng.derive_key(3, "test"))
    full_u = rng.uniform_array(key, _pids(1000), np.uint64(5))
    full_z = rng.normal_array(key, _pids(1000), np.uint64(5))
    sub = _pids(1000)[[999, 3, 500, 0]]
    np.testing.assert_array_equal(rng.uniform_array(key, sub, np.uint64(5)), full_u[sub])
    np.testing.assert_array_equal(rng.normal_array(key, sub, np.uint64(5)), full_z[sub])
    np.testing.assert_array_equal(
        rng.uniform_array(key, _pids(100, 200), np.uint64(5)), full_u[200:300]
    )


def test_array_draws_match_scalar_draws():
    key = np.uint64(rng.derive_key(3, "test"))
    pids = _pids(50, 10)
    u = rng.uniform_array(key, pids, np.uint64(9))
    z = rng.normal_array(key, pids, np.uint64(9))
    for i, pid in enumerate(pids):
        pk = np.uint64(rng.patient_key(key, pid))
        assert u[i] == rng.uniform(pk, np.uint64(9))
        assert z[i] == rng.normal(pk, np.uint64(9))


def test_scalar_functions_compose_from_python():
    """``uniform(patient_key(key, pid), counter)`` called from Python must give the same draw
    as the engine's uint64 arithmetic (uniform_array). patient_key returns a Python int, which
    numba types as int64; int64 + uint64 then silently becomes float64 arithmetic."""
    key = np.uint64(rng.derive_key(3, "test"))
    pids = _pids(20, 10)
    expected = rng.uniform_array(key, pids, np.uint64(1))
    got = np.array([rng.uniform(rng.patient_key(key, pid), np.uint64(1)) for pid in pids])
    np.testing.assert_array_equal(got, expected)


def test_uniforms_are_uniform():
    key = np.uint64(rng.derive_key(1, "u"))
    u = rng.uniform_array(key, _pids(100_000), np.uint64(0))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # Across counters for one patient as well.
    pk = np.uint64(rng.patient_key(key, np.uint64(17)))
    v = np.array([rng.uniform(pk, np.uint64(c)) for c in range(20_000)])
    assert stats.kstest(v, "uniform").pvalue > 1e-4


def test_normals_are_standard_normal():
    key = np.uint64(rng.derive_key(1, "z"))
    z = rng.normal_array(key, _pids(100_000), np.uint64(0))
    assert abs(z.mean()) < 0.02
    assert abs(z.std() - 1.0) < 0.02
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_streams_are_uncorrelated():
    """Neighbouring counters, neighbouring patients and different keys look independent."""
    pids = _pids(50_000)
    k1 = np.uint64(rng.derive_key(1, "a"))
    k2 = np.uint64(rng.derive_key(1, "b"))
    a = rng.uniform_array(k1, pids, np.uint64(0))
    pairs = {
        "next counter": rng.uniform_array(k1, pids, np.uint64(1)),
        "other key": rng.uniform_array(k2, pids, np.uint64(0)),
        "next patient": rng.uniform_array(k1, pids + np.uint64(1), np.uint64(0)),
    }
    for what, b in pairs.items():
        r = np.corrcoef(a, b)[0, 1]
        assert abs(r) < 0.03, f"{what}: r={r}"
    # next patient is a shift of the same stream, so it must not simply repeat values
    np.testing.assert_array_equal(pairs["next patient"][:-1], a[1:])


@pytest.mark.parametrize("n,prob", [(3, 0.1), (33, 0.38), (50, 0.22), (52, 0.9)])
def test_binomial_inversion_matches_scipy(n, prob):
    u = np.random.default_rng(0).random(20_000)
    k = np.array([rng.binomial(n, prob, x) for x in u])
    expected = stats.binom.ppf(u, n, prob)
    # Inversion of one uniform: identical to the exact quantile except at float ties.
    assert np.mean(k == expected) > 0.999
    assert k.min() >= 0 and k.max() <= n


def test_binomial_edges():
    assert rng.binomial(10, 0.0, 0.999) == 0
    assert rng.binomial(10, 1.0, 0.0) == 10
    assert rng.binomial(10, -0.5, 0.5) == 0
    assert rng.binomial(10, 1.5, 0.5) == 10
    assert rng.binomial(52, 1.0 - 1e-12, 0.999999) == 52


@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1, np.int64(5), 3.0])
def test_check_seed_accepts_non_negative_integers(seed):
    assert rng.check_seed(seed) == int(seed)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, False, "1", None, np.nan])
def test_check_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValidationError) as e:
        rng.check_seed(seed)
    msg = str(e.value)
    assert msg.startswith("seed=")
    assert "an integer in [0, 9223372036854775807]" in msg
