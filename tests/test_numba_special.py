"""prt_sim's numba digamma and erfcx (which PyTensor can cache) against scipy's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_sim.inference.numba_special import digamma, erfcx, register, source_key


def _close(ours, theirs, rtol):
    """Relative error, absolute where |value| < 1 (digamma has a root near 1.46); the same
    infinity or both nan where scipy's is not finite."""
    if not np.isfinite(theirs):
        return ours == theirs or (np.isnan(ours) and np.isnan(theirs))
    return abs(ours - theirs) <= rtol * max(abs(theirs), 1.0)


def test_values_on_a_grid_and_at_the_edges():
    rng = np.random.default_rng(0)
    xs = np.concatenate([np.linspace(-30, 30, 6001), 10 ** rng.uniform(-300, 300, 4000)])
    for x in xs:
        assert _close(erfcx(x), sp.erfcx(x), 1e-13), x
        if x > 0:
            assert _close(digamma(x), sp.psi(x), 1e-13), x
        elif x != np.floor(x):
            # reflection: tan's argument is reduced exactly here, differently from scipy
            assert _close(digamma(x), sp.psi(x), 5e-12), x
    for x in (0.0, -0.0, -1.0, -7.0, np.inf, -np.inf, np.nan, -26.5, -27.0, 26.0, 1e300):
        assert _close(digamma(x), sp.psi(x), 1e-13), x
        assert _close(erfcx(x), sp.erfcx(x), 1e-13), x


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-300, max_value=1e300))
def test_digamma_of_positive_numbers(x):
    assert _close(digamma(x), sp.psi(x), 1e-13)
    # the recurrence psi(x + 1) = psi(x) + 1/x, where x + 1 is exact
    if 1e-3 < x < 1e6 and (x + 1.0) - 1.0 == x:
        assert digamma(x + 1.0) == pytest.approx(digamma(x) + 1.0 / x, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-26.0, max_value=1e300))
def test_erfcx_matches_scipy(x):
    assert _close(erfcx(x), sp.erfcx(x), 1e-13)


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
