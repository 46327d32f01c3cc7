"""prt_sim's numba digamma and erfcx (which PyTensor can cache) against scipy's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_sim.inference.numba_special import digamma, erfcx, register, source_key


def _same_nonfinite(ours, theirs):
    return ours == theirs or (np.isnan(ours) and np.isnan(theirs))


def _digamma_ok(x):
    """Relative 1e-14 for x > 0 (5e-12 for x < 0, where the reflection's tan differs from
    scipy's), absolute 2e-15 (1e-14) where |psi| < 0.1, around its roots."""
    ours, theirs = digamma(x), sp.psi(x)
    if not np.isfinite(theirs):
        return _same_nonfinite(ours, theirs)
    rel, absolute = (1e-14, 2e-15) if x > 0 else (5e-12, 1e-14)
    if abs(theirs) < 0.1:
        return abs(ours - theirs) <= absolute
    return abs(ours - theirs) <= rel * abs(theirs)


def _erfcx_ok(x):
    """Relative 2e-15 for x >= 0; 1e-13 for x < 0, where scipy rounds x² before exp and we
    split it exactly."""
    ours, theirs = erfcx(x), sp.erfcx(x)
    if not np.isfinite(theirs) or theirs == 0.0:
        return _same_nonfinite(ours, theirs)
    return abs(ours - theirs) <= (2e-15 if x >= 0 else 1e-13) * abs(theirs)


def test_values_on_a_grid_and_at_the_edges():
    rng = np.random.default_rng(0)
    xs = np.concatenate([np.linspace(-30, 30, 6001), 10 ** rng.uniform(-300, 300, 4000)])
    for x in xs:
        assert _erfcx_ok(x), x
        if x > 0 or x != np.floor(x):
            assert _digamma_ok(x), x
    for x in (0.0, -0.0, -1.0, -7.0, np.inf, -np.inf, np.nan, -26.5, -27.0, 26.0, 1e300,
              1.4616321449683622, 5e-324):  # fmt: skip
        assert _digamma_ok(x), x
        assert _erfcx_ok(x), x
    assert np.isnan(digamma(-3.0)) and digamma(0.0) == -np.inf and digamma(-0.0) == np.inf
    assert erfcx(-27.0) == np.inf and erfcx(np.inf) == 0.0 and erfcx(0.0) == 1.0


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=5e-324, max_value=1e300))
def test_digamma_of_positive_numbers(x):
    assert _digamma_ok(x)
    # the recurrence psi(x + 1) = psi(x) + 1/x, where x + 1 is exact
    if 1e-3 < x < 1e6 and (x + 1.0) - 1.0 == x:
        assert digamma(x + 1.0) == pytest.approx(digamma(x) + 1.0 / x, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-26.0, max_value=1e300))
def test_erfcx_matches_scipy(x):
    assert _erfcx_ok(x)


def test_registration_gives_pytensor_keyed_functions():
    import pytensor.tensor as pt
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key
    from pytensor.scalar.math import Erfcx, Psi

    register()
    x = pt.dscalar("x")
    for fn, op_type in ((pt.psi, Psi), (pt.erfcx, Erfcx)):
        node = fn(x).owner
        scalar_node = node.op.scalar_op.make_node(*[i.type.to_scalar_type()() for i in node.inputs])
        assert isinstance(node.op.scalar_op, op_type)
        impl, key = numba_funcify_and_cache_key(node.op.scalar_op, node=scalar_node)
        assert key is not None and source_key() != key
        assert impl(2.5) == (digamma(2.5) if op_type is Psi else erfcx(2.5))
