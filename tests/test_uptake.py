"""Treatment taken up after the trial: no-op at share 0, effect at share 1, realised share,
nested takers, reproducibility whatever the chunking, and errors that name the field."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import prt_sim as ps
from prt_sim.errors import ValidationError
from prt_sim.forecasting import (
    SCENARIOS,
    DeliveredPRT,
    Scenario,
    SelfDirectedPRT,
    Uptake,
    forecast,
)
from prt_sim.forecasting.scenarios import resolve_scenarios
from prt_sim.forecasting.uptake import course_start_day, uptake_key
from prt_sim.inference.posterior import ARM_ID_STRIDE
from prt_sim.model.rng import MAX_SEED, derive_key

N = 300  # patients per draw and arm
SEED = 4
EARLY = dict(start_month=0, window_months=6)  # every course starts within half a year of post
SCENS = [
    "as_randomized",
    Scenario(name="zero", uptake=Uptake(share={"usual_care": 0.0, "placebo": 0.0})),
    Scenario(name="all", uptake=Uptake(share=1.0, course=DeliveredPRT(), **EARLY)),
    Scenario(name="q30", uptake=Uptake(share=0.3, **EARLY)),
    Scenario(name="q60", uptake=Uptake(share=0.6, **EARLY)),
    Scenario(name="early", uptake=Uptake(share=0.6, timing="exponential", hazard=1.0, **EARLY)),
    "long_term_follow_up",
]
KW = dict(
    scenarios=SCENS,
    horizon_years=3.0,
    n_patients=N,
    n_draws=3,
    group="prior",
    progress=False,
)


@pytest.fixture(scope="module")
def prior():
    return ps.TrialModel(ps.data.published_ashar2022()).sample_prior(draws=3, seed=3)


@pytest.fixture(scope="module")
def ds(prior):
    return forecast(prior, seed=SEED, **KW)


def _scenario_vars(ds):
    return [v for v in ds.data_vars if "scenario" in ds[v].dims and v != "uptake_share"]


def test_share_zero_is_as_randomized_bit_for_bit(ds):
    a, z = ds.sel(scenario="as_randomized"), ds.sel(scenario="zero")
    for v in _scenario_vars(ds):
        np.testing.assert_array_equal(a[v].values, z[v].values, err_msg=v)
    assert (ds["uptake_share"].sel(scenario=["as_randomized", "zero"]) == 0).all()


def test_share_one_helps_and_leaves_the_trial_alone(ds):
    a, u = ds.sel(scenario="as_randomized"), ds.sel(scenario="all")
    assert (u["uptake_share"] == 1).all()
    trial = ds["time"] <= 0  # up to post: the course starts the day after
    for v in ("mean_pain", "pain_free", "latent_pain", "belief"):
        np.testing.assert_array_equal(a[v].sel(time=trial).values, u[v].sel(time=trial).values)
    uc_a, uc_u = a.sel(arm="usual_care"), u.sel(arm="usual_care")
    # More safety learning can only lower latent pain and belief, path by path (common random
    # numbers), so every draw at every time.
    assert (uc_u["latent_pain"] <= uc_a["latent_pain"] + 1e-4).all()
    assert (uc_u["belief"] <= uc_a["belief"] + 1e-6).all()
    later = ds["time"] >= 0.5
    assert (
        float(uc_u["pain_free"].sel(time=later).mean())
        > float(uc_a["pain_free"].sel(time=later).mean()) + 0.05
    )


def test_realised_share_is_near_the_share_and_per_arm(ds):
    for name, q in (("q30", 0.3), ("q60", 0.6), ("early", 0.6)):
        got = ds["uptake_share"].sel(scenario=name).values
        assert np.all(np.abs(got - q) <= 4 * np.sqrt(q * (1 - q) / N)), (name, got)
    lt = ds["uptake_share"].sel(scenario="long_term_follow_up")
    assert (lt.sel(arm="prt") == 0).all()  # the built-in: control arms only
    for arm in ("placebo", "usual_care"):
        assert np.all(np.abs(lt.sel(arm=arm).values - 0.2) <= 4 * np.sqrt(0.16 / N))
    # more takers, more effect (each taker adds safety learning): q60 below q30 on average
    late = ds["time"] >= 1.0
    lp = ds["latent_pain"].sel(arm="usual_care", time=late).mean(("draw", "time"))
    assert float(lp.sel(scenario="q60")) < float(lp.sel(scenario="q30"))


def test_takers_are_nested_and_are_the_forecasts_takers(prior, ds):
    """The takers at share 0.3 are among those at 0.6, and the forecast's realised share is the
    share :meth:`Uptake.start_months` gives for its draw seeds and patient ids."""
    flat = ds["source_chain"].values * prior.prior.sizes["draw"] + ds["source_draw"].values
    u30, u60 = SCENS[3].uptake, SCENS[4].uptake
    for k, f in enumerate(flat):
        key = uptake_key(derive_key(SEED, "forecast", int(f)) % MAX_SEED)
        for a, arm in enumerate(ds["arm"].values):
            pids = a * ARM_ID_STRIDE + np.arange(N)
            m30, m60 = u30.start_months(arm, pids, key), u60.start_months(arm, pids, key)
            assert np.all(m60[m30 >= 0] == m30[m30 >= 0])  # same patients, same month
            assert (m30 >= 0).sum() < (m60 >= 0).sum()
            assert np.all((m60 == -1) | ((m60 >= 0) & (m60 < 6)))
            for name, m in (("q30", m30), ("q60", m60)):
                got = float(ds["uptake_share"].sel(scenario=name, arm=arm)[k])
                assert got == pytest.approx((m >= 0).mean())


def test_exponential_timing_is_front_loaded():
    pids = np.arange(20_000)
    uni = Uptake(share=1.0, start_month=3, window_months=12).start_months("x", pids, 7)
    exp_ = Uptake(share=1.0, start_month=3, window_months=12, timing="exponential", hazard=0.5)
    exp_m = exp_.start_months("x", pids, 7)
    assert uni.min() == 3 and uni.max() == 14 and exp_m.min() == 3 and exp_m.max() <= 14
    assert abs(uni.mean() - 8.5) < 0.1  # uniform over months 3..14
    assert exp_m.mean() < uni.mean() - 2
    assert course_start_day(0) == 31  # the day after post


def test_same_seed_and_any_chunking_give_identical_forecasts(prior):
    kw = dict(KW, scenarios=["as_randomized", SCENS[3]], horizon_years=1.0, n_patients=100)
    a = forecast(prior, seed=SEED, chunk_patients=100_000, **kw)
    b = forecast(prior, seed=SEED, chunk_patients=1000, **kw)
    xr.testing.assert_identical(a, b)
    c = forecast(prior, seed=SEED + 1, chunk_patients=1000, **kw)
    assert not np.array_equal(a["uptake_share"].values, c["uptake_share"].values)


def test_a_taker_starts_whatever_they_did_in_the_trial(prior):
    """A patient who declined the arm's treatment still gets the course they take up."""
    declined = ps.protocols.UsualCare().replace(name="declined", uptake=0.0)
    kw = dict(KW, scenarios=["as_randomized", SCENS[2]], horizon_years=1.0, n_patients=100)
    d = forecast(prior, [declined], seed=SEED, **kw)
    a, u = d.sel(scenario="as_randomized"), d.sel(scenario="all")
    assert (u["uptake_share"] == 1).all()
    assert float(u["latent_pain"].isel(time=-1).mean()) < float(
        a["latent_pain"].isel(time=-1).mean()
    )


