"""One task of a sweep: a point's inputs built, every arm and population simulated, the outcomes read off; and a batch of tasks, failures recorded.

:func:`run_task` is a pure function of the spec, the point's factor values and the task's key
(its seeds come from :func:`~prt_sim.experiments.seeds.task_seeds`), so a task gives the same
numbers in any process. :func:`run_batch` is what executors send to workers: it takes only
plain data (the spec's JSON, keys and values), runs each task, and records a failing task's
error and seeds instead of stopping.
"""

from __future__ import annotations

import time
import traceback
from functools import lru_cache

import numpy as np

from ..model.cohorts import Cohort
from ..model.instruments import PAIN_FREE_MAX
from ..model.protocols import Protocol
from ..model.timeline import Visit
from ..simulation import simulate
from .seeds import task_seeds
from .spec import SweepSpec, scale_doses, therapy_protocol

__all__ = ["run_task", "run_batch", "point_inputs", "read_outcomes"]

#: Status codes of a task in results: not run yet, finished, failed.
MISSING, OK, FAILED = 0, 1, 2


@lru_cache(maxsize=8)
def _spec(text: str) -> SweepSpec:
    return SweepSpec.from_json(text)


def point_inputs(spec: SweepSpec, row: dict[str, float]):
    """The model parameters, the populations' cohort specs and the arms' protocols at a point
    (``row``: ``{target: value}``)."""
    groups: dict[str, dict[str, float]] = {"params": {}, "cohort": {}, "protocol": {}}
    for target, v in row.items():
        g, _, name = target.partition(".")
        groups[g][name] = v
    params = spec.params.replace(**groups["params"])
    pops = [p.spec.replace(**groups["cohort"]) for p in spec.populations]
    by_target = {f.target: f for f in spec.factors}
    protocols = []
    for arm in spec.arms:
        p: Protocol = arm.build()
        applies = {
            k: v
            for k, v in groups["protocol"].items()
            if by_target.get(f"protocol.{k}") is None
            or by_target[f"protocol.{k}"].arms is None
            or arm.name in by_target[f"protocol.{k}"].arms
        }
        if "therapy_sessions" in applies:
            p = therapy_protocol(p, int(round(applies["therapy_sessions"])))
        if "education_scale" in applies or "exposure_scale" in applies:
            p = scale_doses(
                p, applies.get("education_scale", 1.0), applies.get("exposure_scale", 1.0)
            )
        over = {k: applies[k] for k in ("uptake", "attendance", "dropout") if k in applies}
        protocols.append(p.replace(**over) if over else p)
    return params, pops, protocols


def _visits(spec: SweepSpec) -> tuple[Visit, ...]:
    return tuple(Visit(name=f"day{d}", day=d, response=spec.response) for d in spec.visit_days)


def read_outcomes(spec: SweepSpec, pain: np.ndarray, instruments) -> dict[str, np.ndarray]:
    """Every outcome of one simulated (arm, population) from its instruments.

    ``pain`` is the reported weekly pain, float[patient, visit] over :attr:`SweepSpec.
    visit_days` (NaN where not observed).
    """
    days = np.asarray(spec.visit_days)
    col = {int(d): k for k, d in enumerate(days)}
    k_post = col[spec.post_day]
    follow = np.flatnonzero(days > spec.post_day)
    seen = ~np.isnan(pain)
    free = (pain <= PAIN_FREE_MAX) & seen
    out = {}
    relapse_at = None
    for o in spec.outcomes:
        ks = [col[d] for d in o.days]
        if o.kind == "pain_mean":
            v = [np.nanmean(pain[:, k]) if seen[:, k].any() else np.nan for k in ks]
        elif o.kind == "pain_free":
            v = [free[:, k].sum() / seen[:, k].sum() if seen[:, k].any() else np.nan for k in ks]
        elif o.kind == "mean":
            x = instruments[o.measure].values
            v = [np.nanmean(x[:, k]) if (~np.isnan(x[:, k])).any() else np.nan for k in ks]
        elif o.kind == "relapse":
            if relapse_at is None:
                relapse_at = _relapse_day(spec, pain, days, k_post)
            risk = seen[:, k_post] & (pain[:, k_post] <= spec.relapse.responder_max)
            n = risk.sum()
            v = [((relapse_at <= d) & risk).sum() / n if n else np.nan for d in o.days]
        else:  # pain_free_time
            m = seen[:, follow].sum()
            v = free[:, follow].sum() / m if m else np.nan
        out[o.name] = np.asarray(v, dtype=np.float64).reshape(o.shape)
    return out


