"""Bad input is refused with an error naming the field, the value and what is allowed."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import prt_sim as ps
from prt_sim import DataFormatError, ValidationError, protocols
from prt_sim.model.baseline import BASELINE_VARS
from prt_sim.model.timeline import build_timeline


def _raises(exc, fn, *args, must=(), **kwargs):
    """Call ``fn`` expecting ``exc``; every string in ``must`` appears in the message."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for part in must:
        assert part in msg, f"{part!r} not in message: {msg}"
    return info.value


@pytest.fixture(scope="module")
def tiny_cohort():
    return ps.Cohort.from_trial_baseline(10, seed=1)


# -- ModelParams --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("flare_rate", 1.5, "[0.0, 1.0]"),
        ("flare_rate", -0.01, "[0.0, 1.0]"),
        ("threat_slope", 0.0, "(0.0, 50.0]"),  # open lower bound
        ("fluct_persistence", 1.0, "[0.0, 1.0)"),  # open upper bound
        ("flare_duration", math.inf, "(0.0, 365.0]"),
        ("fluct_sd", math.nan, "[0.0, 5.0]"),
        ("placebo_duration", 4000.0, "(0.0, 3650.0]"),
        ("course_sd", 11.0, "[0.0, 10.0]"),
        ("drift_reversion", -0.1, "[0.0, 20.0]"),
    ],
)
def test_model_params_out_of_range(field, value, allowed):
    err = _raises(
        ValidationError,
        ps.ModelParams,
        **{field: value},
        must=(f"ModelParams.{field}=", f"a real number in {allowed}"),
    )
    assert err.field == f"ModelParams.{field}"
    assert err.value is value or (isinstance(value, float) and math.isnan(err.value))


@pytest.mark.parametrize("value", ["0.1", None, True, [0.1], np.array([0.1])])
def test_model_params_wrong_type(value):
    err = _raises(
        ValidationError,
        ps.ModelParams,
        flare_rate=value,
        must=("ModelParams.flare_rate=", "a real number in [0.0, 1.0]", "got type"),
    )
    assert err.field == "ModelParams.flare_rate"


def test_model_params_accepts_numpy_scalars_and_ints():
    p = ps.ModelParams(flare_rate=np.float32(0.25), flare_duration=np.int64(3))
    assert p.flare_rate == 0.25 and type(p.flare_rate) is float
    assert p.flare_duration == 3.0 and type(p.flare_duration) is float


def test_model_params_from_dict_unknown_field():
    d = ps.ModelParams().to_dict() | {"flare_rat": 0.1}
    err = _raises(
        ValidationError,
        ps.ModelParams.from_dict,
        d,
        must=("ModelParams.flare_rat=0.1", "one of the fields", "'flare_rate'", "unknown field"),
    )
    assert err.field == "ModelParams.flare_rat"


def test_model_params_from_dict_bad_value_and_type():
    _raises(
        ValidationError,
        ps.ModelParams.from_dict,
        {"reinstatement": 2.0},
        must=("ModelParams.reinstatement=2.0", "[0.0, 1.0]"),
    )
    _raises(
        ValidationError,
        ps.ModelParams.from_dict,
        {"reinstatement": "high"},
        must=("ModelParams.reinstatement='high'", "[0.0, 1.0]", "got type str"),
    )


def test_model_params_replace_revalidates():
    _raises(
        ValidationError,
        ps.ModelParams().replace,
        cat_rate=0.0,
        must=("ModelParams.cat_rate=0.0", "(0.0, 1.0]"),
    )


# -- sessions and protocols ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("education", -1.0, "[0.0, 10.0]"),
        ("exposure", -0.5, "[0.0, 10.0]"),
        ("placebo", -1.0, "[0.0, 1.0]"),
        ("education", 11.0, "[0.0, 10.0]"),
    ],
)
def test_negative_or_excessive_session_dose(field, value, allowed):
    kwargs = {"day": 3, "education": 1.0, field: value}
    _raises(ValidationError, ps.Session, **kwargs, must=(f"Session.{field}=", allowed))


