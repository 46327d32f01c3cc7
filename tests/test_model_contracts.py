"""What the restructured model promises: priors reach the likelihood or are refused, the
simulator and the skeleton treat dropout alike, the patient-level gradient is right, a fit's
configuration comes from its constructor and a saved fit is refused by another model, and the
instrument table is the one map between latent states and readings."""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings

import numpy as np
import pytest

import prt_sim as ps
from prt_sim.data import published_ashar2022
from prt_sim.inference.grid import build_grid
from prt_sim.inference.observation import report_noise_sd
from prt_sim.inference.skeleton import skeleton_forward
from prt_sim.model.instruments import (
    INSTRUMENTS,
    latent_from_readings,
    questionnaire_readings,
)

warnings.filterwarnings("ignore", category=FutureWarning)


# -- noise parameters reach the likelihood ---------------------------------------------------
def _report_noise_numeric(p) -> float:
    """The SD of a weekly report by brute force: lags and flare onsets summed explicitly."""
    phi, sd = p.fluct_persistence, p.fluct_sd
    lags = np.abs(np.subtract.outer(np.arange(7), np.arange(7)))
    fluct_var = sd**2 * np.mean(phi**lags)
    onsets = np.arange(-int(40 * p.flare_duration) - 1, 7)
    lag = np.arange(7)[None, :] - onsets[:, None]
    c = np.where(lag >= 0, np.exp(-np.maximum(lag, 0) / p.flare_duration), 0.0).mean(axis=1)
    r = p.flare_rate
    return float(np.sqrt(fluct_var + p.flare_pain**2 * r * (1 - r) * np.sum(c**2)
                         + p.pain_report_sd**2))  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [{}, {"flare_duration": 1.5, "flare_rate": 0.1}, {"fluct_persistence": 0.0, "fluct_sd": 2.0}],
)
def test_report_noise_closed_form_equals_the_sum_over_days(changes):
    p = ps.ModelParams(**changes)
    assert float(report_noise_sd(p)) == pytest.approx(_report_noise_numeric(p), rel=1e-10)


NOISE = ("pain_report_sd", "fluct_sd", "flare_pain", "item_noise_sd")


@pytest.mark.data
@pytest.mark.xdist_group("patient_model")
def test_priors_on_noise_parameters_reach_the_patient_likelihood(public_data):
    """The log density moves with each noise parameter (they were frozen at fixed values)."""
    priors = dict(ps.inference.DEFAULT_PRIORS)
    base = ps.ModelParams()
    for name in NOISE:
        priors[name] = ps.Prior("lognormal", getattr(base, name), 0.3, "params")
    model = ps.TrialModel(public_data.subset(arms="usual_care"), priors=priors).model
    logp = model.compile_logp(jacobian=False)
    point = model.initial_point()
    for name in NOISE:
        key = next(k for k in point if k.startswith(name))
        lo, hi = dict(point), dict(point)
        lo[key], hi[key] = point[key] - 0.2, point[key] + 0.2
        assert abs(logp(hi) - logp(lo)) > 1e-3, f"{name} does not reach the likelihood"


def test_priors_the_likelihood_cannot_learn_are_refused():
    data = published_ashar2022()
    # item noise does not enter the arm-level model's predictions (means of readings)
    priors = dict(ps.inference.DEFAULT_PRIORS)
    priors["item_noise_sd"] = ps.Prior("lognormal", 0.05, 0.5, "params")
    with pytest.raises(ps.ValidationError, match=r"priors\[item_noise_sd\].*likelihood"):
        _ = ps.TrialModel(data, priors=priors, n_agents=4).model
    # population fields evaluated outside the graph can only be fixed: refused up front
    priors = dict(ps.inference.DEFAULT_PRIORS)
    priors["fear_mean"] = ps.Prior("beta", 4, 6, "spec")
    with pytest.raises(ps.ValidationError, match=r"priors\[fear_mean\].*pain_mean"):
        ps.TrialModel(data, priors=priors)


