"""Queueing theory and replication statistics: Erlang B and C for the M/M/c check, confidence intervals over replications, a bootstrap for ratios, and the number of replications a precision target needs.

Erlang C is computed through the Erlang B recursion ``B(0) = 1``,
``B(k) = a B(k-1) / (k + a B(k-1))``, which stays stable for hundreds of servers where the
textbook sum of ``a**k / k!`` overflows. The replication count follows the confidence-interval
method of Hoad, Robinson and Davies (2010): the smallest ``n`` whose t interval, with the pilot
replications' standard deviation, is within the relative precision asked for.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..errors import ValidationError, check_int, check_range

__all__ = [
    "erlang_b",
    "erlang_c",
    "MMc",
    "mmc",
    "mean_ci",
    "bootstrap_ratio_ci",
    "replications_needed",
]


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability of ``c`` servers (>= 0) offered ``a`` Erlangs (>= 0)."""
    c = check_int("c", c, 0, 10**7)
    a = check_range("a", a, 0.0, None)
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability an arrival waits in an M/M/c queue with offered load ``a`` =
    lambda / mu Erlangs, ``0 <= a < c``."""
    c = check_int("c", c, 1, 10**7)
    a = check_range("a", a, 0.0, float(c), hi_open=True)
    b = erlang_b(c, a)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


class MMc(NamedTuple):
    """Steady-state figures of an M/M/c queue (time in the units of the rates)."""

    p_wait: float  #: probability an arrival waits (Erlang C)
    mean_wait: float  #: mean wait in queue, C / (c mu - lambda)
    utilisation: float  #: share of servers busy, lambda / (c mu)
    mean_queue: float  #: time-average number waiting (Little: lambda Wq)
    decay: float  #: c mu - lambda: P(wait > t) = p_wait * exp(-decay t)

    def p_wait_over(self, t: float) -> float:
        """P(wait > t), t >= 0."""
        return self.p_wait * math.exp(-self.decay * t)


def mmc(lam: float, mu: float, c: int) -> MMc:
    """The M/M/c figures for arrival rate ``lam`` (> 0), service rate ``mu`` (> 0) and ``c``
    servers, with ``lam < c mu``."""
    lam = check_range("lam", lam, 0.0, None, lo_open=True)
    mu = check_range("mu", mu, 0.0, None, lo_open=True)
    c = check_int("c", c, 1, 10**7)
    if lam >= c * mu:
        raise ValidationError("lam", lam, f"below c * mu = {c * mu} (a stable queue)")
    C = erlang_c(c, lam / mu)
    decay = c * mu - lam
    wq = C / decay
    return MMc(C, wq, lam / (c * mu), lam * wq, decay)


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t interval ``(mean, lo, hi)`` over replications (NaNs dropped; a
    single value gives an infinite interval, none gives NaNs)."""
    confidence = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if v.size == 1:
        return (m, -math.inf, math.inf)
    from scipy import stats as _st

    h = float(_st.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return (m, m - h, m + h)


def bootstrap_ratio_ci(
    num, den, *, confidence: float = 0.95, n_boot: int = 2000, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Ratio of sums ``sum(num) / sum(den)`` over replications with a percentile bootstrap
    interval (replications resampled with replacement): ``(ratio, lo, hi)``.

    Resamples whose denominator sums to 0 are dropped; NaN when every one does.
    """
    confidence = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    n_boot = check_int("n_boot", n_boot, 1, 10**7)
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if num.size == 0 or den.sum() <= 0:
        return (math.nan, math.nan, math.nan)
    ratio = float(num.sum() / den.sum())
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    dn = den[idx].sum(axis=1)
    keep = dn > 0
    r = num[idx].sum(axis=1)[keep] / dn[keep]
    if r.size == 0:
        return (ratio, math.nan, math.nan)
    lo, hi = np.quantile(r, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return (ratio, float(lo), float(hi))


def replications_needed(
    values, precision: float = 0.05, confidence: float = 0.95, max_n: int = 100_000
) -> int:
    """How many replications make the t interval's half-width at most ``precision`` times the
    mean, given pilot replications ``values`` (Hoad, Robinson and Davies 2010).

    Parameters
    ----------
    values : array-like
        A result of each pilot replication (at least 2 finite values).
    precision : float
        Relative half-width wanted, (0, 1] (0.05: within 5% of the mean).
    confidence : float
        Confidence of the interval, (0, 1).
    max_n : int
        Largest answer, 2-10**7; returned when even that is not enough.

    Returns
    -------
    int
        The smallest ``n >= 2`` with ``t(n-1) s / sqrt(n) <= precision |mean|`` (``s`` and the
        mean from the pilot); ``max_n`` when the mean is 0.
    """
    precision = check_range("precision", precision, 0.0, 1.0, lo_open=True)
    confidence = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    max_n = check_int("max_n", max_n, 2, 10**7)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        raise ValidationError("values", v.size, "at least 2 finite pilot replications")
    m, s = abs(float(v.mean())), float(v.std(ddof=1))
    if s == 0:
        return 2
    if m == 0:
        return max_n
    q = 0.5 + confidence / 2
    from scipy import stats as _st

    # t(n-1) / sqrt(n) decreases in n: bisect on [2, max_n]
    def ok(n: int) -> bool:
        return _st.t.ppf(q, n - 1) * s / math.sqrt(n) <= precision * m

    if not ok(max_n):
        return max_n
    lo, hi = 2, max_n
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