def test_built_in_scenario_is_named_and_reaches_the_cli(capsys):
    assert resolve_scenarios(["long_term_follow_up"])[0] is SCENARIOS["long_term_follow_up"]
    up = SCENARIOS["long_term_follow_up"].uptake
    assert dict(up.share) == {"placebo": 0.2, "usual_care": 0.2}
    assert SCENARIOS["long_term_follow_up"].to_dict()["uptake"]["course"]["kind"] == (
        "self_directed"
    )
    from prt_sim.cli import main

    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    assert "long_term_follow_up" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(share=1.5), "Uptake.share"),
        (dict(share=-0.1), "Uptake.share"),
        (dict(share={"usual_care": 2.0}), "Uptake.share[usual_care]"),
        (dict(share={"": 0.1}), "Uptake.share"),
        (dict(window_months=0), "Uptake.window_months"),
        (dict(window_months=-3), "Uptake.window_months"),
        (dict(start_month=-1), "Uptake.start_month"),
        (dict(start_month=500, window_months=200), "Uptake.window_months"),
        (dict(start_month=600), "Uptake.start_month"),  # no month left for a window
        (dict(timing="later"), "Uptake.timing"),
        (dict(hazard=0.0, timing="exponential"), "Uptake.hazard"),
        (dict(share=0.2, course=SelfDirectedPRT(daily_dose=0.0)), "Uptake.course.daily_dose"),
        (dict(share=0.2, course=DeliveredPRT(sessions=0, first_education=0.0)), "Uptake.course"),
        (dict(course="the book"), "Uptake.course"),
    ],
)
def test_bad_uptake_names_the_field(kwargs, field):
    with pytest.raises(ValidationError) as e:
        Uptake(**kwargs)
    assert e.value.field.startswith(field), e.value.field
    assert "allowed" in str(e.value)


