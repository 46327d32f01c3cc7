"""In-silico trial design: the analyses equal scipy / statsmodels, simulated power agrees with
statsmodels' analytic power where the outcome is normal, power grows with n, a single-draw
posterior's assurance is the power, the numbers do not depend on batching or workers, the
sample size is solved, the CLI writes a labelled result, and bad input is refused before work."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from scipy import stats

import prt_sim as ps
from prt_sim.cli import main
from prt_sim.errors import ValidationError
from prt_sim.experiments import (
    Analysis,
    Arm,
    Endpoint,
    Parameters,
    PowerSpec,
    Solve,
    load_power,
    load_power_spec,
    rates_from_outcomes,
    run_power,
    simulate_trials,
    solve_n,
)
from prt_sim.experiments.analysis import analyse, ancova, responder_test, ttest_change

ROOT = Path(__file__).resolve().parents[1]


# -- the analyses on plain arrays -------------------------------------------------------------
def _arms(rng, trials=4, n_t=23, n_c=19, missing=0.15):
    base_t, base_c = rng.normal(5, 2, (trials, n_t)), rng.normal(5, 2, (trials, n_c))
    fol_t = 0.6 * base_t + rng.normal(1.0, 1.5, (trials, n_t))
    fol_c = 0.6 * base_c + rng.normal(2.0, 1.5, (trials, n_c))
    fol_t[rng.random(fol_t.shape) < missing] = np.nan
    fol_c[rng.random(fol_c.shape) < missing] = np.nan
    return base_t, fol_t, base_c, fol_c


@pytest.mark.parametrize("equal_var", [False, True])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_t_tests_on_change_equal_scipy_trial_by_trial(equal_var, alternative):
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(1,)))
    bt, ft, bc, fc = _arms(rng)
    res = ttest_change(bt, ft, bc, fc, equal_var=equal_var, alternative=alternative)
    for k in range(bt.shape[0]):
        dt, dc = ft[k] - bt[k], fc[k] - bc[k]
        ref = stats.ttest_ind(dt[~np.isnan(dt)], dc[~np.isnan(dc)], equal_var=equal_var,
                              alternative=alternative)  # fmt: skip
        assert res.statistic[k] == pytest.approx(ref.statistic, rel=1e-10)
        assert res.pvalue[k] == pytest.approx(ref.pvalue, rel=1e-9)
        assert res.estimate[k] == pytest.approx(np.nanmean(dt) - np.nanmean(dc), rel=1e-12)
        assert res.n_treatment[k] == (~np.isnan(dt)).sum()


def test_ancova_equals_statsmodels_ols_trial_by_trial():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(2,)))
    bt, ft, bc, fc = _arms(rng)
    res = ancova(bt, ft, bc, fc)
    for k in range(bt.shape[0]):
        y = np.concatenate([ft[k], fc[k]])
        x = np.column_stack([np.r_[np.ones(ft.shape[1]), np.zeros(fc.shape[1])],
                             np.concatenate([bt[k], bc[k]])])  # fmt: skip
        ok = ~np.isnan(y)
        fit = sm.OLS(y[ok], sm.add_constant(x[ok])).fit()
        assert res.estimate[k] == pytest.approx(fit.params[1], rel=1e-9)
        assert res.statistic[k] == pytest.approx(fit.tvalues[1], rel=1e-8)
        assert res.pvalue[k] == pytest.approx(fit.pvalues[1], rel=1e-7)


def test_responder_tests_equal_statsmodels_and_fisher():
    from statsmodels.stats.proportion import proportions_ztest

    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(3,)))
    ft = rng.integers(0, 6, (5, 40)).astype(float)
    fc = rng.integers(0, 8, (5, 35)).astype(float)
    ft[rng.random(ft.shape) < 0.1] = np.nan
    z = responder_test(ft, fc, threshold=1.0, method="proportions")
    f = responder_test(ft, fc, threshold=1.0, method="fisher", alternative="greater")
    for k in range(5):
        xt, nt = int((ft[k] <= 1).sum()), int((~np.isnan(ft[k])).sum())
        xc, nc = int((fc[k] <= 1).sum()), int((~np.isnan(fc[k])).sum())
        stat, p = proportions_ztest([xt, xc], [nt, nc])
        assert z.statistic[k] == pytest.approx(stat, rel=1e-10)
        assert z.pvalue[k] == pytest.approx(p, rel=1e-9)
        ref = stats.fisher_exact([[xt, nt - xt], [xc, nc - xc]], alternative="greater")
        assert f.pvalue[k] == pytest.approx(ref.pvalue, rel=1e-12)
        assert f.estimate[k] == pytest.approx(xt / nt - xc / nc)


def test_degenerate_trials_never_reject():
    one = np.ones((1, 5))
    res = analyse("welch", one, one, one, one)  # no variation: undefined, not significant
    assert np.isnan(res.pvalue[0]) and not res.rejects(0.05)[0]
    gone = np.full((1, 5), np.nan)
    assert not analyse("ancova", one, gone, one, one).rejects(0.05)[0]


# -- power from normal outcomes against statsmodels' analytic power ---------------------------
def _normal_trials(trials, n_max, effect, seed):
    """Plain arrays of a normal outcome (SD 1, baseline 0): another generating model."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(9,)))
    follow = rng.standard_normal((trials, 2, n_max))
    follow[:, 0] += effect
    return np.zeros_like(follow), follow