def test_session_delivering_nothing():
    _raises(
        ValidationError,
        ps.Session,
        day=3,
        must=("Session.dose=", "at least one of education, exposure, placebo > 0", "day 3"),
    )


@pytest.mark.parametrize("day", [1.5, "3", 40_000])
def test_session_bad_day(day):
    _raises(
        ValidationError,
        ps.Session,
        day=day,
        education=1.0,
        must=("Session.day=", "an integer in [-3650, 36500]"),
    )


def test_custom_protocol_negative_dose_and_bad_tuple():
    _raises(
        ValidationError,
        protocols.custom,
        [(1, -0.5, 1.0)],
        must=("Session.education=-0.5", "[0.0, 10.0]"),
    )
    _raises(
        ValidationError,
        protocols.custom,
        [(1, 0.5)],
        must=("custom.sessions[0]", "a Session or a (day, education, exposure) tuple"),
    )


def test_session_after_horizon(tiny_cohort):
    p = protocols.PRT().with_boosters([120])
    for call in (
        lambda: build_timeline(p, horizon_days=100),
        lambda: ps.simulate(tiny_cohort, p, horizon_days=100),
    ):
        with pytest.raises(ValidationError) as e:
            call()
        msg = str(e.value)
        assert "Protocol[prt+boosters].sessions.day=120" in msg
        assert "a study day <= horizon_days (100)" in msg


def test_unknown_protocol_name(tiny_cohort):
    for call in (lambda: protocols.get("prt2"), lambda: ps.simulate(tiny_cohort, "prt2")):
        with pytest.raises(ValidationError) as e:
            call()
        msg = str(e.value)
        assert "protocol='prt2'" in msg
        assert "['none', 'placebo', 'prt', 'usual_care']" in msg


def test_duplicate_session_day():
    _raises(
        ValidationError,
        protocols.custom,
        [(4, 1.0, 0.0), (7, 0.5, 1.0), (4, 0.0, 1.0)],
        must=("Protocol.sessions.day=4", "at most one session per day"),
    )
    _raises(
        ValidationError,
        protocols.PRT().with_boosters([180]).with_boosters,
        [180],
        must=("Protocol.sessions.day=180", "at most one session per day"),
    )


@pytest.mark.parametrize("field", ["uptake", "attendance", "dropout"])
def test_protocol_probabilities(field):
    _raises(
        ValidationError,
        protocols.PRT,
        **{field: 1.2},
        must=(f"Protocol.{field}=1.2", "[0.0, 1.0]"),
    )


def test_protocol_needs_sessions_of_the_right_type():
    _raises(
        ValidationError,
        ps.Protocol,
        sessions=((1, 1.0, 0.0),),
        must=("Protocol.sessions[0]", "a prt_sim.Session"),
    )
    _raises(ValidationError, ps.Protocol, name="", must=("Protocol.name=''", "non-empty string"))


def test_self_guided_bad_values():
    _raises(
        ValidationError,
        ps.SelfGuided,
        half_life=0.0,
        must=("SelfGuided.half_life=0.0", "(0.0, inf]"),
    )
    _raises(
        ValidationError,
        ps.SelfGuided,
        start_day=10,
        end_day=10,
        must=("SelfGuided.end_day=10", "an integer in [11, 36500]"),
    )
    _raises(
        ValidationError,
        ps.SelfGuided,
        daily_dose=-0.1,
        must=("SelfGuided.daily_dose=-0.1", "[0.0, 1.0]"),
    )


# -- visits and calendar ------------------------------------------------------------------------
def test_visit_after_horizon(tiny_cohort):
    visits = (ps.Visit("t1", 0), ps.Visit("late", 31))
    with pytest.raises(ValidationError) as e:
        ps.simulate(tiny_cohort, "none", horizon_days=30, visits=visits)
    msg = str(e.value)
    assert "visits[late].day=31" in msg
    assert "a study day <= horizon_days (30)" in msg


