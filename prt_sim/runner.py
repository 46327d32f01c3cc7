"""The calendar runner: takes a batch of patients through their calendars, visit by visit.

:func:`simulate <prt_sim.simulation.simulate>` (one parameter set, one calendar) and the
forecasts (many posterior draws, arms and scenarios at once) both run through :func:`run`: it
decides who starts treatment, primes the pain memory, then alternates the engine's
:func:`~prt_sim.engine.advance` up to the end of each visit day with
:func:`~prt_sim.engine.observe` at it. The builders below assemble the engine's named inputs
from the model's objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import engine
from .engine import Calendars, Draws, Observations, Patients
from .model.calendar import RECALL_DAYS
from .model.instruments import QUESTIONNAIRES
from .model.params import ModelParams
from .model.protocols import Protocol
from .model.rng import SLOTS, stream_keys, uniform_keyed_array
from .model.timeline import Timeline, Visit

__all__ = [
    "make_calendars",
    "make_draws",
    "make_patients",
    "stack_patients",
    "make_observations",
    "run",
]


def make_calendars(timelines: Sequence[Timeline], protocols: Sequence[Protocol]) -> Calendars:
    """Stack the day tables of several timelines (all starting on the same study day) with their
    protocols' uptake, attendance and dropout."""
    starts = {tl.start_day for tl in timelines}
    stops = {tl.stop_day for tl in timelines}
    if len(starts) != 1 or len(stops) != 1:  # pragma: no cover - callers align the calendars
        raise ValueError(f"calendars must share their days: starts {starts}, stops {stops}")

    def stack(name: str) -> np.ndarray:
        return np.ascontiguousarray(np.stack([getattr(tl, name) for tl in timelines]))

    return Calendars(
        start_day=int(next(iter(starts))),
        education=stack("education"),
        exposure=stack("exposure"),
        placebo=stack("placebo"),
        session=stack("session"),
        self_guided=stack("self_guided"),
        flare_multiplier=stack("flare_multiplier"),
        uptake=np.array([p.uptake for p in protocols], dtype=np.float64),
        attendance=np.array([p.attendance for p in protocols], dtype=np.float64),
        dropout=np.array([p.dropout for p in protocols], dtype=np.float64),
    )


def make_draws(
    params: Sequence[ModelParams], seeds: Sequence[int], sg_scale: Sequence[float] | None = None
) -> Draws:
    """One row per parameter set, with the streams of its seed (:func:`stream_keys`): a row
    simulates exactly as :func:`~prt_sim.simulation.simulate` with that seed."""
    keys = np.array([stream_keys(s) for s in seeds], dtype=np.uint64).reshape(-1, 3)
    n = len(params)
    return Draws(
        params=np.ascontiguousarray([p.to_tuple() for p in params], dtype=np.float64).reshape(
            n, -1
        ),
        key_dynamics=np.ascontiguousarray(keys[:, 0]),
        key_observe=np.ascontiguousarray(keys[:, 1]),
        key_uptake=np.ascontiguousarray(keys[:, 2]),
        sg_scale=np.ones(n) if sg_scale is None else np.asarray(sg_scale, dtype=np.float64),
    )


def make_patients(
    traits: np.ndarray,
    state: np.ndarray,
    pid: np.ndarray,
    member: np.ndarray | int = 0,
    group: np.ndarray | int = 0,
    *,
    count_pain_free: bool = False,
) -> Patients:
    """A batch from trait and state tables (rows per patient: ``Cohort.trait_table()``,
    ``Cohort.state_table()``), ids, and each patient's draw and calendar row."""
    n = state.shape[0]
    return Patients(
        state=np.array(state, dtype=np.float64, order="C"),  # a copy: the kernels update it
        traits=np.ascontiguousarray(traits, dtype=np.float64),
        pid=np.ascontiguousarray(pid, dtype=np.uint64),
        member=np.ascontiguousarray(np.broadcast_to(member, (n,)), dtype=np.int64),
        group=np.ascontiguousarray(np.broadcast_to(group, (n,)), dtype=np.int64),
        treating=np.zeros(n, dtype=bool),
        attended=np.zeros(n, dtype=np.int32),
        ring=np.empty((n, RECALL_DAYS)),
        pain_free_days=np.zeros(n if count_pain_free else 0, dtype=np.int64),
    )