# -- dropout gates the self-guided dose the same way in both paths ---------------------------
QUIET = ps.ModelParams(fluct_sd=0.0, flare_rate=0.0)


def test_dropout_stops_self_guided_use_in_the_simulator_and_the_skeleton():
    """Every patient attends and drops out at the first session (all certain): afterwards
    neither path gives the self-guided dose, so the deterministic trajectories agree."""
    protocol = ps.protocols.custom(
        [(2, 1.0, 0.0), (9, 1.0, 0.0)], name="edu", attendance=1.0, dropout=1.0
    ).with_self_guided(start_day=0, daily_dose=0.5)
    c = ps.Cohort.from_trial_baseline(6, seed=4, params=QUIET, spec=ps.CohortSpec(entry_shift=0))
    visits = (ps.Visit(name="a", day=20), ps.Visit(name="b", day=60))
    res = ps.simulate(c, protocol, horizon_days=60, seed=1, params=QUIET, visits=visits,
                      record="visits")  # fmt: skip
    grid = build_grid({"edu": protocol}, visits, horizon_days=60, daily=True)
    _, vstate, _ = skeleton_forward(
        grid, c.trait_table().T, c.state_table().T, np.zeros(6, int), np.ones(6),
        np.array(QUIET.to_tuple()),
    )  # fmt: skip
    safety = ps.dynamics.State._fields.index("safety")
    np.testing.assert_allclose(vstate[safety].T, res.latent["safety"].values.T, rtol=2e-6)
    # and the dose after dropout would have mattered: without dropout safety is higher
    stay = protocol.replace(dropout=0.0)
    res_stay = ps.simulate(c, stay, horizon_days=60, seed=1, params=QUIET, visits=visits,
                           record="visits")  # fmt: skip
    assert (res_stay.latent["safety"].values > res.latent["safety"].values + 0.05).all()


def test_the_grid_scales_self_guided_use_by_the_chance_of_still_being_in_treatment():
    protocol = ps.protocols.custom(
        [(1, 1.0, 0.0), (4, 1.0, 0.0)], attendance=0.8, dropout=0.5
    ).with_self_guided(start_day=0, daily_dose=0.1)
    grid = build_grid({"a": protocol}, (ps.Visit(name="v", day=10),), daily=True)
    day = grid.step_day
    stay = 1.0 - 0.8 * 0.5
    expect = 0.1 * np.where(day >= 4, stay**2, np.where(day >= 1, stay, 1.0))
    np.testing.assert_allclose(grid.drives.self_guided[0][day >= 0], expect[day >= 0], rtol=1e-12)


