"""The replay of a patient-level fit's own patients, and its leave-one-patient-out data.

A posterior is made by hand (population parameters at their prior medians, random effects
chosen per patient), so these tests need no sampling: they check that the replay runs each
recorded patient as that patient (their baseline, their random effects, their missing visits).
"""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
import xarray as xr

import prt_sim as ps
from prt_sim.data.uptake import start_probabilities
from prt_sim.errors import ValidationError
from prt_sim.inference import patient_checks as pc
from prt_sim.inference.checks import ppc_rows
from prt_sim.inference.patient_model import (
    has_floor_effect,
    has_variability_effect,
    random_effects,
)
from prt_sim.inference.posterior import trial_design
from prt_sim.io import to_jsonable

pytestmark = pytest.mark.data


def _hand_made_fit(data, pain_z, n_draws=6, seed=0, uptake_prob=1.0):
    """A 'posterior' of a patient-level TrialModel on ``data``: every draw at the priors'
    medians, ``pain_z`` per patient, other random effects 0, a per-patient log likelihood and
    each patient's probability of having started treatment (``uptake_prob``; None: absent, as
    in fits made before it was recorded)."""
    tm = ps.TrialModel(data, level="patient")
    rng = np.random.default_rng(seed)
    pats = data.records["patient"].values
    n = len(pats)
    post = {
        name: (("chain", "draw"), np.full((1, n_draws), float(np.median(pr.draw(rng, 4001)))))
        for name, pr in tm.priors.items()
    }
    extra = [n for n, has in (("floor_z", has_floor_effect), ("var_z", has_variability_effect))
             if has(tm.priors)]  # fmt: skip
    for k in random_effects(extra):
        post[k] = (("chain", "draw", "patient"), np.zeros((1, n_draws, n)))
    post["pain_z"] = (("chain", "draw", "patient"), np.broadcast_to(pain_z, (1, n_draws, n)))
    post["patient_loglik"] = (("chain", "draw", "patient"), rng.normal(-50, 1, (1, n_draws, n)))
    if uptake_prob is not None:
        post["uptake_prob"] = (
            ("chain", "draw", "patient"),
            np.broadcast_to(np.asarray(uptake_prob, float), (1, n_draws, n)),
        )
    ds = xr.Dataset(post, coords={"chain": [0], "draw": np.arange(n_draws), "patient": pats})
    idata = az.InferenceData(posterior=ds)
    idata.attrs.update(
        config=json.dumps(to_jsonable(tm.config())),
        design=json.dumps(to_jsonable(trial_design(data))),
    )
    return idata


@pytest.fixture(scope="module")
def t1_pain(public_data):
    return public_data.records["pain_avg"].sel(visit="t1").values


def test_replay_runs_each_recorded_patient_as_that_patient(public_data, t1_pain):
    z = np.nan_to_num((t1_pain - np.nanmean(t1_pain)) / np.nanstd(t1_pain))
    rep = pc.replay_patients(_hand_made_fit(public_data, z), public_data, n_draws=6, seed=2)
    rec = public_data.records.sel(visit=[str(v) for v in rep["visit"].values])
    assert rep.sizes["draw"] == 6
    np.testing.assert_array_equal(rep["patient"].values, rec["patient"].values)
    np.testing.assert_array_equal(rep["arm"].values.astype(str), rec["arm"].values.astype(str))
    for var in ("pain_avg", "tsk11", "attrib_mb"):  # missing exactly where the trial has none
        np.testing.assert_array_equal(
            np.isnan(rep[var].values), np.broadcast_to(np.isnan(rec[var].values), rep[var].shape)
        )
    # Their own pain level: the replay's T1 pain follows the recorded one ...
    sim_t1 = rep["pain_avg"].sel(visit="t1").mean("draw").values
    ok = np.isfinite(t1_pain)
    assert np.corrcoef(sim_t1[ok], t1_pain[ok])[0, 1] > 0.6
    # ... and not when the random effects are given to other patients.
    shuffled = np.random.default_rng(0).permutation(z)
    rep2 = pc.replay_patients(_hand_made_fit(public_data, shuffled), public_data, n_draws=6, seed=2)
    sim2 = rep2["pain_avg"].sel(visit="t1").mean("draw").values
    assert abs(np.corrcoef(sim2[ok], t1_pain[ok])[0, 1]) < 0.35