@pytest.mark.parametrize("kind", ["welch", "student"])
def test_power_of_a_normal_outcome_matches_statsmodels(kind):
    from statsmodels.stats.power import TTestIndPower

    spec = PowerSpec(n_per_arm=(8, 20, 50), trials=4000, analysis=Analysis(kind=kind), seed=5)
    ds = rates_from_outcomes(spec, *_normal_trials(4000, 50, 0.6, 5))
    for n in spec.n_per_arm:
        r = ds.sel(n_per_arm=n)
        exact = TTestIndPower().power(effect_size=0.6, nobs1=n, alpha=0.05, ratio=1.0)
        assert abs(float(r["power"]) - exact) < 3.5 * float(r["power_se"]), (n, exact)
    # power rises with n; the Monte Carlo SE is sqrt(p (1 - p) / trials)
    p = ds["power"].values
    assert np.all(np.diff(p) > 0)
    assert ds["power_se"].values == pytest.approx(np.sqrt(p * (1 - p) / 4000))


def test_the_solved_n_of_a_normal_outcome_matches_statsmodels():
    from statsmodels.stats.power import TTestIndPower

    solve = Solve(target=0.8, n_range=(20, 140), grid=7, bootstrap=200)
    spec = PowerSpec(trials=2000, solve=solve, seed=8)
    ds = rates_from_outcomes(spec, *_normal_trials(2000, 140, 0.5, 8))
    size = solve_n(ds, solve)
    exact = TTestIndPower().solve_power(effect_size=0.5, power=0.8, alpha=0.05)  # 63.8
    assert size.curve == "probit" and size.reached
    assert abs(size.n - exact) < 3 * size.se, (size, exact)
    assert size.low < size.n < size.high
    # an isotonic curve through the same rates lands close by
    iso = solve_n(ds, Solve(target=0.8, n_range=(20, 140), grid=7, curve="isotonic",
                            bootstrap=0))  # fmt: skip
    assert abs(iso.n - size.n) < 0.1 * size.n


def test_a_target_above_a_plateau_is_reported_not_reached():
    spec = PowerSpec(trials=100, n_per_arm=(10, 20, 40, 80), seed=1,
                     parameters=Parameters(source="defaults"))  # fmt: skip
    ds = rates_from_outcomes(spec, *_normal_trials(100, 80, 0.0, 1))  # no effect: ~5% reject
    size = solve_n(ds, Solve(target=0.5, n_range=(10, 80), grid=4, curve="isotonic",
                             bootstrap=20))  # fmt: skip
    assert not size.reached and np.isnan(size.n) and "does not reach 0.5" in size.note


# -- the simulator ------------------------------------------------------------------------------
def small(**kw) -> PowerSpec:
    base = dict(
        arms=(Arm("prt", "prt"), Arm("usual_care", "usual_care", where="arms[1]")),
        treatment="prt",
        control="usual_care",
        n_per_arm=(6, 12),
        visits=(30,),
        endpoint=Endpoint("pain_avg", 30),
        missing=0.2,
        trials=40,
        seed=11,
    )
    base.update(kw)
    return PowerSpec(**base)


def test_trials_are_keyed_whatever_the_batches_and_sizes():
    spec = small()
    a = run_power(spec).data
    b = run_power(spec, batch_size=7).data
    for v in ("success", "estimate", "pvalue", "n_analysed", "arm_mean"):
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v
    # a trial of 6 per arm is the same whether or not 12 per arm were also simulated
    alone = run_power(small(n_per_arm=(6,))).data
    assert np.array_equal(alone["estimate"].values[0], a["estimate"].values[0], equal_nan=True)
    # trial t is its own seeds': trials 10-19 simulated alone equal those of the whole run
    base, follow = simulate_trials(spec, 10, 20)
    b0, f0 = simulate_trials(spec, 0, 40)
    assert np.array_equal(follow, f0[10:20], equal_nan=True) and np.array_equal(base, b0[10:20])
    # missing follow-ups are about 20%, baselines are never missing
    assert np.isnan(f0).mean() == pytest.approx(0.2, abs=0.05) and not np.isnan(b0).any()
    assert a.attrs["kind"] == "power" and a.attrs["quantity"] == "power"
    assert json.loads(a.attrs["config"])["seed"] == 11
    # power grows with n (the same trials, more patients per arm)
    p, se = a["power"].values, a["power_se"].values
    assert p[1] > p[0] + 2 * se[0], p