def test_zero_dose_is_fine_without_uptake_and_scenario_checks_type():
    Uptake(share=0.0, course=SelfDirectedPRT(daily_dose=0.0))
    with pytest.raises(ValidationError, match="Scenario.uptake"):
        Scenario(name="x", uptake=0.2)


def test_forecast_time_errors_name_arms_and_horizon(prior):
    kw = dict(KW, horizon_years=1.0, n_patients=20, n_draws=1)
    typo = Scenario(name="typo", uptake=Uptake(share={"usual_car": 0.2}, **EARLY))
    with pytest.raises(ValidationError, match=r"usual_car.*\['prt', 'placebo', 'usual_care'\]"):
        forecast(prior, **dict(kw, scenarios=[typo]))
    late = Scenario(name="late", uptake=Uptake(share=0.2, start_month=6, window_months=12))
    with pytest.raises(ValidationError) as e:
        forecast(prior, **dict(kw, scenarios=[late]))
    assert e.value.field == "Scenario[late].uptake.window_months" and "1 to 6" in str(e.value)
    after = Scenario(name="after", uptake=Uptake(share=0.2, start_month=12, window_months=1))
    with pytest.raises(ValidationError, match=r"Scenario\[after\].uptake.start_month"):
        forecast(prior, **dict(kw, scenarios=[after]))
    # the built-in needs 36 months of horizon
    with pytest.raises(ValidationError, match="long_term_follow_up"):
        forecast(prior, **dict(kw, scenarios=["long_term_follow_up"]))
    # a trial arm not forecast is no typo: a forecast of PRT alone with the built-in is fine
    one = forecast(prior, ["prt"], **dict(kw, scenarios=["long_term_follow_up"], horizon_years=3))
    assert float(one["uptake_share"].max()) == 0.0


def test_delivered_course_follows_the_trial_and_merges_with_a_booster():
    course = DeliveredPRT()
    trial = ps.protocols.PRT()
    assert [(1 + d, e, x) for d, e, x in course.offsets()] == [
        (s.day, s.education, s.exposure) for s in trial.sessions
    ]
    day = course_start_day(6)
    boosted = ps.protocols.UsualCare().with_boosters([day], education=0.5, exposure=1.0)
    p = Uptake(share=1.0, start_month=6, window_months=1, course=course).taker_protocol(boosted, 6)
    first = next(s for s in p.sessions if s.day == day)
    assert (first.education, first.exposure) == (1.5, 1.0)  # booster + education session
    assert len(p.sessions) == 9 and p.self_guided == boosted.self_guided
    assert DeliveredPRT(sessions=10).offsets()[-1][0] == 7 * 4 + 6  # twice weekly goes on


def test_a_relabelled_arm_takes_its_trial_arms_share(prior):
    """A forecast arm labelled differently from the protocol it delivers gets the share named
    by its protocol (a label's own share wins); before, it silently got none."""
    kw = dict(KW, horizon_years=1.0, n_patients=200, n_draws=1, seed=SEED)
    sc = Scenario(name="uc", uptake=Uptake(share={"usual_care": 1.0}, **EARLY))
    by_trial = forecast(prior, {"uc": "usual_care"}, **dict(kw, scenarios=[sc]))
    assert float(by_trial["uptake_share"].min()) == 1.0
    own = Scenario(name="own", uptake=Uptake(share={"usual_care": 1.0, "uc": 0.0}, **EARLY))
    by_label = forecast(prior, {"uc": "usual_care"}, **dict(kw, scenarios=[own]))
    assert float(by_label["uptake_share"].max()) == 0.0
