"""The main job end to end (quick mode): files, schema, and JSON numbers equal to the netCDF."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

import prt_sim as ps
import prt_sim.data.published
from prt_sim.cli import main
from prt_sim.forecasting import load_forecast
from prt_sim.report import SUMMARY_YEARS, build_summary

matplotlib.use("Agg")

_STAT = ("median", "lo90", "hi90")
# The main job fits the default model: on the worker that compiles it once for every such test.
pytestmark = pytest.mark.xdist_group("default_fit")


@pytest.fixture(scope="session")  # once per test worker, whatever runs between its tests
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    code = main(["reproduce", "--quick", "--seed", "3", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def _quantiles(values):
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    lo, med, hi = np.quantile(v, [0.05, 0.5, 0.95])
    return {"median": med, "lo90": lo, "hi90": hi}


@pytest.mark.slow
def test_report_folder_is_complete(report):
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "summary.json", "fit.nc", "forecast.nc"} <= names
    pngs = [n for n in names if n.endswith(".png")]
    assert len(pngs) >= 8
    assert not [n for n in names if n.startswith(".")]  # nothing half-written
    text = (report / "report.md").read_text()
    for n in pngs:
        assert f"]({n})" in text
    assert "Posterior predictive check" in text and "Durability forecasts" in text


@pytest.mark.slow
def test_summary_schema(report):
    s = json.loads((report / "summary.json").read_text())
    assert set(s["fit"]) >= {
        "max_rhat",
        "min_ess_bulk",
        "divergences",
        "sampler",
        "draws",
        "wall_time_s",
    }
    arms = {"prt", "placebo", "usual_care"}
    assert {r["arm"] for r in s["ppc"]} == arms
    visits = {r["visit"] for r in s["ppc"]}
    assert {"post", "m1", "m2", "m3", "m6", "m12"} <= visits
    post = {r["arm"]: r for r in s["ppc"] if r["visit"] == "post"}
    # the paper's 66% / 20% / 10% pain-free (all randomized) are the observed ITT values
    assert [
        round(post[a]["pain_free_itt"]["observed"], 2) for a in ("prt", "placebo", "usual_care")
    ] == [
        0.66,
        0.2,
        0.1,
    ]
    for r in s["ppc"]:
        assert {"arm", "visit", "day", "pain_mean"} <= set(r)
        for k in ("pain_mean", "pain_free_share", "pain_free_itt"):
            if k in r:  # the pain 0-1 shares where the paper reports responders
                assert set(r[k]) == {"observed", "inside", *_STAT}
                assert r[k]["inside"] == (r[k]["lo90"] <= r[k]["observed"] <= r[k]["hi90"])
    assert {"pain_free_share", "pain_free_itt"} <= set(post["prt"])
    keys = {(r["arm"], r["scenario"], r["years"]) for r in s["forecast"]}
    scen = {"as_randomized", "boosters", "no_treatment"}
    assert keys == {(a, c, y) for a in arms for c in scen for y in SUMMARY_YEARS}
    for r in s["forecast"]:
        for k in ("mean_pain", "pain_free", "pain_free_itt", "relapsed"):
            assert set(r[k]) == set(_STAT)
            assert r[k]["lo90"] <= r[k]["median"] <= r[k]["hi90"]


@pytest.mark.slow
def test_every_json_number_equals_the_netcdf(report):
    s = json.loads((report / "summary.json").read_text())
    idata = ps.TrialModel.load(report / "fit.nc")
    ds = load_forecast(report / "forecast.nc")
    diag = json.loads(idata.attrs["diagnostics"])
    for k in ("max_rhat", "min_ess_bulk", "divergences"):
        assert s["fit"][k] == diag[k]
    assert s["fit"]["draws"] == idata.posterior.sizes["draw"]
    pp = idata.posterior_predictive
    for r in s["ppc"]:
        cell = pp.sel(arm=r["arm"], visit=r["visit"])
        assert int(cell["day"]) == r["day"]
        for k in ("pain_mean", "pain_free_share", "pain_free_itt"):
            if k not in r:
                continue
            q = _quantiles(cell[k].values)
            for st in _STAT:
                assert r[k][st] == pytest.approx(q[st], rel=1e-12, abs=1e-12)
    for r in s["forecast"]:
        cell = ds.sel(arm=r["arm"], scenario=r["scenario"], time=r["years"])
        assert int(cell["day"]) == r["day"]
        assert r["n_at_risk_median"] == float(np.median(cell["n_at_risk"].values))
        for k in (
            "mean_pain",
            "pain_free",
            "pain_free_itt",
            "relapsed",
            "reduction30",
            "reduction50",
            "pain_free_days_per_year",
        ):
            vals = cell[k].values
            if not np.isfinite(vals).any():
                assert r[k]["median"] is None
                continue
            q = _quantiles(vals)
            for st in _STAT:
                assert r[k][st] == pytest.approx(q[st], rel=1e-12, abs=1e-12)
    # and build_summary on the saved files reproduces the JSON (timing aside)
    again = build_summary(idata, ds, ps.data.published_ashar2022(), mode=s["mode"], seed=s["seed"])
    assert json.loads(json.dumps(again, default=float))["forecast"] == s["forecast"]


@pytest.mark.slow
def test_forecast_in_report_has_provenance(report):
    ds = load_forecast(report / "forecast.nc")
    cfg = json.loads(ds.attrs["config"])
    assert ds.attrs["seed"] == 3 and ds.attrs["prt_sim_version"] == ps.__version__
    assert [c["name"] for c in cfg["scenarios"]] == ["as_randomized", "boosters", "no_treatment"]
    assert cfg["n_patients"] == ps.data.published.ARMS  # trial-size arms


@pytest.mark.slow
def test_fit_plots_take_ax_and_return_the_figure(report):
    import matplotlib.pyplot as plt

    from prt_sim import plotting

    idata = ps.TrialModel.load(report / "fit.nc")
    data = ps.data.published_ashar2022()
    for measure in ("pain_mean", "pain_free_share", "tsk11_mean"):
        fig, ax = plt.subplots()
        assert plotting.plot_ppc(idata, data, measure=measure, ax=ax) == (fig, ax)
        assert len(ax.lines) >= 6  # predicted + observed per arm
        plt.close(fig)
    fig, ax = plt.subplots()
    prior = ps.inference.DEFAULT_PRIORS["exposure_learning"]
    assert plotting.plot_posterior(idata, "exposure_learning", prior=prior, ax=ax) == (fig, ax)
    assert ax.get_ylabel() == "density" and "1/dose" in ax.get_xlabel()  # units on the axis
    plt.close(fig)
