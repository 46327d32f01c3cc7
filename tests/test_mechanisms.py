"""Competing memory mechanisms: names and combinations, what each does to the course, fits
under a mechanism, stacked forecasts, and the within-patient checks' statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import prt_sim as ps
from prt_sim.data import published_ashar2022
from prt_sim.errors import ValidationError
from prt_sim.forecasting import stack_forecasts
from prt_sim.inference import patient_checks as pc
from prt_sim.model.mechanisms import MECHANISMS, mechanism


# -- names and combinations -------------------------------------------------------------------
def test_every_mechanism_and_a_combination_resolve():
    for name in MECHANISMS:
        assert mechanism(name).name == name
    m = mechanism(" fear_mediated + consolidation ")
    assert m.name == "consolidation+fear_mediated"  # canonical order
    # no natural course and no contact effect unless named
    assert m.fixed == {"course_sd": 0.0, "drift_reversion": 0.0, "contact_effect": 0.0}
    assert set(m.free) == {"consolidation_rate", "fear_threat_weight"}
    n = mechanism("natural_course+schema_update")
    assert n.name == "schema_update+natural_course" and n.free == {
        "course_sd": 0.3,
        "drift_reversion": 1.0,
    }
    s = mechanism("schema_update")
    assert s.fixed["safety_decay"] == 0.0 and s.fixed["fear_threat_weight"] == 0.0


@pytest.mark.parametrize(
    "bad, match",
    [
        ("consolidaton", r"consolidaton.*inhibition.*consolidation.*schema_update"),
        ("consolidation+consolidation", "at most once"),
        ("inhibition+fear_mediated", r"'inhibition' alone.*'fear_mediated'"),
        ("schema_update+consolidation", "nothing for consolidation to protect"),
        ("", "one of"),
    ],
)
def test_bad_mechanisms_name_what_is_allowed(bad, match):
    with pytest.raises(ValidationError, match=match):
        mechanism(bad)


def test_params_set_the_switches_and_check_refuses_contradictions():
    p = mechanism("consolidation").params()
    assert p.consolidation_rate == MECHANISMS["consolidation"]["free"]["consolidation_rate"]
    assert p.fear_threat_weight == 0.0
    mine = mechanism("consolidation").params(ps.ModelParams(consolidation_rate=0.03))
    assert mine.consolidation_rate == 0.03  # a given value is kept
    assert mechanism("schema_update").params().safety_decay == 0.0
    with pytest.raises(ValidationError, match=r"params\.safety_decay.*0 under"):
        mechanism("schema_update").check(ps.ModelParams())
    with pytest.raises(ValidationError, match=r"fear_threat_weight.*> 0"):
        mechanism("fear_mediated").check(ps.ModelParams())
    # The natural course's drift levels off: both its fields switched on, and off elsewhere.
    nat = mechanism("natural_course").params()
    assert (nat.course_sd, nat.drift_reversion) == (0.3, 1.0)
    with pytest.raises(ValidationError, match=r"params\.drift_reversion.*> 0 under"):
        mechanism("natural_course").check(nat.replace(drift_reversion=0.0))
    with pytest.raises(ValidationError, match=r"params\.drift_reversion.*0 under the 'inhibition'"):
        mechanism("inhibition").check(ps.ModelParams(drift_reversion=0.5))


# -- what each mechanism does to the course -----------------------------------------------------
def _course(variant, years=2.0, **over):
    params = mechanism(variant).params(ps.ModelParams(**over))
    cohort = ps.Cohort.from_trial_baseline(400, seed=3, params=params)
    visits = (ps.Visit("post", 30), ps.Visit("late", 30 + int(365 * years)))
    return ps.simulate(cohort, ps.protocols.PRT(), horizon_days=visits[-1].day, seed=3,
                       params=params, visits=visits, record="visits")  # fmt: skip


def test_consolidation_protects_gains_that_inhibition_loses():
    """Same patients, same flares (common random numbers), fast forgetting: the stable trace
    holds more of PRT's belief change two years on."""
    over = dict(safety_decay=0.01, consolidation_rate=0.03)
    inh = _course("inhibition", safety_decay=0.01).latent
    con = _course("consolidation", **over).latent
    assert float(con["consolidated"].sel(visit="late").mean()) > 0.1
    assert float(inh["consolidated"].sel(visit="late").max()) == 0.0
    b_inh = float(inh["belief"].sel(visit="late").mean())
    b_con = float(con["belief"].sel(visit="late").mean())
    assert b_con < b_inh - 0.05, (b_con, b_inh)