def test_replays_and_new_cohorts_read_the_surveys_with_the_fitted_offset(public_data, t1_pain):
    """The replay of the fitted patients and the posterior predictive's new cohorts simulate the
    survey visits as surveys: a fitted survey_offset of 2 raises every reported pain at the
    weekly surveys (the clips aside) and changes nothing at the visits."""
    from prt_sim.inference.posterior import replicates

    def first_replicate(f):  # usual care's simulated trial arm of the first replicate
        for _, _, _, a, res in replicates(f, public_data, n_draws=1, seed=3):
            if public_data.arms[a] == "usual_care":
                return res.instruments["pain_avg"]

    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=2)
    up = fit.copy()
    fit.posterior["survey_offset"] = xr.zeros_like(fit.posterior["survey_offset"])
    up.posterior["survey_offset"] = xr.full_like(fit.posterior["survey_offset"], 2.0)
    weeks = [f"week{k}" for k in range(1, 5)]
    for run in (
        lambda f: pc.replay_patients(f, public_data, n_draws=2, seed=3)["pain_avg"],
        first_replicate,
    ):
        a, b = run(fit), run(up)
        np.testing.assert_array_equal(a.sel(visit=["t1", "post", "m1"]).values,
                                      b.sel(visit=["t1", "post", "m1"]).values)  # fmt: skip
        d = (b - a).sel(visit=weeks).values
        lo = a.sel(visit=weeks).values
        inside = np.isfinite(d) & (lo >= 1) & (lo <= 8)
        assert inside.sum() > 20 and (d[inside] == 2.0).all()


def test_replay_is_reproducible_and_summarised_like_the_trial(public_data, t1_pain):
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=3)
    a = pc.replay_patients(fit, public_data, n_draws=3, seed=5)
    b = pc.replay_patients(fit, public_data, n_draws=3, seed=5)
    c = pc.replay_patients(fit, public_data, n_draws=3, seed=6)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["pain_avg"].values, c["pain_avg"].values, equal_nan=True)
    rows = ppc_rows(pc.replay_summaries(a, public_data), public_data)
    post = {r["arm"]: r for r in rows if r["visit"] == "post"}
    assert set(post) == set(public_data.arms)
    assert post["prt"]["pain_free_itt"]["observed"] == pytest.approx(0.66, abs=0.01)
    resp = pc.responder_check(a, public_data)
    assert resp["prt"]["both"]["observed"] == 25 and resp["prt"]["m12_only"]["observed"] == 0
    assert set(pc.correlation_check(a, public_data)) == set(public_data.arms)
    spread = pc.spread_check(a, public_data)
    assert set(spread) == set(public_data.arms)
    # the trial's side is the records' own: PRT patients observed at all five follow-ups
    rec = public_data.records
    x = rec["pain_avg"].sel(visit=["m1", "m2", "m3", "m6", "m12"]).values
    prt = (rec["arm"].values == "prt") & np.isfinite(x).all(axis=1)
    sds = x[prt].std(axis=1, ddof=1)
    assert spread["prt"]["sd_of_sd"]["observed"] == pytest.approx(sds.std(), rel=1e-12)
    assert spread["prt"]["share_steady"]["observed"] == pytest.approx(np.mean(sds == 0))


