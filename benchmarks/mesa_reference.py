"""A per-agent reference implementation of the simulator in Mesa 3 (plain Python, no numba kernel).

Each patient is a :class:`mesa.Agent` holding its :class:`~prt_sim.model.dynamics.State` and
:class:`~prt_sim.model.dynamics.Traits` as Python floats. Every day the model sets the calendar drive
from a :class:`prt_sim.model.timeline.Timeline` and each agent

- draws its shocks with exactly the keyed draws of :func:`prt_sim.engine.advance` (same stream
  key, counters and slots: :data:`prt_sim.model.rng.SLOTS`), and
- calls the plain-Python :func:`prt_sim.model.dynamics.daily_step` on scalars (not the jitted copy).

It keeps the engine's 7-day pain ring so it can report the latent state at each visit exactly as
:func:`prt_sim.engine.observe` does. The counter-based draws are pure functions of
(key, patient id, counter), so this reference reproduces the engine patient by patient; it exists
to check the engine (``tests/test_mesa_reference.py``) and as the per-agent baseline of
``benchmarks/simulate.py``. It is written from the model's rules (a patient on treatment attends,
adheres, may drop out; dropout also ends self-guided use), not by transcribing the kernel.
"""

from __future__ import annotations

import mesa
import numpy as np

from prt_sim import engine
from prt_sim.model import rng
from prt_sim.model.cohorts import Cohort
from prt_sim.model.dynamics import Drive, Shocks, State, Traits, belief, daily_step, pain, threat
from prt_sim.model.params import ModelParams
from prt_sim.model.protocols import Protocol
from prt_sim.model.protocols import get as get_protocol
from prt_sim.model.timeline import StressPeriod, Timeline, Visit, build_timeline

__all__ = ["PatientAgent", "TrialModel", "MesaResult", "run_mesa"]

# The keyed draws' slots of a patient-day (prt_sim.model.rng.SLOTS), as counter offsets.
_SLOT = {k: np.uint64(getattr(rng.SLOTS, k)) for k in ("noise", "flare", "attend", "adhere",
                                                        "dropout")}  # fmt: skip
_RING = 7


class PatientAgent(mesa.Agent):
    """One patient: state and traits as Python floats, its keyed random stream, a pain ring."""

    def __init__(
        self,
        model: TrialModel,
        pid: int,
        state: State,
        traits: Traits,
        treating: bool,
    ) -> None:
        super().__init__(model)
        self.pid = int(pid)
        self.pkey = np.uint64(rng.patient_key(model.key, np.uint64(pid)))
        self.state = State(*(float(v) for v in state))
        self.traits = Traits(*(float(v) for v in traits))
        self.started = bool(treating)
        self.treating = bool(treating)
        self.attended = 0
        # engine.prime: the pain of the initial state (with its flare), no noise
        first = float(pain(self.state, self.traits, model.p, self.state.flare))
        self.ring = [first] * _RING
        self.daily: list[tuple[float, ...]] = []

    def step(self) -> None:
        """Advance one day: keyed shocks, then the plain-Python ``daily_step`` on scalars."""
        m = self.model
        pk = self.pkey
        s, x, p = self.state, self.traits, m.p
        c = m.counter  # np.uint64 counter of (day, slot 0)
        noise = float(rng.normal(pk, c + _SLOT["noise"]))
        flare = 1.0 if rng.uniform(pk, c + _SLOT["flare"]) < m.flare_prob else 0.0
        attend = adhere = 0.0
        if self.treating and m.session:
            if rng.uniform(pk, c + _SLOT["attend"]) < m.attendance:
                attend = 1.0
                self.attended += 1
                if rng.uniform(pk, c + _SLOT["adhere"]) < x.adherence:
                    adhere = 1.0
                if rng.uniform(pk, c + _SLOT["dropout"]) < m.dropout:
                    self.treating = False
        sg = m.self_guided if self.treating else 0.0
        d = Drive(m.education, m.exposure, m.placebo, sg, 1.0)  # dt = 1 day
        z = Shocks(noise, flare, attend, adhere)
        new, today = daily_step(s, x, d, z, p)
        new = State(*(float(v) for v in new))
        today = float(today)
        self.ring[m.t % _RING] = today
        if m.record_daily:
            # engine.DAILY_VARS: today's pain, then the state at the START of the day
            # (belief, fear, catastrophizing, avoidance, safety, expectancy), today's flare, the
            # consolidated trace, the natural course and the contact expectancy at the start of
            # the day.
            self.daily.append(
                (
                    today,
                    float(belief(s, x)),
                    s.fear,
                    s.catastrophizing,
                    s.avoidance,
                    s.safety,
                    s.expectancy,
                    new.flare,
                    s.consolidated,
                    s.course,
                    s.contact,
                )
            )
        self.state = new

    def latent(self) -> tuple[float, ...]:
        """Latent state at a visit in :data:`prt_sim.engine.LATENT_VARS` order."""
        s, x, p = self.state, self.traits, self.model.p
        b = float(belief(s, x))
        return (
            b,
            float(threat(b, s, p)),
            sum(self.ring) / _RING,
            s.fear,
            s.catastrophizing,
            s.avoidance,
            s.safety,
            s.expectancy,
            s.consolidated,
            s.course,
            s.contact,
        )