# -- patient-level gradient --------------------------------------------------------------------
@pytest.mark.data
@pytest.mark.xdist_group("patient_model")  # one cold compile of the patient graph
def test_patient_level_gradient_matches_finite_differences(public_data):
    data = public_data.subset(arms=["prt", "usual_care"])
    rec = data.records.isel(patient=np.r_[0:6, -6:0])
    small = ps.data.TrialData(
        arms=data.arms, protocols=data.protocols, visits=data.visits, records=rec,
        composite_visits=data.composite_visits, source="public data, 12 patients",
    )  # fmt: skip
    # the default priors on 12 patients under the natural course: the skeleton, the
    # observation models and the uptake mixture of every patient-level fit, and the course on
    # top (one compile for both; the adjoint of each mechanism is checked against finite
    # differences in tests/test_adjoint.py). drift_reversion reaches the log density twice
    # (through each patient's drift, rate x course_sd x drift_z, built in the graph, and
    # through the daily update's adjoint), course_sd and drift_z through the drift only.
    m = ps.TrialModel(small, level="patient", mechanism="natural_course").model
    logp, dlogp = m.compile_logp(), m.compile_dlogp()
    rng = np.random.default_rng(3)
    point = {k: v + 0.1 * rng.normal(size=np.shape(v)) for k, v in m.initial_point().items()}
    grad = dlogp(point)
    h, offset = 1e-5, 0
    for name in [v.name for v in m.value_vars]:
        size = int(np.size(point[name]))
        for i in range(0, size, max(1, size // 3)):  # a few entries of each random effect
            up, dn = dict(point), dict(point)
            up[name] = np.array(point[name], float).copy()
            dn[name] = np.array(point[name], float).copy()
            up[name].flat[i] += h
            dn[name].flat[i] -= h
            num = (logp(up) - logp(dn)) / (2 * h)
            np.testing.assert_allclose(
                grad[offset + i], num, rtol=2e-4, atol=2e-5, err_msg=f"{name}[{i}]"
            )
        offset += size


# -- configuration and saved fits ---------------------------------------------------------------
def test_configuration_is_every_constructor_argument():
    tm = ps.TrialModel(published_ashar2022(), n_agents=6, max_dt=5)
    params = list(inspect.signature(ps.TrialModel.__init__).parameters)[1:]
    cfg = tm.config()
    assert list(cfg) == params
    assert cfg["n_agents"] == 6 and cfg["max_dt"] == 5 and cfg["level"] == "arm"
    assert cfg["data"]["source"].startswith("prt_sim.data.published")
    assert json.loads(json.dumps(cfg)) == cfg  # JSON as it is
    other = ps.TrialModel(published_ashar2022().subset(max_day=30), n_agents=6, max_dt=5)
    assert other.config_hash() != tm.config_hash()  # the data's content counts


def _fake_fit(tm, path, **attrs):
    """A minimal InferenceData carrying a fit's provenance (no sampling needed)."""
    import arviz as az
    import xarray as xr

    from prt_sim.io import provenance

    post = xr.Dataset({"exposure_learning": (("chain", "draw"), np.ones((1, 3)))})
    idata = az.InferenceData(posterior=post)
    idata.attrs.update(provenance("fit", 1, tm.config()) | attrs)
    return tm.save(idata, path)


def test_load_refuses_a_fit_of_another_version_or_a_tampered_configuration(tmp_path):
    tm = ps.TrialModel(published_ashar2022(), n_agents=4)
    ok = _fake_fit(tm, tmp_path / "ok.nc")
    assert tm.load_fit(ok).posterior["exposure_learning"].shape == (1, 3)
    old = _fake_fit(tm, tmp_path / "old.nc", prt_sim_version="0.0.1")
    with pytest.raises(ps.DifferentModelError, match="prt_sim 0.0.1"):
        ps.TrialModel.load(old)
    with pytest.warns(ps.VersionWarning, match="0.0.1"):
        ps.TrialModel.load(old, strict=False)
    # Same version, other model sources (a fit made while the equations were being edited).
    edited = _fake_fit(tm, tmp_path / "edited.nc", model_fingerprint="0" * 16)
    with pytest.raises(ps.DifferentModelError, match=r"other model sources.*0{16}"):
        ps.TrialModel.load(edited)
    with pytest.warns(ps.VersionWarning, match="other model sources"):
        ps.TrialModel.load(edited, strict=False)
    with pytest.raises(ps.DifferentModelError, match="differs"):
        tm.load_fit(edited)  # no recorded density to reproduce: refused
    bad = _fake_fit(tm, tmp_path / "bad.nc", config_hash="0" * 16)
    with pytest.raises(ps.DifferentModelError, match="configuration hash"):
        ps.TrialModel.load(bad)
    other = ps.TrialModel(published_ashar2022(), n_agents=5)
    with pytest.raises(ps.DifferentModelError, match="n_agents"):
        other.load_fit(ok)


@pytest.mark.xdist_group("default_fit")  # the arm model's compiled code, built once
def test_a_fit_of_another_version_is_reused_only_if_this_version_reproduces_it(tmp_path):
    """A fit written by an earlier version (its configuration without a parameter added since)
    loads through load_fit when this version's log density equals the recorded one at its
    draws, is stamped (and written back with upgrade=True); a recorded density that this
    version does not give back (the equations changed) is refused."""
    import arviz as az
    import xarray as xr

    from prt_sim._version import current_fingerprint
    from prt_sim.io import provenance

    tm = ps.TrialModel(published_ashar2022(), n_agents=4)
    logp = tm.model.compile_logp()
    rng = np.random.default_rng(0)
    start = tm.model.initial_point()
    points = [{k: v + rng.normal(0, 0.1, np.shape(v)) for k, v in start.items()} for _ in range(3)]
    post = xr.Dataset({
        k: (("chain", "draw", *(f"{k}_{i}" for i in range(np.ndim(v)))),
            np.stack([p[k] for p in points])[None])
        for k, v in start.items()
    })  # fmt: skip
    recorded = np.array([[logp(p) for p in points]])
    cfg = tm.config()
    del cfg["params"]["course_sd"]  # written before the natural course existed

    def old_fit(name, logp_values):
        idata = az.InferenceData(
            posterior=post, sample_stats=xr.Dataset({"logp": (("chain", "draw"), logp_values)})
        )
        idata.attrs.update(provenance("fit", 1, cfg) | {"prt_sim_version": "0.3.0"})
        return tm.save(idata, tmp_path / name)

    same = old_fit("same.nc", recorded)
    with pytest.raises(ps.DifferentModelError, match="prt_sim 0.3.0"):
        ps.TrialModel.load(same)
    got = tm.load_fit(same, upgrade=True)
    check = json.loads(got.attrs["verified_from"])
    assert check["reproduced"] and check["version"] == "0.3.0" and check["draws"] == 3
    assert check["max_abs_diff"] <= check["tolerance"]
    back = ps.TrialModel.load(same)  # written back, stamped with these sources
    assert back.attrs["prt_sim_version"] == ps.__version__
    assert back.attrs["model_fingerprint"] == current_fingerprint()
    changed = old_fit("changed.nc", recorded + 1e-3 * np.abs(recorded))
    with pytest.raises(ps.DifferentModelError, match=r"0\.3\.0.*differs.*refit"):
        tm.load_fit(changed)
    other = ps.TrialModel(published_ashar2022(), n_agents=5)
    with pytest.raises(ps.DifferentModelError, match="n_agents"):
        other.load_fit(old_fit("other.nc", recorded))
    # A 0.5.0 fit: `drift_sd` (replaced by `course_sd` in 0.6.0) at 0, its term off, is the
    # same model; switched on it was another parameterisation, and is refused.
    cfg["params"]["drift_sd"] = 0.0
    assert tm.load_fit(old_fit("v050.nc", recorded)).attrs["prt_sim_version"] == ps.__version__
    cfg["params"]["drift_sd"] = 0.3
    with pytest.raises(ps.DifferentModelError, match="different: params"):
        tm.load_fit(old_fit("v050_natural.nc", recorded))


def test_load_refuses_files_that_are_not_fits(tmp_path):
    res = ps.simulate(ps.Cohort.from_trial_baseline(3, seed=1), "none", horizon_days=10,
                      visits=(ps.Visit(name="v", day=5),))  # fmt: skip
    sim = res.save(tmp_path / "sim.nc")
    with pytest.raises(ps.DataFormatError, match=r"simulation, expected a fit.*sim\.nc"):
        ps.TrialModel.load(sim)
    with pytest.raises(ps.DataFormatError, match="file not found"):
        ps.TrialModel.load(tmp_path / "nothing.nc")


# -- the instrument table ------------------------------------------------------------------------
def test_readings_and_their_inverse_are_one_map():
    p = ps.ModelParams(fluct_sd=1.3)
    rng = np.random.default_rng(0)
    s = ps.dynamics.State(*(rng.uniform(0.1, 0.6, 50) for _ in ps.dynamics.State._fields))
    x = ps.dynamics.Traits(*(rng.uniform(0.1, 0.9, 50) for _ in ps.dynamics.Traits._fields))
    tsk, pcs, odi, mb = questionnaire_readings(s, x, p)
    state_pain = p.fluct_sd * x.variability * s.fluctuation  # the patient's fluctuation, points
    back = latent_from_readings(
        {"fear": tsk, "catastrophizing": pcs, "avoidance": odi}, state_pain, p
    )
    np.testing.assert_allclose(back["fear"], s.fear, rtol=1e-12)
    np.testing.assert_allclose(back["catastrophizing"], s.catastrophizing, rtol=1e-12)
    np.testing.assert_allclose(back["avoidance"], s.avoidance, rtol=1e-12)
    # moved by the natural course: the schema's odds times exp(course)
    odds = x.schema / (1 - x.schema) * np.exp(s.course)
    schema = odds / (1 + odds)
    np.testing.assert_allclose(mb, 1 - schema * (1 - s.safety) * (1 - s.consolidated), rtol=1e-12)
    for ins in INSTRUMENTS.values():
        if ins.n_points:
            assert ins.to_score(0.0) == ins.lo and ins.to_score(1.0) == ins.hi
            assert ins.to_fraction(ins.to_score(0.37)) == pytest.approx(0.37)


def test_simulated_scores_live_on_each_instruments_scale():
    c = ps.Cohort.from_trial_baseline(400, seed=2)
    res = ps.simulate(c, "prt", horizon_days=40, seed=2)
    for name, ins in INSTRUMENTS.items():
        v = res.instruments[name].values
        v = v[np.isfinite(v)]
        assert v.min() >= ins.lo and v.max() <= ins.hi, name
        if ins.n_points:
            assert np.allclose((v - ins.offset) / ins.step, np.round((v - ins.offset) / ins.step))


def test_the_daily_update_never_reads_the_measurement_parameters():
    """MEASUREMENT_PARAMS (declared in ModelParams) do not move the update; every other
    parameter does somewhere (its cotangent in the adjoint is nonzero)."""
    from conftest import random_drive, random_shocks, random_state, random_traits

    from prt_sim.model.adjoint import daily_step_vjp
    from prt_sim.model.dynamics import daily_step
    from prt_sim.model.params import MEASUREMENT_PARAMS

    rng = np.random.default_rng(5)
    n = 400
    s, x, d, z = random_state(rng, n), random_traits(rng, n), random_drive(rng, n), None
    z = random_shocks(rng, n, binary=False)
    base = ps.ModelParams()
    ref = daily_step(s, x, d, z, base.to_tuple())
    for name in MEASUREMENT_PARAMS:
        moved = base.replace(**{name: getattr(base, name) * 0.5 + 0.01}).to_tuple()
        out = daily_step(s, x, d, z, moved)
        for a, b in zip(ref[0] + (ref[1],), out[0] + (out[1],)):
            np.testing.assert_array_equal(a, b, err_msg=name)
    gs = ps.dynamics.State(*(rng.normal(size=n) for _ in ps.dynamics.State._fields))
    # Every term switched on (the mechanisms' switches are parameters too).
    full = ps.mechanism("consolidation+fear_mediated+natural_course+contact").params(base)
    full = full.to_tuple()
    _, g_x, g_p, g_z, _ = daily_step_vjp(s, x, d, z, full, gs, rng.normal(size=n))
    for name, g in zip(ps.model.params.DynParams._fields, g_p):
        if name == "flare_rate":  # enters through the flare shock
            g = g_z.flare
        if name == "course_sd":  # enters through each patient's drift (rate x course_sd x z)
            g = g_x.drift
        assert (np.any(np.asarray(g) != 0)) == (name not in MEASUREMENT_PARAMS), name


# -- the pain floor as a random effect ----------------------------------------------------------
@pytest.mark.data
def test_each_patients_floor_is_a_random_effect_at_patient_level_only(public_data):
    """Patient-level fits give each patient their own floor around a fitted ``floor_mean``
    (``floor_z``); a floor_z equal to the patient's standardized draw builds the same
    patient as the draw itself; fits without a prior on floor_mean keep the drawn floors."""
    from prt_sim.inference.patient_model import patient_records, random_effects
    from prt_sim.model.baseline import build_record_patients

    tm = ps.TrialModel(public_data, level="patient")
    assert (
        "floor_mean" in tm.priors
        and "floor_mean" not in ps.TrialModel(public_data, level="arm").priors
    )
    assert "floor_z" in [v.name for v in tm.model.free_RVs]
    old = {k: v for k, v in tm.priors.items() if k != "floor_mean"}
    old_model = ps.TrialModel(public_data, level="patient", priors=old).model
    assert "floor_z" not in [v.name for v in old_model.free_RVs]
    assert random_effects(["floor_z", "drift_z"]) == (
        "pain_z", "edu_z", "placebo_z", "floor_z", "drift_z")  # fmt: skip

    spec, p = ps.CohortSpec(), ps.ModelParams()
    pr = patient_records(public_data, spec, 0)
    n = pr.records.sizes["patient"]
    rng = np.random.default_rng(5)
    effects = {k: rng.normal(size=n) for k in ("pain_z", "edu_z", "placebo_z")}
    effects["fluct_z"] = np.zeros(n)
    drawn = build_record_patients(pr.baseline, pr.std, effects, spec, p.to_tuple(), 3)
    z = (np.asarray(pr.std["floor"]) - spec.floor_mean) / spec.floor_sd
    inside = np.asarray(pr.std["floor"]) > 0  # the clip at 0 loses the draw's z
    as_effect = build_record_patients(pr.baseline, pr.std, {**effects, "floor_z": z}, spec,
                                      p.to_tuple(), 3)  # fmt: skip
    for a, b, name in zip(drawn[0], as_effect[0], ps.dynamics.Traits._fields):
        np.testing.assert_allclose(np.asarray(b)[inside], np.asarray(a)[inside], rtol=1e-12,
                                   atol=1e-12, err_msg=name)  # fmt: skip
    # a lower floor_z lowers the floor (never below 0) and raises the gain that keeps the
    # baseline pain
    low = build_record_patients(pr.baseline, pr.std, {**effects, "floor_z": z - 1.0}, spec,
                                p.to_tuple(), 3)[0]  # fmt: skip
    f0, f1 = np.asarray(as_effect[0].floor), np.asarray(low.floor)
    assert (f1 <= f0).all() and (f1 >= 0).all() and (f1 < f0).any()
    g0, g1 = np.asarray(as_effect[0].gain), np.asarray(low.gain)
    assert (g1[f1 < f0] >= g0[f1 < f0]).all()


# -- each patient's rating variability (0.9.0) -------------------------------------------------
@pytest.mark.parametrize("v", [0.0, 0.4, 1.0, 2.5])
def test_report_noise_with_a_patients_variability_scales_fluctuation_and_report(v):
    """report_noise_sd(p, v) is the brute-force sum with the fluctuation and the report noise
    scaled by v and the flare-ups not; v = 1 is the population's."""
    p = ps.ModelParams(flare_rate=0.05)
    scaled = dataclasses.replace(p, fluct_sd=p.fluct_sd * v, pain_report_sd=p.pain_report_sd * v)
    got = float(np.asarray(report_noise_sd(p, np.array([[v]]))).ravel()[0])
    assert got == pytest.approx(_report_noise_numeric(scaled), rel=1e-10)
    if v == 1.0:
        assert got == pytest.approx(float(report_noise_sd(p)), rel=1e-14)


def _spread_cohort(variability, n=400):
    c = ps.Cohort.from_trial_baseline(n, seed=11)
    return ps.Cohort(c.traits._replace(variability=np.full(n, variability)), c.state,
                     c.patient_id, c.baseline)  # fmt: skip


def test_the_simulator_reads_each_patients_variability():
    """A patient of variability 0 without flare-ups reports the same pain whatever the seed
    (no fluctuation in their pain, no report noise); the spread of a patient's reports around
    their own mean grows with their variability."""
    p = ps.ModelParams(flare_rate=0.0)
    kw = dict(horizon_days=200, params=p)

    def pain(v, seed):
        r = ps.simulate(_spread_cohort(v), "usual_care", seed=seed, progress=False, **kw)
        return r.instruments["pain_avg"].values

    calm = pain(0.0, 1)
    np.testing.assert_array_equal(calm, pain(0.0, 2))
    assert not np.array_equal(pain(1.0, 1), pain(1.0, 2))
    spread = {v: np.nanmean(np.nanstd(pain(v, 3)[:, 2:], axis=1)) for v in (0.5, 1.0, 2.0)}
    assert spread[0.5] < spread[1.0] < spread[2.0], spread


def test_cohort_variability_is_log_normal_and_leaves_the_other_draws():
    """CohortSpec.variability_sd: 0 gives every patient 1 (the cohorts before 0.9.0, bit for
    bit); 0.5 gives a log-normal spread of log-SD 0.5 and mean square 1 (the population's noise
    variance shared out, not added to), with every other patient-level draw unchanged."""
    c0 = ps.Cohort.from_trial_baseline(4000, seed=3)
    c1 = ps.Cohort.from_trial_baseline(4000, seed=3, spec=ps.CohortSpec(variability_sd=0.5))
    assert (c0.traits.variability == 1.0).all()
    logv = np.log(c1.traits.variability)
    assert abs(np.median(logv) + 0.25) < 0.03 and abs(logv.std() - 0.5) < 0.02
    assert abs(np.mean(c1.traits.variability**2) - 1.0) < 0.05
    for name in ("schema", "floor", "edu_efficacy", "adherence", "placebo_response", "drift"):
        np.testing.assert_array_equal(getattr(c0.traits, name), getattr(c1.traits, name))
    # a dataset written before the trait existed loads with variability 1
    ds = c1.to_dataset().drop_vars("trait_variability")
    assert (ps.Cohort.from_dataset(ds).traits.variability == 1.0).all()
    with pytest.raises(ps.ValidationError, match="variability_sd"):
        ps.CohortSpec(variability_sd=2.0)


@pytest.mark.data
def test_each_patients_variability_is_a_random_effect_at_patient_level_only(public_data):
    """Patient-level fits give each patient their own rating variability (``var_z`` under a
    fitted ``variability_sd``); without a spread any var_z builds exactly the patient without
    it; the arm level
    refuses a spread, fixed or fitted."""
    from prt_sim.inference.patient_model import patient_records, random_effects
    from prt_sim.model.baseline import build_record_patients

    tm = ps.TrialModel(public_data, level="patient")
    assert "variability_sd" in tm.priors
    assert "var_z" in [v.name for v in tm.model.free_RVs]
    old = {k: v for k, v in tm.priors.items() if k != "variability_sd"}
    assert "var_z" not in [
        v.name for v in ps.TrialModel(public_data, level="patient", priors=old).model.free_RVs
    ]
    assert random_effects(["floor_z", "var_z", "drift_z"]) == (
        "pain_z", "edu_z", "placebo_z", "floor_z", "var_z", "drift_z")  # fmt: skip
    arm = ps.TrialModel(public_data, level="arm")
    assert "variability_sd" not in arm.priors
    with pytest.raises(ps.ValidationError, match="variability_sd"):
        ps.TrialModel(public_data, level="arm", spec=ps.CohortSpec(variability_sd=0.3))
    pri = {**arm.priors, "variability_sd": tm.priors["variability_sd"]}
    with pytest.raises(ps.ValidationError, match="variability_sd"):
        ps.TrialModel(public_data, level="arm", priors=pri)

    spec = ps.CohortSpec(variability_sd=0.7)
    p = ps.ModelParams().to_tuple()
    pr = patient_records(public_data, spec, 0)
    n = pr.records.sizes["patient"]
    rng = np.random.default_rng(8)
    effects = {k: rng.normal(size=n) for k in ("pain_z", "edu_z", "placebo_z")}
    effects["fluct_z"] = np.zeros(n)
    # no spread: a var_z of any value builds exactly the patient without it
    alike = ps.CohortSpec()
    without = build_record_patients(pr.baseline, pr.std, effects, alike, p, 3)
    zero = build_record_patients(pr.baseline, pr.std, {**effects, "var_z": rng.normal(size=n)},
                                 alike, p, 3)  # fmt: skip
    for a, b, name in zip((*without[0], *without[1]), (*zero[0], *zero[1]),
                          (*ps.dynamics.Traits._fields, *ps.dynamics.State._fields)):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    vz = rng.normal(size=n)
    some = build_record_patients(pr.baseline, pr.std, {**effects, "var_z": vz}, spec, p, 3)[0]
    np.testing.assert_allclose(some.variability, np.exp(0.7 * vz - 0.49), rtol=1e-12)


# -- the weekly surveys' mode offset ------------------------------------------------------------
@pytest.mark.data
def test_the_weekly_surveys_are_survey_visits_and_keep_their_mode(public_data, tmp_path):
    """The public file's weekly surveys are survey visits; the mode survives saving, the
    arm-level summaries and the patient-level model's visits. Patient-level fits learn the
    offset where the data have surveys and do not try to where they have none."""
    from prt_sim.inference.patient_model import patient_records

    modes = {v.name: v.mode for v in public_data.visits}
    assert {n for n, m in modes.items() if m == "survey"} == {f"week{k}" for k in range(1, 9)}
    path = tmp_path / "trial.nc"
    public_data.save(path)
    assert {v.name: v.mode for v in ps.data.TrialData.load(path).visits} == modes
    arm = public_data.to_arm_level()
    assert all(v.mode == modes.get(v.name, "visit") for v in arm.visits)
    pr = patient_records(public_data, ps.CohortSpec(), 0)
    assert [v.mode for v in pr.visits] == [modes[v.name] for v in pr.visits]
    assert "survey_offset" in ps.TrialModel(public_data, level="patient").priors
    no_surveys = public_data.subset(visits=[v for v in public_data.visit_names
                                            if modes[v] == "visit"])  # fmt: skip
    assert "survey_offset" not in ps.TrialModel(no_surveys, level="patient").priors
    with pytest.raises(ps.errors.ValidationError, match="mode"):
        ps.Visit("w", 3, mode="online")


@pytest.mark.data
def test_the_visits_modes_count_in_a_fits_configuration_only_where_the_model_reads_them(
    public_data,
):
    """The data's content hash ignores the visits' modes (so a fit made before modes existed
    still matches its data); a model with a survey offset records which visits are surveys,
    and one without does not."""
    from prt_sim.inference.trial_model import _data_hash

    plain = public_data.replace(
        visits=tuple(dataclasses.replace(v, mode="visit") for v in public_data.visits)
    )
    assert _data_hash(plain) == _data_hash(public_data)
    with_offset = ps.TrialModel(public_data, level="patient").config()["data"]
    assert with_offset["survey_visits"] == [f"week{k}" for k in range(1, 9)]
    priors = {k: v for k, v in ps.TrialModel(public_data, level="patient").priors.items()
              if k != "survey_offset"}  # fmt: skip
    assert "survey_visits" not in ps.TrialModel(public_data, priors=priors).config()["data"]