def test_follow_up_spread_by_hand():
    """Each patient's SD over the chosen visits (patients with a missing one left out), their
    median and SD across patients, and the share who never changed, per arm."""
    pain = np.array([
        [1, 1, 1, 1],  # SD 0
        [0, 2, 0, 2],
        [3, 3, 4, 4],
        [5, 1, 5, 1],
        [2, np.nan, 2, 2],  # not observed at all: left out
        [7, 7, 7, 7],  # other arm
    ], dtype=float)  # fmt: skip
    arm = np.array(["a"] * 5 + ["b"])
    got = pc.follow_up_spread(pain, arm, ["a", "b"], [0, 1, 2, 3])
    sd = np.array([0.0, np.std([0, 2, 0, 2], ddof=1), np.std([3, 3, 4, 4], ddof=1),
                   np.std([5, 1, 5, 1], ddof=1)])  # fmt: skip
    assert got["a"]["median_sd"] == pytest.approx(np.median(sd))
    assert got["a"]["sd_of_sd"] == pytest.approx(np.std(sd))
    assert got["a"]["share_steady"] == pytest.approx(0.25)
    assert np.isnan(got["b"]["median_sd"])  # too few patients to say


def test_replay_starts_treatment_as_the_records_say(public_data, t1_pain):
    """Uptake in the replay follows each patient's posterior probability of having started,
    not the arm's prior uptake (0.9 for PRT)."""
    z = np.zeros(len(t1_pain))
    arm = public_data.records["arm"].values.astype(str)
    prt = arm == "prt"
    started = pc.replay_patients(_hand_made_fit(public_data, z, n_draws=4), public_data,
                                 n_draws=4, seed=3)  # fmt: skip
    never = pc.replay_patients(
        _hand_made_fit(public_data, z, n_draws=4, uptake_prob=np.where(prt, 0.0, 1.0)),
        public_data, n_draws=4, seed=3,
    )  # fmt: skip
    post_started = np.nanmean(started["pain_avg"].sel(visit="post").values[:, prt])
    post_never = np.nanmean(never["pain_avg"].sel(visit="post").values[:, prt])
    assert post_never > post_started + 1.0  # untreated PRT patients keep their pain
    # The control arms (uptake 1) replay the same either way.
    xr.testing.assert_identical(started.isel(patient=np.flatnonzero(~prt)),
                                never.isel(patient=np.flatnonzero(~prt)))  # fmt: skip


@pytest.mark.slow
def test_uptake_probability_is_the_posterior_of_starting(public_data, t1_pain):
    """Fits without a recorded ``uptake_prob`` get it from the rebuilt model: for a patient
    with no record after treatment began (no outcome to learn from), their probability of
    having started given that silence (0.18: ``start_probabilities``), 1 in arms without an
    uptake mixture, near 1 for PRT patients who recovered."""
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=2, uptake_prob=None)
    p = pc.uptake_probabilities(fit, public_data, np.arange(2))
    rec = public_data.records
    arm = rec["arm"].values.astype(str)
    assert p.shape == (2, len(arm))
    np.testing.assert_array_equal(p[:, arm != "prt"], 1.0)
    later = [str(v) for v in rec["visit"].values if str(v) not in ("eligibility", "t1")]
    silent = arm == "prt"
    for var in ("pain_avg", "tsk11", "pcs", "odi", "attrib_mb"):  # every scored record
        silent &= rec[var].sel(visit=later).isnull().all("visit").values
    assert silent.any()
    prior = start_probabilities(public_data)
    assert np.all(prior[silent] < 0.2)
    np.testing.assert_allclose(p[:, silent], np.broadcast_to(prior[silent], (2, silent.sum())))
    post = rec["pain_avg"].sel(visit="post").values
    recovered = (arm == "prt") & (post <= 1)
    unchanged = (arm == "prt") & (post >= rec["pain_avg"].sel(visit="t1").values)
    assert recovered.sum() >= 20 and unchanged.sum() >= 3
    assert np.median(p[:, recovered]) > 0.99
    assert p[:, unchanged].mean() < p[:, recovered].mean() - 0.2
    with pytest.raises(ValidationError, match="same patients"):
        pc.uptake_probabilities(fit, public_data.subset(arms=["prt", "usual_care"]), [0])
    # The recorded value is read as it is.
    fit2 = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=2, uptake_prob=0.25)
    np.testing.assert_array_equal(pc.uptake_probabilities(fit2, public_data, [1]), 0.25)


