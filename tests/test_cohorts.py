"""Cohorts: keyed draws (prefix property), baseline distributions, steady state, records."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from conftest import assert_state_in_ranges
from scipy import stats

import prt_sim as ps
from prt_sim.model import baseline as cohorts
from prt_sim.model.baseline import PAIN_RANGE, entry_state_pain
from prt_sim.model.dynamics import TRAIT_RANGES, Drive, Shocks, daily_step, pain
from prt_sim.model.instruments import latent_from_readings
from prt_sim.model.timeline import RECALL_DAYS

# Latent states at visits are opt-in (record="visits").
simulate_visits = functools.partial(ps.simulate, record="visits")


def _assert_cohorts_equal(a: ps.Cohort, b: ps.Cohort) -> None:
    np.testing.assert_array_equal(a.patient_id, b.patient_id)
    np.testing.assert_array_equal(a.trait_table(), b.trait_table())
    np.testing.assert_array_equal(a.state_table(), b.state_table())
    assert set(a.baseline) == set(b.baseline)
    for k in a.baseline:
        np.testing.assert_array_equal(a.baseline[k], b.baseline[k], err_msg=k)


# -- keyed draws --------------------------------------------------------------------------------
def test_prefix_property():
    small = ps.Cohort.from_trial_baseline(100, seed=9)
    big = ps.Cohort.from_trial_baseline(1000, seed=9)
    _assert_cohorts_equal(small, big[:100])


def test_id_offset_gives_the_matching_slice():
    big = ps.Cohort.from_trial_baseline(300, seed=9)
    part = ps.Cohort.from_trial_baseline(50, seed=9, id_offset=200)
    _assert_cohorts_equal(part, big[200:250])


def test_same_seed_same_cohort_different_seed_different():
    a = ps.Cohort.from_trial_baseline(200, seed=1)
    _assert_cohorts_equal(a, ps.Cohort.from_trial_baseline(200, seed=1))
    b = ps.Cohort.from_trial_baseline(200, seed=2)
    assert not np.array_equal(a.trait_table(), b.trait_table())
    assert not np.array_equal(a.baseline["pain"], b.baseline["pain"])


def test_indexing_and_concat():
    c = ps.Cohort.from_trial_baseline(20, seed=1)
    assert len(c) == c.n == 20
    assert len(c[3]) == 1 and c[3].patient_id[0] == 3
    assert c[-1].patient_id[0] == 19
    idx = np.array([5, 2, 17])
    np.testing.assert_array_equal(c[idx].patient_id, idx)
    _assert_cohorts_equal(ps.Cohort.concat([c[:7], c[7:]]), c)
    with pytest.raises(ps.ValidationError, match="patient_id"):
        ps.Cohort.concat([c[:7], c[5:]])


def test_dataset_roundtrip():
    c = ps.Cohort.from_trial_baseline(30, seed=4)
    _assert_cohorts_equal(ps.Cohort.from_dataset(c.to_dataset()), c)


# -- distributions ------------------------------------------------------------------------------
def test_traits_and_states_within_ranges():
    c = ps.Cohort.from_trial_baseline(5000, seed=3)
    for name, (lo, hi) in TRAIT_RANGES.items():
        v = getattr(c.traits, name)
        assert ((v >= lo) & (v <= hi)).all(), name
    assert_state_in_ranges(c.state)


def test_a_cohort_saved_before_the_contact_state_loads_with_it_at_zero():
    c = ps.Cohort.from_trial_baseline(20, seed=4)
    old = c.to_dataset().drop_vars("init_contact")  # as written by 0.6.0
    back = ps.Cohort.from_dataset(old)
    np.testing.assert_array_equal(back.state.contact, np.zeros(20))
    _assert_cohorts_equal(back, c)


def test_baseline_marginals_and_rank_correlations_follow_spec():
    spec = ps.CohortSpec()
    c = ps.Cohort.from_trial_baseline(5000, seed=3, spec=spec)
    b = c.baseline
    lo, hi = (0.5 - spec.pain_mean) / spec.pain_sd, (9.5 - spec.pain_mean) / spec.pain_sd
    pain_mean = stats.truncnorm.mean(lo, hi, loc=spec.pain_mean, scale=spec.pain_sd)
    assert abs(b["pain"].mean() - pain_mean) < 0.06
    assert b["pain"].min() >= 0.5 and b["pain"].max() <= 9.5
    for var, mean in [
        ("fear", spec.fear_mean),
        ("catastrophizing", spec.cat_mean),
        ("avoidance", spec.avoid_mean),
        ("belief", spec.belief_mean),
    ]:
        assert abs(b[var].mean() - mean) < 0.01, var
    assert abs(np.median(b["chronicity"]) - spec.chronicity_median) < 0.4
    for (u, v), rho in ps.model.cohorts._SPEARMAN.items():
        r = stats.spearmanr(b[u], b[v]).statistic
        assert abs(r - rho) < 0.05, (u, v, r, rho)
    # belief enters independent of the others
    assert abs(stats.spearmanr(b["belief"], b["pain"]).statistic) < 0.05


def test_spec_changes_the_draws():
    lo = ps.Cohort.from_trial_baseline(2000, seed=3, spec=ps.CohortSpec(pain_mean=2.0))
    hi = ps.Cohort.from_trial_baseline(2000, seed=3, spec=ps.CohortSpec(pain_mean=6.0))
    assert hi.baseline["pain"].mean() > lo.baseline["pain"].mean() + 3


# -- steady state -------------------------------------------------------------------------------
def test_baseline_is_untreated_steady_state_of_fear_and_avoidance():
    params = ps.ModelParams()
    c = ps.Cohort.from_trial_baseline(2000, seed=3, params=params)
    p = params.to_tuple()
    s, _ = daily_step(c.state, c.traits, Drive(0.0, 0.0, 0.0, 0.0), Shocks(0.0, 0.0, 0.0, 0.0), p)
    np.testing.assert_allclose(s.fear, c.state.fear, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.avoidance, c.state.avoidance, rtol=1e-12, atol=1e-15)
    # Fear starts at the latent value behind the drawn reading (the reading less the entry
    # state excess) where it is attainable (fear_prop = fear / belief <= 1); elsewhere at the
    # attainable maximum, the belief.
    excess = entry_state_pain(ps.CohortSpec().entry_shift, p, RECALL_DAYS + 1)
    assert excess > 0.5
    latent = latent_from_readings(c.baseline, excess, p)["fear"]
    ok = latent <= c.baseline["belief"]
    assert ok.mean() > 0.95
    np.testing.assert_allclose(c.state.fear[ok], latent[ok], rtol=1e-9)
    np.testing.assert_allclose(c.state.fear[~ok], c.baseline["belief"][~ok], rtol=1e-9)


def test_expected_pain_equals_baseline_pain():
    """floor + gain * threat + expected flare pain = baseline pain (where not clipped)."""
    params = ps.ModelParams()
    c = ps.Cohort.from_trial_baseline(2000, seed=3, params=params)
    p = params.to_tuple()
    flare_mean = params.flare_rate / (1 - np.exp(-1 / params.flare_duration))
    calm = c.state._replace(fluctuation=np.zeros(c.n))
    expected = pain(calm, c.traits, p, flare_mean)
    ok = (c.traits.gain > 0) & (c.traits.gain < 10)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(expected[ok], c.baseline["pain"][ok], rtol=1e-9)


def test_untreated_long_run_pain_matches_baseline():
    c = ps.Cohort.from_trial_baseline(2000, seed=3)
    res = simulate_visits(c, "none", horizon_days=200, seed=1, visits=(ps.Visit("d200", 200),))
    assert abs(float(res.latent["pain_week"].mean()) - c.baseline["pain"].mean()) < 0.1


def test_entry_shift_is_the_extra_first_visit_pain_from_the_fluctuation():
    """Without flares, mean first-visit week pain - mean baseline pain = entry_shift.

    The cohort sets the initial fluctuation so that its mean over the first 7 simulated days is
    ``entry_shift``; the first visit's recall covers simulated days 2-8, though (the timeline
    starts 7 days before the first visit and the visit day itself is stepped).
    """
    params = ps.ModelParams(flare_rate=0.0)
    spec = ps.CohortSpec()
    c = ps.Cohort.from_trial_baseline(5000, seed=3, params=params, spec=spec)
    res = simulate_visits(c, "none", horizon_days=5, seed=1, params=params)
    first = res.latent["pain_week"].isel(visit=0)
    shift = float(first.mean()) - c.baseline["pain"].mean()
    assert abs(shift - spec.entry_shift) < 0.04, f"first-visit shift {shift:.3f}"


def test_first_visit_pain_matches_baseline_without_entry_shift():
    """No fluctuation (hence no selection shift): the first visit sees the baseline pain.

    The traits make baseline pain the *stationary* mean including the expected flare pain, so
    the flare process should start at its stationary level too.
    """
    params = ps.ModelParams(fluct_sd=0.0)
    c = ps.Cohort.from_trial_baseline(5000, seed=3, params=params)
    res = simulate_visits(c, "none", horizon_days=5, seed=1, params=params)
    first = res.latent["pain_week"].isel(visit=0)
    diff = float(first.mean()) - c.baseline["pain"].mean()
    assert abs(diff) < 0.04, f"first-visit pain - baseline = {diff:.3f}"


@pytest.mark.parametrize(
    "changes",
    [
        {"fluct_persistence": 0.0},  # white-noise fluctuation: no initial excess survives day 1
        {"fluct_persistence": 1e-6},
        {"fluct_persistence": 0.3, "fluct_sd": 0.01},
    ],
)
def test_entry_shift_with_any_valid_fluctuation_params(changes):
    """Valid ModelParams never crash the cohort: either a clean ValidationError naming the
    parameters involved, or a cohort with finite initial states."""
    params = ps.ModelParams().replace(**changes)
    try:
        c = ps.Cohort.from_trial_baseline(200, seed=1, params=params)
    except ps.ValidationError as e:
        assert "entry_shift" in str(e) or "fluct_" in str(e)
    else:
        assert_state_in_ranges(c.state)
        assert np.isfinite(c.state_table()).all()


# -- from_records -------------------------------------------------------------------------------
def _records(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "pain_avg": rng.integers(0, 11, n).astype(float),
        "tsk11": rng.integers(11, 45, n).astype(float),
        "pcs": rng.integers(0, 53, n).astype(float),
        "odi": 2.0 * rng.integers(0, 51, n),
        "attrib_mb": rng.integers(0, 4, n).astype(float),
        "chronicity": rng.uniform(0.5, 30, n),
    }


def test_from_records_dict_and_dataframe_agree():
    rec = _records()
    a = ps.Cohort.from_records(rec, seed=2)
    b = ps.Cohort.from_records(pd.DataFrame(rec), seed=2)
    _assert_cohorts_equal(a, b)
    assert len(a) == 40
    np.testing.assert_array_equal(a.patient_id, np.arange(40))
    np.testing.assert_allclose(a.baseline["fear"], (rec["tsk11"] - 11) / 33)
    np.testing.assert_allclose(a.baseline["avoidance"], rec["odi"] / 100)
    # the one steady-pain range of every cohort and model (records of 0 and 10 included)
    np.testing.assert_allclose(a.baseline["pain"], np.clip(rec["pain_avg"], *PAIN_RANGE))
    assert rec["pain_avg"].min() == 0 and rec["pain_avg"].max() == 10


def test_from_records_fills_missing_optional_columns_with_spec_means():
    spec = ps.CohortSpec()
    rec = {"pain_avg": [3.0, 5.0, 7.0], "tsk11": [20.0, np.nan, 30.0]}
    c = ps.Cohort.from_records(rec, spec=spec)
    np.testing.assert_allclose(c.baseline["fear"][1], spec.fear_mean)
    np.testing.assert_allclose(c.baseline["fear"][[0, 2]], [9 / 33, 19 / 33])
    np.testing.assert_allclose(c.baseline["catastrophizing"], spec.cat_mean)
    np.testing.assert_allclose(c.baseline["chronicity"], spec.chronicity_median)


def test_from_records_id_column_keys_the_draws():
    rec = _records(10)
    rec["pid"] = np.arange(100, 110)
    c = ps.Cohort.from_records(rec, id_column="pid", seed=1)
    np.testing.assert_array_equal(c.patient_id, np.arange(100, 110))
    # response traits depend on (seed, patient id) only: a row subset keeps its draws
    sub = {k: v[3:6] for k, v in rec.items()}
    _assert_cohorts_equal(ps.Cohort.from_records(sub, id_column="pid", seed=1), c[3:6])


def test_from_records_then_simulate(cohort_300):
    c = ps.Cohort.from_records(_records(60))
    res = ps.simulate(c, "prt", horizon_days=30, seed=1)
    assert res.instruments.sizes["patient"] == 60


def test_entry_shift_the_fluctuation_cannot_carry_is_refused():
    params = ps.ModelParams(fluct_sd=0.5, fluct_persistence=0.5)
    with pytest.raises(ps.ValidationError) as e:
        ps.Cohort.from_trial_baseline(10, seed=1, params=params)
    msg = str(e.value)
    assert "CohortSpec.entry_shift=1.4" in msg and "at most 0.709" in msg
    # A carried shift is accepted.
    ps.Cohort.from_trial_baseline(10, seed=1, params=params, spec=ps.CohortSpec(entry_shift=0.7))


def test_questionnaire_readings_at_entry_match_the_spec_and_regress_to_the_mean():
    """CohortSpec questionnaire means are readings at the first visit: simulated readings there
    match them; untreated readings then fall by the state loading times the decayed excess."""
    spec, params = ps.CohortSpec(), ps.ModelParams()
    c = ps.Cohort.from_trial_baseline(20000, seed=5, spec=spec, params=params)
    res = ps.simulate(c, ps.protocols.NoTreatment(), seed=6)
    obs = res.instruments
    first = ps.trial_visits()[0].name
    for name, mean, scale, offset, load in (
        ("tsk11", spec.fear_mean, 33, 11, params.tsk11_pain_state),
        ("pcs", spec.cat_mean, 52, 0, params.pcs_pain_state),
        ("odi", spec.avoid_mean, 100, 0, params.odi_pain_state),
    ):
        # Catastrophizing also tracks the (entry-elevated) pain itself, so PCS reads a little
        # above its spec at entry (measured +0.016) and falls a little further.
        tol = 0.02 if name == "pcs" else 0.004
        read = (float(obs[name].sel(visit=first).mean()) - offset) / scale
        assert abs(read - mean) < tol, (name, read, mean)
        later = (float(obs[name].sel(visit="m6").mean()) - offset) / scale
        drop = read - later
        expected = load * entry_state_pain(spec.entry_shift, params.to_tuple(), RECALL_DAYS + 1)
        assert expected > 0.03
        assert abs(drop - expected) < tol, (name, drop, expected)


def test_state_excess_is_read_on_the_visit_day_it_was_removed_for():
    """With a large TSK-11 loading the day the simulator reads the fluctuation matters: a reading
    one day early or late would miss the spec by about 0.025; it matches within 0.004."""
    spec = ps.CohortSpec(fear_mean=0.6, fear_sd=0.05, entry_shift=1.0)
    # A small fluctuation SD keeps the random part of the readings (loading x fluct_sd) away from
    # the clipping at 0 and 1; the entry excess in points does not depend on it.
    params = ps.ModelParams(tsk11_pain_state=0.5, fluct_sd=0.15)
    c = ps.Cohort.from_trial_baseline(20000, seed=7, spec=spec, params=params)
    res = ps.simulate(c, ps.protocols.NoTreatment(), seed=8, params=params)
    first = ps.trial_visits()[0].name
    read = (float(res.instruments["tsk11"].sel(visit=first).mean()) - 11) / 33
    assert abs(read - spec.fear_mean) < 0.004, read
    excess = entry_state_pain(spec.entry_shift, params.to_tuple(), RECALL_DAYS + 1)
    assert float(np.mean(c.state.fear)) < spec.fear_mean - 0.5 * excess + 0.002


def test_records_latent_removes_the_recorded_excess_and_fills_missing_with_the_latent_mean():
    spec, params = ps.CohortSpec(), ps.ModelParams()
    p = params.to_tuple()
    values = {"tsk11": np.array([23.0, np.nan]), "pcs": np.array([np.nan, 10.0])}
    lat = cohorts.records_latent(values, spec, p, 0.5, np.full(2, 3.0))
    entry = entry_state_pain(spec.entry_shift, p, RECALL_DAYS + 1)
    np.testing.assert_allclose(lat["fear"][0], 12 / 33 - params.tsk11_pain_state * 0.5)
    np.testing.assert_allclose(lat["fear"][1], spec.fear_mean - params.tsk11_pain_state * entry)
    np.testing.assert_allclose(
        lat["catastrophizing"][0], spec.cat_mean - params.pcs_pain_state * entry
    )
    np.testing.assert_allclose(lat["catastrophizing"][1], 10 / 52 - params.pcs_pain_state * 0.5)
    # Odi absent: every patient gets the latent population mean.
    np.testing.assert_allclose(lat["avoidance"], spec.avoid_mean - params.odi_pain_state * entry)


def test_window_to_state_is_the_end_of_day_share_of_a_recalled_excess():
    """An AR(1) excess whose 7-day recall mean is 1 stands at window_to_state at the end of the
    visit day (checked by summing the decay directly)."""
    p = ps.ModelParams().to_tuple()
    phi = p.fluct_persistence
    days = phi ** np.arange(1, 8)  # the recalled days 1..7 of an excess that started at 1
    end = phi**8  # the state after the visit day's update
    np.testing.assert_allclose(cohorts.window_to_state(p), end / days.mean(), rtol=1e-12)
    np.testing.assert_allclose(entry_state_pain(1.0, p, RECALL_DAYS + 1), end / days.mean())