def test_duplicate_visit_names(tiny_cohort):
    visits = (ps.Visit("post", 10), ps.Visit("t1", 0), ps.Visit("post", 20))
    with pytest.raises(ValidationError) as e:
        ps.simulate(tiny_cohort, "none", horizon_days=30, visits=visits)
    msg = str(e.value)
    assert "visits.name=['post']" in msg
    assert "unique visit names" in msg


@pytest.mark.parametrize(
    "kwargs,must",
    [
        ({"response": 1.5}, ("Visit.response=1.5", "[0.0, 1.0]")),
        ({"day": 0.5}, ("Visit.day=0.5", "an integer in [-3650, 36500]")),
        ({"name": ""}, ("Visit.name=''", "a non-empty string")),
    ],
)
def test_bad_visit(kwargs, must):
    _raises(ValidationError, ps.Visit, **kwargs, must=must)


def test_visits_must_be_visits():
    _raises(
        ValidationError,
        build_timeline,
        protocols.NoTreatment(),
        horizon_days=10,
        visits=(("t1", 0),),
        must=("visits[0]", "a prt_sim.Visit"),
    )


@pytest.mark.parametrize(
    "kwargs,must",
    [
        ({"duration_days": 0}, ("StressPeriod.duration_days=0", "[1, 36500]")),
        ({"flare_multiplier": -1.0}, ("StressPeriod.flare_multiplier=-1.0", "[0.0, 100.0]")),
    ],
)
def test_bad_stress_period(kwargs, must):
    _raises(ValidationError, ps.StressPeriod, **kwargs, must=must)


@pytest.mark.parametrize("horizon", [0, -5, 36_501, 10.5])
def test_bad_horizon(tiny_cohort, horizon):
    _raises(
        ValidationError,
        ps.simulate,
        tiny_cohort,
        "none",
        horizon_days=horizon,
        must=("horizon_days=", "an integer in [1, 36500]"),
    )


@pytest.mark.parametrize("post_day", [0, 4000])
def test_bad_post_day(post_day):
    _raises(ValidationError, ps.trial_visits, post_day, must=("post_day=", "[1, 3650]"))


# -- simulate options ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "0", None])
def test_bad_seed(tiny_cohort, seed):
    err = _raises(
        ValidationError,
        ps.simulate,
        tiny_cohort,
        "none",
        horizon_days=5,
        seed=seed,
        must=(f"seed={seed!r}", "an integer in [0, 9223372036854775807]"),
    )
    assert err.field == "seed"
    _raises(
        ValidationError,
        ps.Cohort.from_trial_baseline,
        5,
        seed=seed,
        must=("seed=", "an integer in [0, 9223372036854775807]"),
    )


@pytest.mark.parametrize("chunk_size", [0, -3, 10**8 + 1, 2.5])
def test_bad_chunk_size(tiny_cohort, chunk_size):
    _raises(
        ValidationError,
        ps.simulate,
        tiny_cohort,
        "none",
        horizon_days=5,
        chunk_size=chunk_size,
        must=(f"chunk_size={chunk_size!r}", "an integer in [1, 100000000]"),
    )


@pytest.mark.parametrize("record", ["weekly", "Daily", None])
def test_bad_record(tiny_cohort, record):
    _raises(
        ValidationError,
        ps.simulate,
        tiny_cohort,
        "none",
        horizon_days=5,
        record=record,
        must=(f"record={record!r}", "one of ('instruments', 'visits', 'daily')"),
    )


def test_bad_cohort_and_params_types(tiny_cohort):
    _raises(
        ValidationError,
        ps.simulate,
        {"pain_avg": [3.0]},
        "none",
        must=("cohort='dict'", "a prt_sim.Cohort"),
    )
    _raises(
        ValidationError,
        ps.simulate,
        tiny_cohort,
        "none",
        params={"flare_rate": 0.1},
        must=("params='dict'", "a prt_sim.ModelParams"),
    )


# -- cohorts ------------------------------------------------------------------------------------
def _records(**cols):
    base = {
        "pain_avg": [3.0, 5.0, 6.0, 4.0],
        "tsk11": [20.0, 30.0, 25.0, 22.0],
        "pcs": [10.0, 20.0, 5.0, 0.0],
    }
    return base | cols


