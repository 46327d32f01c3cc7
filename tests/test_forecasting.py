"""Forecasts: agreement with the simulator, reproducibility, counterfactuals, boosters, errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import prt_sim as ps
from prt_sim.forecasting import (
    RelapseRule,
    Scenario,
    forecast,
    forecast_bands,
    load_forecast,
    save_forecast,
)
from prt_sim.forecasting.summaries import _relapse_index
from prt_sim.inference.posterior import posterior_inputs
from prt_sim.model.calendar import POST_DAY
from prt_sim.model.rng import MAX_SEED, derive_key
from prt_sim.model.timeline import DAYS_PER_MONTH, Visit


@pytest.fixture(scope="module")
def model():
    return ps.TrialModel(ps.data.published_ashar2022())


@pytest.fixture(scope="module")
def prior(model):
    return model.sample_prior(draws=6, seed=3)


@pytest.fixture(scope="module")
def default_draw(model):
    """A one-draw 'posterior' at the default parameters (no arm offsets)."""
    idata = model.sample_prior(draws=1, seed=0)
    for name, pr in model.priors.items():
        source = {"params": model.params, "spec": model.spec}.get(pr.target)
        idata.prior[name][:] = getattr(source, name) if source is not None else 1.0
    idata.prior["arm_pain_offset"][:] = 0.0
    return idata


def test_prior_draws_are_labeled_and_reproducible(model, prior):
    again = model.sample_prior(draws=6, seed=3)
    xr.testing.assert_identical(prior.prior, again.prior)
    assert prior.prior["arm_pain_offset"].dims == ("chain", "draw", "arm")
    assert set(model.priors) <= set(prior.prior.data_vars)
    assert "design" in prior.attrs and "config" in prior.attrs


def test_forecast_equals_simulate_draw_by_draw(model, prior):
    """A forecast draw is the simulator run with that draw's parameters, cohort and seed."""
    ds = forecast(
        prior,
        ["prt"],
        scenarios=["as_randomized"],
        horizon_years=0.5,
        n_patients=40,
        n_draws=3,
        seed=11,
        response=0.8,
        group="prior",
        progress=False,
    )
    flat = ds["source_chain"].values * prior.prior.sizes["draw"] + ds["source_draw"].values
    assert list(flat) == [0, 2, 5]  # evenly spaced over the 6 draws
    inputs = posterior_inputs(prior, flat, group="prior")
    for k in range(3):
        params, specs, _ = inputs[k]
        dseed = derive_key(11, "forecast", int(flat[k])) % MAX_SEED
        cohort = ps.Cohort.from_trial_baseline(40, seed=dseed, spec=specs["prt"], params=params)
        visits = tuple(
            Visit(name=str(n), day=int(d), response=1.0 if d <= 0 else 0.8)
            for n, d in zip(ds["visit"].values, ds["day"].values)
        )
        res = ps.simulate(
            cohort,
            model.data.protocols["prt"],
            horizon_days=int(ds["day"].values[-1]),
            seed=dseed,
            params=params,
            visits=visits,
        )
        pain = res.instruments["pain_avg"]
        got = ds["mean_pain"].sel(arm="prt", scenario="as_randomized").isel(draw=k)
        np.testing.assert_allclose(got.values, pain.mean("patient").values, rtol=1e-6)
        free = ((pain <= 1).where(pain.notnull())).mean("patient")
        np.testing.assert_allclose(
            ds["pain_free"].sel(arm="prt", scenario="as_randomized").isel(draw=k).values,
            free.values,
            rtol=1e-6,
        )


def test_reproducible_and_chunk_invariant(prior):
    kw = dict(horizon_years=1, n_patients=25, n_draws=5, group="prior", progress=False)
    a = forecast(prior, seed=5, chunk_patients=100_000, **kw)
    b = forecast(prior, seed=5, chunk_patients=1000, **kw)
    xr.testing.assert_identical(a, b)
    c = forecast(prior, seed=6, chunk_patients=1000, **kw)
    assert not np.allclose(a["mean_pain"].values, c["mean_pain"].values, equal_nan=True)


def test_dims_coords_and_time_axis(prior):
    ds = forecast(
        prior, horizon_years=2, n_patients=20, n_draws=2, seed=1, group="prior", progress=False
    )
    assert ds["mean_pain"].dims == ("draw", "arm", "scenario", "time")
    assert list(ds["arm"].values) == ["prt", "placebo", "usual_care"]
    assert list(ds["scenario"].values) == ["as_randomized", "boosters", "no_treatment"]
    assert ds["subgroup_relapsed"].dims == ("draw", "arm", "scenario", "subgroup", "time")
    # time = years after post; year 1 is the trial's 12-month visit
    one = ds.sel(time=1.0)
    assert int(one["day"]) == POST_DAY + round(12 * DAYS_PER_MONTH) == 395
    assert str(one["visit"].values) == "m12"
    assert ds["time"].values[2] == 0.0 and str(ds["visit"].values[2]) == "post"
    assert ds["time"].size == 3 + 24
    assert ds.attrs["kind"] == "forecast" and ds.attrs["seed"] == 1
    # shares are shares
    for v in ("pain_free", "pain_free_itt", "relapsed", "reduction30", "reduction50"):
        vals = ds[v].values[np.isfinite(ds[v].values)]
        assert ((vals >= 0) & (vals <= 1)).all(), v
    # ITT counts missing as not pain-free: never above the observed share
    assert (ds["pain_free_itt"] <= ds["pain_free"] + 1e-6).where(ds["pain_free"].notnull()).all()
    # the 50% responders are a subset of the 30% responders
    assert (ds["reduction50"] <= ds["reduction30"] + 1e-6).where(ds["reduction30"].notnull()).all()


