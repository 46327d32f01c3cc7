"""Counter-based random numbers: every draw is a pure function of (seed, stage, patient, counter).

The slots of a patient-day (which counter feeds which random choice) are named once, in
:data:`SLOTS`, and the per-stage stream keys of a seed once, in :func:`stream_keys`.

Why not a sequential generator: the simulator runs patients in parallel threads and in chunks of
any size, and a patient's history must not depend on either. Keying each draw on the patient's
global id and the day makes results identical whatever the chunking, thread count or worker
count, and needs no global random state.

The mixer is SplitMix64's finaliser (Steele, Lea & Flood 2014), a bijection on 64-bit integers
with full avalanche; uniforms use its top 53 bits.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numba
import numpy as np

from ..errors import check_int
from ..jit import njit

__all__ = [
    "derive_key",
    "check_seed",
    "uniform",
    "normal",
    "binomial",
    "patient_key",
    "uniform_array",
    "uniform_matrix",
    "normal_array",
    "SLOTS",
    "Slots",
    "StreamKeys",
    "stream_keys",
    "counter",
]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0
_TWO_PI = 6.283185307179586
_PER_DAY = np.uint64(16)  # counter slots per patient-day
_DAY_OFFSET = 1 << 20  # keeps counters non-negative for negative study days

#: Largest accepted seed (seeds are non-negative 63-bit integers).
MAX_SEED = 2**63 - 1


def check_seed(seed: object, field: str = "seed") -> int:
    """Validate a seed: a non-negative integer below 2**63."""
    return check_int(field, seed, 0, MAX_SEED)


class Slots(NamedTuple):
    """Counter slots within one patient-day (``counter(day, slot)``). Each random choice of a
    day reads its own slot, so adding a choice never shifts the others. A normal draw reads
    two consecutive slots (Box-Muller). The simulation stream and the observation stream use
    different keys, so their slots may overlap."""

    # simulation stream (key ``StreamKeys.dynamics``), one patient-day
    noise: int  #: fluctuation innovation (normal: slots 0, 1)
    flare: int  #: flare-up onset
    attend: int  #: attendance of a session
    adhere: int  #: guided exposure done in an attended session
    dropout: int  #: stopping treatment after an attended session
    # observation stream (key ``StreamKeys.observe``), one visit day
    pain_report: int  #: report noise of weekly pain (normal: slots 0, 1)
    tsk11_noise: int  #: occasion noise of the TSK-11 reading (normal: 2, 3)
    tsk11_sum: int  #: binomial sum of TSK-11
    pcs_noise: int  #: occasion noise of PCS (normal: 5, 6)
    pcs_sum: int  #: binomial sum of PCS
    attrib_mb_sum: int  #: binomial count of mind-brain attributions
    odi_noise: int  #: occasion noise of Oswestry (normal: 9, 10)
    odi_sum: int  #: binomial sum of Oswestry
    responds: int  #: whether the visit is observed
    # uptake stream (key ``StreamKeys.uptake``), once per patient at counter 0
    uptake: int  #: whether the patient starts treatment


#: The slot table (read by the engine's kernels as compile-time constants).
SLOTS = Slots(
    noise=0,
    flare=2,
    attend=3,
    adhere=4,
    dropout=5,
    pain_report=0,
    tsk11_noise=2,
    tsk11_sum=4,
    pcs_noise=5,
    pcs_sum=7,
    attrib_mb_sum=8,
    odi_noise=9,
    odi_sum=11,
    responds=15,
    uptake=0,
)


@njit(inline="always", cache=True)
def counter(day, slot):
    """The counter of ``slot`` on study ``day`` (uint64): 16 slots per day, days offset so
    that negative study days stay non-negative."""
    return np.uint64(day + _DAY_OFFSET) * _PER_DAY + np.uint64(slot)


class StreamKeys(NamedTuple):
    """The keys of a simulation's three random streams."""

    dynamics: int  #: daily shocks: fluctuation, flare-ups, attendance, adherence, dropout
    observe: int  #: measurement: report noise, questionnaire sums, missing visits
    uptake: int  #: whether each patient starts treatment


def stream_keys(seed: int) -> StreamKeys:
    """The stream keys of a simulation run with ``seed`` (:func:`prt_sim.simulate` and each
    posterior draw of a forecast, so that a forecast draw equals ``simulate`` with its seed)."""
    return StreamKeys(
        *(derive_key(seed, "simulate", stage) for stage in ("dynamics", "observe", "uptake"))
    )


def derive_key(seed: int, *labels: object) -> int:
    """Derive a 64-bit stream key from a seed and labels (for example ``"cohort"``).

    The same seed with different labels gives statistically independent streams; the mapping
    is stable across Python versions and platforms (BLAKE2b).
    """
    seed = check_seed(seed)
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    for lab in labels:
        h.update(b"\x00" + str(lab).encode())
    return int.from_bytes(h.digest(), "little")


