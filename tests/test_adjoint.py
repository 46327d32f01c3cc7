"""The hand-written adjoint of the daily update against finite differences and PyTensor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_sim.model.adjoint import daily_step_vjp, daily_step_vjp_jit
from prt_sim.model.dynamics import Drive, Shocks, State, Traits, daily_step, daily_step_jit
from prt_sim.model.mechanisms import mechanism
from prt_sim.model.params import DynParams

#: Every mechanism, and a combination (the adjoint has one branch per switch).
VARIANTS = ("inhibition", "consolidation", "schema_update", "fear_mediated", "natural_course",
            "contact", "consolidation+fear_mediated",
            "consolidation+fear_mediated+natural_course+contact")  # fmt: skip
N_S = len(State._fields)


def _random_point(rng: np.random.Generator, dt: float, variant: str = "inhibition"):
    """A random valid input point, away from the clipping kinks of the update."""
    s = State(
        rng.uniform(0.05, 0.6),
        rng.uniform(0.05, 0.6),
        rng.uniform(0.05, 0.6),
        rng.uniform(0.05, 0.6),
        rng.uniform(0.0, 0.5),
        rng.normal(),
        rng.uniform(0.0, 0.4),
        rng.uniform(0.0, 0.5) if variant.startswith("consolidation") else 0.0,
        # schema * exp(course) stays below its cap of 1 (schema <= 1 below)
        rng.uniform(-0.6, -0.05) if "natural_course" in variant else 0.0,
        rng.uniform(0.0, 0.5) if "contact" in variant else 0.0,
    )
    x = Traits(
        rng.uniform(0.5, 1.0),
        rng.uniform(0.1, 1.0),
        rng.uniform(1.0, 5.0),
        rng.uniform(0.2, 0.8),
        rng.uniform(0.2, 1.2),
        rng.uniform(0.1, 0.8),
        rng.uniform(0.02, 0.5),
        rng.uniform(0.2, 0.9),
        rng.uniform(0.05, 0.5),
        rng.uniform(0.5, 20.0),
        rng.normal(0.0, 0.5) if "natural_course" in variant else 0.0,
        rng.uniform(0.3, 3.0),  # the rating variability (0.9.0): scales the fluctuation's pain
    )
    # education + exposure away from 1, the kink of the contact term's min(1, sessions)
    edu, expo = rng.choice([rng.uniform(0, 0.45, 2), rng.uniform(0.55, 1.5, 2)])
    d = Drive(edu, expo, float(rng.integers(0, 2)), rng.uniform(0, 0.1), dt)
    z = Shocks(rng.normal(), rng.uniform(0, 0.3), rng.uniform(0.5, 1.0), rng.uniform(0.2, 1.0))
    base = mechanism(variant).params().to_dict()
    p = DynParams(
        **{
            k: v * rng.uniform(0.7, 1.3) if k not in ("fluct_persistence",) else v
            for k, v in base.items()
        }
    )
    return s, x, d, z, p


def _objective(s, x, d, z, p, gs, gpain):
    new, pain = daily_step(s, x, d, z, p)
    return float(sum(a * b for a, b in zip(new, gs)) + pain * gpain)


def _fd(fun, tup, i, h):
    up = tup._replace(**{tup._fields[i]: tup[i] + h})
    dn = tup._replace(**{tup._fields[i]: tup[i] - h})
    return (fun(up) - fun(dn)) / (2 * h)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dt=st.sampled_from([1.0, 3.0, 7.0]),
    variant=st.sampled_from(VARIANTS),
)
def test_vjp_matches_central_differences(seed, dt, variant):
    rng = np.random.default_rng(seed)
    s, x, d, z, p = _random_point(rng, dt, variant)
    gs = State(*rng.normal(size=N_S))
    gpain = float(rng.normal())
    g_s, g_x, g_p, g_z, g_d = daily_step_vjp(s, x, d, z, p, gs, gpain)
    h = 1e-6
    d_fields = d._replace(dt=0.0)  # dt is a grid constant: no cotangent
    assert g_d.dt == 0.0
    for name, tup, grads, fun in [
        ("state", s, g_s, lambda v: _objective(v, x, d, z, p, gs, gpain)),
        ("traits", x, g_x, lambda v: _objective(s, v, d, z, p, gs, gpain)),
        ("params", p, g_p, lambda v: _objective(s, x, d, z, v, gs, gpain)),
        ("shocks", z, g_z, lambda v: _objective(s, x, d, v, p, gs, gpain)),
        ("drive", d_fields, g_d, lambda v: _objective(s, x, v._replace(dt=d.dt), z, p, gs, gpain)),
    ]:
        for i, field in enumerate(tup._fields):
            if name == "traits" and field == "adherence":
                continue  # adherence enters through the shock z.adhere (checked there)
            if name == "params" and field == "flare_rate":
                continue  # enters through the shock z.flare (checked there)
            if name == "drive" and field == "dt":
                continue
            if name == "params" and field in ("consolidation_rate", "contact_effect") and p[i] == 0:
                continue  # switched off: the mechanism fixes it, the adjoint gives 0
            num = _fd(fun, tup, i, h * max(1.0, abs(tup[i])))
            np.testing.assert_allclose(
                grads[i], num, rtol=1e-5, atol=1e-7, err_msg=f"{name}.{field}"
            )


@pytest.mark.parametrize("variant", VARIANTS)
def test_vjp_compiled_equals_python(variant):
    rng = np.random.default_rng(5)
    s, x, d, z, p = _random_point(rng, 1.0, variant)
    gs = State(*rng.normal(size=N_S))
    a = daily_step_vjp(s, x, d, z, p, gs, 0.7)
    b = daily_step_vjp_jit(s, x, d, z, p, gs, 0.7)
    for ta, tb in zip(a, b):
        np.testing.assert_allclose(np.array(ta, float), np.array(tb, float), rtol=1e-13)


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_runs_symbolically_and_matches_numpy(variant):
    """The same daily_step source builds a PyTensor graph equal to the numpy evaluation."""
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    rng = np.random.default_rng(11)
    s, x, d, z, p = _random_point(rng, 1.0, variant)
    sv = State(*[pt.dscalar(f"s_{k}") for k in State._fields])
    new, pain = daily_step(sv, x, d, z, p)
    f = pytensor.function(list(sv), [*new, pain])
    got = f(*s)
    want_state, want_pain = daily_step_jit(s, x, d, z, p)
    np.testing.assert_allclose(got, [*want_state, want_pain], rtol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_vjp_matches_pytensor_symbolic_gradient(variant):
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    rng = np.random.default_rng(3)
    s, x, d, z, p = _random_point(rng, 1.0, variant)
    gs = State(*rng.normal(size=N_S))
    sv = State(*[pt.dscalar(f"s_{k}") for k in State._fields])
    xv = Traits(*[pt.dscalar(f"x_{k}") for k in Traits._fields])
    new, pain = daily_step(sv, xv, d, z, p)
    obj = sum(a * b for a, b in zip(new, gs)) + 0.3 * pain
    grads = pytensor.grad(obj, [*sv, *xv], disconnected_inputs="ignore")
    f = pytensor.function([*sv, *xv], grads, on_unused_input="ignore")
    sym = np.array(f(*s, *x))
    g_s, g_x, _, _, _ = daily_step_vjp(s, x, d, z, p, gs, 0.3)
    hand = np.array([*g_s, *g_x])
    hand[len(State._fields) + Traits._fields.index("adherence")] = sym[
        len(State._fields) + Traits._fields.index("adherence")
    ]  # enters via the shock
    np.testing.assert_allclose(hand, sym, rtol=1e-10, atol=1e-12)


def test_switched_off_mechanisms_leave_the_update_bit_identical():
    """With consolidation and fear weighting off, the state the update adds (the stable
    trace) stays 0 and the other states are what the inhibition equations give."""
    rng = np.random.default_rng(8)
    s, x, d, z, p = _random_point(rng, 1.0)
    new, pain = daily_step_jit(s, x, d, z, p)
    assert new.consolidated == 0.0
    tiny = p._replace(consolidation_rate=1e-300)  # the general branch, tau underflows to 0
    new2, pain2 = daily_step_jit(s, x, d, z, tiny)
    assert pain == pain2
    np.testing.assert_allclose(np.array(new), np.array(new2), rtol=1e-15, atol=1e-300)


def test_switched_off_contact_leaves_the_update_bit_identical():
    """With no contact effect the contact expectancy stays 0 and pain and every other state
    are what the general branch gives with an effect too small to matter."""
    rng = np.random.default_rng(9)
    s, x, d, z, p = _random_point(rng, 1.0)
    d = d._replace(education=1.0)
    z = z._replace(attend=1.0)
    new, pain = daily_step_jit(s, x, d, z, p)
    assert p.contact_effect == 0.0 and new.contact == 0.0
    tiny = p._replace(contact_effect=1e-300)
    new2, pain2 = daily_step_jit(s, x, d, z, tiny)
    assert pain == pain2
    np.testing.assert_allclose(np.array(new), np.array(new2), rtol=1e-15, atol=1e-290)
