"""Trial data: the TrialData container, the published figures and the public-file loaders.

Loader tests read the public Ashar 2022 files in ../shared/data/ashar2022 (relative to the repo
root; override with the environment variable PRT_SIM_DATA). Outside CI a missing folder skips
them; with CI=true it is a failure. Malformed copies are written to tmp_path.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import prt_sim as ps
from prt_sim.data import (
    HEALTHY_CONTROL,
    MEASURES,
    TWO_VISIT_FILE,
    WIDE_FILE,
    TrialData,
    load_ashar2022_two_visit,
    load_ashar2022_wide,
    published,
    published_ashar2022,
)
from prt_sim.errors import DataFormatError, ValidationError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PRT_SIM_DATA", ROOT.parent / "shared" / "data" / "ashar2022"))
ARMS = ("prt", "placebo", "usual_care")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _public(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        if _in_ci():
            pytest.fail(f"public data missing in CI: {path}")
        pytest.skip(f"public data not found at {path} (set PRT_SIM_DATA)")
    return path


@pytest.fixture(scope="module")
def wide_path() -> Path:
    return _public(WIDE_FILE)


@pytest.fixture(scope="module")
def two_path() -> Path:
    return _public(TWO_VISIT_FILE)


@pytest.fixture(scope="module")
def wide(wide_path) -> TrialData:
    return load_ashar2022_wide(wide_path)


@pytest.fixture(scope="module")
def wide_summ(wide) -> xr.Dataset:
    return wide.to_summaries()


@pytest.fixture(scope="module")
def two(two_path) -> TrialData:
    return load_ashar2022_two_visit(two_path.parent, include_controls=True)


@pytest.fixture(scope="module")
def pub() -> TrialData:
    return published_ashar2022()


# -- helpers for malformed copies ---------------------------------------------------------------
def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def _write_rows(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _set(rows: list[list[str]], column: str, row: int, value: str) -> list[list[str]]:
    """Copy of ``rows`` with data row ``row`` (0-based) of ``column`` set to ``value``."""
    out = [r[:] for r in rows]
    out[row + 1][out[0].index(column)] = value
    return out


def _drop(rows: list[list[str]], column: str) -> list[list[str]]:
    j = rows[0].index(column)
    return [r[:j] + r[j + 1 :] for r in rows]


def _assert_names(err: DataFormatError, path: Path, column: str | None, row: int | None) -> None:
    msg = str(err)
    assert err.file == str(path) and path.name in msg, msg
    assert err.column == column, msg
    assert err.row == row, msg
    if column is not None:
        assert f"column {column}" in msg, msg
    if row is not None:
        assert f"row {row}" in msg and f"line {row + 2}" in msg, msg


# ================================================================================================
# Published figures
# ================================================================================================
def test_published_structure(pub):
    assert pub.level == "arm" and pub.records is None
    assert pub.arms == ARMS
    assert pub.visit_names == ("baseline", "t1", "post", "m1", "m2", "m3", "m6", "m12")
    assert pub.visit_days["baseline"] == -5 and pub.visit_days["m12"] == 395
    assert pub.composite_visits == {"baseline": ("eligibility", "t1")}
    assert {a: p.name for a, p in pub.protocols.items()} == {a: a for a in ARMS}
    assert pub.n_randomized == {"prt": 50, "placebo": 51, "usual_care": 50}
    assert "doi:10.1001/jamapsychiatry.2021.2669" in pub.citation
    s = pub.summaries
    assert dict(s.sizes) == {"arm": 3, "visit": 8}
    at = {"arm": "prt", "visit": "post"}
    assert float(s.pain_avg_mean.sel(at)) == 1.18
    assert float(s.pain_avg_sd.sel(at)) == 1.24
    assert float(s.pain_avg_n.sel(at)) == 44
    assert float(s.pain_free_k.sel(at)) == 33
    assert float(s.pain_free_n_randomized.sel(at)) == 50
    assert float(s.pain_free_n_observed.sel(at)) == 44
    assert float(s.pain_free_k.sel(arm="usual_care", visit="m12")) == 8
    assert float(s.pain_free_n_observed.sel(arm="usual_care", visit="m12")) == 36
    # Not reported -> NaN (never 0).
    assert np.isnan(s.pain_free_k.sel(visit="m3")).all()
    assert np.isnan(s.pain_avg_mean.sel(visit="t1")).all()
    assert np.isnan(s.pcs_mean.sel(visit="m12")).all()
    assert np.isnan(s.tsk11_mean.sel(visit="m6")).all()
    # Oswestry: means only; n = the pain n at that visit.
    assert float(s.odi_mean.sel(arm="placebo", visit="post")) == 19.00
    assert np.isnan(s.odi_sd).all()
    np.testing.assert_array_equal(s.odi_n.sel(visit="m12"), [45, 43, 36])
    np.testing.assert_array_equal(s.tsk11_n.sel(visit="post"), [44, 44, 47])
    # Mind-brain share at t1 / post, n = patients with coded causes.
    np.testing.assert_allclose(s.attrib_mb_share_mean.sel(visit="post"), [0.598, 0.121, 0.085])
    np.testing.assert_array_equal(s.attrib_mb_share_n.sel(visit="t1"), [50, 51, 50])
    np.testing.assert_array_equal(s.n_randomized, [50, 51, 50])
    for visit, arms in published.PAIN.items():
        for arm, (m, sd, n) in arms.items():
            assert tuple(
                float(s[f"pain_avg_{k}"].sel(arm=arm, visit=visit)) for k in ("mean", "sd", "n")
            ) == (m, sd, n)


def test_published_repr_and_to_summaries(pub):
    text = repr(pub)
    assert (
        "level='arm'" in text and "prt: 50" in text and "baseline = mean(eligibility, t1)" in text
    )
    s = pub.to_summaries()
    assert s.equals(pub.summaries) and s is not pub.summaries
    assert pub.to_arm_level() == pub
    with pytest.raises(ValidationError, match="patient"):
        pub.baseline_table()


# ================================================================================================
# Subsetting
# ================================================================================================
def test_subset_published(pub):
    sub = pub.subset(arms=["usual_care", "prt"], measures="pain_avg", max_day=60)
    assert sub.arms == ("prt", "usual_care")  # data order kept
    assert sub.visit_names == ("baseline", "t1", "post", "m1")
    assert set(sub.protocols) == {"prt", "usual_care"}
    assert sub.measures == ("pain_avg",)
    assert set(sub.summaries.data_vars) == {
        "pain_avg_mean",
        "pain_avg_sd",
        "pain_avg_n",
        "pain_free_k",
        "pain_free_n_randomized",
        "pain_free_n_observed",
        "n_randomized",
    }
    assert sub.n_randomized == {"prt": 50, "usual_care": 50}
    assert pub.subset(visits="post").composite_visits == {}
    assert pub.subset(visits=["baseline"]).composite_visits == pub.composite_visits
    # the alias of the attribution measure
    assert pub.subset(measures="attrib_mb_share").measures == ("attrib_mb",)
    # the original is unchanged
    assert pub.arms == ARMS and len(pub.visits) == 8


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"arms": ["prt", "cbt"]}, "subset.arms", "cbt"),
        ({"arms": "PRT"}, "subset.arms", "PRT"),
        ({"arms": []}, "subset.arms", []),
        ({"visits": ["post", "m24"]}, "subset.visits", "m24"),
        ({"measures": ["pain"]}, "subset.measures", "pain"),
        ({"max_day": "30"}, "subset.max_day", "30"),
        ({"max_day": -20}, "subset.visits", None),
    ],
)
def test_subset_errors_name_field_value_and_allowed(pub, kwargs, field, value):
    with pytest.raises(ValidationError) as e:
        pub.subset(**kwargs)
    assert e.value.field == field
    msg = str(e.value)
    if value is not None:
        assert e.value.value == value and repr(value) in msg
    if field in ("subset.arms", "subset.measures", "subset.visits") and value is not None:
        allowed = {"subset.arms": "usual_care", "subset.measures": "odi", "subset.visits": "m12"}
        assert allowed[field] in msg


# ================================================================================================
# A small synthetic record set: to_summaries by hand (no files needed)
# ================================================================================================
def _toy() -> TrialData:
    nan = np.nan
    visits = (ps.Visit(name="eligibility", day=-10), ps.Visit(name="t1", day=0))
    visits += (ps.Visit(name="post", day=30),)
    pain = np.array([[4, 3, 0], [5, nan, 1], [6, 5, nan], [2, 2, 2]], dtype=float)
    coded = np.array([[nan, 3, 3], [nan, 3, 2], [nan, 3, 0], [nan, 3, 3]])
    mb = np.array([[nan, 0, 3], [nan, 1, 1], [nan, 0, nan], [nan, 0, 0]])
    records = xr.Dataset(
        {
            "pain_avg": (("patient", "visit"), pain),
            "attrib_mb": (("patient", "visit"), mb),
            "attrib_coded": (("patient", "visit"), coded),
            "chronicity": ("patient", np.array([1.0, 2.0, nan, 4.0])),
        },
        coords={
            "patient": np.array([10, 11, 12, 13]),
            "arm": ("patient", np.array(["a", "a", "a", "b"], dtype=object)),
            "visit": np.array([v.name for v in visits], dtype=object),
            "day": ("visit", [v.day for v in visits]),
        },
    )
    return TrialData(
        arms=("a", "b"),
        protocols={"a": ps.protocols.PRT(), "b": ps.protocols.UsualCare()},
        visits=visits,
        records=records,
        composite_visits={"baseline": ("eligibility", "t1")},
        source="toy",
    )


def test_to_summaries_by_hand():
    toy = _toy()
    assert toy.level == "patient" and toy.measures == ("pain_avg", "attrib_mb")
    s = toy.to_summaries()
    assert tuple(s.visit.values) == ("eligibility", "baseline", "t1", "post")
    assert tuple(s.day.values) == (-10, -5, 0, 30)
    a = s.sel(arm="a")
    # baseline = mean(eligibility, t1) per patient, missing if either is missing: 3.5, NaN, 5.5
    assert float(a.pain_avg_mean.sel(visit="baseline")) == 4.5
    assert float(a.pain_avg_n.sel(visit="baseline")) == 2
    assert math.isclose(float(a.pain_avg_sd.sel(visit="baseline")), np.std([3.5, 5.5], ddof=1))
    assert float(a.pain_avg_n.sel(visit="t1")) == 2
    assert float(a.pain_avg_mean.sel(visit="post")) == 0.5
    assert float(a.pain_free_k.sel(visit="post")) == 2
    assert float(a.pain_free_n_observed.sel(visit="post")) == 2
    assert float(a.pain_free_n_randomized.sel(visit="post")) == 3
    # one patient: SD undefined
    assert np.isnan(float(s.pain_avg_sd.sel(arm="b", visit="post")))
    assert float(s.pain_free_k.sel(arm="b", visit="post")) == 0
    # attributions: pooled share of coded causes, n = patients with a coded cause
    assert math.isclose(float(a.attrib_mb_share_mean.sel(visit="post")), 4 / 5)
    assert float(a.attrib_mb_share_n.sel(visit="post")) == 2
    assert math.isclose(float(a.attrib_mb_share_sd.sel(visit="post")), np.std([1, 0.5], ddof=1))
    assert math.isclose(float(a.attrib_mb_share_mean.sel(visit="t1")), 1 / 9)
    assert np.isnan(float(a.attrib_mb_share_mean.sel(visit="eligibility")))
    np.testing.assert_array_equal(s.n_randomized, [3, 1])
    arm_level = toy.to_arm_level()
    assert arm_level.level == "arm" and "baseline" in arm_level.visit_names


def test_toy_subset_baseline_table_and_validation():
    toy = _toy()
    sub = toy.subset(visits=["baseline", "post"])
    assert sub.visit_names == ("eligibility", "t1", "post")  # components kept
    assert sub.composite_visits == {"baseline": ("eligibility", "t1")}
    assert toy.subset(max_day=-1).composite_visits == {}
    assert toy.subset(arms="b").n_patients == 1
    table = toy.baseline_table()
    np.testing.assert_array_equal(table["id"], [10, 12, 13])  # missing T1 pain dropped
    np.testing.assert_array_equal(table["attrib_mb"], [0, 0, 0])
    assert np.isnan(table["tsk11"]).all()
    np.testing.assert_array_equal(toy.baseline_table(dropna=False)["id"], [10, 11, 12, 13])
    with pytest.raises(ValidationError, match="subset.measures"):
        toy.subset(measures="tsk11")  # not in these records
    with pytest.raises(ValidationError, match="baseline_table.arm"):
        toy.baseline_table(arm="c")
    bad = toy.records.copy(deep=True)
    bad["pain_avg"][0, 0] = 11.0
    with pytest.raises(ValidationError, match="records.pain_avg"):
        TrialData(arms=toy.arms, protocols=toy.protocols, visits=toy.visits, records=bad)
    with pytest.raises(ValidationError, match="exactly one"):
        TrialData(arms=toy.arms, protocols=toy.protocols, visits=toy.visits)
    with pytest.raises(ValidationError, match="protocols"):
        TrialData(arms=toy.arms, protocols={}, visits=toy.visits, records=toy.records)
    with pytest.raises(ValidationError, match="visit"):
        TrialData(
            arms=toy.arms, protocols=toy.protocols, visits=toy.visits[:2], records=toy.records
        )


@pytest.mark.parametrize("which", ["published", "toy"])
def test_save_load_round_trip(tmp_path, pub, which):
    data = pub if which == "published" else _toy().subset(arms="a")
    path = data.save(tmp_path / "sub" / "trial.nc")
    assert [p.name for p in path.parent.iterdir()] == ["trial.nc"]  # no temp file left
    back = TrialData.load(path)
    assert back == data
    xr.testing.assert_identical(back.data, data.data)
    assert back.protocols == data.protocols and back.visits == data.visits
    with xr.open_dataset(path, engine="h5netcdf") as root:
        assert root.attrs["kind"] == "trial_data" and root.attrs["prt_sim_version"]


def test_load_rejects_non_trialdata(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        TrialData.load(tmp_path / "nope.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("id,group\n1,1\n")
    with pytest.raises(DataFormatError) as e:
        TrialData.load(junk)
    assert e.value.file == str(junk)


# ================================================================================================
# The public wide file
# ================================================================================================


@pytest.mark.data
def test_wide_patients_arms_and_visits(wide):
    assert wide.level == "patient" and wide.n_patients == 151
    assert wide.n_randomized == {"prt": 50, "placebo": 51, "usual_care": 50}
    assert wide.measures == MEASURES
    names = wide.visit_names
    assert names[:2] == ("eligibility", "t1") and names[-1] == "m12"
    days = wide.visit_days
    assert (days["eligibility"], days["t1"], days["post"], days["m12"]) == (-10, 0, 30, 395)
    assert days["week5"] == 35 and days["baseline"] == -5
    r = wide.records
    assert r.patient.dtype == np.int64 and len(np.unique(r.patient)) == 151
    assert set(r.data_vars) >= {"attrib_coded", "chronicity", "age"}
    assert r.attrs["verbatim_public_file"] == "yes"
    # attributions only at t1 / post; 16 patients without post have none coded there
    coded = r.attrib_coded
    assert np.isnan(coded.drop_sel(visit=["t1", "post"])).all()
    assert (coded.sel(visit="t1") == 3).all()
    assert int((coded.sel(visit="post") == 0).sum()) == 16
    assert float(r.chronicity.median()) == 7.0


@pytest.mark.data
def test_wide_missing_is_nan_not_zero(wide):
    r = wide.records
    post = r.pain_avg.sel(visit="post")
    assert int(post.isnull().sum()) == 16
    # the patients without post pain have no attributions either: NaN, not 0
    assert r.attrib_mb.sel(visit="post").where(post.isnull()).isnull().all()
    assert r.pcs.sel(visit=["week1", "m1", "m12"]).isnull().all()  # not collected
    assert r.odi.sel(visit="week3").isnull().all()
    assert int(r.pain_avg.sel(visit="week8").notnull().sum()) == 4


@pytest.mark.data
def test_wide_summaries_reproduce_published(wide_summ, pub):
    s = wide_summ
    post = s.pain_avg_mean.sel(visit="post").values
    np.testing.assert_allclose(post, [1.18, 2.84, 3.13], atol=0.01)
    np.testing.assert_array_equal(s.pain_free_k.sel(visit="post"), [33, 10, 5])
    np.testing.assert_array_equal(s.pain_free_k.sel(visit="m12"), [26, 14, 8])
    np.testing.assert_array_equal(s.pain_free_n_randomized.sel(visit="post"), [50, 51, 50])
    # Every published mean and SD agrees to rounding; pain n exactly.
    p = pub.summaries
    for var in p.data_vars:
        if var == "n_randomized":
            continue
        mine = s[var].sel(visit=list(p.visit.values)).values
        theirs = p[var].values
        ok = ~np.isnan(theirs)
        if var.endswith("_n") and not var.startswith("pain"):
            continue  # the published object uses the pain n where no n is published
        tol = 0.0006 if var.startswith("attrib") else 0.0051
        np.testing.assert_allclose(mine[ok], theirs[ok], atol=tol, err_msg=var)
    # ... which is exact for TSK-11 except placebo at 12 months: 42 TSK answers vs 43 pain
    np.testing.assert_array_equal(s.tsk11_n.sel(visit="m12"), [45, 42, 36])
    np.testing.assert_allclose(s.odi_sd.sel(visit="post"), [10.63, 11.07, 10.68], atol=0.005)


@pytest.mark.data
def test_wide_subset_matches_summary_subset(wide, wide_summ):
    sub = wide.subset(arms="prt", visits=["baseline", "post"], measures=["pain_avg", "tsk11"])
    assert sub.visit_names == ("eligibility", "t1", "post") and sub.n_patients == 50
    s = sub.to_summaries()
    assert tuple(s.visit.values) == ("eligibility", "baseline", "t1", "post")
    ref = wide_summ.sel(arm=["prt"], visit=list(s.visit.values))[list(s.data_vars)]
    xr.testing.assert_allclose(s, ref)
    assert set(sub.records.data_vars) == {"pain_avg", "tsk11", "chronicity", "age"}
    early = wide.subset(max_day=30)
    assert early.visit_names[-1] == "post" and "week5" not in early.visit_names


@pytest.mark.data
def test_wide_baseline_table_builds_a_cohort(wide):
    table = wide.baseline_table()
    assert set(table) == {"id", "pain_avg", "tsk11", "pcs", "odi", "attrib_mb", "chronicity"}
    assert all(len(v) == 151 for v in table.values())
    np.testing.assert_array_equal(table["pain_avg"], wide.records.pain_avg.sel(visit="t1").values)
    prt = wide.baseline_table("prt")
    assert len(prt["id"]) == 50
    cohort = ps.Cohort.from_records(prt, seed=1, id_column="id", name=WIDE_FILE, pain_offset=0.8)
    assert len(cohort) == 50
    np.testing.assert_array_equal(cohort.patient_id, prt["id"].astype(np.uint64))


@pytest.mark.data
def test_wide_save_load_round_trip(wide, tmp_path):
    back = TrialData.load(wide.save(tmp_path / "wide.nc"))
    assert back == wide
    xr.testing.assert_identical(back.records, wide.records)
    assert back.composite_visits == wide.composite_visits


# ================================================================================================
# The public two-visit file
# ================================================================================================
@pytest.mark.data
def test_two_visit_equals_wide(two, wide):
    assert two.visit_names == ("t1", "post")
    assert two.measures == ("pain_avg", "tsk11", "pcs", "odi")
    assert two.n_randomized == {"prt": 50, "placebo": 51, "usual_care": 50, HEALTHY_CONTROL: 54}
    pat = two.subset(arms=ARMS)
    np.testing.assert_array_equal(pat.records.patient, wide.records.patient)
    np.testing.assert_array_equal(pat.records.arm, wide.records.arm)
    for m in ("pain_avg", "tsk11", "pcs", "odi"):
        np.testing.assert_array_equal(
            pat.records[m].values, wide.records[m].sel(visit=["t1", "post"]).values, err_msg=m
        )
    for c in ("chronicity", "age"):
        np.testing.assert_array_equal(pat.records[c].values, wide.records[c].values)
    assert two.records.attrs["excluded_ids"] == "[1004]"


@pytest.mark.data
def test_two_visit_controls_and_missing_markers(two, two_path):
    hc = two.records.where(two.records.arm == HEALTHY_CONTROL, drop=True)
    assert hc.sizes["patient"] == 54
    assert hc.pain_avg.sel(visit="post").isnull().all()  # controls: T1 only
    assert int(hc.pain_avg.sel(visit="t1").isnull().sum()) == 1  # id 9017: all NaN
    np.testing.assert_allclose(
        [float(hc[m].sel(visit="t1").mean()) for m in ("pain_avg", "tsk11", "pcs")],
        [0.62, 17.55, 5.17],
        atol=0.005,
    )
    assert isinstance(two.protocols[HEALTHY_CONTROL], ps.Protocol)
    default = load_ashar2022_two_visit(two_path)
    assert default.arms == ARMS and default.n_patients == 151
    assert default.to_summaries().pain_avg_mean.sel(visit="post").round(2).values.tolist() == [
        1.18,
        2.84,
        3.13,
    ]


# ================================================================================================
# Malformed copies
# ================================================================================================
WIDE_CASES = {
    # name: (mutation, column, row, message fragment)
    "dropped column": (lambda r: _drop(r, "tsk11_t2_arm_1"), "tsk11_t2_arm_1", None, "missing"),
    "dropped id": (lambda r: _drop(r, "id"), "id", None, "missing required column"),
    "bad group": (lambda r: _set(r, "group", 5, "4"), "group", 5, "unknown group code '4'"),
    "missing group": (lambda r: _set(r, "group", 4, ""), "group", 4, "missing value"),
    "pain above 10": (
        lambda r: _set(r, "pain_avg_t2_arm_1", 7, "11"),
        "pain_avg_t2_arm_1",
        7,
        "[0, 10]",
    ),
    "tsk below 11": (lambda r: _set(r, "tsk11_t1_arm_1", 0, "10"), "tsk11_t1_arm_1", 0, "[11, 44]"),
    "negative odi": (
        lambda r: _set(r, "odi_x6_month_follow_up_arm_1", 9, "-2"),
        "odi_x6_month_follow_up_arm_1",
        9,
        "outside",
    ),
    "non-numeric": (
        lambda r: _set(r, "odi_t1_arm_1", 12, "seven"),
        "odi_t1_arm_1",
        12,
        "non-numeric value 'seven'",
    ),
    "attribution code": (
        lambda r: _set(r, "attributed_code_2_t1_arm_1", 3, "PSY"),
        "attributed_code_2_t1_arm_1",
        3,
        "unknown attribution code 'PSY'",
    ),
    "duplicate id": (lambda r: _set(r, "id", 10, r[3][0]), "id", 10, "duplicate id"),
    "non-integer id": (lambda r: _set(r, "id", 1, "12a"), "id", 1, "not a non-negative integer"),
    "ragged row": (lambda r: [*r[:7], r[7][:-1], *r[8:]], None, 6, "fields"),
}


@pytest.mark.data
@pytest.mark.parametrize("case", list(WIDE_CASES))
def test_wide_malformed_copy_names_file_column_row(wide_path, tmp_path, case):
    mutate, column, row, fragment = WIDE_CASES[case]
    path = _write_rows(tmp_path / "bad_wide.csv", mutate(_read_rows(wide_path)))
    with pytest.raises(DataFormatError) as e:
        load_ashar2022_wide(path)
    assert fragment in str(e.value)
    _assert_names(e.value, path, column, row)


@pytest.mark.data
def test_wide_nan_and_empty_cells_are_missing(wide_path, tmp_path):
    rows = _read_rows(wide_path)
    rows = _set(rows, "pain_avg_t2_arm_1", 0, "")
    rows = _set(rows, "pain_avg_t2_arm_1", 1, "NaN")
    rows = _set(rows, "tsk11_t1_arm_1", 2, " <undefined> ")
    rows = _set(rows, "pain_avg_t2_arm_1", 2, "0")
    for k in (1, 2, 3):
        rows = _set(rows, f"attributed_code_{k}_t2_arm_1", 0, "")
    data = load_ashar2022_wide(_write_rows(tmp_path / "holes.csv", rows))
    r = data.records.isel(patient=[0, 1, 2])
    assert np.isnan(r.pain_avg.sel(visit="post").values[:2]).all()
    assert r.pain_avg.sel(visit="post").values[2] == 0.0
    assert np.isnan(r.tsk11.sel(visit="t1").values[2])
    assert r.attrib_coded.sel(visit="post").values[0] == 0
    assert np.isnan(r.attrib_mb.sel(visit="post").values[0])
    assert data.records.attrs["verbatim_public_file"].startswith("no")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"id,group\n", "no data rows"),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00binary", "NUL"),
        (b"just some text\nwithout commas\n", "one column"),
    ],
)
def test_unreadable_files(tmp_path, content, fragment):
    path = tmp_path / WIDE_FILE
    path.write_bytes(content)
    for loader in (load_ashar2022_wide, load_ashar2022_two_visit):
        with pytest.raises(DataFormatError, match=fragment) as e:
            loader(path)
        _assert_names(e.value, path, None, None)
    # a folder is resolved to the public file name
    with pytest.raises(DataFormatError, match=fragment):
        load_ashar2022_wide(tmp_path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataFormatError, match="file not found") as e:
        load_ashar2022_two_visit(tmp_path)
    assert e.value.file == str(tmp_path / TWO_VISIT_FILE)


TWO_CASES = {
    "dropped column": (lambda r: _drop(r, "pcs"), "pcs", None, "missing required column 'pcs'"),
    "bad time": (lambda r: _set(r, "time", 2, "3"), "time", 2, "unknown time code '3'"),
    "bad group": (lambda r: _set(r, "group", 0, "0"), "group", 0, "unknown group code '0'"),
    "duplicate id/time": (lambda r: _set(r, "time", 1, "1"), "id", 1, "duplicate id 12 at time 1"),
    "group changes": (lambda r: _set(r, "group", 1, "1"), "group", 1, "differs"),
    "control with group": (lambda r: _set(r, "group", 287, "2"), "group", 287, "healthy control"),
    "pcs above 52": (lambda r: _set(r, "pcs", 4, "53"), "pcs", 4, "[0, 52]"),
    "non-numeric pain": (lambda r: _set(r, "pain_avg", 6, "n/a"), "pain_avg", 6, "'n/a'"),
}


@pytest.mark.data
@pytest.mark.parametrize("case", list(TWO_CASES))
def test_two_visit_malformed_copy_names_file_column_row(two_path, tmp_path, case):
    mutate, column, row, fragment = TWO_CASES[case]
    path = _write_rows(tmp_path / "bad_two.csv", mutate(_read_rows(two_path)))
    with pytest.raises(DataFormatError) as e:
        load_ashar2022_two_visit(path, include_controls=True)
    assert fragment in str(e.value)
    _assert_names(e.value, path, column, row)


def test_replace_changes_what_it_is_given_and_validates_it():
    import dataclasses

    d = ps.data.published_ashar2022()
    prt = dataclasses.replace(d.protocols["prt"], uptake=1.0)
    d2 = d.replace(protocols={**d.protocols, "prt": prt})
    assert d2.protocols["prt"].uptake == 1.0 and d.protocols["prt"].uptake == 0.9
    assert d2.replace(protocols=d.protocols) == d
    with pytest.raises(ps.ValidationError, match="one protocol per arm"):
        d.replace(arms=("prt", "nonexistent"))