def test_leave_one_patient_out_reads_the_per_patient_log_likelihood(public_data, t1_pain):
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)))
    loo = az.loo(pc.with_log_likelihood(fit), pointwise=True)
    assert np.asarray(loo.pareto_k).shape == (len(t1_pain),)
    ll = fit.posterior["patient_loglik"].values
    # elpd_loo of each patient is at most the log of the mean likelihood over draws (+ slack)
    assert float(loo.elpd_loo) < float(np.log(np.exp(ll).mean(axis=(0, 1))).sum()) + 1e-6


def test_replay_overrides_switch_a_noise_source_off_and_nothing_else(public_data, t1_pain):
    """A replay with overrides is the same patients, random numbers and draws with the named
    parameters changed: no overrides is the replay itself; with no report noise, fluctuation or
    flare-ups a patient's reports no longer scatter between visits; bad overrides are refused by
    name."""
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=2)
    plain = pc.replay_patients(fit, public_data, n_draws=2, seed=3)
    xr.testing.assert_identical(
        plain, pc.replay_patients(fit, public_data, n_draws=2, seed=3, overrides={})
    )
    quiet = {"pain_report_sd": 0.0, "fluct_sd": 0.0, "flare_rate": 0.0}
    q = pc.replay_patients(fit, public_data, n_draws=2, seed=3, overrides=quiet)
    assert json.loads(q.attrs["overrides"]) == quiet and "overrides" not in plain.attrs
    # the same patients and recorded visits; the readings differ
    np.testing.assert_array_equal(
        np.isnan(q["pain_avg"].values), np.isnan(plain["pain_avg"].values)
    )
    assert not np.array_equal(q["pain_avg"].values, plain["pain_avg"].values, equal_nan=True)
    # follow-ups of the usual-care patients (no treatment): near-steady without the scatter
    fu = ["m1", "m2", "m3", "m6", "m12"]
    seen = np.isfinite(plain["pain_avg"].sel(visit=fu).values[0]).all(axis=-1)
    uc = (q["arm"].values == "usual_care") & seen

    def spread(ds):
        return ds["pain_avg"].sel(visit=fu).values[:, uc].std(axis=-1).mean()

    assert spread(q) < 0.5 * spread(plain)
    with pytest.raises(ValidationError, match="overrides.*field of ModelParams"):
        pc.replay_patients(fit, public_data, n_draws=2, overrides={"report_noise": 0.0})
    with pytest.raises(ValidationError, match="pain_report_sd"):
        pc.replay_patients(fit, public_data, n_draws=2, overrides={"pain_report_sd": -1.0})
    with pytest.raises(ValidationError, match="overrides"):
        pc.replay_patients(fit, public_data, n_draws=2, overrides=[("fluct_sd", 0.0)])


def test_replay_refuses_what_it_cannot_replay(public_data, t1_pain):
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)))
    with pytest.raises(ValidationError, match="data.level"):
        pc.replay_patients(fit, ps.data.published_ashar2022())
    other = public_data.subset(arms=["prt", "usual_care"])
    with pytest.raises(ValidationError, match="same patients"):
        pc.replay_patients(fit, other)
    with pytest.raises(ValidationError, match="patient-level fit"):
        pc.replay_patients(az.InferenceData(posterior=fit.posterior.drop_vars("pain_z")),
                           public_data)  # fmt: skip
    with pytest.raises(ValidationError, match="patient_loglik"):
        pc.with_log_likelihood(az.InferenceData(posterior=fit.posterior[["pain_mean"]]))


