"""Cohorts built from the public Ashar 2022 patient-level data (../shared/data/ashar2022).

Outside CI a missing data folder skips these tests; inside CI (CI=true) it is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import prt_sim as ps
from prt_sim.model.baseline import entry_state_pain, window_to_state

pd = pytest.importorskip("pandas")

DATA = Path(
    os.environ.get(
        "PRT_SIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "ashar2022"
    )
)
WIDE = DATA / "Ashar2023_reattribution_IPQ_MERGED_WIDE_FORMAT.csv"

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def wide():
    if not WIDE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"public data missing in CI: {WIDE}")
        pytest.skip(f"public data not found at {WIDE}")
    return pd.read_csv(WIDE)


@pytest.fixture(scope="module")
def wide_data(wide):
    return ps.data.load_ashar2022_wide(WIDE.parent)


def _baseline_table(wide):
    codes = wide[[f"attributed_code_{k}_t1_arm_1" for k in (1, 2, 3)]]
    mb = (codes == "MB").sum(axis=1).astype(float).where(codes.notna().any(axis=1))
    return {
        "id": wide["id"].to_numpy(),
        "pain_avg": wide["pain_avg_t1_arm_1"].to_numpy(float),
        "tsk11": wide["tsk11_t1_arm_1"].to_numpy(float),
        "pcs": wide["pcs_t1_arm_1"].to_numpy(float),
        "odi": wide["odi_t1_arm_1"].to_numpy(float),
        "attrib_mb": mb.to_numpy(float),
        "chronicity": wide["backpain_length"].to_numpy(float),
    }


def test_cohort_from_public_baseline_rows(wide):
    table = _baseline_table(wide)
    cohort = ps.Cohort.from_records(table, seed=1, id_column="id", name=WIDE.name, pain_offset=0.8)
    assert len(cohort) == 151
    np.testing.assert_array_equal(cohort.patient_id, table["id"].astype(np.uint64))
    # The recorded TSK-11 is the fear the cohort starts from plus the state excess of the
    # recorded pain (up to clipping at the trait bounds).
    params = ps.ModelParams()
    excess = 0.8 * window_to_state(params.to_tuple())  # end of the T1 day
    reading = cohort.state.fear + params.tsk11_pain_state * excess
    ok = (cohort.state.fear > 0.011) & ~np.isnan(table["tsk11"])  # not floored, not missing
    assert ok.mean() > 0.9
    np.testing.assert_allclose(11 + 33 * reading[ok], table["tsk11"][ok], rtol=1e-9)
    missing = np.isnan(table["tsk11"])
    if missing.any():  # population latent mean, whatever the offset
        spec = ps.CohortSpec()
        lat = spec.fear_mean - params.tsk11_pain_state * entry_state_pain(
            spec.entry_shift, params.to_tuple(), 8
        )
        np.testing.assert_allclose(cohort.state.fear[missing], lat, rtol=1e-9)


@pytest.mark.xdist_group("patient_model")  # one cold compile of the patient graph
def test_patient_level_model_has_finite_log_density_and_gradient(wide_data):
    """The patient-level PyMC model on the public data: finite log density and gradient."""
    tm = ps.TrialModel(wide_data, level="patient")
    m = tm.model
    point = m.initial_point()
    assert np.isfinite(m.compile_logp()(point))
    assert np.isfinite(m.compile_dlogp()(point)).all()
    assert len(m.coords["patient"]) == 151


def test_public_cohort_reproduces_recorded_baseline_pain(wide):
    table = _baseline_table(wide)
    cohort = ps.Cohort.from_records(table, seed=1, id_column="id", pain_offset=0.8, entry_shift=0.8)
    res = ps.simulate(cohort, "none", horizon_days=10, seed=1, visits=(ps.Visit(name="t1", day=0),))
    sim = res.instruments.pain_avg.sel(visit="t1").values
    # Means agree within sampling noise of 151 patients' one-week reports.
    assert abs(sim.mean() - np.mean(table["pain_avg"])) < 0.35


def test_public_cohort_responds_to_prt(wide):
    table = _baseline_table(wide)
    prt_rows = {k: v[wide["group"].to_numpy() == 1] for k, v in table.items()}
    cohort = ps.Cohort.from_records(prt_rows, seed=2, id_column="id", pain_offset=0.8)
    res = ps.simulate(cohort, "prt", horizon_days=40, seed=2)
    post = res.instruments.pain_avg.sel(visit="post").values
    t1 = res.instruments.pain_avg.sel(visit="t1").values
    assert post.mean() < t1.mean() - 1.0


def test_malformed_copy_of_public_file_names_column_and_row(wide, tmp_path):
    bad = wide.copy()
    bad.loc[7, "tsk11_t1_arm_1"] = 99
    bad_path = tmp_path / "bad.csv"
    bad.to_csv(bad_path, index=False)
    table = _baseline_table(pd.read_csv(bad_path))
    with pytest.raises(ps.DataFormatError) as e:
        ps.Cohort.from_records(table, name=bad_path.name)
    msg = str(e.value)
    assert "tsk11" in msg and "row 7" in msg and "bad.csv" in msg and "[11, 44]" in msg
