"""Figures of care-delivery results (:class:`~prt_sim.clinic.ClinicResult` and its summaries): waiting times, queues and utilisation over time, sessions by format, the population's pain, and key figures compared across scenarios.

Every function reads results only (it never runs a clinic), takes ``ax=`` (a new figure when
omitted), returns ``(fig, ax)`` and leaves matplotlib's backend alone. Bands and error bars are
intervals over replications, and the legends say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .style import STATE_COLORS, new_axes

__all__ = [
    "plot_clinic_kpi",
    "plot_waits",
    "plot_queue",
    "plot_sessions_by_format",
    "plot_population_pain",
]

#: Colours of the four formats.
FORMAT_COLORS = {
    "individual": "#1f77b4",
    "telehealth": "#17becf",
    "group": "#9467bd",
    "self_guided": "#bcbd22",
}
_PERCENT = {"p_wait", "share_over_target", "reneged_share", "caseload_utilisation",
            "seat_utilisation", "hours_utilisation", "pain_free_post_share",
            "followup_pain_free_share"}  # fmt: skip


def _label(ds, kpi: str) -> str:
    da = ds[kpi]
    unit = "%" if kpi in _PERCENT else da.attrs.get("units", "")
    name = da.attrs.get("long_name", kpi)
    return f"{kpi.replace('_', ' ')} ({unit})" if unit else name


def plot_clinic_kpi(
    summaries: Mapping[str, object],
    kpi: str = "wait_mean",
    *,
    groups: Sequence[str] | None = None,
    ax=None,
):
    """One key figure across scenarios: the mean over replications with its interval.

    Parameters
    ----------
    summaries : mapping
        Label -> summary Dataset (:meth:`ClinicResult.summary`). Labels ``"a / b"`` are drawn
        as groups ``a`` with bars ``b`` (e.g. ``"4 therapists / group"``); others as single
        bars.
    kpi : str
        A scalar key figure (:data:`prt_sim.clinic.KPIS`), e.g. "wait_mean",
        "caseload_utilisation", "pain_free_per_therapist_year", "cost_per_pain_free".
    groups : sequence of str, optional
        Order of the groups (default: as they come).
    """
    fig, ax = new_axes(ax, figsize=(7, 4))
    if not summaries:
        raise ValueError("no summaries to plot")
    split = {lab: (lab.split(" / ", 1) + [""])[:2] for lab in summaries}
    order = list(groups) if groups else list(dict.fromkeys(g for g, _ in split.values()))
    bars = list(dict.fromkeys(b for _, b in split.values()))
    width = 0.8 / max(1, len(bars))
    scale = 100.0 if kpi in _PERCENT else 1.0
    first = next(iter(summaries.values()))
    conf = float(first.attrs.get("confidence", 0.95))
    for j, b in enumerate(bars):
        xs, ms, err = [], [], []
        for k, g in enumerate(order):
            lab = next((lab for lab, gb in split.items() if gb == [g, b]), None)
            if lab is None:
                continue
            v = summaries[lab][kpi].values * scale
            xs.append(k + (j - (len(bars) - 1) / 2) * width)
            ms.append(v[0])
            err.append([max(0.0, v[0] - v[1]), max(0.0, v[2] - v[0])])
        if not xs:
            continue
        e = np.array(err, dtype=float).T
        e[~np.isfinite(e)] = 0.0
        ax.bar(xs, ms, width=width, color=FORMAT_COLORS.get(b), label=b or None,
               yerr=e, capsize=2, error_kw={"lw": 0.8})  # fmt: skip
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel(_label(first, kpi))
    ax.set_title(f"{kpi.replace('_', ' ')}: mean, {100 * conf:g}% interval over replications",
                 fontsize="small")  # fmt: skip
    if any(bars):
        ax.legend(fontsize="x-small")
    return fig, ax


def plot_waits(result, *, target: bool = True, ax=None):
    """Distribution of waits (referral to intake): the share still waiting after ``t`` days,
    over all replications, with the waits still running at the end counted as at least that
    long (censored) and the waiting-time target."""
    fig, ax = new_axes(ax)
    p = result.patients
    sg = p["format"].attrs["flag_meanings"].split().index("self_guided")
    led = p["format"].values != sg
    wait = p["wait"].values[led]
    cens = p["wait_censored"].values[led]
    left = p["left_waitlist_after"].values[led]
    times = np.where(np.isfinite(wait), wait, np.where(np.isfinite(cens), cens, left))
    times = times[np.isfinite(times)]
    if times.size == 0:
        raise ValueError("no waitlisted patients in this result")
    grid = np.linspace(0.0, max(1.0, float(times.max())), 200)
    share = (times[None, :] > grid[:, None]).mean(axis=1)
    ax.step(grid, 100 * share, where="post", color=FORMAT_COLORS["individual"],
            label=f"waiting longer than t ({times.size} waits, censored included)")  # fmt: skip
    if target:
        t = result.config["spec"]["waitlist"]["target_days"]
        ax.axvline(t, color="0.4", ls="--", lw=0.8, label=f"target {t:g} days")
    ax.set_xlabel("days since referral (t)")
    ax.set_ylabel("% of waitlisted patients")
    ax.legend(fontsize="x-small")
    return fig, ax


def _band(da, level=0.9):
    if da.sizes["replication"] == 1:
        v = da.isel(replication=0).values
        return v, v, v
    q = (1 - level) / 2
    return (
        da.mean("replication").values,
        da.quantile(q, "replication").values,
        da.quantile(1 - q, "replication").values,
    )


def plot_queue(result, *, ax=None, level: float = 0.9):
    """Waitlist length (time-weighted weekly mean) and caseload utilisation over time: mean
    over replications with the ``level`` band of replications; the warm-up shaded."""
    fig, ax = new_axes(ax)
    w = result.weekly
    t = w["day"].values
    m, lo, hi = _band(w["queue"], level)
    ax.plot(t, m, color="#d62728", label="waiting (mean over replications)")
    ax.fill_between(t, lo, hi, color="#d62728", alpha=0.15, lw=0,
                    label=f"{100 * level:g}% of replications")  # fmt: skip
    ax.set_xlabel("clinic day")
    ax.set_ylabel("patients waiting")
    warm = result.config["spec"]["warmup_days"]
    if warm:
        ax.axvspan(0, warm, color="0.9", zorder=0, label="warm-up (excluded)")
    ax2 = ax.twinx()
    u = w["caseload_utilisation"]
    if np.isfinite(u.values).any():
        mu, _, _ = _band(u, level)
        ax2.plot(t, 100 * mu, color="0.3", lw=1, ls="--", label="caseload places in use (%)")
        ax2.set_ylabel("caseload utilisation (%)")
        ax2.set_ylim(0, 105)
        ax2.legend(fontsize="x-small", loc="lower right")
    ax.legend(fontsize="x-small", loc="upper left")
    return fig, ax


def plot_sessions_by_format(result, *, ax=None):
    """Sessions attended per week by format (stacked; mean over replications)."""
    fig, ax = new_axes(ax)
    w = result.weekly
    s = w["sessions"].mean("replication")
    t = w["day"].values
    base = np.zeros(len(t))
    for f in w["format"].values:
        v = s.sel(format=f).values
        if not np.any(v):
            continue
        ax.fill_between(t, base, base + v, step="post", color=FORMAT_COLORS.get(str(f)),
                        alpha=0.8, lw=0, label=str(f))  # fmt: skip
        base = base + v
    ax.set_xlabel("clinic day")
    ax.set_ylabel("sessions attended per week")
    ax.legend(fontsize="x-small")
    return fig, ax


def plot_population_pain(result, *, ax=None, level: float = 0.9):
    """Mean 7-day pain of the referred population by where people are: waiting, in treatment,
    after (discharged or gone), and everyone referred so far (mean over replications, band of
    replications for everyone)."""
    fig, ax = new_axes(ax)
    w = result.weekly
    if not np.isfinite(w["pain_all"].values).any():
        raise ValueError("this result has no patient dynamics (ClinicSpec.dynamics=False)")
    t = w["day"].values
    styles = {
        "pain_all": ("everyone referred", STATE_COLORS["pain"], "-"),
        "pain_waiting": ("waiting", "#d62728", "--"),
        "pain_treating": ("in treatment", "#1f77b4", "-."),
        "pain_after": ("after treatment or gone", "#2ca02c", ":"),
    }
    for v, (lab, col, ls) in styles.items():
        da = w[v]
        if not np.isfinite(da.values).any():
            continue
        m = da.mean("replication", skipna=True).values
        ax.plot(t, m, ls, color=col, label=lab)
        if v == "pain_all" and da.sizes["replication"] > 1:
            _, lo, hi = _band(da, level)
            ax.fill_between(t, lo, hi, color=col, alpha=0.12, lw=0,
                            label=f"everyone: {100 * level:g}% of replications")  # fmt: skip
    ax.set_xlabel("clinic day")
    ax.set_ylabel("mean 7-day pain (0-10)")
    ax.legend(fontsize="x-small")
    return fig, ax
