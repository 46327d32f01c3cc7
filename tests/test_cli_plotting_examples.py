"""The command line, the plotting functions and the examples, run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim import plotting  # noqa: E402
from prt_sim.cli import main  # noqa: E402
from prt_sim.forecasting import load_forecast  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def arms():
    cohort = ps.Cohort.from_trial_baseline(300, seed=3)
    return {
        a: ps.simulate(cohort, a, horizon_days=120, seed=3, record="visits")
        for a in ("prt", "usual_care")
    }


@pytest.fixture(scope="module")
def daily():
    return ps.simulate(
        ps.Cohort.from_trial_baseline(5, seed=3), "prt", horizon_days=60, seed=3, record="daily"
    )


def test_plots_take_ax_and_return_figure(arms, daily):
    fig, axes = plt.subplots(2, 3)
    calls = [
        (plotting.plot_arm_means, (arms, "pain_avg")),
        (plotting.plot_pain_free, (arms,)),
        (plotting.plot_latent, (arms["prt"],)),
        (plotting.plot_daily, (daily,)),
        (plotting.plot_calendar, (arms["prt"],)),
        (plotting.plot_arm_means, (arms["prt"], "tsk11")),
    ]
    for ax, (fn, args) in zip(axes.flat, calls):
        assert fn(*args, ax=ax) == (fig, ax)
        assert ax.has_data()
    plt.close(fig)


def test_plots_without_ax_make_a_figure(arms):
    fig, ax = plotting.plot_arm_means(arms, observed={"prt": {30: 1.18}})
    assert fig.axes == [ax] and len(ax.lines) == 3  # two arms + one observed series
    plt.close(fig)


def test_plots_never_change_the_backend(arms, monkeypatch):
    """Plotting leaves the backend to the user: matplotlib.use is never called, whatever
    DISPLAY says."""
    import matplotlib

    def refuse(*args, **kwargs):
        raise AssertionError("a plot changed matplotlib's backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    monkeypatch.delenv("DISPLAY", raising=False)
    before = matplotlib.get_backend()
    fig, _ = plotting.plot_pain_free(arms)
    assert matplotlib.get_backend() == before
    plt.close(fig)


def test_plot_arm_means_draws_the_simulated_mean(arms):
    fig, _ = plotting.plot_arm_means(arms["prt"], "pain_avg")
    line = fig.axes[0].lines[0]
    expected = arms["prt"].instruments.pain_avg.mean("patient").values
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-6)
    plt.close(fig)


def test_plots_refuse_results_without_the_needed_record(arms):
    with pytest.raises(ValueError, match="record='daily'"):
        plotting.plot_daily(arms["prt"])
    lean = ps.simulate(
        ps.Cohort.from_trial_baseline(5, seed=1), "prt", horizon_days=40, record="instruments"
    )
    with pytest.raises(ValueError, match="record='visits'"):
        plotting.plot_latent(lean)


def test_cli_simulate_writes_a_loadable_result(tmp_path, capsys):
    out = tmp_path / "res.nc"
    assert (
        main(
            [
                "simulate",
                "--protocol",
                "placebo",
                "--n",
                "50",
                "--horizon",
                "60",
                "--seed",
                "4",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    res = ps.SimulationResult.load(out)
    assert res.config["protocol"]["name"] == "placebo"
    assert int(res.attrs["seed"]) == 4
    assert "post" in capsys.readouterr().out


def test_cli_reports_bad_input_cleanly(tmp_path, capsys):
    code = main(["simulate", "--n", "0", "--out", str(tmp_path / "x.nc"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "n=0" in err and "[1, 100000000]" in err
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.slow
def test_cli_demo_writes_report(tmp_path):
    assert main(["demo", "--n", "300", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = {(r["arm"], r["visit"]): r for r in summary["comparison"]}
    post = rows[("prt", "post")]
    assert post["pain_mean_published"] == 1.18
    res = ps.SimulationResult.load(tmp_path / "prt.nc")
    sim = res.instruments.pain_avg.sel(visit="post").values
    assert post["pain_mean_sim"] == pytest.approx(float(np.nanmean(sim)))
    for name in ("report.md", "pain_by_arm.png", "daily_prt.png", "placebo.nc"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


@pytest.mark.example
@pytest.mark.slow
def test_quickstart_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PRT at post" in proc.stdout
    assert (tmp_path / "prt.nc").exists() and (tmp_path / "pain_by_arm.png").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("default_fit")
def test_cli_fit_writes_inference_data_and_summary(tmp_path, capsys):
    out = tmp_path / "fit.nc"
    code = main(
        [
            "fit",
            "--draws",
            "30",
            "--tune",
            "30",
            "--chains",
            "2",
            "--seed",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "max R-hat" in text and "wrote" in text
    idata = ps.TrialModel.load(out)
    assert {"post", "m12"} <= set(idata.posterior["visit"].values)
    assert (tmp_path / "fit.summary.txt").read_text().strip()
    diag = json.loads((tmp_path / "fit.diagnostics.json").read_text())
    assert {"max_rhat", "min_ess_bulk", "divergences", "converged"} <= set(diag)
    # the saved fit carries what a forecast needs (configuration and trial design)
    fc = tmp_path / "forecast.nc"
    args = ["forecast", "--fit", str(out), "--draws", "4", "--years", "1", "--out", str(fc)]
    assert main([*args, "--scenarios", "as_randomized,stress", "--quiet"]) == 0
    ds = load_forecast(fc)
    assert list(ds["scenario"].values) == ["as_randomized", "stress"]
    assert ds.sizes["draw"] == 4 and "usual_care" in capsys.readouterr().out


def test_cli_fit_data_options_select_arms_visits_and_days():
    from prt_sim.cli import _load_data, build_parser

    args = build_parser().parse_args(["fit", "--arms", "prt,usual_care", "--max-day", "30"])
    d = _load_data(args)
    assert d.arms == ("prt", "usual_care")
    assert max(v.day for v in d.visits) == 30 and "m12" not in d.visit_names


def test_cli_fit_rejects_unknown_data(tmp_path, capsys):
    assert (
        main(
            [
                "fit",
                "--data",
                str(tmp_path / "nothing.csv"),
                "--out",
                str(tmp_path / "x.nc"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nothing.csv" in err and "file not found" in err


@pytest.mark.example
@pytest.mark.slow
@pytest.mark.xdist_group("default_fit")
def test_forecast_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        # a shorter fit than the example's default: the test runs every step, not a posterior
        [
            sys.executable,
            str(ROOT / "examples" / "forecast_durability.py"),
            str(tmp_path),
            "--draws",
            "60",
            "--tune",
            "60",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "short fit: max R-hat" in proc.stdout and "yearly_boosters" in proc.stdout
    assert (tmp_path / "forecast.nc").exists() and (tmp_path / "durability.png").exists()