def stack_patients(
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, int, int | np.ndarray]],
    *,
    count_pain_free: bool = False,
) -> Patients:
    """One batch from several groups of patients, each ``(trait table, state table, ids, draw
    row, calendar row)``: the groups' rows stacked in order, every patient of a group on its
    draw's parameters and its calendar (as the forecasts and the trial simulations of a power
    analysis batch many draws and arms). The calendar row may also be one per patient (a
    forecast's takers of treatment after the trial run on their own month's calendar)."""
    member = [np.full(len(pid), m, dtype=np.int64) for _, _, pid, m, _ in parts]
    group = [np.full(len(pid), g, dtype=np.int64) for _, _, pid, _, g in parts]
    return make_patients(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate(member),
        np.concatenate(group),
        count_pain_free=count_pain_free,
    )


def make_observations(
    n: int,
    n_visits: int,
    *,
    questionnaires: bool = True,
    latent: Sequence[str] = (),
) -> Observations:
    """Output arrays for ``n`` patients and ``n_visits`` visits: reported pain and response
    always, questionnaire scores when asked, and the named :data:`~prt_sim.engine.LATENT_VARS`."""
    rows = np.array([engine.LATENT_VARS.index(v) for v in latent], dtype=np.int64)
    return Observations(
        pain=np.empty((n, n_visits), dtype=np.float32),
        observed=np.empty((n, n_visits), dtype=bool),
        questionnaires=np.empty(
            (n, len(QUESTIONNAIRES), n_visits if questionnaires else 0), dtype=np.float32
        ),
        latent=np.empty((n, len(rows), n_visits if len(rows) else 0), dtype=np.float32),
        latent_rows=rows,
    )


def run(
    patients: Patients,
    calendars: Calendars,
    draws: Draws,
    visits: Sequence[Visit],
    response: np.ndarray,
    out: Observations,
    *,
    n_days: int | None = None,
    daily: np.ndarray | None = None,
    on_visit: Callable[[int], None] | None = None,
    tick: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Run a batch through its calendars, observing it at each visit.

    Who starts treatment is decided first (one keyed uniform per patient against its calendar's
    uptake); dropout then ends treatment along the way.

    Parameters
    ----------
    patients, calendars, draws : the engine's inputs (:func:`make_patients`, ...)
    visits : sequence of Visit
        In day order, within the calendars' days.
    response : float64[G, V]
        Probability that each calendar's patients are observed at each visit.
    out : Observations
        Written in place (:func:`make_observations`).
    n_days : int, optional
        Day index to run to after the last visit (default: the end of that visit's day).
    daily : float32[n, len(DAILY_VARS), T], optional
        Daily history, written in place.
    on_visit : callable, optional
        Called with the visit index after each visit is observed.
    tick : callable, optional
        Called with the number of patient-days just simulated (progress).

    Returns
    -------
    bool[n]
        Which patients started treatment.
    """
    n = patients.state.shape[0]
    # Who starts treatment: one keyed uniform per patient, shared by every later stage.
    u = uniform_keyed_array(draws.key_uptake, patients.member, patients.pid, SLOTS.uptake)
    patients.treating[:] = u < calendars.uptake[patients.group]
    started = patients.treating.copy()
    if daily is None:
        daily = np.empty((n, len(engine.DAILY_VARS), 0), dtype=np.float32)
    engine.prime(patients, draws)
    t = 0
    stops = [(v.day - calendars.start_day + 1, j, v) for j, v in enumerate(visits)]
    if n_days is not None:
        stops.append((n_days, None, None))
    for t_stop, j, visit in stops:
        if t_stop > t:
            engine.advance(patients, calendars, draws, t, t_stop, daily)
            if tick is not None:
                tick(n * (t_stop - t))
            t = t_stop
        if visit is not None:
            resp = np.ascontiguousarray(response[:, j], dtype=np.float64)
            survey = 1.0 if visit.mode == "survey" else 0.0
            engine.observe(patients, draws, visit.day, j, resp, survey, out)
            if on_visit is not None:
                on_visit(j)
    return started