def _relapse_day(spec: SweepSpec, pain, days, k_post) -> np.ndarray:
    """Day a relapse is confirmed: the last of the first ``confirm`` consecutive monthly
    assessments after post with pain >= threshold (inf if none), as the forecasts date it."""
    from ..model.calendar import month_day

    monthly = {month_day(m) for m in range(1, 1200)}
    ks = [k for k, d in enumerate(days) if d > spec.post_day and int(d) in monthly]
    high = np.nan_to_num(pain[:, ks], nan=-1.0) >= spec.relapse.threshold
    c = spec.relapse.confirm
    out = np.full(pain.shape[0], np.inf)
    if len(ks) < c:
        return out
    run = np.ones((pain.shape[0], len(ks) - c + 1), dtype=bool)
    for j in range(c):
        run &= high[:, j : len(ks) - c + 1 + j]
    any_ = run.any(axis=1)
    first = np.argmax(run, axis=1)
    out[any_] = days[np.asarray(ks)[first[any_] + c - 1]]
    return out


def run_task(spec: SweepSpec, row: dict[str, float], point: int, replicate: int):
    """Simulate task ``(point, replicate)``: every arm for every population.

    Parameters
    ----------
    spec : SweepSpec
    row : dict
        The point's factor values ``{target: value}``.
    point, replicate : int
        The task's key.

    Returns
    -------
    outcomes : dict of numpy.ndarray
        Each outcome over ``(arm, population, *outcome.shape)``, float64.
    seeds : (int, int)
        The cohort and simulation seeds used.
    """
    cseed, sseed = task_seeds(spec.seed, point, replicate, spec.common_random_numbers)
    params, pops, protocols = point_inputs(spec, row)
    visits = _visits(spec)
    n_a, n_p = len(protocols), len(pops)
    out = {o.name: np.full((n_a, n_p, *o.shape), np.nan) for o in spec.outcomes}
    for j, cs in enumerate(pops):
        cohort = Cohort.from_trial_baseline(spec.n_patients, seed=cseed, spec=cs, params=params)
        for i, protocol in enumerate(protocols):
            res = simulate(
                cohort,
                protocol,
                horizon_days=spec.horizon_days,
                seed=sseed,
                params=params,
                visits=visits,
                progress=False,
            )
            ins = res.instruments
            vals = read_outcomes(spec, ins["pain_avg"].values.astype(np.float64), ins)
            for name, v in vals.items():
                out[name][i, j] = v
    return out, (cseed, sseed)


def run_batch(
    spec_json: str, targets: list[str], keys: list[tuple[int, int]], rows: list[list[float]]
) -> dict:
    """Run a batch of tasks (what a worker is sent: plain data only).

    Parameters
    ----------
    spec_json : str
        :meth:`SweepSpec.to_json`.
    targets : list of str
        The points' column targets (:attr:`~prt_sim.experiments.design.Points.targets`).
    keys : list of (point, replicate)
    rows : list of list of float
        Each task's factor values, in the order of the points' targets.

    Returns
    -------
    dict
        ``point``, ``replicate`` (int64[k]), ``status`` (int8[k]: 1 finished, 2 failed),
        ``cohort_seed``, ``sim_seed`` (uint64[k]), ``elapsed_s`` (float64[k]), ``error``
        (str[k], "" when finished) and each outcome over ``(k, arm, population, *shape)``.
    """
    spec = _spec(spec_json)
    k = len(keys)
    res = {
        "point": np.array([p for p, _ in keys], dtype=np.int64),
        "replicate": np.array([r for _, r in keys], dtype=np.int64),
        "status": np.zeros(k, dtype=np.int8),
        "cohort_seed": np.zeros(k, dtype=np.uint64),
        "sim_seed": np.zeros(k, dtype=np.uint64),
        "elapsed_s": np.zeros(k),
    }
    n_a, n_p = len(spec.arms), len(spec.populations)
    for o in spec.outcomes:
        res[o.name] = np.full((k, n_a, n_p, *o.shape), np.nan)
    errors = []
    for t, ((point, rep), row) in enumerate(zip(keys, rows)):
        t0 = time.perf_counter()
        res["cohort_seed"][t], res["sim_seed"][t] = task_seeds(
            spec.seed, point, rep, spec.common_random_numbers
        )
        try:
            out, _ = run_task(spec, dict(zip(targets, row)), point, rep)
        except Exception as e:  # a failing task is recorded and the rest go on
            res["status"][t] = FAILED
            tb = traceback.extract_tb(e.__traceback__)[-1]
            errors.append(f"{type(e).__name__}: {e} ({tb.filename.rsplit('/', 1)[-1]}:{tb.lineno})")
        else:
            res["status"][t] = OK
            errors.append("")
            for name, v in out.items():
                res[name][t] = v
        res["elapsed_s"][t] = time.perf_counter() - t0
    res["error"] = np.array(errors, dtype=str)
    return res