def test_contraction_is_one_where_the_posterior_is_the_prior(public_data, t1_pain):
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)))
    rng = np.random.default_rng(1)
    priors, _, _ = ps.inference.posterior.fit_configuration(fit)
    draws = {n: (("chain", "draw"), pr.draw(rng, 200_000)[None, :]) for n, pr in priors.items()}
    fit2 = az.InferenceData(posterior=xr.Dataset(draws))
    fit2.attrs.update(fit.attrs)
    c = pc.contraction(fit2, seed=3)
    assert set(c) == set(priors)
    for name, row in c.items():
        assert row["ratio"] == pytest.approx(1.0, abs=0.05), name
        assert row["ratio_unconstrained"] == pytest.approx(1.0, abs=0.05), name
    tight = pc.contraction(fit).values()  # one value per draw
    assert all(r["ratio"] < 1e-9 and r["ratio_unconstrained"] < 1e-9 for r in tight)


def test_contraction_on_the_samplers_scale_reads_skewed_posteriors_right(public_data, t1_pain):
    """A log-normal posterior as wide as its prior in log units but moved into the prior's long
    tail: wider than the prior in days (ratio above 1), as uncertain relative to its size
    (ratio 1 on the log scale); one moved toward 0 looks narrow in its units only."""
    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)))
    priors, _, _ = ps.inference.posterior.fit_configuration(fit)
    name = next(n for n, pr in priors.items() if pr.family == "lognormal" and pr.upper is None)
    pr = priors[name]
    z = np.random.default_rng(2).standard_normal(100_000)
    for shift, natural in ((+1.0, lambda r: r > 1.5), (-1.5, lambda r: r < 0.5)):
        post = pr.a * np.exp(pr.b * (z + shift))
        fit2 = az.InferenceData(posterior=xr.Dataset({name: (("chain", "draw"), post[None])}))
        fit2.attrs.update(fit.attrs)
        row = pc.contraction(fit2, seed=3)[name]
        assert natural(row["ratio"]), (shift, row["ratio"])
        assert row["ratio_unconstrained"] == pytest.approx(1.0, abs=0.03), shift


def test_unconstrained_scale_is_pymcs_transform():
    """Prior.unconstrained is the transform PyMC samples each prior family on: its value at a
    point is the model's value variable there."""
    import pymc as pm

    from prt_sim.inference.priors import Prior

    cases = [
        (Prior("lognormal", 0.1, 1.0, "params"), 0.3),
        (Prior("lognormal", 180.0, 1.5, "params", upper=3650.0), 400.0),
        (Prior("beta", 1.5, 15.0, "params"), 0.2),
        (Prior("truncnormal", 0.0, 0.5, "spec", lower=0.0, upper=1.5), 0.4),
        (Prior("normal", 1.0, 2.0, "params"), -0.7),
        (Prior("normal", 1.0, 2.0, "params", lower=-1.0), 0.5),
    ]
    import pytensor
    import pytensor.tensor as pt

    with pm.Model() as m:
        rvs = [pr.dist(f"x{i}") for i, (pr, _) in enumerate(cases)]
    forward = []
    for rv, (_, x) in zip(rvs, cases):
        tr = m.rvs_to_transforms[rv]
        x = pt.constant(x, dtype="float64")
        forward.append(x if tr is None else tr.forward(x, *rv.owner.inputs))
    expected = pytensor.function([], forward)()  # one compile for every case
    for (pr, x), want in zip(cases, expected):
        assert pr.unconstrained(x) == pytest.approx(float(want), rel=1e-9), pr


def test_side_by_side_flags_parameters_whose_intervals_do_not_overlap(public_data, t1_pain):
    a = _hand_made_fit(public_data, np.zeros(len(t1_pain)))
    b = a.copy()
    b.posterior["pain_mean"] = a.posterior["pain_mean"] + 1.0
    rows = pc.side_by_side({"arm": a, "patient": b})
    assert rows["pain_mean"]["overlap"] is False
    assert rows["pain_mean"]["patient"]["median"] == pytest.approx(
        rows["pain_mean"]["arm"]["median"] + 1.0
    )
    assert rows["threat_slope"]["overlap"] is True
    with pytest.raises(ValidationError, match="exactly two"):
        pc.side_by_side({"a": a})