def test_contact_lowers_pain_at_the_end_of_treatment_and_then_fades():
    """Same patients and shocks: the contact expectancy lowers pain at post (two days after
    the last session) and is gone two years on; it teaches nothing, so the belief is the
    same throughout."""
    inh = _course("inhibition").latent
    con = _course("contact", contact_effect=0.3, contact_duration=20.0).latent
    assert float(inh["contact"].max()) == 0.0
    k_post = con["contact"].sel(visit="post")
    treated = k_post > 0.1
    assert int(treated.sum()) > 200  # the patients who started treatment
    # two days after the last session (day 28): 0.3 * exp(-2 / 20); less where it was missed
    top = 0.3 * np.exp(-2 / 20)
    assert float(k_post.max()) == pytest.approx(top, rel=1e-6)  # float32 record
    assert float(k_post[treated].median()) == pytest.approx(top, rel=1e-6)
    assert float(con["contact"].sel(visit="late").max()) < 1e-10
    np.testing.assert_array_equal(con["belief"].values, inh["belief"].values)
    post = (con["pain_week"] - inh["pain_week"]).sel(visit="post")
    assert float(post.where(treated).mean()) < -0.05, float(post.where(treated).mean())
    late = (con["pain_week"] - inh["pain_week"]).sel(visit="late")
    assert float(abs(late).max()) < 1e-6


def test_schema_update_keeps_the_change_without_flares():
    lat = _course("schema_update", flare_rate=0.0).latent
    post, late = (lat["safety"].sel(visit=v).values for v in ("post", "late"))
    assert (late >= post - 1e-12).all()  # no forgetting, only learning from everyday movement


