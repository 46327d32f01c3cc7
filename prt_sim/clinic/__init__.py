"""Care delivery: scarce PRT therapists, referrals and waitlists, four formats, and the cost per pain-free patient.

A SimPy discrete-event clinic (:mod:`~prt_sim.clinic.delivery`) in which patients contend for
therapists' caseload places, group seats and diary slots, run together with the model's engine
(:mod:`~prt_sim.clinic.population`), which advances every referred patient's pain and beliefs
under the sessions actually delivered. :func:`run_clinic` takes a :class:`ClinicSpec`
(:mod:`~prt_sim.clinic.spec`, or :func:`load_spec` from TOML) and returns a
:class:`ClinicResult`; :mod:`~prt_sim.clinic.stats` holds the Erlang C formulas the queueing
layer is checked against and the replication statistics. See ``docs/clinic.md``.
"""

from .results import KPIS, ClinicResult
from .run import run_clinic, run_replication
from .spec import (
    FORMATS,
    ClinicSpec,
    Course,
    Group,
    Individual,
    Mix,
    Referrals,
    SelfGuidedFormat,
    Staffing,
    Telehealth,
    Waitlist,
    load_spec,
)
from .stats import erlang_b, erlang_c, mmc, replications_needed

__all__ = [
    "FORMATS",
    "KPIS",
    "ClinicResult",
    "ClinicSpec",
    "Course",
    "Group",
    "Individual",
    "Mix",
    "Referrals",
    "SelfGuidedFormat",
    "Staffing",
    "Telehealth",
    "Waitlist",
    "erlang_b",
    "erlang_c",
    "load_spec",
    "mmc",
    "replications_needed",
    "run_clinic",
    "run_replication",
]
