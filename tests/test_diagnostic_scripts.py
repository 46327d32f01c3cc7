"""The diagnostic experiments that read a patient-level fit: their measurements on a hand-made
posterior (no sampling), and the trial's own side of their tables.

``experiments/paired_changes.py`` and ``experiments/skeleton_gap.py`` are scripts; they are
imported from their files here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr
from test_patient_checks import _hand_made_fit

import prt_sim as ps
from prt_sim.inference.patient_model import (
    has_floor_effect,
    has_variability_effect,
    random_effects,
)
from prt_sim.inference.posterior import trial_design
from prt_sim.io import provenance, to_jsonable

pytestmark = pytest.mark.data
ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    # Run as `python experiments/NAME.py`, a script finds experiments/_common.py beside it.
    if str(ROOT / "experiments") not in sys.path:
        sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paired_changes_of_the_trial_are_the_records_own(public_data):
    pcs = _script("paired_changes")
    obs = pcs.observed_table(public_data, np.random.default_rng(0), n_boot=500)
    rec = public_data.records
    arm = rec["arm"].values.astype(str)
    for a in public_data.arms:
        p = rec["pain_avg"].values[arm == a]
        names = [str(v) for v in rec["visit"].values]
        i, j = names.index("week4"), names.index("post")
        both = np.isfinite(p[:, i]) & np.isfinite(p[:, j])
        row = obs[a]["week4->post"]
        assert row["n"] == both.sum()
        assert row["observed"] == pytest.approx(np.mean(p[both, j] - p[both, i]))
        assert row["boot90"][0] < row["observed"] < row["boot90"][1]
    # The published pairing: 33 PRT patients at both, 0.70 points lower at post.
    assert obs["prt"]["week4->post"]["n"] == 33
    assert obs["prt"]["week4->post"]["observed"] == pytest.approx(-0.70, abs=0.005)
    # The replays' statistic averages only over the patients recorded at both visits.
    pain = np.array([[[1.0, 3.0, np.nan], [2.0, np.nan, 5.0], [4.0, 0.0, 1.0]]])
    np.testing.assert_allclose(pcs.paired_change(pain, 0, 1), [-1.0])


def test_skeleton_gap_runs_each_path_on_the_same_patients(public_data):
    sg = _script("skeleton_gap")
    t1 = public_data.records["pain_avg"].sel(visit="t1").values
    # T1 pain is an integer, so its z-scores take a few values: spread them so that the quiet
    # simulator's rounding of reported pain averages out whatever the pain level (at the 0.6.0
    # prior median of pain_mean, 3.5, the middle group sits on a rounding edge: 0.3 points off)
    z = np.nan_to_num((t1 - np.nanmean(t1)) / np.nanstd(t1)) + np.linspace(-0.45, 0.45, len(t1))
    out = sg.measure(_hand_made_fit(public_data, z, n_draws=2), public_data, 2, seed=4)
    rows = out["rows"]
    assert set(rows) == set(sg.ROWS) and set(out["observed"]) == set(public_data.arms)
    for a in ("placebo", "usual_care"):  # uptake 1: the replay is the treated simulation
        assert rows["replay"][a] == rows["sim_treated"][a]
    # With no noise the simulator follows the skeleton without flare-ups: in usual care, where
    # no session is drawn, up to the rounding of reported pain, once the entry excess (carried
    # by the fluctuation the quiet simulator switches off) has gone.
    quiet, skel = rows["sim_quiet"]["usual_care"], rows["skeleton_no_flares"]["usual_care"]
    for v in ("m1", "m12"):
        assert abs(quiet[v] - skel[v]) < 0.1
    # Flare-ups add pain in the skeleton.
    assert all(
        rows["skeleton"][a]["m12"] > rows["skeleton_no_flares"][a]["m12"] for a in rows["skeleton"]
    )
    # The split by response at post (and at 1 month) covers each arm's patients recorded at
    # both visits, and the replays' own groups add up to them in every draw.
    post = public_data.records["pain_avg"].sel(visit="post").values
    arm = public_data.records["arm"].values
    for by in sg.SPLIT_BY:
        sel = public_data.records["pain_avg"].sel(visit=by).values
        for a, groups in out["by_response"][by].items():
            both = np.isfinite(post) & np.isfinite(sel) & (arm == a)
            assert sum(g["n"] for g in groups.values()) == int(both.sum())
            assert all(g["floor"] > 0 for g in groups.values() if g["n"])
            assert sum(g["replay_n"]["median"] for g in groups.values()) == both.sum()
    # A floor of 0 raises the gain that keeps baseline pain, so it lowers the expected pain of
    # patients whose threat has fallen (who report 0-1), not necessarily of the others.
    g = out["by_response"]["post"]["prt"]["pain_free"]
    assert g["skeleton_floor0"] < g["skeleton"]
    assert g["observed"] == float(np.mean(post[(arm == "prt") & (post <= 1)]))
    assert g["same_patients"]["observed"] == g["observed"]


def _jittered_fit(tm, *, n_chains=2, n_draws=4, seed=0):
    """A hand-made 'posterior' of ``tm`` (any mechanism or level): population parameters within
    2% of their prior medians (so that draws differ and LOO has weights to smooth), random
    effects drawn per patient, no divergences."""
    rng = np.random.default_rng(seed)
    shape = (n_chains, n_draws)
    post = {
        name: (
            ("chain", "draw"),
            np.median(pr.draw(rng, 4001)) * np.exp(rng.normal(0, 0.02, shape)),
        )
        for name, pr in tm.priors.items()
    }
    coords = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    if tm.level == "patient":
        pats = tm.data.records["patient"].values
        coords["patient"] = pats
        extra = [n for n, has in (("floor_z", has_floor_effect), ("var_z", has_variability_effect))
                 if has(tm.priors)]  # fmt: skip
        for k in random_effects(extra):
            post[k] = (("chain", "draw", "patient"), rng.normal(0, 0.3, (*shape, len(pats))))
        loglik = rng.normal(-50, 1, (*shape, len(pats)))
        post["patient_loglik"] = (("chain", "draw", "patient"), loglik)
        post["uptake_prob"] = (("chain", "draw", "patient"), np.ones((*shape, len(pats))))
    idata = az.InferenceData(
        posterior=xr.Dataset(post, coords=coords),
        sample_stats=xr.Dataset(
            {"diverging": (("chain", "draw"), np.zeros(shape, bool))},
            coords={k: coords[k] for k in ("chain", "draw")},
        ),
    )
    idata.attrs.update(
        config=json.dumps(to_jsonable(tm.config())),
        design=json.dumps(to_jsonable(trial_design(tm.data))),
    )
    return idata


def test_compare_mechanisms_writes_its_pages_from_its_own_json(public_data, tmp_path):
    """compare_mechanisms.py past its fits (hand-made here): every check of two mechanisms, the
    comparison, stacking and the arm-level side by side; mechanisms.md is what ``report`` makes
    of mechanisms.json (so the page can be regenerated from the numbers), and the blocks of
    validation.md and forecasting.md are replaced without touching the rest."""
    import argparse
    import shutil

    cm = _script("compare_mechanisms")
    args = argparse.Namespace(
        seed=1, quick=False, draws=4, tune=0, chains=2, ppc_draws=3, forecast_draws=4,
        nc_draws=2, nc_patients=40, loo_draws=4, loo_effects=8, horizon=1.0,
        out=str(tmp_path), figure=str(tmp_path / "figures" / "mechanisms_forecast.png"),
    )  # fmt: skip
    names = ("inhibition", "consolidation")
    results, loos, int_loos, forecasts = {}, {}, {}, {}
    for i, name in enumerate(names):
        tm = ps.TrialModel(public_data, mechanism=name)
        res, (loos[name], int_loos[name]), forecasts[name] = cm.check_variant(
            tm, _jittered_fit(tm, seed=i), 12.5, public_data, args
        )
        results[name] = res
        assert res["mechanism"] == name and not res["converged"]  # 2 x 4 draws
        assert res["replay"]["post_inside"]["n"] > 0
    arm_tm = ps.TrialModel(ps.data.published_ashar2022())
    reconcile = cm.reconcile_fits(arm_tm, _jittered_fit(arm_tm), 3.0, loos["inhibition"], 1)
    assert "safety_decay" in reconcile["rows"]
    summary, stacked = cm.summarize(
        results, loos, int_loos, forecasts, reconcile, public_data, args
    )
    summary.update(wall_s=60.0, reused_fits=[])
    # none converged, so all are stacked, with stacking weights that sum to one
    assert summary["stacked_mechanisms"] == list(names)
    assert sum(summary["stacking_weights"].values()) == pytest.approx(1.0)
    assert set(summary["stacked_forecast"]) == {"prt", "placebo", "usual_care"}
    for doc in ("validation.md", "forecasting.md"):
        shutil.copy(ROOT / "docs" / doc, tmp_path / doc)
    cm.write_outputs(summary, forecasts, stacked, args)

    page = (tmp_path / "mechanisms.md").read_text()
    saved = json.loads((tmp_path / "mechanisms.json").read_text())
    assert cm.report(saved, Path(args.figure), tmp_path) == page
    assert (tmp_path / "figures" / "mechanisms_forecast.png").stat().st_size > 0
    assert "over all fits, since none converged (" in page and "converged fits only" not in page
    for name in names:
        r = saved["mechanisms"][name]
        d = r["diagnostics"]
        assert (
            f"| {name} | 2 x 4 | 12 | {d['max_rhat']:.3f} | {d['min_ess_bulk']:.0f} | 0 | **no** |"
            in page
        )
        a, b = r["replay"]["post_inside"], r["population"]["post_inside"]
        assert f"| {name} | {a['inside']} of {a['n']} | {b['inside']} of {b['n']} |" in page
        for arm in ("prt", "placebo", "usual_care"):  # the split by response, every arm
            row = f"| {name} | {arm} | " + cm._split_cells(r["replay"], arm) + " |"
            assert row in page
    assert "## The arm-level and the patient-level fit, side by side (inhibition)" in page
    # each parameter's contraction in its units and on the sampler's scale
    row = "| exposure_learning | " + " | ".join(
        cm._contraction_cell(saved["mechanisms"][n]["contraction"]["exposure_learning"])
        for n in names
    )
    assert row + " |" in page and " / " in row and cm.CONTRACTION_NOTE in page
    # the blocks are replaced, the text around them kept
    for doc, block in (
        ("validation.md", "patient-level"),
        ("forecasting.md", "mechanism-forecasts"),
    ):
        before, after = (ROOT / "docs" / doc).read_text(), (tmp_path / doc).read_text()
        start, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
        assert before.split(start)[0] == after.split(start)[0]
        assert before.split(end)[1] == after.split(end)[1]
        assert f"prt_sim {ps.__version__}, seed 1" in after.split(start)[1].split(end)[0]


def test_uptake_mixing_changes_only_the_prt_arms_uptake(public_data):
    um = _script("uptake_mixing")
    d = um.with_uptake(public_data, 1.0)
    assert public_data.protocols["prt"].uptake == pytest.approx(0.9)
    assert d.protocols["prt"].uptake == 1.0
    assert d.protocols["prt"].sessions == public_data.protocols["prt"].sessions
    for arm in ("placebo", "usual_care"):
        assert d.protocols[arm] == public_data.protocols[arm]
    xr.testing.assert_identical(d.records, public_data.records)
    assert d.visits == public_data.visits and d.arms == public_data.arms


def test_compare_mechanisms_reuses_checks_only_of_the_same_fit_and_settings(
    public_data, tmp_path, monkeypatch
):
    """A run stopped after the checks of some fits loses none of them: a second run finds them
    beside the fit and returns the very same results (JSON and forecast); another setting, another
    fit or a damaged folder reruns the checks."""
    import argparse

    cm = _script("compare_mechanisms")
    args = argparse.Namespace(
        seed=1, quick=False, ppc_draws=2, forecast_draws=3, nc_draws=2, nc_patients=30,
        loo_draws=4, loo_effects=8, horizon=1.0, save=str(tmp_path),
    )  # fmt: skip
    tm = ps.TrialModel(public_data, mechanism="schema_update")
    idata = _jittered_fit(tm, seed=3)
    first, (loo1, il1), fc1 = cm.checks_or_reuse(tm, idata, 7.0, public_data, args, "x")
    assert (tmp_path / "x.checks" / "checks.json").is_file()
    assert not list(tmp_path.glob("*.tmp*"))  # written whole, then renamed

    class Rerun(Exception):
        pass

    def rerun(*a, **k):
        raise Rerun

    monkeypatch.setattr(cm, "check_variant", rerun)
    again, (loo2, il2), fc2 = cm.checks_or_reuse(tm, idata, 7.0, public_data, args, "x")
    assert json.dumps(again) == json.dumps(first)
    assert cm.REUSED_CHECKS[-1] == "x"
    xr.testing.assert_identical(fc2, fc1)
    xr.testing.assert_identical(il2.log_likelihood, il1.log_likelihood)
    np.testing.assert_array_equal(
        loo2.log_likelihood["patient_loglik"].values, loo1.log_likelihood["patient_loglik"].values
    )
    # another setting, another fit, a damaged folder: the checks run again
    other = argparse.Namespace(**{**vars(args), "ppc_draws": 3})
    for a, fit in ((other, idata), (args, _jittered_fit(tm, seed=4))):
        with pytest.raises(Rerun):
            cm.checks_or_reuse(tm, fit, 7.0, public_data, a, "x")
    (tmp_path / "x.checks" / "checks.json").write_text("{not json")
    with pytest.raises(Rerun):
        cm.checks_or_reuse(tm, idata, 7.0, public_data, args, "x")


def test_late_responders_replays_each_noise_setting_beside_the_trial(public_data):
    """late_responders.py: one replay per setting of SETTINGS (the fit's own first), the
    trial's responder table from the records, and a page made from the numbers alone."""
    import time

    lr = _script("late_responders")
    t1 = public_data.records["pain_avg"].sel(visit="t1").values
    pain_z = np.nan_to_num((t1 - np.nanmean(t1)) / np.nanstd(t1))  # patients unlike each other
    fit = _hand_made_fit(public_data, pain_z, n_draws=2)
    s = {"date": time.strftime("%Y-%m-%d"), "prt_sim_version": ps.__version__,
         "mechanism": "inhibition", "n_draws": 2, "seed": 1}  # fmt: skip
    s["rows"] = lr.measure(fit, public_data, 2, 1)
    assert list(s["rows"]) == list(lr.SETTINGS) and s["rows"]["the fit"]["overrides"] == {}
    prt = s["rows"]["the fit"]["responders"]["prt"]
    assert (prt["both"]["observed"], prt["m12_only"]["observed"]) == (25, 0)
    # the quiet replay is the same patients without scatter: nearly steady across follow-ups
    quiet = s["rows"]["none of the three"]["follow_up_correlation"]["usual_care"]["median"]
    assert quiet > s["rows"]["the fit"]["follow_up_correlation"]["usual_care"]["median"]
    s["reading"] = lr.reading(s)
    page = lr.block(s)
    assert "| prt | trial | 25 | 5 | 0 | 11 | 0% | 0.76 |" in page
    for label in lr.SETTINGS:
        assert f"| placebo | {label} | " in page
    assert s["reading"] in page and "of the PRT late responders" in s["reading"]
    # where the follow-up pain lies: the trial's counts are the records' own
    levels = s["rows"]["the fit"]["by_level"]
    x = public_data.records["pain_avg"].sel(visit=list(lr.FOLLOW_UPS)).values
    seen = np.isfinite(x).all(axis=1)
    assert sum(levels["all"]["trial_n"]) == seen.sum()
    prt = seen & (public_data.records["arm"].values == "prt")
    assert levels["prt"]["trial_n"][0] == int((x[prt].mean(axis=1) < 1.0).sum())
    assert (
        "by the band of their mean pain" in page
        and "| prt | " + str(levels["prt"]["trial_n"][0]) in page
    )


def _sampled_like(tm, seed: int):
    """A hand-made fit of ``tm`` carrying what TrialModel.fit records (provenance, sampler
    settings, wall time), so that it saves and loads as a sampled fit does."""
    made = _jittered_fit(tm, seed=seed)
    attrs = {**provenance("fit", 1, tm.config()), "draws": 4, "tune": 0, "chains": 2,
             "wall_time_s": 1.5, "design": made.attrs["design"]}  # fmt: skip
    made.attrs.update(attrs)
    for g in made.groups():
        made[g].attrs.update(attrs)
    return made


#: Settings of the compare script small enough for a test (quick fits, tiny checks).
SMALL = dict(quick=True, draws=4, tune=0, chains=2, seed=1, quiet=True, ppc_draws=2,
             forecast_draws=3, nc_draws=2, nc_patients=30, loo_draws=4, loo_effects=8,
             horizon=1.0, no_arm=False)  # fmt: skip


def test_a_new_fits_checks_are_keyed_as_a_later_run_will_read_it(public_data, tmp_path):
    """fit_or_reuse returns a new fit as saved, so the checks key of this run is the key the
    next run computes from the file (an in-memory fit carries attributes the file does not)."""
    import argparse

    cm = _script("compare_mechanisms")
    tm = ps.TrialModel(public_data, mechanism="schema_update")
    made = _sampled_like(tm, seed=5)
    tm.fit = lambda **kw: made  # the sampler is not what is tested here
    args = argparse.Namespace(save=str(tmp_path), **SMALL)
    fresh, _ = cm.fit_or_reuse(tm, "x", args)
    again, _ = cm.fit_or_reuse(tm, "x", args)
    assert cm.REUSED[-1] == "x"
    assert cm.checks_key(fresh, public_data, args) == cm.checks_key(again, public_data, args)


def test_a_second_run_reuses_fits_and_checks_and_still_sets_the_fits_side_by_side(
    public_data, tmp_path, monkeypatch
):
    """fit_and_check twice (the sampler replaced by hand-made fits): the second run reuses
    every fit and every check, and the arm-level side by side reads the patient-level fit
    itself (a reused check keeps only its log likelihood)."""
    import argparse

    cm = _script("compare_mechanisms")

    monkeypatch.setattr(ps.TrialModel, "fit", lambda self, **kw: _sampled_like(self, seed=7))
    args = argparse.Namespace(save=str(tmp_path), **SMALL)
    first = cm.fit_and_check(["inhibition"], public_data, args)
    n_checks = len(cm.REUSED_CHECKS)
    second = cm.fit_and_check(["inhibition"], public_data, args)
    assert cm.REUSED[-2:] == ["inhibition", "arm_inhibition"]
    assert cm.REUSED_CHECKS[n_checks:] == ["inhibition"]
    assert json.dumps(second[0]) == json.dumps(first[0])
    assert json.dumps(to_jsonable(second[4])) == json.dumps(to_jsonable(first[4]))
    assert "safety_decay" in second[4]["rows"]
    # the comparison reads the reused log likelihoods as it read the fresh ones
    for k in (1, 2):
        a, b = az.loo(first[k]["inhibition"]), az.loo(second[k]["inhibition"])
        assert float(a.elpd_loo) == float(b.elpd_loo) and float(a.se) == float(b.se)