@pytest.mark.slow
def test_a_process_pool_gives_the_same_numbers():
    spec = small()
    a = run_power(spec).data
    b = run_power(spec, executor="pool", workers=2, batch_size=5).data
    assert b.attrs == a.attrs
    assert np.array_equal(a["estimate"].values, b["estimate"].values, equal_nan=True)
    assert np.array_equal(a["success"].values, b["success"].values)


@pytest.mark.slow
def test_simulated_power_matches_statsmodels_where_the_outcome_is_normal():
    """The change in weekly pain from baseline to 12 months after post under PRT and under usual
    care is close to normal (checked on a 20,000-patient pilot: skewness and excess kurtosis
    near 0); the pilot's effect size (Cohen's d) then gives statsmodels' analytic power of the
    two-sample t-test, which the simulated trials must match within their Monte Carlo error."""
    from statsmodels.stats.power import TTestIndPower

    design = dict(endpoint=Endpoint("pain_avg", 395), visits=(30, 395), missing=0.0,
                  analysis=Analysis(kind="student"))  # fmt: skip
    pilot = small(n_per_arm=(10_000,), trials=10, **design)
    base, follow = simulate_trials(pilot, 0, 1)
    change = (follow - base)[0]
    for c in change:
        assert abs(stats.skew(c)) < 0.2 and abs(stats.kurtosis(c)) < 0.3  # close to normal
    sd = np.sqrt((change[0].var(ddof=1) + change[1].var(ddof=1)) / 2)
    d = abs(change[0].mean() - change[1].mean()) / sd
    assert 0.6 < d < 1.1
    spec = small(n_per_arm=(8, 16), trials=600, seed=12, **design)
    ds = run_power(spec).data
    for n in spec.n_per_arm:
        exact = TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05)
        r = ds.sel(n_per_arm=n)
        assert abs(float(r["power"]) - exact) < 3 * float(r["power_se"]), (n, d, exact)
    # power grows with n, well beyond the Monte Carlo error
    assert float(ds["power"][1]) > float(ds["power"][0]) + 4 * float(ds["power_se"][0])


def test_assurance_under_a_single_draw_posterior_is_the_power(tmp_path):
    from prt_sim.inference.posterior import posterior_inputs

    tm = ps.TrialModel(ps.data.published_ashar2022())
    idata = tm.sample_prior(draws=1, seed=4)
    path = ps.TrialModel.save(idata, tmp_path / "one_draw.nc")
    [(params, specs, scale)] = posterior_inputs(idata, np.array([0]), group="prior")
    pooled = next(iter(specs.values())).replace(
        pain_mean=float(np.mean([s.pain_mean for s in specs.values()]))
    )
    fixed = small(params=params, population=pooled,
                  parameters=Parameters(self_guided_scale=scale))  # fmt: skip
    drawn = small(parameters=Parameters(source="fit", fit=str(path), group="prior"))
    assert fixed.quantity == "power" and drawn.quantity == "assurance"
    p, a = run_power(fixed).data, run_power(drawn).data
    assert np.array_equal(a["assurance"].values, p["power"].values)
    assert np.array_equal(a["estimate"].values, p["estimate"].values, equal_nan=True)
    assert (a["source_draw"].values == 0).all()


# -- the command line -----------------------------------------------------------------------------
SPEC_TOML = """
name = "cli-test"
seed = 3
trials = 40
treatment = "prt"
control = "active"
visits = [30]
missing = 0.1

[endpoint]
measure = "pain_avg"
day = 30

[analysis]
kind = "ancova"

[solve]
target = 0.8
n_range = [3, 24]
grid = 4
bootstrap = 50

[[arms]]
name = "prt"
protocol = "prt"

[[arms]]
name = "active"
protocol = "prt"
sessions = [[1, 1.0, 0.0], [4, 0.5, 0.0], [7, 0.5, 0.0]]
"""


