"""The therapists' diaries: session slots on working days, booked first come, and reserved for group meetings.

A therapist's working day (:class:`~prt_sim.clinic.spec.Staffing`: shift, working days,
bookable share, session length) holds ``slots_per_day`` sessions. A session is booked on the
first working day on or after its target day that still has a free slot, at the hour of that
slot, so a full diary delays sessions past the protocol's cadence. Group meetings reserve a
slot of their therapist on every meeting day up front.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import WEEKDAYS, Staffing

__all__ = ["Diary"]

_WINDOW = 56  # days searched per numpy call before widening


class Diary:
    """Free session slots of every therapist on every day ``0 .. n_days - 1``.

    Parameters
    ----------
    staffing : Staffing
        Working time of the therapists.
    n_days : int
        Days of the run (sessions are never booked on or after it).
    """

    def __init__(self, staffing: Staffing, n_days: int) -> None:
        self.n_therapists = staffing.therapists
        self.n_days = int(n_days)
        self.slots_per_day = staffing.slots_per_day
        work = np.array([WEEKDAYS[d % 7] in staffing.workdays for d in range(self.n_days)])
        self.capacity = np.where(work, self.slots_per_day, 0).astype(np.int32)  # per day
        self.free = np.tile(self.capacity, (self.n_therapists, 1))
        self._start_hour = staffing.shift_start
        self._session_hours = staffing.session_hours

    def slot_time(self, day: int, slot: int) -> float:
        """Clinic time (days) of slot ``slot`` (0-based) on ``day``."""
        return day + (self._start_hour + slot * self._session_hours) / 24.0

    def reserve(self, therapist: int, days: np.ndarray) -> int:
        """Reserve one slot of ``therapist`` on each of ``days`` (group meetings); returns the
        slot index used on the first of them (the same every day when reserved in order)."""
        row = self.free[therapist]
        slot = int(self.slots_per_day - row[days].min()) if len(days) else 0
        row[days] -= 1
        return slot

    def book(self, therapist: int, target: int, before: float = math.inf) -> tuple[int, float]:
        """Book the first free slot of ``therapist`` on or after day ``target``.

        Returns
        -------
        (day, time)
            The day and clinic time of the session; ``(-1, nan)`` when no slot is free before
            ``min(before, n_days)`` (nothing is booked then).
        """
        row = self.free[therapist]
        stop = min(self.n_days, int(math.ceil(before)) if math.isfinite(before) else self.n_days)
        d = max(0, int(target))
        while d < stop:
            hi = min(stop, d + _WINDOW)
            hit = np.flatnonzero(row[d:hi] > 0)
            if hit.size:
                day = d + int(hit[0])
                slot = int(self.capacity[day] - row[day])
                t = self.slot_time(day, slot)
                if t >= before:
                    return -1, math.nan
                row[day] -= 1
                return day, t
            d = hi
        return -1, math.nan

    def weekly_capacity(self, n_weeks: int) -> np.ndarray:
        """Session slots all therapists have in each week ``0 .. n_weeks - 1``."""
        cap = np.zeros(n_weeks * 7, dtype=np.int64)
        k = min(len(cap), self.n_days)
        cap[:k] = self.capacity[:k] * self.n_therapists
        return cap.reshape(n_weeks, 7).sum(axis=1)
