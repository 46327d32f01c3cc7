"""Sobol sensitivity indices (first-order and total) from a Saltelli sweep's stored outputs, with bootstrap intervals, a convergence check by doubling n, and flags on estimates outside [0, 1].

The estimates come from :func:`scipy.stats.sobol_indices` (Saltelli 2010 estimators) fed the
stored evaluations ``f_A``, ``f_B`` and ``f_AB`` through its dict interface, so nothing is
recomputed and a resumed or extended sweep analyses like an uninterrupted one. Bootstrap
intervals resample base rows with a seeded generator (no global random state); the
convergence check recomputes the indices on the first n/2 and n/4 base rows (each a Saltelli
design of its own, as the design is a prefix of one Sobol sequence).
"""

from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr
from scipy.stats import sobol_indices

from ..errors import ValidationError, check_int, check_range
from ..model.rng import check_seed
from .design import saltelli_blocks
from .store import SweepStore

__all__ = ["sobol_analysis", "sweep_sobol", "ISHIGAMI_INDICES", "ishigami"]


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """The Ishigami function of ``x`` (n, 3) in [-pi, pi]^3: the standard test of Sobol
    estimators, with known indices (:data:`ISHIGAMI_INDICES`)."""
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def _ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, np.ndarray]:
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"first": np.array([v1, v2, 0.0]) / v, "total": np.array([v1 + v13, v2, v13]) / v}


#: Analytic first-order and total indices of :func:`ishigami` (a = 7, b = 0.1).
ISHIGAMI_INDICES = _ishigami_indices()


def _indices(f_a, f_b, f_ab, n):
    r = sobol_indices(func={"f_A": f_a[None], "f_B": f_b[None], "f_AB": f_ab[:, None]}, n=n)
    return np.atleast_1d(r.first_order), np.atleast_1d(r.total_order)


