"""The care-delivery model: bad input refused before a run, the clinic's rules kept (caseloads,
diaries, groups, cadence, no-shows, dropout, reneging, the waitlist policy, boosters after
relapse), patients advanced by the same engine and random numbers as ``simulate`` under the
sessions actually delivered, reproducibility and common random numbers, results, files, the
command line, the plots and the example."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim.cli import main  # noqa: E402
from prt_sim.clinic import (  # noqa: E402
    ClinicResult,
    ClinicSpec,
    Course,
    Group,
    Individual,
    Mix,
    Referrals,
    Staffing,
    Waitlist,
    load_spec,
    run_clinic,
)
from prt_sim.clinic.streams import Streams  # noqa: E402
from prt_sim.errors import DataFormatError, ValidationError  # noqa: E402
from prt_sim.plotting import clinic as cplot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def small(**kw) -> ClinicSpec:
    """A small clinic with dynamics: 2 therapists, 30 referrals a month, 6 months."""
    base = dict(
        days=182,
        staffing=Staffing(therapists=2, caseload=10),
        referrals=Referrals(per_month=(30.0,)),
        waitlist=Waitlist(patience_days=90.0),
    )
    base.update(kw)
    return ClinicSpec(**base)


@pytest.fixture(scope="module")
def mixed() -> ClinicResult:
    spec = small(
        days=364,
        warmup_days=28,
        staffing=Staffing(therapists=3, caseload=8),
        referrals=Referrals(per_month=(40.0,), initial_waitlist=20, initial_wait_days=60.0),
        mix=Mix(individual=0.4, telehealth=0.2, group=0.3, self_guided=0.1),
        group=Group(size=5, groups_per_therapist=1),
    )
    return run_clinic(spec, seed=3, replications=2)


# -- bad input: one error naming the field, the value and the allowed range ----------------------
@pytest.mark.parametrize(
    ("build", "field", "allowed"),
    [
        (lambda: Staffing(therapists=-1), "Staffing.therapists=-1", "[0, 100000]"),
        (lambda: Staffing(caseload=0), "Staffing.caseload=0", "[1.0, inf]"),
        (lambda: Staffing(caseload=2.5), "Staffing.caseload=2.5", "an integer"),
        (lambda: Group(size=0), "Group.size=0", "[1, 100]"),
        (lambda: Referrals(per_month=(-3.0,)), "Referrals.per_month[0]=-3.0", "[0.0, 1000000.0]"),
        (lambda: Individual(no_show=1.5), "Individual.no_show=1.5", "[0.0, 1.0]"),
        (lambda: Individual(cost_per_session=-1), "Individual.cost_per_session=-1", "[0.0, "),
        (lambda: Waitlist(policy="random"), "Waitlist.policy='random'", "'fifo' or 'severity'"),
        (lambda: Waitlist(patience_days=0), "Waitlist.patience_days=0", "(0.0, inf]"),
        (lambda: Mix(individual=0.5), "Mix=", "shares summing to 1"),
        (lambda: ClinicSpec(days=100, warmup_days=100), "ClinicSpec.warmup_days=100", "[0, 99]"),
        (
            lambda: ClinicSpec(staffing=Staffing(therapists=0)),
            "Staffing.therapists=0",
            "at least 1 when a therapist-led format",
        ),
        (
            lambda: ClinicSpec(staffing={"shift_start": 9, "shift_end": 8}),
            "Staffing.shift_end=8",
            "after shift_start",
        ),
        (lambda: Staffing(workdays=("mon", "funday")), "Staffing.workdays", "day names"),
        (lambda: Course(length="forever"), "Course.length='forever'", "'protocol' or"),
    ],
)
def test_bad_input_names_field_value_and_range(build, field, allowed):
    with pytest.raises(ValidationError) as e:
        build()
    assert field in str(e.value) and allowed in str(e.value)


def test_self_guided_needs_no_therapist_and_unknown_fields_are_named():
    spec = ClinicSpec(staffing=Staffing(therapists=0), mix=Mix(individual=0.0, self_guided=1.0))
    assert spec.staffing.therapists == 0
    with pytest.raises(ValidationError, match=r"ClinicSpec\.therapists"):
        ClinicSpec.from_dict({"therapists": 3})
    with pytest.raises(ValidationError, match=r"Staffing\.nurses"):
        ClinicSpec.from_dict({"staffing": {"nurses": 3}})
    with pytest.raises(ValidationError, match="run_clinic|ClinicSpec"):
        run_clinic({"days": 10})


def test_toml_spec_round_trip_and_bad_files(tmp_path):
    spec = load_spec(ROOT / "examples" / "clinic.toml")
    assert spec.mix.group == 0.2 and spec.referrals.per_month[-1] == 55.0
    assert ClinicSpec.from_dict(spec.to_dict()) == spec
    bad = tmp_path / "bad.toml"
    bad.write_text("[group]\nsize = 0\n")
    with pytest.raises(ValidationError, match=r"Group\.size=0"):
        load_spec(bad)
    bad.write_text("days = [unclosed\n")
    with pytest.raises(DataFormatError, match="bad.toml"):
        load_spec(bad)
    with pytest.raises(DataFormatError, match="file not found"):
        load_spec(tmp_path / "none.toml")


# -- the clinic's rules ------------------------------------------------------------------------
def test_caseloads_diaries_and_cadence_are_kept():
    spec = small(days=120, staffing=Staffing(therapists=2, caseload=6), waitlist=Waitlist())
    res = run_clinic(spec, seed=7)
    ev, pt = res.table("events"), res.table("patients")
    slots = spec.staffing.slots_per_day
    booked = np.isin(ev["type"], ("session", "no_show"))
    day = np.floor(ev["time"][booked]).astype(int)
    th = pt["therapist"][ev["patient_id"][booked]]
    per_day = np.unique(np.stack([th, day]), axis=1, return_counts=True)[1]
    assert per_day.max() <= slots
    assert set(day % 7) <= {0, 1, 2, 3, 4}  # Monday to Friday only
    hours = (ev["time"][booked] - day) * 24
    assert hours.min() >= spec.staffing.shift_start - 1e-9
    assert hours.max() <= spec.staffing.shift_end - spec.staffing.session_hours + 1e-9
    # caseload: at no time more patients than places per therapist
    for t in range(spec.staffing.therapists):
        mine = pt["therapist"] == t
        t_in, t_out = pt["intake"][mine], pt["discharge"][mine]
        t_out = np.where(np.isnan(t_out), np.inf, t_out)
        for x in t_in:
            assert np.sum((t_in <= x) & (t_out > x)) <= spec.staffing.caseload
    # sessions never closer than the protocol's cadence
    gaps = np.array(spec.course.gaps)
    for i in np.unique(ev["patient_id"][booked]):
        mine = booked & (ev["patient_id"] == i)
        k = ev["detail"][mine]
        d = np.floor(ev["time"][mine])
        assert (np.diff(d) >= gaps[k[:-1]]).all()


def test_groups_have_at_most_size_members(mixed):
    ev, pt = mixed.table("events"), mixed.table("patients")
    for r in range(2):
        m = (ev["replication"] == r) & np.isin(ev["type"], ("session", "no_show"))
        grp = pt["group"][(pt["replication"] == r)][ev["patient_id"][m]]
        is_group = grp >= 0
        key = np.stack([grp[is_group], np.floor(ev["time"][m][is_group]).astype(int)])
        counts = np.unique(key, axis=1, return_counts=True)[1]
        assert counts.max() <= 5
    assert (mixed.kpis["meetings"] > 0).all() and (
        mixed.kpis["sessions"].sel(format="group") > 0
    ).all()
    assert (mixed.kpis["seat_utilisation"] <= 1).all()


def test_every_format_delivers_and_self_guided_patients_never_wait(mixed):
    pt = mixed.table("patients")
    sg = pt["format"] == "self_guided"
    new = sg & (pt["referral"] >= 0)  # the initial waitlist waited for the clinic to open
    assert new.any() and (pt["wait"][new] == 0).all()
    assert not (pt["status_at_end"][sg] == "waiting").any()
    assert (mixed.kpis["self_guided_started"] > 0).all()
    s = mixed.kpis["sessions"].sum("replication")
    assert (s.sel(format=["individual", "telehealth", "group"]) > 0).all()
    assert s.sel(format="self_guided") == 0


def test_no_shows_follow_their_probability():
    spec = small(dynamics=False, individual=Individual(no_show=0.3), course=Course(max_boosters=0))
    res = run_clinic(spec, seed=5, replications=2)
    held = float(res.kpis["sessions"].sel(format="individual").sum())
    missed = float(res.kpis["no_shows"].sel(format="individual").sum())
    n = held + missed
    share = missed / n
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n), (share, n)


def test_dropout_depends_on_early_response():
    course = Course(dropout=0.0, dropout_nonresponder=1.0, early_response_session=3, max_boosters=0)
    res = run_clinic(small(course=course), seed=2)
    pt = res.table("patients")
    judged = (pt["sessions_attended"] >= 3) | (pt["outcome"] == "dropped_out")
    non = (pt["early_nonresponder"] == 1) & judged
    assert non.any() and (~non & judged).any()
    assert (pt["outcome"][non] == "dropped_out").all()
    assert (pt["sessions_attended"][non] == 3).all()  # stopped right after being judged
    assert (pt["outcome"][~non & judged] != "dropped_out").all()
    # early response is the relative fall of the 7-day pain since intake
    assert (pt["pain_intake"][non] > 0).all()


def test_patients_renege_after_their_patience():
    spec = small(staffing=Staffing(therapists=1, caseload=3), waitlist=Waitlist(patience_days=20))
    res = run_clinic(spec, seed=4, replications=2)
    pt = res.table("patients")
    left = pt["outcome"] == "reneged"
    assert left.any() and (res.kpis["reneged_share"] > 0).all()
    assert np.isnan(pt["intake"][left]).all()
    # those who left waited as long as their (exponential) patience, those served less
    st = Streams(4, 0)
    pat = -20.0 * np.log1p(-st.uniforms("patience", np.arange(np.sum(pt["replication"] == 0)))[0])
    r0 = pt["replication"] == 0
    np.testing.assert_allclose(pt["left_waitlist_after"][left & r0], pat[left[r0]])
    served = r0 & np.isfinite(pt["wait"])
    assert (pt["wait"][served] <= pat[served[r0]] + 1e-9).all()


def test_severity_policy_serves_the_worst_first():
    kw = dict(staffing=Staffing(therapists=1, caseload=5), waitlist=Waitlist(policy="severity"),
              referrals=Referrals(per_month=(20.0,), initial_waitlist=40))  # fmt: skip
    res = run_clinic(small(**kw), seed=8)
    pt = res.table("patients")
    first = np.argsort(pt["intake"])[:10]
    initial = pt["referral"] <= 0
    served_first = pt["pain_referral"][first[initial[first]]]
    assert served_first.min() >= np.quantile(pt["pain_referral"][initial], 0.5)
    fifo = run_clinic(small(**(kw | {"waitlist": Waitlist()})), seed=8).table("patients")
    served = np.isfinite(fifo["intake"])
    order = np.argsort(fifo["intake"][served], kind="stable")
    assert served.sum() > 20 and (np.diff(fifo["referral"][served][order]) >= 0).all()


def test_boosters_follow_relapses():
    course = Course(max_boosters=1, relapse_threshold=3.0, relapse_weeks=1)
    res = run_clinic(small(days=364, course=course), seed=6)
    ev, pt = res.table("events"), res.table("patients")
    req = ev["type"] == "booster_request"
    assert req.any() and (pt["boosters"] <= 1).all()
    for i, t in zip(ev["patient_id"][req], ev["time"][req]):
        mine = ev["patient_id"] == i
        relapse = ev["time"][mine & (ev["type"] == "relapse")]
        assert relapse.size and relapse.min() <= t
        assert pt["discharge"][i] < t and pt["outcome"][i] == "completed"
    assert (ev["type"] == "booster_session").any()
    assert res.kpis["booster_requests"].item() > 0


def test_warmup_is_excluded_and_the_initial_waitlist_counts():
    spec = small(warmup_days=56, referrals=Referrals(per_month=(30.0,), initial_waitlist=25))
    res = run_clinic(spec, seed=9)
    pt = res.table("patients")
    join = np.maximum(pt["referral"], 0)
    assert res.kpis["referrals"].item() == np.sum(join >= 56)
    assert np.sum(pt["referral"] == 0) >= 25
    assert float(res.weekly["queue"].isel(replication=0, week=0)) > 0


# -- the same engine, the same random numbers -------------------------------------------------------
@pytest.mark.parametrize("variability_sd", [0.0, 0.6])
def test_clinic_patients_evolve_as_simulate_under_the_sessions_delivered(variability_sd):
    """Each patient's pain at post equals ``simulate`` of the same patient (same cohort row,
    same dynamics seed) under a protocol made of the sessions the clinic delivered, on the days
    it delivered them: the same engine, equations and random numbers (patients of their own
    rating variability included)."""
    cohort_spec = ps.CohortSpec(variability_sd=variability_sd)
    spec = small(days=90, staffing=Staffing(therapists=1, caseload=30),
                 referrals=Referrals(per_month=(0.0,), initial_waitlist=12),
                 course=Course(max_boosters=0), cohort=cohort_spec)  # fmt: skip
    res = run_clinic(spec, seed=5)
    ev, pt = res.table("events"), res.table("patients")
    st = Streams(5, 0)
    n = len(pt["referral"])
    cohort = ps.Cohort.from_trial_baseline(n, seed=st.seed_of("cohort"), spec=cohort_spec)
    assert (cohort.traits.variability != 1.0).any() == (variability_sd > 0)
    prot = spec.course.protocol
    checked = 0
    for i in range(n):
        if not np.isfinite(pt["post_time"][i]):
            continue
        m = (ev["patient_id"] == i) & (ev["type"] == "session")
        sessions = tuple(
            ps.Session(day=int(np.floor(t)), education=prot.sessions[k].education,
                       exposure=prot.sessions[k].exposure)
            for t, k in zip(ev["time"][m], ev["detail"][m])
        )  # fmt: skip
        day = int(pt["post_time"][i])
        sim = ps.simulate(cohort[i], ps.Protocol(name="delivered", sessions=sessions),
                          horizon_days=day, seed=st.seed_of("dynamics"), record="visits",
                          visits=(ps.Visit(name="t0", day=0), ps.Visit(name="post", day=day)))  # fmt: skip
        lat = float(sim.latent["pain_week"].sel(visit="post")[0])
        assert lat == pytest.approx(pt["post_pain"][i], abs=1e-5)
        assert float(sim.instruments["pain_avg"].sel(visit="post")[0]) == pt["post_reported"][i]
        checked += 1
    assert checked >= 8


def test_waiting_has_a_cost():
    """Same referrals, patients and shocks (common random numbers); fewer therapists: longer
    waits and more pain six months after referral."""
    kw = dict(days=364, referrals=Referrals(per_month=(30.0,)), waitlist=Waitlist())
    scarce = run_clinic(small(staffing=Staffing(therapists=1, caseload=8), **kw), seed=12)
    ample = run_clinic(small(staffing=Staffing(therapists=4, caseload=8), **kw), seed=12)
    np.testing.assert_array_equal(scarce.patients["referral"], ample.patients["referral"])
    np.testing.assert_array_equal(scarce.patients["pain_referral"], ample.patients["pain_referral"])
    assert scarce.kpis["wait_mean"].item() > ample.kpis["wait_mean"].item() + 14
    assert scarce.kpis["followup_pain_mean"].item() > ample.kpis["followup_pain_mean"].item()
    w = scarce.weekly["pain_waiting"].isel(replication=0).values
    t = scarce.weekly["pain_treating"].isel(replication=0).values
    ok = np.isfinite(w) & np.isfinite(t)
    assert np.mean(w[ok]) > np.mean(t[ok])


# -- reproducibility, common random numbers, results ------------------------------------------------
def test_same_seed_same_results_and_replications_do_not_move(mixed):
    spec = ClinicSpec.from_dict(mixed.config["spec"])
    again = run_clinic(spec, seed=3, replications=2)
    for g in ("kpis", "weekly", "patients", "events"):
        xr.testing.assert_identical(getattr(mixed, g), getattr(again, g))
    one = run_clinic(spec, seed=3, replications=1)
    first = mixed.patients.where(mixed.patients["replication"] == 0, drop=True)
    np.testing.assert_array_equal(one.patients["referral"], first["referral"])
    np.testing.assert_array_equal(one.patients["post_pain"], first["post_pain"])
    other = run_clinic(spec, seed=4, replications=1)
    assert other.patients.sizes["patient"] != one.patients.sizes["patient"] or not np.array_equal(
        other.patients["referral"], one.patients["referral"]
    )


def test_referrals_share_random_numbers_across_rates():
    a = run_clinic(small(dynamics=False, referrals=Referrals(per_month=(20.0,))), seed=1)
    b = run_clinic(small(dynamics=False, referrals=Referrals(per_month=(40.0,))), seed=1)
    ra, rb = a.patients["referral"].values, b.patients["referral"].values
    np.testing.assert_allclose(rb[: len(ra) - 1], ra[: len(ra) - 1] / 2)  # the same unit process


def test_summary_intervals_and_replications_needed(mixed):
    s = mixed.summary()
    for v in ("wait_mean", "caseload_utilisation", "pain_free_per_therapist_year"):
        m, lo, hi = s[v].values
        assert lo <= m <= hi
    k = mixed.kpis
    m, lo, hi = s["cost_per_pain_free"].values
    assert m == pytest.approx(float(k["cost"].sum() / k["pain_free_post"].sum()))
    assert lo <= m <= hi
    assert s.sizes["format"] == 4 and s["sessions"].dims == ("format", "stat")
    n = mixed.replications_needed("followup_pain_mean", precision=0.01)
    assert isinstance(n, int) and n >= 2
    with pytest.raises(ValidationError, match="kpi"):
        mixed.replications_needed("sessions")
    # costs add up from their parts
    spec = mixed.spec
    booked = k["sessions"] + k["no_shows"]
    cost = (
        booked.sel(format="individual") * spec.individual.cost_per_session
        + booked.sel(format="telehealth") * spec.telehealth.cost_per_session
        + k["meetings"] * spec.group.cost_per_session
        + k["self_guided_started"] * spec.self_guided.cost_per_patient
    )
    np.testing.assert_allclose(k["cost"], cost)


def test_save_and_load_round_trip(mixed, tmp_path):
    path = mixed.save(tmp_path / "clinic.nc")
    back = ClinicResult.load(path)
    for g in ("kpis", "weekly", "patients", "events"):
        xr.testing.assert_identical(getattr(mixed, g), getattr(back, g))
    assert back.attrs["kind"] == "clinic" and int(back.attrs["seed"]) == 3
    assert back.spec == mixed.spec
    assert not list(tmp_path.glob(".*"))
    sim = ps.simulate(ps.Cohort.from_trial_baseline(5, seed=1), "prt", horizon_days=40)
    other = sim.save(tmp_path / "sim.nc")
    with pytest.raises(DataFormatError, match="expected a clinic"):
        ClinicResult.load(other)


# -- command line, plots, example --------------------------------------------------------------------
def test_cli_clinic_runs_a_toml_spec(tmp_path, capsys):
    spec = tmp_path / "c.toml"
    spec.write_text(
        "days = 120\n[staffing]\ntherapists = 2\n[referrals]\nper_month = [25.0]\n"
        "[mix]\nindividual = 0.5\ngroup = 0.5\n"
    )
    out = tmp_path / "r.nc"
    code = main(["clinic", str(spec), "--replications", "2", "--seed", "3", "--out", str(out),
                 "--figures", str(tmp_path / "fig"), "--quiet"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "wait_mean" in text and "cost_per_pain_free" in text
    res = ClinicResult.load(out)
    assert res.kpis.sizes["replication"] == 2 and int(res.attrs["seed"]) == 3
    assert (tmp_path / "fig" / "queue.png").stat().st_size > 0
    assert (tmp_path / "fig" / "population_pain.png").stat().st_size > 0


def test_cli_clinic_bad_input_is_one_line_before_work(tmp_path, capsys):
    spec = tmp_path / "c.toml"
    spec.write_text("[staffing]\ntherapists = -2\n")
    assert main(["clinic", str(spec), "--out", str(tmp_path / "x.nc"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Staffing.therapists=-2" in err and "[0, 100000]" in err
    assert not (tmp_path / "x.nc").exists()
    (tmp_path / "dir.nc").mkdir()
    spec.write_text("days = 30\n")
    assert main(["clinic", str(spec), "--out", str(tmp_path / "dir.nc"), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err


def test_clinic_plots_take_ax_and_return_figure(mixed, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a plot changed matplotlib's backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    fig, axes = plt.subplots(2, 3)
    calls = [
        (cplot.plot_waits, (mixed,)),
        (cplot.plot_queue, (mixed,)),
        (cplot.plot_sessions_by_format, (mixed,)),
        (cplot.plot_population_pain, (mixed,)),
        (
            cplot.plot_clinic_kpi,
            ({"a / individual": mixed.summary(), "b / group": mixed.summary()}, "wait_mean"),
        ),  # fmt: skip
    ]
    for ax, (fn, args) in zip(axes.flat, calls):
        assert fn(*args, ax=ax) == (fig, ax)
        assert ax.has_data()
    # the waits plot draws the share still waiting: 100% at day 0 for those who waited
    line = axes.flat[0].lines[0]
    assert line.get_ydata()[0] == pytest.approx(100 * float(mixed.kpis["p_wait"].mean()), abs=15)
    plt.close(fig)
    nodyn = run_clinic(small(days=60, dynamics=False), seed=1)
    with pytest.raises(ValueError, match="dynamics"):
        cplot.plot_population_pain(nodyn)


@pytest.mark.example
@pytest.mark.slow
def test_clinic_capacity_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "clinic_capacity.py"), str(tmp_path),
         "--days", "182", "--replications", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "8 therapists / self_guided" in proc.stdout and "cost/pain-free" in proc.stdout
    assert (tmp_path / "capacity.png").stat().st_size > 0
    res = ClinicResult.load(tmp_path / "two_therapists_individual.nc")
    assert res.config["spec"]["staffing"]["therapists"] == 2
