"""Analyses of two-arm trials on plain arrays: t-tests on change from baseline, ANCOVA on follow-up adjusting for baseline, and responder comparisons, vectorised over trials.

Nothing here knows about the simulator: every function takes numbers (baseline and follow-up
values per patient, ``NaN`` where a value is missing) for a treatment and a control arm and
returns the effect estimate, the test statistic and the p-value. Arrays are shaped
``(..., n)``: the last axis holds the patients of an arm, any leading axes are independent trials
(analysed at once). Patients with a missing value the analysis needs are left out (complete-case
analysis). The results equal ``scipy.stats.ttest_ind``, an OLS fit of ``follow ~ arm + baseline``,
the pooled two-proportion z-test and ``scipy.stats.fisher_exact`` trial by trial
(``tests/test_power.py`` checks each against scipy or statsmodels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import ValidationError, check_range

__all__ = [
    "ANALYSES",
    "ALTERNATIVES",
    "TestResult",
    "ttest_change",
    "ancova",
    "responder_test",
    "analyse",
]

#: Analyses :func:`analyse` runs: Welch's and Student's t-test on change from baseline, ANCOVA
#: of follow-up adjusting for baseline, the pooled two-proportion z-test and Fisher's exact test
#: on the share of responders.
ANALYSES = ("welch", "student", "ancova", "proportions", "fisher")
#: Alternative hypotheses, about the effect estimate (treatment minus control).
ALTERNATIVES = ("two-sided", "less", "greater")


@dataclass(frozen=True)
class TestResult:
    """What an analysis gives per trial (arrays over the leading axes of its inputs).

    Attributes
    ----------
    estimate : numpy.ndarray
        Treatment minus control: difference in mean change from baseline (t-tests), the
        baseline-adjusted difference in follow-up (ANCOVA), or the difference in the share of
        responders (0-1; proportion tests). In the units of the measure.
    statistic : numpy.ndarray
        t (t-tests, ANCOVA) or z (proportions); the sample odds ratio (Fisher).
    pvalue : numpy.ndarray
        p-value of ``alternative``, 0-1; NaN where the test is undefined (fewer than two
        patients in an arm, no variation): a trial with a NaN p-value never rejects.
    n_treatment, n_control : numpy.ndarray
        Patients analysed (complete cases) in each arm.
    mean_treatment, mean_control : numpy.ndarray
        Each arm's mean change (t-tests), mean follow-up (ANCOVA) or share of responders.
    """

    __test__ = False  # not a pytest test class

    estimate: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    n_treatment: np.ndarray
    n_control: np.ndarray
    mean_treatment: np.ndarray
    mean_control: np.ndarray

    def rejects(self, alpha: float) -> np.ndarray:
        """bool array: the p-value is below ``alpha`` (NaN p-values do not reject)."""
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(self.pvalue, nan=1.0) < alpha


def _check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValidationError("alternative", alternative, f"one of {ALTERNATIVES}")
    return alternative


def _arrays(*xs) -> list[np.ndarray]:
    out = [np.asarray(x, dtype=np.float64) for x in xs]
    if any(x.ndim == 0 for x in out):
        raise ValidationError("arrays", "a scalar", "arrays with patients on the last axis")
    lead = {x.shape[:-1] for x in out}
    if len(lead) != 1:
        raise ValidationError(
            "arrays", [x.shape for x in out], "the same leading (trial) axes in every array"
        )
    return out


def _t_pvalue(t: np.ndarray, df: np.ndarray, alternative: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if alternative == "two-sided":
            return 2.0 * stats.t.sf(np.abs(t), df)
        if alternative == "less":
            return stats.t.cdf(t, df)
        return stats.t.sf(t, df)


def _z_pvalue(z: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return 2.0 * stats.norm.sf(np.abs(z))
    if alternative == "less":
        return stats.norm.cdf(z)
    return stats.norm.sf(z)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample variance (ddof 1) over the last axis, ignoring NaN."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=-1)
    x0 = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = x0.sum(axis=-1) / n
        d = np.where(ok, x - m[..., None], 0.0)
        v = (d * d).sum(axis=-1) / (n - 1)
    return n, m, v


def ttest_change(
    base_t,
    follow_t,
    base_c,
    follow_c,
    *,
    equal_var: bool = False,
    alternative: str = "two-sided",
) -> TestResult:
    """Two-sample t-test of the change from baseline (follow-up minus baseline).

    Parameters
    ----------
    base_t, follow_t : array_like, (..., n_t)
        Treatment arm's baseline and follow-up values (NaN = missing).
    base_c, follow_c : array_like, (..., n_c)
        Control arm's, with the same leading axes.
    equal_var : bool
        False (default): Welch's test (unequal variances, Welch-Satterthwaite degrees of
        freedom); True: Student's pooled-variance test.
    alternative : {"two-sided", "less", "greater"}
        About the difference in mean change, treatment minus control ("less": treatment lowers
        the measure more).

    Returns
    -------
    TestResult
        Equal to ``scipy.stats.ttest_ind(change_t, change_c, equal_var=...)`` trial by trial.
    """
    alternative = _check_alternative(alternative)
    base_t, follow_t, base_c, follow_c = _arrays(base_t, follow_t, base_c, follow_c)
    n_t, m_t, v_t = _moments(follow_t - base_t)
    n_c, m_c, v_c = _moments(follow_c - base_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        if equal_var:
            df = (n_t + n_c - 2).astype(np.float64)
            sp2 = ((n_t - 1) * v_t + (n_c - 1) * v_c) / df
            se = np.sqrt(sp2 * (1.0 / n_t + 1.0 / n_c))
        else:
            a, b = v_t / n_t, v_c / n_c
            se = np.sqrt(a + b)
            df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
        est = m_t - m_c
        t = est / se
        bad = (n_t < 2) | (n_c < 2) | ~(se > 0)
        t = np.where(bad, np.nan, t)
        p = np.where(bad, np.nan, _t_pvalue(t, np.where(bad, 1.0, df), alternative))
    return TestResult(est, t, p, n_t, n_c, m_t, m_c)


def ancova(base_t, follow_t, base_c, follow_c, *, alternative: str = "two-sided") -> TestResult:
    """ANCOVA: ordinary least squares of follow-up on arm and baseline, ``follow ~ 1 + arm +
    baseline`` (both arms together), and the t-test of the arm coefficient.

    Parameters
    ----------
    base_t, follow_t, base_c, follow_c : array_like
        As in :func:`ttest_change`.
    alternative : {"two-sided", "less", "greater"}
        About the adjusted difference, treatment minus control.

    Returns
    -------
    TestResult
        ``estimate`` the arm coefficient, ``statistic`` its t on ``n_t + n_c - 3`` degrees of
        freedom (what statsmodels' OLS gives trial by trial); ``mean_*`` the arms' mean
        follow-up. NaN where the design is singular or has fewer than 4 patients.
    """
    alternative = _check_alternative(alternative)
    base_t, follow_t, base_c, follow_c = _arrays(base_t, follow_t, base_c, follow_c)
    y = np.concatenate([follow_t, follow_c], axis=-1)
    b = np.concatenate([base_t, base_c], axis=-1)
    arm = np.concatenate([np.ones(follow_t.shape[-1]), np.zeros(follow_c.shape[-1])])
    arm = np.broadcast_to(arm, y.shape)
    w = (~np.isnan(y) & ~np.isnan(b)).astype(np.float64)
    y0, b0 = np.where(w > 0, y, 0.0), np.where(w > 0, b, 0.0)
    X = np.stack([w, arm * w, b0], axis=-1)  # rows of missing patients are zero
    xtx = np.einsum("...ni,...nj->...ij", X, X)
    xty = np.einsum("...ni,...n->...i", X, y0)
    n = w.sum(axis=-1)
    k = follow_t.shape[-1]
    n_t = w[..., :k].sum(axis=-1).astype(np.int64)
    n_c = w[..., k:].sum(axis=-1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cond = np.linalg.cond(xtx)
    singular = ~(cond < 1e12) | (n < 4) | (n_t < 1) | (n_c < 1)
    inv = np.linalg.inv(np.where(singular[..., None, None], np.eye(3), xtx))
    beta = np.einsum("...ij,...j->...i", inv, xty)
    resid = (y0 - np.einsum("...ni,...i->...n", X, beta)) * w
    df = n - 3
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = (resid * resid).sum(axis=-1) / df
        se = np.sqrt(s2 * inv[..., 1, 1])
        est = np.where(singular, np.nan, beta[..., 1])
        bad = singular | ~(se > 0)
        t = np.where(bad, np.nan, est / se)
        p = np.where(bad, np.nan, _t_pvalue(t, np.where(bad, 1.0, df), alternative))
        m_t = y0[..., :k].sum(axis=-1) / n_t
        m_c = y0[..., k:].sum(axis=-1) / n_c
    return TestResult(est, t, p, n_t, n_c, m_t, m_c)


def responder_test(
    follow_t,
    follow_c,
    *,
    threshold: float = 1.0,
    method: str = "proportions",
    alternative: str = "two-sided",
) -> TestResult:
    """Compare the share of responders (follow-up value at or below ``threshold``) between arms.

    Parameters
    ----------
    follow_t, follow_c : array_like, (..., n)
        Follow-up values (NaN = missing: left out).
    threshold : float
        A patient responds when their follow-up value is <= threshold (default 1: pain 0-1 of
        10, "pain-free or nearly so" as in Ashar 2022).
    method : {"proportions", "fisher"}
        "proportions": the two-proportion z-test with the pooled variance (as statsmodels'
        ``proportions_ztest``); "fisher": Fisher's exact test of the 2x2 table (as
        ``scipy.stats.fisher_exact``; ``statistic`` is the sample odds ratio).
    alternative : {"two-sided", "less", "greater"}
        About the difference in shares, treatment minus control ("greater": more responders
        under treatment).

    Returns
    -------
    TestResult
    """
    alternative = _check_alternative(alternative)
    if method not in ("proportions", "fisher"):
        raise ValidationError("method", method, "'proportions' or 'fisher'")
    threshold = check_range("threshold", threshold)
    follow_t, follow_c = _arrays(follow_t, follow_c)
    ok_t, ok_c = ~np.isnan(follow_t), ~np.isnan(follow_c)
    n_t, n_c = ok_t.sum(axis=-1), ok_c.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        x_t = (ok_t & (follow_t <= threshold)).sum(axis=-1)
        x_c = (ok_c & (follow_c <= threshold)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_t, p_c = x_t / n_t, x_c / n_c
        est = p_t - p_c
        if method == "proportions":
            pool = (x_t + x_c) / (n_t + n_c)
            se = np.sqrt(pool * (1 - pool) * (1.0 / n_t + 1.0 / n_c))
            bad = (n_t < 1) | (n_c < 1) | ~(se > 0)
            z = np.where(bad, np.nan, est / np.where(bad, 1.0, se))
            p = np.where(bad, np.nan, _z_pvalue(z, alternative))
            return TestResult(est, z, p, n_t, n_c, p_t, p_c)
    shape = np.shape(est)
    odds, p = np.full(shape, np.nan), np.full(shape, np.nan)
    cache: dict[tuple[int, int, int, int], tuple[float, float]] = {}
    for idx in np.ndindex(*shape):
        key = (int(x_t[idx]), int(n_t[idx]), int(x_c[idx]), int(n_c[idx]))
        if key[1] < 1 or key[3] < 1:
            continue
        if key not in cache:
            a, nt, c, nc = key
            r = stats.fisher_exact([[a, nt - a], [c, nc - c]], alternative=alternative)
            cache[key] = (float(r.statistic), float(r.pvalue))
        odds[idx], p[idx] = cache[key]
    return TestResult(est, odds, p, n_t, n_c, p_t, p_c)


def analyse(
    kind: str,
    base_t,
    follow_t,
    base_c,
    follow_c,
    *,
    alternative: str = "two-sided",
    responder_max: float = 1.0,
) -> TestResult:
    """Run one of :data:`ANALYSES` on a treatment and a control arm.

    Parameters
    ----------
    kind : {"welch", "student", "ancova", "proportions", "fisher"}
        "welch" / "student": t-test of change from baseline (:func:`ttest_change`); "ancova":
        follow-up adjusted for baseline (:func:`ancova`); "proportions" / "fisher": share with
        follow-up <= ``responder_max`` (:func:`responder_test`; baselines unused).
    base_t, follow_t, base_c, follow_c : array_like, (..., n)
        Baseline and follow-up per patient (NaN = missing), trials on the leading axes.
    alternative : {"two-sided", "less", "greater"}
        About the estimate, treatment minus control.
    responder_max : float
        Responder threshold, in the measure's units (responder analyses only).

    Returns
    -------
    TestResult
    """
    if kind in ("welch", "student"):
        return ttest_change(
            base_t, follow_t, base_c, follow_c, equal_var=kind == "student", alternative=alternative
        )
    if kind == "ancova":
        return ancova(base_t, follow_t, base_c, follow_c, alternative=alternative)
    if kind in ("proportions", "fisher"):
        return responder_test(
            follow_t, follow_c, threshold=responder_max, method=kind, alternative=alternative
        )
    raise ValidationError("analysis.kind", kind, f"one of {ANALYSES}")