def sobol_analysis(
    y: np.ndarray,
    n: int,
    d: int,
    *,
    names: list[str] | None = None,
    confidence_level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    tolerance: float = 0.05,
) -> xr.Dataset:
    """First-order and total Sobol indices of one output over a Saltelli design.

    Parameters
    ----------
    y : array
        float[n * (d + 2)]: the output at every point, in the layout of
        :func:`~prt_sim.experiments.design.saltelli_blocks` (what a ``saltelli`` sweep stores).
    n : int
        Base rows, a power of two >= 4.
    d : int
        Factors, >= 2.
    names : list of str, optional
        Factor labels (default ``x0, x1, ...``).
    confidence_level : float
        Of the bootstrap percentile intervals, 0.5 to 0.999.
    n_resamples : int
        Bootstrap resamples of the base rows, 0 (no intervals) to 100000.
    seed : int
        Seed of the bootstrap's generator.
    tolerance : float
        Largest change of any index between n/2 and n base rows for ``converged`` (0-1).

    Returns
    -------
    xarray.Dataset
        Over ``(factor, index)`` with ``index`` in ("first", "total"): ``estimate``, ``low``,
        ``high`` (bootstrap interval) and ``flag`` (str: "" or what is wrong: "negative"
        (below 0 with its whole interval), "above one", "first > total" (a first-order index
        whose interval lies above the total's): too few points, or a noisy output); over
        ``(n_base, factor, index)``: ``convergence`` (the estimates on the first n/4, n/2 and n
        base rows). Attrs: ``converged`` (1/0), ``max_change`` (between n/2 and n), ``n``,
        ``evaluations``, ``variance`` (of the output), ``tolerance``.

    Raises
    ------
    ValidationError
        Wrong sizes, a non power-of-two n, non-finite outputs (a failed or missing task).
    """
    n = check_int("n", n, 4, 2**24)
    if n & (n - 1):
        raise ValidationError("n", n, "a power of two")
    d = check_int("d", d, 2, 10_000)
    y = np.asarray(y, dtype=float).reshape(-1)
    if y.size < n * (d + 2):
        raise ValidationError("y", y.size, f"at least n * (d + 2) = {n * (d + 2)} values")
    y = y[: n * (d + 2)]
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValidationError(
            "y",
            f"non-finite at points {bad[:5].tolist()}",
            "finite outputs at every point (rerun failed tasks, or finish the sweep)",
        )
    confidence_level = check_range("confidence_level", confidence_level, 0.5, 0.999)
    n_resamples = check_int("n_resamples", n_resamples, 0, 100_000)
    tolerance = check_range("tolerance", tolerance, 0.0, 1.0)
    names = list(names) if names is not None else [f"x{j}" for j in range(d)]
    if len(names) != d:
        raise ValidationError("names", names, f"{d} factor labels")
    a, b, ab = saltelli_blocks(n, d)
    first, total = _indices(y[a], y[b], y[ab], n)
    est = np.stack([first, total], axis=1)
    low = np.full_like(est, np.nan)
    high = np.full_like(est, np.nan)
    if n_resamples:
        rng = np.random.default_rng(check_seed(seed))
        boot = np.empty((n_resamples, d, 2))
        fa, fb, fab = y[a], y[b], y[ab]
        for k in range(n_resamples):
            i = rng.integers(0, n, n)
            f1, ft = _indices(fa[i], fb[i], fab[:, i], n)
            boot[k, :, 0], boot[k, :, 1] = f1, ft
        alpha = (1 - confidence_level) / 2
        low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    flags = np.full(est.shape, "", dtype=object)
    for j in range(d):
        for k in range(2):
            f = []
            if est[j, k] < 0 and not (np.isfinite(high[j, k]) and high[j, k] >= 0):
                f.append("negative")
            if est[j, k] > 1:
                f.append("above one")
            if k == 0 and est[j, 0] > est[j, 1]:
                # beyond sampling noise: the intervals do not overlap (or, without them, by 0.05)
                over = low[j, 0] > high[j, 1] if n_resamples else est[j, 0] > est[j, 1] + 0.05
                if over:
                    f.append("first > total")
            flags[j, k] = ", ".join(f)
    sizes = [m for m in (n // 4, n // 2, n) if m >= 2]
    conv = np.full((len(sizes), d, 2), np.nan)
    for s, m in enumerate(sizes):
        am, bm, abm = saltelli_blocks(m, d)
        f1, ft = _indices(y[am], y[bm], y[abm], m)
        conv[s, :, 0], conv[s, :, 1] = f1, ft
    change = float(np.max(np.abs(conv[-1] - conv[-2]))) if len(sizes) > 1 else np.inf
    coords = {"factor": names, "index": ["first", "total"], "n_base": sizes}
    return xr.Dataset(
        {
            "estimate": (("factor", "index"), est),
            "low": (("factor", "index"), low),
            "high": (("factor", "index"), high),
            "flag": (("factor", "index"), flags.astype(str)),
            "convergence": (("n_base", "factor", "index"), conv),
        },
        coords=coords,
        attrs={
            "converged": int(change <= tolerance),
            "max_change": change,
            "tolerance": tolerance,
            "n": n,
            "evaluations": n * (d + 2),
            "variance": float(np.var(np.concatenate([y[a], y[b]]))),
            "confidence_level": confidence_level,
            "n_resamples": n_resamples,
        },
    )


def sweep_sobol(
    sweep: xr.Dataset | str | os.PathLike,
    outcome: str,
    *,
    arm: str | None = None,
    population: str | None = None,
    day: int | None = None,
    **kwargs,
) -> xr.Dataset:
    """Sobol indices of one outcome of a ``saltelli`` sweep, from its stored outputs.

    Parameters
    ----------
    sweep : xarray.Dataset or path
        A sweep's results (:attr:`SweepRun.data`, ``load_sweep``) or its folder.
    outcome : str
        An outcome's name.
    arm, population : str, optional
        Which arm and population (default: the first of each).
    day : int, optional
        For outcomes over days: which study day (default: the last).
    **kwargs
        Passed to :func:`sobol_analysis` (``confidence_level``, ``n_resamples``, ``seed``,
        ``tolerance``).

    Returns
    -------
    xarray.Dataset
        As :func:`sobol_analysis`, with attrs ``outcome``, ``arm``, ``population``, ``day``,
        ``spec_hash``. The output at each point is the mean over its replicates.
    """
    if not isinstance(sweep, xr.Dataset):
        sweep = SweepStore.read(sweep).assemble()
    spec = json.loads(sweep.attrs["config"])
    if spec["design"]["kind"] != "saltelli":
        raise ValidationError(
            "sweep.design.kind", spec["design"]["kind"], "'saltelli' (its A, B and AB points)"
        )
    names = [o["name"] for o in spec["outcomes"]]
    if outcome not in names:
        raise ValidationError("outcome", outcome, f"one of {names}")
    v = sweep[outcome]
    sel = {
        "arm": arm if arm is not None else str(sweep["arm"].values[0]),
        "population": population if population is not None else str(sweep["population"].values[0]),
    }
    for k, val in sel.items():
        if val not in sweep[k].values:
            raise ValidationError(k, val, f"one of {list(map(str, sweep[k].values))}")
    v = v.sel(**sel)
    dim = f"{outcome}_day"
    if dim in v.dims:
        days = [int(x) for x in v[dim].values]
        chosen = days[-1] if day is None else day
        if chosen not in days:
            raise ValidationError("day", day, f"one of {days}")
        v = v.sel({dim: chosen})
    else:
        chosen = None
    y = v.mean("replicate").values
    factors = [f["name"] for f in spec["factors"]]
    res = sobol_analysis(y, spec["design"]["n"], len(factors), names=factors, **kwargs)
    res.attrs.update(
        outcome=outcome,
        arm=sel["arm"],
        population=sel["population"],
        day=-1 if chosen is None else chosen,
        spec_hash=sweep.attrs.get("spec_hash", ""),
    )
    return res
