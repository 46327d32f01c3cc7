"""The diagnostic experiments that read a patient-level fit: their measurements on a hand-made
posterior (no sampling), and the trial's own side of their tables.

``experiments/paired_changes.py`` and ``experiments/skeleton_gap.py`` are scripts; they are
imported from their files here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from test_patient_checks import _hand_made_fit

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