def test_no_treatment_protocol_has_no_treatment_effect(prior):
    """Scenarios share patients and random numbers: a protocol that delivers nothing is
    identical to its no-treatment counterfactual, and an untreated cohort stays put."""
    ds = forecast(
        prior,
        {"none": ps.protocols.NoTreatment()},
        scenarios=["as_randomized", "no_treatment"],
        horizon_years=3,
        n_patients=400,
        n_draws=3,
        seed=2,
        group="prior",
        progress=False,
    )
    a = ds.sel(scenario="as_randomized", drop=True)
    b = ds.sel(scenario="no_treatment", drop=True)
    for v in ("mean_pain", "pain_free", "relapsed", "belief", "fear"):
        xr.testing.assert_equal(a[v], b[v])


def test_untreated_arms_are_stationary(default_draw):
    """Primary chronic back pain is stable for years without effective treatment: under the
    default model the untreated cohort's belief and pain do not drift over five years."""
    ds = forecast(
        default_draw,
        {"none": ps.protocols.NoTreatment()},
        scenarios=["as_randomized"],
        horizon_years=5,
        n_patients=4000,
        n_draws=1,
        seed=2,
        response=1.0,
        group="prior",
        progress=False,
    ).isel(draw=0, arm=0, scenario=0)
    at_post, at_5y = ds.sel(time=0.0), ds.sel(time=5.0)
    # measured: belief 0.902 -> 0.916 (flares read as damage slowly erode the little initial
    # safety memory), latent pain 3.15 -> 3.02 (the last of the entry selection regressing)
    assert abs(float(at_5y["belief"] - at_post["belief"])) < 0.02
    assert abs(float(at_5y["latent_pain"] - at_post["latent_pain"])) < 0.2
    assert abs(float(at_5y["pain_free"] - at_post["pain_free"])) < 0.03


def test_boosters_never_worsen_in_expectation(default_draw):
    """Under the default model a booster only adds safety learning: with common random numbers
    the boosted arm is never worse on average, at any time, and is better after the booster."""
    ds = forecast(
        default_draw,
        ["prt", "usual_care"],
        scenarios=["as_randomized", Scenario(name="boosters", booster_months=(3, 9, 15))],
        horizon_years=3,
        n_patients=3000,
        n_draws=1,
        seed=4,
        response=1.0,
        group="prior",
        progress=False,
    )
    base = ds.sel(scenario="as_randomized")
    boost = ds.sel(scenario="boosters")
    assert (boost["latent_pain"] <= base["latent_pain"] + 1e-9).all()
    assert (boost["belief"] <= base["belief"] + 1e-9).all()
    assert (boost["mean_pain"] <= base["mean_pain"] + 0.02).all()
    after = ds["time"] > 0.75
    gain = (base["latent_pain"] - boost["latent_pain"]).sel(time=after)
    assert float(gain.min()) > 0.05


def test_relapse_definition():
    rule = RelapseRule(threshold=4, confirm=2)
    k_post = 2
    rep = np.array(
        [
            # elig, t1, post, m1..m6 ; patient per column
            [6, 6, 6, 6, 6],
            [5, 5, 5, 5, 5],
            [1, 0, 1, 1, 5],
            [4, 1, 5, 2, 5],  # m1: a one-month flare for patient 0
            [1, 1, 5, 4, 5],
            [1, 4, 1, 4, 5],
            [1, 4, 1, 2, 5],
            [1, 1, 1, 4, 5],
            [1, 1, 1, 4, 5],
        ],
        dtype=float,
    )
    got = _relapse_index(rep, k_post, rule)
    # dated at the confirming assessment: 0: a one-month flare is not a relapse;
    # 1: m3-m4 -> index 6 (m4); 2: m1-m2 -> 4; 3: m2-m3 -> 5; 4: high throughout -> 4
    # (whether it is at risk is decided by its pain at post)
    np.testing.assert_array_equal(got, [-1, 6, 4, 5, 4])
    assert (
        _relapse_index(rep, k_post, RelapseRule(threshold=4, confirm=1)) == [3, 5, 3, 4, 3]
    ).all()