# Ranges as a user reads them: "[0, 10]", "[0.0, 10.0]" or "0-10".
def _range_re(lo, hi):
    return rf"\[{lo}(\.0)?, {hi}(\.0)?\]|\b{lo}-{hi}\b"


def test_from_records_missing_required_column():
    rec = _records()
    del rec["pain_avg"]
    err = _raises(
        DataFormatError,
        ps.Cohort.from_records,
        rec,
        name="baseline.csv",
        must=("pain_avg", "missing required column", "baseline.csv"),
    )
    assert err.column == "pain_avg"
    # what the column must hold: pain 0-10
    assert re.search(_range_re(0, 10), str(err)), str(err)


@pytest.mark.parametrize("as_frame", [False, True])
def test_from_records_out_of_range_tsk11_names_column_row_and_range(as_frame):
    rec = _records(tsk11=[20.0, 30.0, 50.0, 22.0])
    table = pd.DataFrame(rec) if as_frame else rec
    err = _raises(
        DataFormatError,
        ps.Cohort.from_records,
        table,
        must=("value 50", "[11, 44]", "column tsk11", "row 2"),
    )
    assert (err.column, err.row) == ("tsk11", 2)


@pytest.mark.parametrize(
    "col,values,row,allowed",
    [
        ("pain_avg", [3.0, 11.0, 6.0, 4.0], 1, "[0, 10]"),
        ("pcs", [10.0, 20.0, 5.0, -1.0], 3, "[0, 52]"),
        ("odi", [10.0, 120.0, 6.0, 4.0], 1, "[0, 100]"),
        ("attrib_mb", [0.0, 1.0, 4.0, 2.0], 2, "[0, 3]"),
        ("chronicity", [1.0, 2.0, 3.0, 90.0], 3, "[0, 80]"),
    ],
)
def test_from_records_out_of_range_other_columns(col, values, row, allowed):
    err = _raises(
        DataFormatError,
        ps.Cohort.from_records,
        _records(**{col: values}),
        must=(allowed, f"column {col}", f"row {row}"),
    )
    assert (err.column, err.row) == (col, row)


def test_from_records_non_numeric_cell():
    err = _raises(
        DataFormatError,
        ps.Cohort.from_records,
        _records(pcs=[10, 20, "lots", 0]),
        must=("non-numeric value 'lots'", "column pcs", "row 2"),
    )
    assert (err.column, err.row) == ("pcs", 2)
    # what the cell should hold: a PCS sum 0-52
    assert re.search(_range_re(0, 52), str(err)), str(err)


def test_from_records_missing_required_value():
    err = _raises(
        DataFormatError,
        ps.Cohort.from_records,
        _records(pain_avg=[3.0, np.nan, 6.0, 4.0]),
        must=("missing value", "column pain_avg", "row 1"),
    )
    assert err.row == 1


def test_from_records_empty_table():
    _raises(
        DataFormatError,
        ps.Cohort.from_records,
        {"pain_avg": []},
        name="empty.csv",
        must=("no rows", "empty.csv"),
    )
    _raises(
        DataFormatError,
        ps.Cohort.from_records,
        pd.DataFrame({"pain_avg": pd.Series([], dtype=float)}),
        must=("no rows",),
    )


def test_from_records_not_a_table():
    _raises(DataFormatError, ps.Cohort.from_records, [[3.0, 20.0]], must=("mapping of columns",))


def test_from_records_bad_ids():
    _raises(
        DataFormatError,
        ps.Cohort.from_records,
        _records(pid=[1, 2, 2, 3]),
        id_column="pid",
        must=("duplicate patient ids", "column pid"),
    )
    _raises(
        DataFormatError,
        ps.Cohort.from_records,
        _records(pid=[1, -2, 3, 4]),
        id_column="pid",
        must=("non-negative integers", "column pid"),
    )


@pytest.mark.parametrize("field", ["pain_offset", "entry_shift"])
def test_from_records_bad_offsets(field):
    _raises(
        ValidationError,
        ps.Cohort.from_records,
        _records(),
        **{field: -1.0},
        must=(f"{field}=-1.0", "[0.0, 5.0]"),
    )