@njit(inline="always", cache=True)
def _mix(x):
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(inline="always", cache=True)
def patient_key_nb(key, pid):
    """Per-patient key from a stream key and the patient's global id (both uint64; compiled)."""
    return _mix(np.uint64(key) ^ _mix(np.uint64(pid) * _GOLDEN + _GOLDEN))


@njit(inline="always", cache=True)
def uniform_nb(pkey, counter):
    """Uniform on [0, 1) from a patient key and a counter (uint64; compiled)."""
    # Explicit uint64 casts: called from Python, pkey arrives as an int that numba would type
    # as int64, and int64 + uint64 promotes to float.
    return float(_mix(np.uint64(pkey) + np.uint64(counter) * _GOLDEN) >> _S11) * _INV53


@njit(inline="always", cache=True)
def normal_nb(pkey, counter):
    """Standard normal (Box-Muller) from counters ``counter`` and ``counter + 1`` (compiled)."""
    u1 = 1.0 - uniform_nb(np.uint64(pkey), counter)  # (0, 1]: log is finite
    u2 = uniform_nb(np.uint64(pkey), np.uint64(counter) + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


# Python-facing versions. Numba's dispatcher converts Python ints through int64, so keys of
# 2**63 or more cannot be passed as ints: these cast to np.uint64 first and return np.uint64.
def patient_key(key, pid) -> np.uint64:
    """Per-patient key from a stream key and the patient's global id."""
    return np.uint64(patient_key_nb(np.uint64(key), np.uint64(pid)))


def uniform(pkey, counter) -> float:
    """Uniform on [0, 1) from a patient key and a counter."""
    return uniform_nb(np.uint64(pkey), np.uint64(counter))


def normal(pkey, counter) -> float:
    """Standard normal from a patient key and counters ``counter``, ``counter + 1``."""
    return normal_nb(np.uint64(pkey), np.uint64(counter))


@njit(cache=True)
def binomial(n, prob, u):
    """Binomial(n, prob) by inversion of one uniform ``u`` (exact; cost O(n), n is small here)."""
    if prob <= 0.0:
        return 0
    if prob >= 1.0:
        return n
    q = 1.0 - prob
    pmf = q**n
    cdf = pmf
    k = 0
    ratio = prob / q
    while u >= cdf and k < n:
        pmf *= (n - k) / (k + 1.0) * ratio
        k += 1
        cdf += pmf
    return k


#: Below this many patients the array helpers run serially: waking a thread pool costs more
#: than the work (and much more when other processes hold the cores).
PARALLEL_MIN = 20_000


def _uniform_loop(key, pids, counters):
    out = np.empty((counters.shape[0], pids.shape[0]))
    for i in numba.prange(pids.shape[0]):
        pk = patient_key_nb(key, pids[i])
        for j in range(counters.shape[0]):
            out[j, i] = uniform_nb(pk, counters[j])
    return out


_uniform_par = njit(parallel=True, cache=True)(_uniform_loop)
_uniform_ser = njit(cache=True)(_uniform_loop)


def uniform_matrix(key, pids, counters) -> np.ndarray:
    """Uniforms for an array of patient ids at several counters: shape (len(counters), n)."""
    pids = np.ascontiguousarray(pids, dtype=np.uint64)
    counters = np.ascontiguousarray(counters, dtype=np.uint64)
    f = _uniform_par if pids.shape[0] >= PARALLEL_MIN else _uniform_ser
    return f(np.uint64(key), pids, counters)


def uniform_array(key, pids, counter) -> np.ndarray:
    """Uniforms for an array of patient ids (one per patient) at a given counter."""
    return uniform_matrix(key, pids, np.array([counter], dtype=np.uint64))[0]


@njit(parallel=True, cache=True)
def normal_array(key, pids, counter):
    """Standard normals for an array of patient ids at counters ``counter``, ``counter + 1``."""
    out = np.empty(pids.shape[0])
    for i in numba.prange(pids.shape[0]):
        out[i] = normal_nb(patient_key_nb(key, pids[i]), counter)
    return out


def _keyed_loop(keys, member, pids, counter):
    out = np.empty(pids.shape[0])
    for i in numba.prange(pids.shape[0]):
        out[i] = uniform_nb(patient_key_nb(keys[member[i]], pids[i]), counter)
    return out


_keyed_par = njit(parallel=True, cache=True)(_keyed_loop)
_keyed_ser = njit(cache=True)(_keyed_loop)


def uniform_keyed_array(keys, member, pids, counter) -> np.ndarray:
    """Uniforms for patients of several streams: patient ``i`` uses key ``keys[member[i]]``."""
    f = _keyed_par if len(pids) >= PARALLEL_MIN else _keyed_ser
    return f(
        np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(member, dtype=np.int64),
        np.ascontiguousarray(pids, dtype=np.uint64),
        np.uint64(counter),
    )