def test_prt_sim_power_writes_a_labelled_result_and_a_figure(tmp_path, capsys):
    spec_path = tmp_path / "design.toml"
    spec_path.write_text(SPEC_TOML)
    out, fig = tmp_path / "res" / "power.nc", tmp_path / "power.png"
    backend = matplotlib.get_backend()
    assert main(["power", str(spec_path), "--out", str(out), "--figure", str(fig),
                 "--quiet"]) == 0  # fmt: skip
    assert matplotlib.get_backend() == backend
    text = capsys.readouterr().out
    assert "n per arm for power 0.8" in text and fig.stat().st_size > 0
    ds = load_power(out)
    spec = load_power_spec(spec_path)
    assert ds.attrs["spec_hash"] == spec.hash and ds.attrs["quantity"] == "power"
    assert list(ds["arm"].values) == ["prt", "active"]
    size = json.loads(ds.attrs["sample_size"])
    assert size["target"] == 0.8
    if size["n_required"] is not None:  # the solved size was evaluated on the same trials
        assert size["n_required"] in ds["n_per_arm"].values
        assert size["achieved"] == pytest.approx(
            float(ds["power"].sel(n_per_arm=size["n_required"]))
        )
    # the spec round-trips through plain data
    assert PowerSpec.from_dict(spec.to_dict()) == spec


# -- bad input: a clear error naming the field, before any work ----------------------------------
BAD = [
    ({"n_per_arm": [1]}, "n_per_arm[0]", "[2, 100000]"),
    ({"missing": 1.0}, "missing", "[0.0, 1.0)"),
    ({"missing": -0.1}, "missing", "[0.0, 1.0)"),
    ({"control": "cbt"}, "control", "unknown arm"),
    ({"arms": [{"name": "prt", "protocol": "prt"}, {"name": "active", "protocol": "cbt"}]},
     "arms[1].protocol", "one of"),
    ({"analysis": {"kind": "mann-whitney"}}, "analysis.kind", "ancova"),
    ({"endpoint": {"measure": "pain_avg", "day": 395}}, "endpoint.day", "one of the visits"),
    ({"endpoint": {"measure": "sleep", "day": 30}}, "endpoint.measure", "pain_avg"),
    ({"solve": {"target": 1.0}}, "solve.target", "(0.0, 1.0)"),
    ({"solve": {"target": 0.0}}, "solve.target", "(0.0, 1.0)"),
    ({"solve": {"target": 0.8, "n_range": [1, 50]}}, "solve.n_range[0]", "[2, 100000]"),
    ({"population": {"fear_mean": 1.5}}, "population.fear_mean", "[0.0, 1.0]"),
    ({"params": {"no_such_parameter": 1.0}}, "params.no_such_parameter", "one of the keys"),
    ({"parameters": {"source": "hope"}}, "parameters.source", "defaults"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "allowed"), BAD)
def test_bad_input_is_refused_before_work_naming_the_field(change, field, allowed):
    d = tomllib.loads(SPEC_TOML)
    d.update(change)
    with pytest.raises(ValidationError) as e:
        PowerSpec.from_dict(d)
    assert e.value.field == field and allowed in str(e.value), str(e.value)


CLI_BAD = [
    ("missing = 0.1", "missing = 1.0", "missing=1.0"),
    ('kind = "ancova"', 'kind = "mann-whitney"', "analysis.kind='mann-whitney'"),
    ("target = 0.8", "target = 1.5", "solve.target=1.5"),
    ('control = "active"', 'control = "cbt"', "control='cbt'"),
    ("n_range = [3, 24]", "n_range = [1, 24]", "solve.n_range[0]=1"),
]


@pytest.mark.parametrize(("old", "new", "named"), CLI_BAD)
def test_the_cli_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, old, new,
                                                                  named):  # fmt: skip
    assert old in SPEC_TOML
    spec_path = tmp_path / "bad.toml"
    spec_path.write_text(SPEC_TOML.replace(old, new))
    out = tmp_path / "power.nc"
    assert main(["power", str(spec_path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "allowed" in err[0], err
    assert not out.exists()


def test_plots_take_an_axes_and_return_it():
    import matplotlib.pyplot as plt
    import xarray as xr

    from prt_sim.plotting.power import plot_power_curve
    from prt_sim.plotting.sweep import plot_sweep

    spec = PowerSpec(trials=200, solve=Solve(target=0.8, n_range=(10, 80), grid=4, bootstrap=0))
    ds = rates_from_outcomes(spec, *_normal_trials(200, 80, 0.6, 2))
    ds.attrs["sample_size"] = json.dumps(solve_n(ds, spec.solve).to_dict())
    fig, ax = plt.subplots()
    assert plot_power_curve(ds, ax=ax) == (fig, ax)
    rng = np.random.default_rng(0)
    da = xr.DataArray(rng.random((3, 4, 2)), dims=("point", "replicate", "arm"),
                      coords={"point": [0, 1, 2], "sessions": ("point", [0, 4, 8]),
                              "arm": ["prt", "usual_care"]}, name="pain_free")  # fmt: skip
    assert plot_sweep(da, "sessions", hue="arm", ax=ax) == (fig, ax)
    with pytest.raises(ValueError, match="also vary along"):
        plot_sweep(da, "sessions")
    plt.close("all")
