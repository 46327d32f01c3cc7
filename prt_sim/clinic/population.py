"""The referred patients' pain and beliefs, advanced by the model's engine in weekly epochs under the doses the clinic actually delivered.

Every referred patient is one row of the engine's tables (:class:`~prt_sim.engine.Patients`)
with a calendar row of its own: each epoch (7 days), the sessions delivered that week (on the
day they happened, with the format's dose) and the self-guided doses are written into a
``(patient, day)`` calendar and the engine's own per-patient day loop
(:func:`prt_sim.engine._patient`, the code :func:`prt_sim.engine.advance` runs) advances each
patient from its own first day. A patient's days start 7 days before referral, so the 7-day
recall at referral is complete (the cohort's entry shift is the selection at referral, and it
regresses while the patient waits). Random numbers are keyed on (stream, patient id, clinic
day), so a patient's flare-ups and fluctuation are the same in every scenario.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import engine
from ..engine import Calendars, _patient, _week_mean
from ..jit import njit
from ..model.calendar import RECALL_DAYS
from ..model.cohorts import Cohort
from ..model.dynamics import load_traits
from ..model.instruments import report_pain
from ..model.params import ModelParams, params_from_array
from ..model.rng import PARALLEL_MIN, SLOTS, counter, normal_nb, patient_key_nb
from ..runner import make_draws, make_patients

__all__ = ["Population", "advance_from", "read_pain"]


@njit(parallel=True, cache=True)
def advance_from(patients, calendars, draws, t_start, t1, daily):
    """Advance patient ``i`` over calendar days ``[t_start[i], t1)`` (nothing when
    ``t_start[i] >= t1``), in place: :func:`prt_sim.engine.advance` with a first day per
    patient."""
    n = patients.state.shape[0]
    record = daily.shape[2] > 0
    count = patients.pain_free_days.shape[0] == n
    for i in numba.prange(n):
        if t_start[i] < t1:
            _patient(patients, calendars, draws, i, t_start[i], t1, daily, record, count)


@njit(cache=True)
def _advance_from_serial(patients, calendars, draws, t_start, t1, daily):
    """:func:`advance_from` on one thread (small batches: waking a thread pool costs more)."""
    n = patients.state.shape[0]
    record = daily.shape[2] > 0
    count = patients.pain_free_days.shape[0] == n
    for i in range(n):
        if t_start[i] < t1:
            _patient(patients, calendars, draws, i, t_start[i], t1, daily, record, count)


@njit(inline="always", cache=True)
def _read_one(i, ring, traits, pid, member, table, keys, day, week, reported):
    # what engine.observe reports as pain on ``day``: the 7-day memory's mean, and the report
    # drawn from the observation stream's pain slot, its noise scaled by the patient's variability
    r = member[i]
    p = params_from_array(table[r])
    pk = patient_key_nb(keys[r], pid[i])
    w = _week_mean(ring[i])
    week[i] = w
    z = normal_nb(pk, counter(day, 0) + np.uint64(SLOTS.pain_report))
    reported[i] = report_pain(w, z, p.pain_report_sd * load_traits(traits[i]).variability)


@njit(parallel=True, cache=True)
def _read_par(ring, traits, pid, member, table, keys, day, week, reported):
    for i in numba.prange(ring.shape[0]):
        _read_one(i, ring, traits, pid, member, table, keys, day, week, reported)


@njit(cache=True)
def _read_ser(ring, traits, pid, member, table, keys, day, week, reported):
    for i in range(ring.shape[0]):
        _read_one(i, ring, traits, pid, member, table, keys, day, week, reported)


def read_pain(patients, draws, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's 7-day mean latent pain and reported weekly pain (0-10 integers) on clinic
    ``day``: the values :func:`prt_sim.engine.observe` would report (``pain_week`` and
    ``pain``), without the questionnaires."""
    n = patients.state.shape[0]
    week = np.empty(n)
    reported = np.empty(n)
    f = _read_par if n >= PARALLEL_MIN else _read_ser
    f(patients.ring, patients.traits, patients.pid, patients.member, draws.params,
      draws.key_observe, day, week, reported)  # fmt: skip
    return week, reported


class Population:
    """Engine tables of all patients of a run, and their latest weekly readings.

    Parameters
    ----------
    cohort : Cohort
        One patient per row, in the order of the clinic's patient index.
    params : ModelParams
        The model's parameters.
    seed : int
        Seed of the dynamics' streams (:func:`prt_sim.model.rng.stream_keys`).
    first_day : numpy.ndarray
        int64[n]: clinic day each patient's dynamics start (7 days before referral).
    """

    def __init__(
        self, cohort: Cohort, params: ModelParams, seed: int, first_day: np.ndarray
    ) -> None:
        n = len(cohort)
        self.n = n
        self.patients = make_patients(
            cohort.trait_table(), cohort.state_table(), cohort.patient_id, 0, np.arange(n)
        )
        # the clinic decides who attends and who stops: the engine delivers what it is given
        self.patients.treating[:] = True
        self.draws = make_draws([params], [seed])
        self.first_day = np.ascontiguousarray(first_day, dtype=np.int64)
        engine.prime(self.patients, self.draws)
        #: 7-day mean latent pain of each patient at the last epoch boundary (initially the
        #: primed memory: the pain of the initial state)
        self.week = self.patients.ring.mean(axis=1)
        #: reported weekly pain (0-10 integers) at the last boundary; NaN before the first
        self.reported = np.full(n, np.nan, dtype=np.float32)
        self._daily = np.empty((n, len(engine.DAILY_VARS), 0), dtype=np.float32)
        self._ones = np.ones(n)
        self._zeros = np.zeros(n)

    def step(
        self,
        t0: int,
        t1: int,
        sessions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        self_guided: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Advance every patient over clinic days ``[t0, t1)`` and read them at the end.

        Parameters
        ----------
        t0, t1 : int
            Clinic days (``t1 - t0`` <= 7 keeps the pain memory's ring aligned).
        sessions : (rows, days, education, exposure, placebo)
            Sessions delivered in the epoch: patient row, clinic day, doses (session units).
        self_guided : (rows, days, dose)
            Self-guided education doses (sessions/day) by patient row and clinic day.
        """
        n, T = self.n, t1 - t0
        assert 0 < T <= RECALL_DAYS
        edu = np.zeros((n, T))
        exp = np.zeros((n, T))
        plc = np.zeros((n, T))
        sess = np.zeros((n, T), dtype=bool)
        sg = np.zeros((n, T))
        rows, days, e, x, p = sessions
        if len(rows):
            k = days - t0
            np.add.at(edu, (rows, k), e)
            np.add.at(exp, (rows, k), x)
            np.add.at(plc, (rows, k), p)
            np.minimum(plc, 1.0, out=plc)
            sess[rows, k] = True
        srows, sdays, dose = self_guided
        if len(srows):
            np.add.at(sg, (srows, sdays - t0), dose)
        cal = Calendars(
            start_day=int(t0),
            education=edu,
            exposure=exp,
            placebo=plc,
            session=sess,
            self_guided=sg,
            flare_multiplier=np.ones((n, T)),
            uptake=self._ones,
            attendance=self._ones,
            dropout=self._zeros,
        )
        t_start = np.clip(self.first_day - t0, 0, T)
        kernel = advance_from if n >= PARALLEL_MIN else _advance_from_serial
        kernel(self.patients, cal, self.draws, t_start, T, self._daily)
        week, reported = read_pain(self.patients, self.draws, int(t1 - 1))
        started = self.first_day < t1
        self.week[started] = week[started]
        self.reported[started] = reported[started]