def test_bands_and_netcdf_round_trip(prior, tmp_path):
    ds = forecast(
        prior, horizon_years=1, n_patients=20, n_draws=4, seed=1, group="prior", progress=False
    )
    b = forecast_bands(ds, level=0.8)
    assert b["mean_pain"].dims == ("stat", "arm", "scenario", "time")
    assert (b["mean_pain"].sel(stat="lo") <= b["mean_pain"].sel(stat="hi")).all()
    path = save_forecast(ds, tmp_path / "f.nc")
    back = load_forecast(path)
    xr.testing.assert_identical(ds, back)
    assert not list(tmp_path.glob(".*"))  # nothing half-written left


def test_bad_inputs_name_the_field(prior, model):
    kw = dict(n_patients=5, n_draws=1, group="prior", progress=False)
    with pytest.raises(ps.ValidationError, match="horizon_years"):
        forecast(prior, horizon_years=0, **kw)
    with pytest.raises(ps.ValidationError, match="scenarios"):
        forecast(prior, scenarios=["holiday"], **kw)
    with pytest.raises(ps.ValidationError, match="group"):
        forecast(prior, group="posterior", n_patients=5, n_draws=1, progress=False)
    with pytest.raises(ps.ValidationError, match="booster_months"):
        Scenario(name="x", booster_months=(-1,))
    with pytest.raises(ps.ValidationError, match="responder_max"):
        RelapseRule(threshold=2, responder_max=3)
    with pytest.raises(ps.ValidationError, match="protocols"):
        forecast(prior, ["acupuncture"], **kw)
    with pytest.raises(ps.ValidationError, match=r"Scenario\[late\].booster_months"):
        # a booster after the horizon is an impossible protocol
        late = Scenario(name="late", booster_months=(30,))
        forecast(prior, scenarios=[late], horizon_years=1, **kw)
    with pytest.raises(ps.ValidationError, match="design"):
        stripped = model.sample_prior(draws=2, seed=0)
        del stripped.attrs["design"]
        forecast(stripped, **kw)


def test_forecast_plots_take_ax_and_return_the_figure(prior):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prt_sim import plotting

    ds = forecast(
        prior, horizon_years=1, n_patients=20, n_draws=3, seed=1, group="prior", progress=False
    )
    calls = [
        lambda ax: plotting.plot_forecast(ds, "mean_pain", ax=ax),
        lambda ax: plotting.plot_forecast(ds, "pain_free", scenarios=["boosters"], ax=ax),
        lambda ax: plotting.plot_relapse_survival(ds, ax=ax),
        lambda ax: plotting.plot_forecast_latent(ds, "prt", ax=ax),
        lambda ax: plotting.plot_subgroups(ds, "pain_free", ax=ax),
    ]
    for call in calls:
        fig, ax = plt.subplots()
        assert call(ax) == (fig, ax)
        assert ax.has_data()
        plt.close(fig)
        made, made_ax = call(None)  # without ax: a new figure
        assert made.axes == [made_ax]
        plt.close(made)


def test_time_points_do_not_depend_on_the_horizon_or_the_other_arms(prior):
    """A longer horizon or more arms add outputs; they never change the ones already there."""
    kw = dict(n_patients=120, n_draws=3, seed=8, group="prior", progress=False)
    short = forecast(prior, ["prt"], horizon_years=1, **kw)
    long = forecast(prior, ["usual_care", "prt"], horizon_years=2, **kw)
    common = long.sel(arm=["prt"], time=short["time"])
    for v in ("mean_pain", "pain_free", "relapsed", "pain_free_days_per_year", "belief"):
        np.testing.assert_array_equal(short[v].values, common[v].values, err_msg=v)


def test_posterior_inputs_without_arm_offsets_give_each_arm_the_population_spec(prior):
    """Patient-level fits have no arm baseline offsets (the records carry the baselines): every
    arm's replicate cohort then uses the population spec of the draw."""
    with_off = posterior_inputs(prior, [0, 1], group="prior")
    no_off = prior.copy()
    no_off.prior = prior.prior.drop_vars("arm_pain_offset")
    without = posterior_inputs(no_off, [0, 1], group="prior")
    for (p1, s1, _), (p2, s2, _) in zip(with_off, without):
        assert p1 == p2
        pains = {a: s.pain_mean for a, s in s2.items()}
        assert len(set(pains.values())) == 1  # the same population mean in every arm
        assert any(abs(s1[a].pain_mean - pains[a]) > 1e-9 for a in s1)


def test_an_arm_offset_below_the_bottom_of_pain_mean_holds_the_arm_at_it(prior):
    """A draw of pain_mean near 0 (the 0.6.0 prior reaches there) with a negative arm offset
    gives that arm the range's bottom, not an invalid cohort spec."""
    low = prior.copy()
    low.prior = prior.prior.copy(deep=True)
    low.prior["pain_mean"][:] = 0.05
    low.prior["arm_pain_offset"][:] = -0.2
    low.prior["arm_pain_offset"][..., 0] = 0.1
    (_, specs, _), *_ = posterior_inputs(low, [0], group="prior")
    arms = list(specs)
    assert specs[arms[0]].pain_mean == pytest.approx(0.15)
    assert all(specs[a].pain_mean == 0.0 for a in arms[1:])
