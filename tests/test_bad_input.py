"""What a new user runs into: damaged files, bad output locations, silently accepted input. Each
must be one line that names the file or the field, before any work, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import stat

import arviz as az
import numpy as np
import pytest

import prt_sim as ps
from prt_sim.cli import _report_years, build_parser, main
from prt_sim.io import provenance


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory):
    res = ps.simulate(
        ps.Cohort.from_trial_baseline(20, seed=1), "prt", horizon_days=40, seed=1,
        visits=(ps.Visit(name="t1", day=0), ps.Visit(name="post", day=30)),
    )  # fmt: skip
    return res.save(tmp_path_factory.mktemp("sim") / "sim.nc")


@pytest.fixture(scope="module")
def fake_fit(tmp_path_factory):
    """A posterior of 6 draws (prior draws stored as a fit) that forecasts can use."""
    tm = ps.TrialModel(ps.data.published_ashar2022())
    prior = tm.sample_prior(draws=6, seed=2)
    attrs = provenance("fit", 2, tm.config())
    attrs["design"] = prior.attrs["design"]
    idata = az.InferenceData(posterior=prior.prior)
    idata.attrs.update(attrs)
    return tm.save(idata, tmp_path_factory.mktemp("fit") / "fit.nc")


# -- damaged and foreign files ---------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate", "garbage", "bitflip", "empty"])
def test_damaged_result_files_give_one_line_naming_the_file(sim_file, tmp_path, damage):
    bad = tmp_path / f"{damage}.nc"
    raw = sim_file.read_bytes()
    if damage == "truncate":
        raw = raw[: len(raw) // 3]
    elif damage == "garbage":
        raw = os.urandom(4096)
    elif damage == "bitflip":
        raw = bytearray(raw)
        for i in range(0, len(raw), 97):  # flip bits through the whole file, header included
            raw[i] ^= 0xFF
        raw = bytes(raw)
    else:
        raw = b""
    bad.write_bytes(raw)
    for load in (ps.SimulationResult.load, ps.TrialModel.load, ps.forecasting.load_forecast):
        with pytest.raises(ps.DataFormatError) as e:
            load(bad)
        assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_a_file_of_another_kind_is_refused(sim_file, fake_fit):
    with pytest.raises(ps.DataFormatError, match=r"a prt_sim fit, expected a simulation"):
        ps.SimulationResult.load(fake_fit)
    with pytest.raises(ps.DataFormatError, match=r"prt_sim simulation, expected a forecast"):
        ps.forecasting.load_forecast(sim_file)
    with pytest.raises(ps.DataFormatError, match=r"expected a trial_data"):
        ps.data.TrialData.load(sim_file)


def test_a_file_from_another_version_warns(sim_file, tmp_path):
    res = ps.SimulationResult.load(sim_file)
    res.attrs["prt_sim_version"] = "0.0.1"
    older = res.save(tmp_path / "old.nc")
    with pytest.warns(ps.VersionWarning, match="prt_sim 0.0.1"):
        ps.SimulationResult.load(older)
    res = ps.SimulationResult.load(sim_file)
    res.attrs["model_fingerprint"] = "f" * 16  # this version, other model sources
    edited = res.save(tmp_path / "edited.nc")
    with pytest.warns(ps.VersionWarning, match="other model sources"):
        ps.SimulationResult.load(edited)


def test_cli_forecast_on_a_damaged_fit_is_one_line(tmp_path, capsys):
    bad = tmp_path / "fit.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(500))
    assert main(["forecast", "--fit", str(bad), "--out", str(tmp_path / "f.nc"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "\n" not in err and "Traceback" not in err


# -- output locations, checked before any work -------------------------------------------------
def test_bad_output_locations_are_refused_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "regular"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    cases = [
        (["reproduce", "--quick", "--out", str(a_file)], "existing file"),
        (["reproduce", "--quick", "--out", str(a_file / "sub")], "is a file"),
        (["fit", "--out", str(tmp_path)], "existing folder"),
        (["simulate", "--out", str(a_file / "x.nc")], "is a file"),
        (["forecast", "--fit", str(a_file), "--out", str(tmp_path)], "existing folder"),
    ]
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something else
        cases.append((["fit", "--out", str(locked / "fit.nc")], "writable"))
    for argv, why in cases:
        assert main([*argv, "--quiet"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "--out" in err and why in err and "\n" not in err, (argv, err)
    locked.chmod(stat.S_IRWXU)


def test_outputs_get_the_permissions_of_the_umask(sim_file, tmp_path):
    old = os.umask(0o022)
    try:
        res = ps.SimulationResult.load(sim_file)
        path = res.save(tmp_path / "out.nc")
        ps.io.write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


# -- input that used to be silently accepted ---------------------------------------------------
def test_boosters_must_follow_treatment():
    with pytest.raises(ps.ValidationError, match=r"with_boosters.days\[0\]=-5.*after 28"):
        ps.protocols.PRT().with_boosters([-5])
    with pytest.raises(ps.ValidationError, match=r"days\[1\]"):
        ps.protocols.PRT().with_boosters([180, 20])
    ok = ps.protocols.PRT().with_boosters([180]).with_boosters([90])  # boosters among boosters
    assert [s.day for s in ok.sessions if s.booster] == [90, 180]


def test_a_stress_period_after_the_horizon_is_refused():
    c = ps.Cohort.from_trial_baseline(3, seed=1)
    late = ps.StressPeriod(start_day=500, duration_days=30)
    with pytest.raises(ps.ValidationError, match=r"stress\[0\].start_day=500"):
        ps.simulate(c, "prt", horizon_days=400, stress=(late,))


def test_a_cohort_selection_past_its_end_is_refused():
    c = ps.Cohort.from_trial_baseline(5, seed=1)
    with pytest.raises(ps.ValidationError, match=r"at least one of the 5 patients"):
        c[10:20]
    with pytest.raises(ps.ValidationError, match=r"Cohort\[index\]=7.*\[-5, 4\]"):
        c[7]
    assert len(c[-1]) == 1 and c[-1].patient_id[0] == c.patient_id[-1]


def test_the_public_file_under_another_name_is_recognised(public_data, tmp_path, capsys):
    from conftest import PUBLIC_DATA

    renamed = tmp_path / "my_trial.csv"
    shutil.copy(PUBLIC_DATA / ps.data.WIDE_FILE, renamed)
    d = ps.data.load_ashar2022(renamed)
    assert d.n_patients == public_data.n_patients
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ps.DataFormatError, match=r"not one of the trial's public files.*other"):
        ps.data.load_ashar2022(other)


# -- the command line a new user reads ---------------------------------------------------------
def test_every_forecast_option_says_what_it_does_and_its_default():
    sub = build_parser()._subparsers._group_actions[0].choices["forecast"]
    text = sub.format_help()
    for opt in ("--scenarios", "--years", "--draws", "--seed", "--n-patients"):
        action = next(a for a in sub._actions if opt in a.option_strings)
        assert action.help, opt
    assert "(default: 5.0)" in text and "(default: 500)" in text
    for name in ps.forecasting.SCENARIOS:
        assert name in text


def test_forecast_table_rows():
    assert _report_years(0.5) == [0.5]
    assert _report_years(3.0) == [1.0, 2.0, 3.0]
    assert _report_years(2.5) == [1.0, 2.0, 2.5]
    assert _report_years(10.0)[-1] == 10.0


def test_cli_forecast_says_when_it_uses_fewer_draws_and_shows_short_horizons(
    fake_fit, tmp_path, capsys
):
    out = tmp_path / "f.nc"
    argv = ["forecast", "--fit", str(fake_fit), "--draws", "100000", "--years", "0.5",
            "--scenarios", "as_randomized"]  # fmt: skip
    assert main([*argv, "--n-patients", "10", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "the fit has 6 posterior draws" in text
    rows = [line for line in text.splitlines() if line.startswith("prt ")]
    assert rows and all("0.5" in r for r in rows)
    assert ps.forecasting.load_forecast(out).sizes["draw"] == 6


def test_simulation_result_repr_is_a_short_summary(sim_file):
    text = repr(ps.SimulationResult.load(sim_file))
    assert text.startswith("SimulationResult(protocol='prt', patients=20")
    assert len(text) < 300 and "\n" not in text


def test_forecast_takes_any_cohort(fake_fit):
    idata = ps.TrialModel.load(fake_fit)
    kw = dict(horizon_years=0.5, n_draws=3, seed=1, progress=False, scenarios=["as_randomized"])
    base = ps.forecasting.forecast(idata, ["prt"], **kw)
    worried = ps.forecasting.forecast(idata, ["prt"], cohort=ps.CohortSpec(cat_mean=0.4), **kw)
    cfg = json.loads(worried.attrs["config"])
    assert cfg["cohort"]["spec_overrides"] == {"cat_mean": 0.4}
    assert not np.array_equal(base["catastrophizing"].values, worried["catastrophizing"].values)
    table = {"pain_avg": np.array([6.0, 2.0, 4.0]), "pcs": np.array([30.0, 5.0, np.nan])}
    rec = ps.forecasting.forecast(idata, ["prt", "usual_care"], cohort=table, **kw)
    assert json.loads(rec.attrs["config"])["n_patients"] == {"prt": 3, "usual_care": 3}
    with pytest.raises(ps.DataFormatError, match="pain_avg"):
        ps.forecasting.forecast(idata, ["prt"], cohort={"pcs": np.array([3.0])}, **kw)
    with pytest.raises(ps.ValidationError, match="n_patients"):
        ps.forecasting.forecast(idata, ["prt"], cohort=table, n_patients=5, **kw)