class TrialModel(mesa.Model):
    """A cohort under a protocol: one :class:`PatientAgent` per patient, one step per day."""

    def __init__(
        self,
        cohort: Cohort,
        protocol: Protocol,
        timeline: Timeline,
        seed: int,
        params: ModelParams,
        record_daily: bool = False,
    ) -> None:
        super().__init__(seed=seed)  # Mesa's own generators are not used: draws are keyed
        self.tl = timeline
        self.p = params.to_tuple()
        self.key = np.uint64(rng.derive_key(seed, "simulate", "dynamics"))
        key_up = np.uint64(rng.derive_key(seed, "simulate", "uptake"))
        self.attendance = float(protocol.attendance)
        self.dropout = float(protocol.dropout)
        self.record_daily = record_daily
        self.t = 0
        self._set_day(0)
        pids = cohort.patient_id
        treating = rng.uniform_array(key_up, pids, np.uint64(0)) < protocol.uptake
        self.patients = [
            PatientAgent(
                self,
                pids[i],
                State(*(v[i] for v in cohort.state)),
                Traits(*(v[i] for v in cohort.traits)),
                treating[i],
            )
            for i in range(len(cohort))
        ]

    def _set_day(self, t: int) -> None:
        """The calendar drive of timeline index ``t`` (shared by every agent that day)."""
        tl = self.tl
        day = tl.start_day + t
        self.day = day
        self.counter = np.uint64(rng.counter(day, 0))
        self.education = float(tl.education[t])
        self.exposure = float(tl.exposure[t])
        self.placebo = float(tl.placebo[t])
        self.session = bool(tl.session[t])
        self.self_guided = float(tl.self_guided[t])
        self.flare_prob = self.p.flare_rate * float(tl.flare_multiplier[t])

    def step(self) -> None:
        """Simulate timeline index ``self.t`` for every agent."""
        self._set_day(self.t)
        self.agents.do("step")
        self.t += 1


class MesaResult:
    """What :func:`run_mesa` returns (arrays over patients in cohort order).

    Attributes
    ----------
    state : float64[N_STATE, n]
        Final state (:class:`State` order), after the last simulated day.
    ring : float64[7, n]
        Pain of the last 7 days, indexed by ``timeline index % 7`` (as the engine's ring).
    latent : float64[len(LATENT_VARS), V, n]
        Latent state at each visit (:data:`prt_sim.engine.LATENT_VARS`), after the visit day.
    daily : float64[len(DAILY_VARS), n, T] or None
        Daily record (:data:`prt_sim.engine.DAILY_VARS`) when ``record_daily``.
    started, treating : bool[n]
        Whether the patient took up treatment; whether still on treatment at the end.
    attended : int[n]
        Sessions attended.
    timeline : Timeline
        The simulated calendar (``timeline.n_days`` days).
    """

    def __init__(self, model: TrialModel, latent: np.ndarray) -> None:
        agents = model.patients
        self.timeline = model.tl
        n_state = len(State._fields)
        self.state = np.array([a.state for a in agents], dtype=float).T.reshape(n_state, -1)
        self.ring = np.array([a.ring for a in agents], dtype=float).T.reshape(_RING, len(agents))
        self.started = np.array([a.started for a in agents], dtype=bool)
        self.treating = np.array([a.treating for a in agents], dtype=bool)
        self.attended = np.array([a.attended for a in agents], dtype=np.int64)
        self.latent = latent
        self.daily = None
        if model.record_daily:
            self.daily = np.array([a.daily for a in agents], dtype=float).transpose(2, 0, 1)

    @property
    def n_days(self) -> int:
        return self.timeline.n_days


def run_mesa(
    cohort: Cohort,
    protocol: str | Protocol = "prt",
    horizon_days: int = 400,
    seed: int = 0,
    params: ModelParams | None = None,
    *,
    visits: tuple[Visit, ...] | None = None,
    stress: tuple[StressPeriod, ...] = (),
    record_daily: bool = False,
) -> MesaResult:
    """Simulate ``cohort`` agent by agent in Mesa; arguments as :func:`prt_sim.simulate`.

    Returns the final states, the pain ring, the latent state at each visit and, with
    ``record_daily``, the daily record of :data:`prt_sim.engine.DAILY_VARS`.
    """
    protocol = get_protocol(protocol)
    params = params or ModelParams()
    tl = build_timeline(protocol, horizon_days=horizon_days, visits=visits, stress=tuple(stress))
    model = TrialModel(cohort, protocol, tl, seed, params, record_daily=record_daily)
    n = len(cohort)
    latent = np.empty((len(engine.LATENT_VARS), len(tl.visits), n))
    # engine.observe runs after the visit day has been simulated
    at = {}
    for j, v in enumerate(tl.visits):
        at.setdefault(v.day - tl.start_day, []).append(j)
    for t in range(tl.n_days):
        model.step()
        for j in at.get(t, ()):
            latent[:, j, :] = np.array([a.latent() for a in model.patients]).T
    return MesaResult(model, latent)