def test_fear_mediated_threat_follows_fear():
    from prt_sim.model.dynamics import State, threat

    p = mechanism("fear_mediated").params(ps.ModelParams(fear_threat_weight=1.0)).to_tuple()
    s = State(0.1, 0.2, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    low, high = threat(0.6, s, p), threat(0.6, s._replace(fear=0.6), p)
    assert high > low  # same belief, more fear: more threat
    assert threat(0.1, s, p) == pytest.approx(threat(0.9, s, p))  # belief no longer read


def test_natural_course_moves_untreated_patients_each_their_own_way():
    """Usual care over 4 years, same patients and shocks: without a natural course each
    patient's schema stays where it was; with one, each patient's schema moves by their own
    drift, which levels off at their level drift / drift_reversion (between-patient SD
    course_sd), while every other trait is unchanged."""
    inh = _course("inhibition", years=4.0)
    over = dict(course_sd=0.6, drift_reversion=0.5)
    nat = _course("natural_course", years=4.0, **over)
    assert float(np.abs(inh.latent["course"]).max()) == 0.0
    c_inh = ps.Cohort.from_trial_baseline(400, seed=3, params=mechanism("inhibition").params())
    c_nat = ps.Cohort.from_trial_baseline(
        400, seed=3, params=mechanism("natural_course").params(ps.ModelParams(**over))
    )
    for f in c_inh.traits._fields:
        if f != "drift":
            np.testing.assert_array_equal(getattr(c_inh.traits, f), getattr(c_nat.traits, f))
    assert float(np.abs(c_inh.traits.drift).max()) == 0.0
    drift = np.asarray(c_nat.traits.drift)
    # the drift at entry is the rate times the level: SD 0.5 x 0.6 = 0.3 per year
    assert 0.25 < float(np.std(drift)) < 0.35
    level = drift / 0.5
    # The daily Euler step of course' = drift - reversion * course, from 0: after n days
    # course = drift / reversion * (1 - q ** n), q = 1 - reversion / 365.25; n is the same
    # whole number for every patient, and the two visits are 4 x 365 days apart.
    q = 1.0 - 0.5 / 365.25
    n = {
        v: np.log1p(-nat.latent["course"].sel(visit=v).values / level) / np.log(q)
        for v in ("post", "late")
    }
    for v in n:
        np.testing.assert_allclose(n[v], np.round(np.median(n[v])), atol=0.01)  # a day is 1
    assert round(np.median(n["late"]) - np.median(n["post"])) == 4 * 365
    late = nat.latent["course"].sel(visit="late").values
    # About 2 time constants after entry the course is most of the way to the level.
    assert np.allclose(late, (1.0 - q ** np.round(np.median(n["late"]))) * level, rtol=1e-6)
    assert np.all((np.abs(late) > 0.8 * np.abs(level)) & (np.abs(late) < np.abs(level)))


def test_natural_course_spreads_untreated_pain_over_years():
    def spread(variant, **over):
        params = mechanism(variant).params(ps.ModelParams(**over))
        cohort = ps.Cohort.from_trial_baseline(400, seed=4, params=params)
        visits = (ps.Visit("start", 30), ps.Visit("late", 30 + 4 * 365))
        res = ps.simulate(cohort, ps.protocols.UsualCare(), horizon_days=visits[-1].day,
                          seed=4, params=params, visits=visits, record="visits")  # fmt: skip
        b = res.latent["belief"]
        return float((b.sel(visit="late") - b.sel(visit="start")).std())

    # A wide level approached slowly (time constant 5 years: the 0.5.0 test's drift of SD
    # 1/year); measured 0.23 vs 0.095.
    wide = spread("natural_course", course_sd=5.0, drift_reversion=0.2)
    assert wide > 2.0 * spread("inhibition")
    # A level of a fifth of the spread, whatever the rate, moves the belief less.
    assert spread("natural_course", course_sd=1.0, drift_reversion=1.0) < 0.7 * wide


# -- fitting under a mechanism ------------------------------------------------------------------
def test_trial_model_priors_follow_the_mechanism():
    data = published_ashar2022()
    tm = ps.TrialModel(data, mechanism="schema_update")
    assert "safety_decay" not in tm.priors and tm.params.safety_decay == 0.0
    assert tm.config()["mechanism"] == "schema_update"
    tm = ps.TrialModel(data, mechanism="fear_mediated+consolidation")
    assert {"consolidation_rate", "fear_threat_weight"} <= set(tm.priors)
    assert tm.mechanism == "consolidation+fear_mediated"
    with pytest.raises(ValidationError, match=r"priors\[safety_decay\].*fixes safety_decay"):
        ps.TrialModel(data, mechanism="schema_update", priors=dict(tm.priors))
    with pytest.raises(ValidationError, match=r"params\.fear_threat_weight"):
        ps.TrialModel(data, params=ps.ModelParams(fear_threat_weight=0.3))
    with pytest.raises(ValidationError, match="mechanism"):
        ps.TrialModel(data, mechanism="extinction")


# -- stacked forecasts -------------------------------------------------------------------------
def _fake_forecast(value, source="trial-a", n=10):
    ds = xr.Dataset(
        {"mean_pain": (("draw", "arm", "time"), np.full((n, 2, 3), value))},
        coords={"draw": np.arange(n), "arm": ["prt", "usual_care"], "time": [1.0, 2.0, 5.0]},
    )
    ds.attrs["config"] = json.dumps({"design_source": source})
    return ds


def test_stacked_forecast_takes_draws_in_proportion_to_the_weights():
    st = stack_forecasts(
        {"a": _fake_forecast(1.0), "b": _fake_forecast(3.0)}, {"a": 3.0, "b": 1.0}, n_draws=8
    )
    assert st.sizes["draw"] == 8
    assert list(st["mechanism"].values).count("a") == 6
    assert float(st["mean_pain"].mean()) == pytest.approx((6 * 1 + 2 * 3) / 8)
    assert json.loads(st.attrs["stacking_weights"]) == {"a": 0.75, "b": 0.25}


def test_stacked_forecast_refuses_fits_of_other_data_and_bad_weights():
    a, b = _fake_forecast(1.0), _fake_forecast(2.0, source="trial-b")
    with pytest.raises(ValidationError, match=r"forecasts\[b\].*same data.*trial-a"):
        stack_forecasts({"a": a, "b": b}, {"a": 1, "b": 1})
    with pytest.raises(ValidationError, match="one weight per forecast"):
        stack_forecasts({"a": a}, {"b": 1.0})
    with pytest.raises(ValidationError, match="non-negative"):
        stack_forecasts({"a": a}, {"a": -1.0})


# -- within-patient statistics ------------------------------------------------------------------
def test_responder_table_counts_each_class_among_patients_seen_at_both_visits():
    pain = np.array([[0, 1], [1, 5], [4, 0], [6, 7], [0, np.nan], [3, 2]], float)
    arm = np.array(["a", "a", "a", "a", "a", "b"])
    t = pc.responder_table(pain, arm, ["a", "b"], post=0, m12=1)
    assert t["a"] == {"both": 1, "post_only": 1, "m12_only": 1, "neither": 1}
    assert t["b"] == {"both": 0, "post_only": 0, "m12_only": 0, "neither": 1}


def test_follow_up_correlation_averages_consecutive_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 1))
    stable = base + 0.1 * rng.normal(size=(200, 3))
    noisy = rng.normal(size=(200, 3))
    arm = np.array(["s"] * 200 + ["n"] * 200)
    r = pc.follow_up_correlation(np.vstack([stable, noisy]), arm, ["s", "n"], [0, 1, 2])
    assert r["s"] > 0.95 and abs(r["n"]) < 0.2


