"""The checks every fit gets, on cases with a known answer."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from prt_sim.data import published_ashar2022
from prt_sim.inference.checks import interval, mediation_one, ppc_table


def _trial_arm(pain_change, tsk_change, mb_change, rng):
    n = len(pain_change)
    t1 = {"pain_avg": rng.normal(5, 1, n), "tsk11": rng.normal(25, 4, n),
          "attrib_mb": rng.normal(1, 0.5, n)}  # fmt: skip
    post = {
        "pain_avg": t1["pain_avg"] + pain_change,
        "tsk11": t1["tsk11"] + tsk_change,
        "attrib_mb": t1["attrib_mb"] + mb_change,
    }
    return xr.Dataset(
        {k: (("patient", "visit"), np.stack([t1[k], post[k]], axis=1)) for k in t1},
        coords={"visit": ["t1", "post"]},
    )


def test_mediation_recovers_a_known_indirect_effect():
    """Mediator change = a x + noise, pain change = c' x + b m + noise: the indirect effect is
    a b, the total c' + a b; a mediator that does not act on pain carries nothing."""
    rng = np.random.default_rng(11)
    n, a, b, c_direct = 20_000, -5.0, 0.1, -1.0
    arms = {}
    for treated in (1, 0):
        m = a * treated + rng.normal(0, 2, n)
        other = -0.6 * treated + rng.normal(0, 0.5, n)  # moved by treatment, not acting on pain
        y = c_direct * treated + b * m + rng.normal(0, 1, n)
        arms[treated] = _trial_arm(y, m, other, rng)
    r = mediation_one(arms[1], arms[0], "post")
    assert r["total_effect"] == pytest.approx(c_direct + a * b, abs=0.05)
    assert r["indirect_tsk"] == pytest.approx(a * b, abs=0.05)
    assert r["proportion_tsk"] == pytest.approx(a * b / (c_direct + a * b), abs=0.03)
    assert abs(r["indirect_mb"]) < 0.03
    # within the treated, pain change correlates with the mediator as b / sd(y) * sd(m)
    want = b * 2 / np.sqrt(b**2 * 4 + 1)
    assert r["r_tsk_pain_treated"] == pytest.approx(want, abs=0.03)


def test_interval_reports_observed_against_the_band():
    v = np.arange(101, dtype=float)
    r = interval(v, 50.0, 0.9)
    assert (r["lo90"], r["median"], r["hi90"]) == pytest.approx((5.0, 50.0, 95.0))
    assert r["inside"] and not interval(v, 99.0, 0.9)["inside"]
    assert not interval([np.nan], 1.0)["inside"]


def test_ppc_table_sets_each_observed_figure_beside_its_replicates():
    data = published_ashar2022()
    arms, visits = list(data.arms), ["baseline", "post", "m12"]
    rng = np.random.default_rng(0)
    shape = (1, 50, len(arms), len(visits))
    pp = xr.Dataset(
        {
            "pain_mean": (("chain", "draw", "arm", "visit"), rng.normal(2.5, 0.01, shape)),
            "pain_free_share": (("chain", "draw", "arm", "visit"), rng.uniform(0.6, 0.9, shape)),
            "pain_free_itt": (("chain", "draw", "arm", "visit"), rng.uniform(0.6, 0.7, shape)),
        },
        coords={"arm": arms, "visit": visits},
    )
    idata = az.InferenceData(posterior_predictive=pp)
    rows = ppc_table(idata, data)
    assert {(r["arm"], r["visit"]) for r in rows} == {(a, v) for a in arms for v in visits}
    prt_post = next(r for r in rows if r["arm"] == "prt" and r["visit"] == "post")
    assert prt_post["pain_mean"]["observed"] == pytest.approx(1.18)
    assert not prt_post["pain_mean"]["inside"]  # 1.18 is far below replicates near 2.5
    assert prt_post["pain_free_itt"]["observed"] == pytest.approx(33 / 50)
    assert prt_post["pain_free_itt"]["inside"]
    assert "tsk11_mean" not in prt_post  # no replicate of it: left out, not invented


def test_ppc_coverage_counts_figures_inside_their_intervals():
    from prt_sim.errors import ValidationError
    from prt_sim.inference.checks import interval, ppc_coverage

    v = np.arange(101.0)  # predictive draws 0..100: 90% interval [5, 95]
    rows = [
        {"arm": "prt", "visit": "post", "day": 30, "pain_mean": interval(v, 50.0, 0.9),
         "pain_free_itt": interval(v, 99.0, 0.9)},
        {"arm": "usual_care", "visit": "post", "day": 30, "pain_mean": interval(v, 1.0, 0.9),
         "tsk11_mean": interval(np.full(5, np.nan), 20.0, 0.9)},  # no prediction: not counted
    ]  # fmt: skip
    c = ppc_coverage(rows)
    assert (c["inside"], c["checked"]) == (1, 3) and c["share"] == pytest.approx(1 / 3)
    assert {(m["arm"], m["measure"]) for m in c["misses"]} == {
        ("prt", "pain_free_itt"),
        ("usual_care", "pain_mean"),
    }
    assert c["misses"][0]["lo"] == pytest.approx(5.0) and c["misses"][0]["hi"] == pytest.approx(
        95.0
    )
    only = ppc_coverage(rows, "pain_free_itt")
    assert (only["inside"], only["checked"]) == (0, 1)
    assert np.isnan(ppc_coverage([], None)["share"])
    with pytest.raises(ValidationError, match="measures"):
        ppc_coverage(rows, ["pain_avg"])