@pytest.mark.parametrize(
    "trait,value,allowed",
    [
        ("schema", 1.5, "[0.0, 1.0]"),
        ("avoid_prop", 3.5, "[0.0, 3.0]"),
        ("floor", -0.1, "[0.0, 10.0]"),
        ("chronicity", np.nan, "[0.0, 80.0]"),
        ("drift", 525.0, "[-500.0, 500.0]"),
    ],
)
def test_cohort_traits_out_of_range(trait, value, allowed):
    c = ps.Cohort.from_trial_baseline(5, seed=1)
    v = getattr(c.traits, trait).copy()
    v[3] = value
    err = _raises(
        ValidationError,
        ps.Cohort,
        c.traits._replace(**{trait: v}),
        c.state,
        c.patient_id,
        must=(f"Cohort.traits.{trait}[3]=", allowed),
    )
    assert err.field == f"Cohort.traits.{trait}[3]"


def test_cohort_state_out_of_range_and_duplicate_ids():
    c = ps.Cohort.from_trial_baseline(5, seed=1)
    fear = c.state.fear.copy()
    fear[0] = 1.2
    _raises(
        ValidationError,
        ps.Cohort,
        c.traits,
        c.state._replace(fear=fear),
        c.patient_id,
        must=("Cohort.state.fear[0]=1.2", "[0.0, 1.0]"),
    )
    _raises(
        ValidationError,
        ps.Cohort,
        c.traits,
        c.state,
        np.array([0, 1, 2, 2, 4]),
        must=("Cohort.patient_id", "unique patient ids"),
    )


@pytest.mark.parametrize(
    "kwargs,must",
    [
        ({"n": 0}, ("n=0", "an integer in [1, 100000000]")),
        ({"n": 10, "id_offset": -1}, ("id_offset=-1", "[0, 4611686018427387904]")),
    ],
)
def test_from_trial_baseline_bad_arguments(kwargs, must):
    _raises(ValidationError, ps.Cohort.from_trial_baseline, **kwargs, must=must)


def test_cohort_spec_correlation_not_positive_definite():
    k = len(BASELINE_VARS)
    r = np.full((k, k), -0.5)
    np.fill_diagonal(r, 1.0)
    assert np.linalg.eigvalsh(r).min() <= 0
    err = _raises(
        ValidationError,
        ps.CohortSpec,
        correlation=tuple(map(tuple, r)),
        must=("CohortSpec.correlation", "positive definite"),
    )
    assert err.field == "CohortSpec.correlation"


@pytest.mark.parametrize(
    "make,must",
    [
        (lambda r: r[:5, :5], "a 6x6 matrix"),
        (lambda r: r + np.triu(np.full_like(r, 0.1), 1), "symmetric, unit diagonal"),
        (lambda r: 2 * r, "symmetric, unit diagonal"),
    ],
)
def test_cohort_spec_correlation_malformed(make, must):
    r = make(np.eye(len(BASELINE_VARS)))
    _raises(
        ValidationError,
        ps.CohortSpec,
        correlation=tuple(map(tuple, r)),
        must=("CohortSpec.correlation", must),
    )


def test_cohort_spec_field_out_of_range():
    _raises(
        ValidationError,
        ps.CohortSpec,
        fear_mean=1.2,
        must=("CohortSpec.fear_mean=1.2", "[0.0, 1.0]"),
    )


def test_every_validation_message_has_the_same_shape():
    """field=value is invalid: allowed ... (so users can grep and fix the input)."""
    with pytest.raises(ValidationError) as e:
        ps.ModelParams(flare_rate=2.0)
    assert re.fullmatch(r"ModelParams\.flare_rate=2\.0 is invalid: allowed .+", str(e.value))
    assert isinstance(e.value, ValueError) and isinstance(e.value, ps.PrtSimError)
    assert issubclass(DataFormatError, ValueError) and issubclass(DataFormatError, ps.PrtSimError)
