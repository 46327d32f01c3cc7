"""Who started treatment: each patient's probability from whether they left a record during it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_sim.data import published_ashar2022
from prt_sim.data.uptake import posterior_start, start_probabilities, treatment_period_record
from prt_sim.errors import ValidationError


def test_on_the_public_data_the_five_silent_prt_patients_probably_never_started(public_data):
    arm = public_data.records["arm"].values.astype(str)
    has = treatment_period_record(public_data)
    # The counts the module docstring quotes: 5 of 50 PRT patients left no record during
    # treatment, against 2 of 101 in the control arms.
    assert (~has[arm == "prt"]).sum() == 5
    assert (~has[arm != "prt"]).sum() == 2 and (arm != "prt").sum() == 101
    p = start_probabilities(public_data)
    np.testing.assert_array_equal(p[arm != "prt"], 1.0)
    prt = arm == "prt"
    r, u = 2 / 101, 0.9
    q = (5 / 50 - u * r) / (1 - u)
    np.testing.assert_allclose(p[prt & ~has], u * r / (u * r + (1 - u) * q), rtol=1e-12)
    np.testing.assert_allclose(p[prt & has], u * (1 - r) / (u * (1 - r) + (1 - u) * (1 - q)))
    assert 0.17 < p[prt & ~has][0] < 0.19 and 0.97 < p[prt & has][0] < 0.99
    # The expected number of starters is the reported 45.
    assert p[prt].sum() == pytest.approx(45.0, abs=1e-9)


def test_records_up_to_a_visit_before_treatment_say_nothing(public_data):
    arm = public_data.records["arm"].values.astype(str)
    p = start_probabilities(public_data, upto="t1")
    np.testing.assert_array_equal(p[arm == "prt"], 0.9)
    np.testing.assert_array_equal(p[arm != "prt"], 1.0)
    # Up to week 2 only the first two surveys count.
    has2 = treatment_period_record(public_data, upto="week2")
    assert has2.sum() < treatment_period_record(public_data).sum()
    with pytest.raises(ValidationError, match="upto"):
        start_probabilities(public_data, upto="m24")
    with pytest.raises(ValidationError, match="data.level"):
        start_probabilities(published_ashar2022())


@settings(max_examples=200, deadline=None)
@given(
    n_ctrl=st.integers(1, 120),
    none_ctrl=st.integers(0, 120),
    n=st.integers(1, 120),
    none=st.integers(0, 120),
    u=st.floats(0.01, 0.99),
)
def test_the_probabilities_average_to_the_arms_uptake(n_ctrl, none_ctrl, n, none, u):
    none_ctrl, none = min(none_ctrl, n_ctrl), min(none, n)
    has = np.r_[np.arange(n_ctrl) >= none_ctrl, np.arange(n) >= none]
    arms = np.r_[np.full(n_ctrl, "ctrl"), np.full(n, "tx")]
    p = posterior_start(has, arms, {"ctrl": 1.0, "tx": u})
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(p[:n_ctrl], 1.0)
    tx = p[n_ctrl:]
    r = none_ctrl / n_ctrl
    q = (none / n - u * r) / (1 - u)
    if r <= q <= 1:  # counts the model can produce: Bayes' rule keeps the reported uptake
        assert tx.mean() == pytest.approx(u, abs=1e-9)
    # Leaving a record never makes starting less likely than leaving none.
    if 0 < none < n:
        assert tx[none] >= tx[0] - 1e-12
        assert tx[0] <= u + 1e-12 <= tx[none] + 2e-12
    # Without informative visits, or without an arm showing the missingness rate: the uptake.
    np.testing.assert_array_equal(
        posterior_start(has, arms, {"ctrl": 1.0, "tx": u}, False)[n_ctrl:], u
    )
    np.testing.assert_array_equal(posterior_start(has[n_ctrl:], arms[n_ctrl:], {"tx": u}), u)


def test_the_patient_model_mixes_only_patients_who_may_not_have_started(public_data):
    from prt_sim.inference.patient_model import build_patient_model

    arm = public_data.records["arm"].values.astype(str)
    sure = build_patient_model(public_data, start_prob=np.ones(len(arm)))
    assert sure.mixture_arms == ()
    assert build_patient_model(public_data).mixture_arms == ("prt",)
    with pytest.raises(ValidationError, match="start_prob"):
        build_patient_model(public_data, start_prob=np.full(len(arm), 1.5))
    with pytest.raises(ValidationError, match="start_prob"):
        build_patient_model(public_data, start_prob=np.ones(3))