# -- personalized forecasts ---------------------------------------------------------------------
def test_a_patients_forecast_follows_their_own_records(public_data, t1_pain):
    from prt_sim.forecasting import forecast_patient
    from prt_sim.plotting import plot_patient_forecast

    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=3)
    ids = public_data.records["patient"].values
    low, high = int(ids[np.nanargmin(t1_pain)]), int(ids[np.nanargmax(t1_pain)])
    kw = dict(upto="t1", protocols=["usual_care"], n_draws=3, n_effects=64, n_futures=10,
              horizon_years=1.0, seed=4)  # fmt: skip
    a = forecast_patient(fit, public_data, low, **kw)
    b = forecast_patient(fit, public_data, high, **kw)
    assert a["mean_pain"].dims == ("draw", "protocol", "time") and a.sizes["time"] == 13
    # Their own baseline moves their random effect and their future pain.
    assert float(a["pain_z"].mean()) < float(b["pain_z"].mean())
    assert float(a["mean_pain"].mean()) < float(b["mean_pain"].mean()) - 1.0
    assert (a["ess"] > 1).all() and (a["ess"] <= 64).all()
    again = forecast_patient(fit, public_data, low, **kw)
    xr.testing.assert_identical(a, again)
    fig, ax = plot_patient_forecast(a)
    assert ax.get_lines()
    with pytest.raises(ValidationError, match="patient"):
        forecast_patient(fit, public_data, 10**9, **kw)
    with pytest.raises(ValidationError, match="upto"):
        forecast_patient(fit, public_data, low, **{**kw, "upto": "m99"})
    no_t1 = public_data.records["pain_avg"].sel(visit="t1").isnull().values
    if no_t1.any():
        with pytest.raises(ValidationError, match=r"pain_avg\[t1\]"):
            forecast_patient(fit, public_data, int(ids[np.argmax(no_t1)]), **kw)
    # Before any fit: the population from a patient-level model's prior (no arm offsets, since
    # the records carry each arm's baseline); the same patient ordering follows.
    prior = ps.TrialModel(public_data, level="patient").sample_prior(draws=3, seed=1)
    assert "arm_pain_offset" not in prior.prior
    pa = forecast_patient(prior, public_data, low, group="prior", **kw)
    pb = forecast_patient(prior, public_data, high, group="prior", **kw)
    assert float(pa["mean_pain"].mean()) < float(pb["mean_pain"].mean())
    assert pa.attrs["config"] and '"group": "prior"' in pa.attrs["config"]
    with pytest.raises(ValidationError, match="group"):
        forecast_patient(prior, public_data, low, group="posterior", **kw)
    with pytest.raises(ValidationError, match="group"):
        forecast_patient(prior, public_data, low, group="prior_predictive", **kw)
    arm_prior = ps.TrialModel(ps.data.published_ashar2022()).sample_prior(draws=2, seed=1)
    with pytest.raises(ValidationError, match="patient-level"):
        forecast_patient(arm_prior, public_data, low, group="prior", **kw)