# -- the natural-course classification ----------------------------------------------------------
def test_trajectories_are_classified_by_the_documented_rules():
    from prt_sim.inference.natural_course import TRAJECTORY_CLASSES, classify_trajectories

    years = np.arange(0, 4.01, 0.5)
    series = np.array(
        [
            np.linspace(6, 2, 9),  # falls 4 points: gradual improvement
            np.linspace(2, 6, 9),  # worsening
            [2, 6, 2, 6, 3, 5, 2, 6, 3],  # crosses the moderate line back and forth
            [2, 3, 2, 2, 3, 2, 2, 3, 2],  # persistent mild
            [5, 5, 4, 5, 6, 5, 5, 4, 5],  # persistent moderate
            [8, 7, 8, 8, 7, 8, 8, 7, 8],  # persistent severe
            [np.nan] * 6 + [5, 5, 5],  # too few assessments
        ]
    )
    got = classify_trajectories(series, years)
    assert list(got[:6]) == list(TRAJECTORY_CLASSES) and got[6] == ""


def test_a_script_owns_its_block_of_a_page(tmp_path):
    from prt_sim.io import read_block, replace_block

    page = tmp_path / "page.md"
    page.write_text("# Page\n\nwritten by hand\n")
    replace_block(page, "patient-level", "first")
    replace_block(page, "patient-level", "second\nrun")
    text = page.read_text()
    assert text.startswith("# Page\n\nwritten by hand\n") and "first" not in text
    assert read_block(page, "patient-level").count("second\nrun") == 1
    assert read_block(page, "other") is None and read_block(tmp_path / "none.md", "x") is None


def test_the_command_line_names_the_allowed_mechanisms(tmp_path, capsys):
    from prt_sim.cli import main

    assert main(["fit", "--mechanism", "extinction", "--out", str(tmp_path / "f.nc"),
                 "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "mechanism" in err and "consolidation" in err and "\n" not in err, err


@pytest.mark.parametrize(
    "over, match",
    [
        ({"contact_effect": 1.5}, r"ModelParams\.contact_effect=1\.5.*\[0\.0, 1\.0\]"),
        ({"contact_duration": 0.0}, r"ModelParams\.contact_duration=0\.0.*\(0\.0, 365\.0\]"),
        ({"contact_duration": 400.0}, r"ModelParams\.contact_duration=400.*\(0\.0, 365\.0\]"),
    ],
)
def test_contact_parameters_out_of_range_name_the_field_and_range(over, match):
    with pytest.raises(ValidationError, match=match):
        ps.ModelParams(**over)
    # and the mechanism refuses its effect switched off
    with pytest.raises(ValidationError, match=r"params\.contact_effect.*> 0 under 'contact'"):
        mechanism("contact").check(ps.ModelParams())
