"""The clinic's queueing layer against theory: with the patient dynamics off, Poisson referrals,
exponential courses and one patient per therapist, the clinic is an M/M/c queue. The probability
of waiting, the mean wait, the tail P(wait > t), the utilisation and the mean queue length must
match Erlang C within a few Monte Carlo standard errors over replications (not a fixed share);
infinite capacity must give no waiting and no referrals an idle clinic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from prt_sim.clinic import (
    ClinicSpec,
    Course,
    Referrals,
    Staffing,
    erlang_b,
    erlang_c,
    mmc,
    replications_needed,
    run_clinic,
)
from prt_sim.clinic.stats import bootstrap_ratio_ci, mean_ci
from prt_sim.errors import ValidationError
from prt_sim.model.calendar import DAYS_PER_MONTH
from prt_sim.model.protocols import custom

ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Z_MAX = 4.0  # Monte Carlo standard errors allowed


def _erlang_b_direct(c: int, a: float) -> float:
    """Erlang B from its definition, in logs (for checking the recursion)."""
    k = np.arange(c + 1)
    logs = k * math.log(a) - special.gammaln(k + 1)
    return float(np.exp(logs[-1] - special.logsumexp(logs)))


def test_erlang_b_and_c_known_values():
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    for c, a in ((2, 1.5), (8, 7.2), (50, 40.0), (500, 480.0)):
        assert erlang_b(c, a) == pytest.approx(_erlang_b_direct(c, a), rel=1e-10)
    # a large system stays finite and in (0, 1) where a**c / c! overflows
    assert 0 < erlang_c(2000, 1990.0) < 1
    q = mmc(0.8, 1.0, 1)
    assert q.mean_wait == pytest.approx(0.8 / (1 - 0.8))  # M/M/1: rho / (mu - lambda)
    assert q.p_wait_over(2.0) == pytest.approx(0.8 * math.exp(-0.2 * 2.0))


def test_erlang_refuses_unstable_or_bad_input():
    with pytest.raises(ValidationError, match="lam"):
        mmc(2.0, 1.0, 2)
    with pytest.raises(ValidationError, match=r"a=3\.0"):
        erlang_c(3, 3.0)
    with pytest.raises(ValidationError, match="c="):
        erlang_b(-1, 1.0)


def _spec(c: int, rho: float, n_per_rep: int, caseload=1.0) -> tuple[ClinicSpec, float, float]:
    mean_days = 1.0
    lam = rho * c / mean_days
    days = int(math.ceil(n_per_rep / lam))
    spec = ClinicSpec(
        days=days,
        warmup_days=days // 5,
        dynamics=False,
        staffing=Staffing(therapists=c, caseload=caseload, workdays=ALL_WEEK, shift_start=0.0,
                          shift_end=24.0, bookable_share=1.0),
        referrals=Referrals(per_month=(lam * DAYS_PER_MONTH,)),
        course=Course(protocol=custom([(1, 1.0, 0.0)]), length="exponential",
                      mean_days=mean_days, max_boosters=0),
    )  # fmt: skip
    return spec, lam, 1.0 / mean_days


def _z(values, expected):
    v = np.asarray(values, dtype=float)
    se = v.std(ddof=1) / math.sqrt(v.size)
    return (v.mean() - expected) / se


# Heavier traffic needs longer runs for the same precision: more patients per replication.
CASES = [
    (1, 0.3, 1500), (1, 0.6, 1500), (1, 0.9, 2500),
    (2, 0.3, 1500), (2, 0.6, 1500), (2, 0.9, 2500),
    (8, 0.3, 2500), (8, 0.6, 1500), (8, 0.9, 2500),
]  # fmt: skip
REPLICATIONS = 12


@pytest.mark.parametrize(("c", "rho", "n"), CASES, ids=[f"c{c}-rho{r}" for c, r, _ in CASES])
def test_clinic_is_an_mmc_queue(c, rho, n):
    spec, lam, mu = _spec(c, rho, n)
    reps = REPLICATIONS
    res = run_clinic(spec, seed=11, replications=reps, record_events=False)
    th = mmc(lam, mu, c)
    k = res.kpis
    # tail P(wait > t) at the mean conditional wait, per replication, from the patient table
    t = 1.0 / th.decay
    p = res.patients
    join = np.maximum(p["referral"].values, 0.0)
    inw = join >= spec.warmup_days
    waited = np.where(np.isfinite(p["wait"].values), p["wait"].values, p["wait_censored"].values)
    rep = p["replication"].values
    tail = [np.mean(waited[inw & (rep == r)] > t) for r in range(reps)]
    checks = {
        "P(wait)": (k["p_wait"].values, th.p_wait),
        "mean wait": (k["wait_mean"].values, th.mean_wait),
        f"P(wait > {t:.3g})": (tail, th.p_wait_over(t)),
        "utilisation": (k["caseload_utilisation"].values, th.utilisation),
        "mean queue": (k["queue_mean"].values, th.mean_queue),
    }
    for what, (vals, expected) in checks.items():
        z = _z(vals, expected)
        assert abs(z) < Z_MAX, (
            f"c={c} rho={rho}: {what} {np.mean(vals):.4f} vs Erlang C {expected:.4f} "
            f"({z:+.2f} Monte Carlo SEs over {reps} replications)"
        )


def test_infinite_capacity_means_no_waiting():
    spec, _, _ = _spec(2, 0.9, 3000, caseload=math.inf)
    res = run_clinic(spec, seed=2, replications=2, record_events=False)
    w = res.patients["wait"].values
    assert np.isfinite(w).all() and (w == 0).all()
    assert (res.kpis["p_wait"].values == 0).all()
    assert (res.kpis["queue_mean"].values == 0).all()
    assert (res.kpis["still_waiting"].values == 0).all()


def test_zero_referrals_give_an_idle_clinic():
    spec, _, _ = _spec(3, 0.5, 100)
    spec = spec.replace(referrals=Referrals(per_month=(0.0,)))
    res = run_clinic(spec, seed=1, replications=2)
    assert res.patients.sizes["patient"] == 0 and res.events.sizes["event"] == 0
    k = res.kpis
    assert (k["caseload_utilisation"].values == 0).all()
    assert (k["hours_utilisation"].values == 0).all()
    assert (k["queue_mean"].values == 0).all() and (k["sessions"].values == 0).all()
    assert (k["referrals"].values == 0).all() and np.isnan(k["wait_mean"].values).all()
    # also with the dynamics on (no patients to advance)
    res = run_clinic(spec.replace(dynamics=True), seed=1)
    assert res.kpis["cost"].item() == 0


def test_referral_rate_changes_by_month():
    per_month = (10.0, 0.0, 60.0)
    spec, _, _ = _spec(2, 0.5, 100)
    spec = spec.replace(days=int(12 * DAYS_PER_MONTH), warmup_days=0,
                        referrals=Referrals(per_month=per_month))  # fmt: skip
    res = run_clinic(spec, seed=4, replications=30, record_events=False)
    ref, rep = res.patients["referral"].values, res.patients["replication"].values
    month = np.floor(ref / DAYS_PER_MONTH).astype(int)
    counts = np.array([[np.sum((rep == r) & (month == m)) for m in range(12)] for r in range(30)])
    assert counts[:, 1].sum() == 0  # a month without referrals
    for m, rate in ((0, 10.0), (2, 60.0), (7, 60.0)):  # the last rate holds on
        mean = counts[:, m].mean()
        se = math.sqrt(rate / 30)
        assert abs(mean - rate) < Z_MAX * se, (m, mean, rate)


def test_confidence_intervals_bootstrap_and_replications_needed():
    v = np.array([9.0, 11.0, 10.0, 12.0, 8.0])
    m, lo, hi = mean_ci(v, 0.95)
    h = stats.t.ppf(0.975, 4) * v.std(ddof=1) / math.sqrt(5)
    assert (m, lo, hi) == pytest.approx((10.0, 10.0 - h, 10.0 + h))
    # the smallest n with t(n-1) s / sqrt(n) <= 5% of the mean, found by brute force
    s = v.std(ddof=1)
    brute = next(n for n in range(2, 10_000) if stats.t.ppf(0.975, n - 1) * s / math.sqrt(n) <= 0.5)
    assert replications_needed(v, precision=0.05) == brute
    assert replications_needed(v, precision=0.5) < brute
    with pytest.raises(ValidationError, match="values"):
        replications_needed([1.0])
    num, den = np.array([100.0, 120.0, 90.0]), np.array([10.0, 11.0, 9.0])
    r, lo, hi = bootstrap_ratio_ci(num, den, rng=np.random.default_rng(0))
    assert r == pytest.approx(310.0 / 30.0) and lo <= r <= hi
    again = bootstrap_ratio_ci(num, den, rng=np.random.default_rng(0))
    assert again == (r, lo, hi)