def test_the_personalized_forecast_example_runs_on_a_saved_fit(public_data, t1_pain, tmp_path):
    """The example on a stand-in fit saved like a real one (the hand-made posterior)."""
    import subprocess
    import sys
    from pathlib import Path

    from prt_sim.io import provenance

    fit = _hand_made_fit(public_data, np.zeros(len(t1_pain)), n_draws=2)
    fit.attrs.update(provenance("fit", 0, json.loads(fit.attrs["config"])))
    path = ps.TrialModel.save(fit, tmp_path / "fit.nc")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, str(root / "examples" / "08_one_patients_future.py"),
         str(tmp_path / "out"), "--fit", str(path), "--draws", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "chance of pain 0-1" in run.stdout and f"the fit {path}" in run.stdout
    assert (tmp_path / "out" / "08_one_patients_future.png").stat().st_size > 10_000
    bad = subprocess.run(
        [sys.executable, str(root / "examples" / "08_one_patients_future.py"),
         str(tmp_path / "out"), "--fit", str(path), "--patient", "99999"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert bad.returncode != 0 and "patient" in bad.stderr and "Traceback" not in bad.stderr


def test_mediation_readout_on_the_records_is_the_papers(public_data):
    """The readout run on the trial's own records gives the paper's within-PRT correlation of
    the TSK-11 change with the pain change (0.44, averaged baseline; data README)."""
    m = pc.mediation_readout(public_data.records)
    assert m["r_tsk_pain_treated"] == pytest.approx(0.44, abs=0.005)
    for ctl in ("placebo", "usual_care"):
        assert m[ctl]["total_post"] < -1.0  # PRT lowered pain against both controls
        assert m[ctl]["indirect_tsk_post"] < 0 and m[ctl]["indirect_mb_post"] < 0


def test_split_means_by_hand():
    """Mean pain at one visit of the patients pain 0-1 or not at another, observed at both."""
    select = np.array([0, 1, 2, 5, np.nan, 1, 3])
    at = np.array([1, 3, 2, 4, 0, np.nan, 6])
    arm = np.array(["a"] * 6 + ["b"])
    got = pc.split_means(select, at, arm, ["a", "b"])
    assert got["a"]["pain_free"] == (2, 2.0)  # patients 0 and 1 (5 has no reading at `at`)
    assert got["a"]["in_pain"] == (2, 3.0)
    assert got["b"]["in_pain"] == (1, 6.0)
    assert got["b"]["pain_free"][0] == 0 and np.isnan(got["b"]["pain_free"][1])


def test_split_check_tells_regression_to_the_mean_from_a_miss():
    """A 'model' that is exactly right (the replays are fresh draws of the trial's own
    process): grouped by the replays' own readings it covers the trial; the same patients
    replayed at the visit that selected them regress to the mean (their pain-free group reads
    higher than reported); at another visit they do not. A model that is wrong for the
    patients who recover is caught both ways. (99% intervals: several checks at once.)"""
    from types import SimpleNamespace

    rng = np.random.default_rng(4)
    n, draws = 300, 200
    level = rng.uniform(0, 4, n)

    def reports(shift=0.0, k=None):  # integer reports 0-10 around each patient's level
        noise = rng.normal(0, 1, (k, n, 2) if k else (n, 2))
        x = level[:, None] + shift * (level[:, None] < 1.5) + noise
        return np.clip(np.round(x), 0, 10)

    visits = ["post", "m1"]
    arm = np.array(["prt"] * n)
    data = SimpleNamespace(
        arms=("prt",),
        records=xr.Dataset(
            {"pain_avg": (("patient", "visit"), reports()), "arm": ("patient", arm)},
            coords={"visit": visits},
        ),
    )

    def replay(shift):
        return xr.Dataset(
            {"pain_avg": (("draw", "patient", "visit"), reports(shift, draws))},
            coords={"visit": visits},
        )

    right = replay(0.0)
    same_visit = pc.split_check(right, data, select="post", at="post", level=0.99)["prt"]
    for g in pc.SPLIT_GROUPS:
        assert same_visit[g]["own_selection"]["inside"] and same_visit[g]["n"]["inside"]
    free = same_visit["pain_free"]["same_patients"]
    assert not free["inside"] and free["observed"] < free["lo90"]  # regression to the mean
    other_visit = pc.split_check(right, data, select="m1", at="post", level=0.99)["prt"]
    assert all(other_visit[g]["same_patients"]["inside"] for g in pc.SPLIT_GROUPS)
    # the patients who recover replayed a point too high: caught like for like
    wrong = pc.split_check(replay(1.0), data, select="m1", at="post")["prt"]["pain_free"]
    assert not wrong["same_patients"]["inside"] and not wrong["n"]["inside"]
    with pytest.raises(ValidationError, match="m6"):
        pc.split_check(right, data, select="m6")
