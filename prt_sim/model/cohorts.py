"""Patient cohorts (:class:`Cohort`) and the population they are drawn from (:class:`CohortSpec`).

A :class:`Cohort` holds, for ``n`` patients, the traits of :class:`prt_sim.model.dynamics.Traits`, the
initial :class:`prt_sim.model.dynamics.State` (on the first simulated day, 7 days before the first
visit) and the baseline values it was built from. Each patient has a global id that keys its
random numbers, so ``cohort[:100]`` simulates exactly like the first 100 patients of ``cohort``.

Two constructors:

- :meth:`Cohort.from_trial_baseline`: draws baseline pain, fear (TSK-11), catastrophizing (PCS),
  disability (Oswestry), the damage belief (attributions) and chronicity with the Ashar 2022
  sample's means, SDs and rank correlations (Gaussian copula), then sets each patient's traits so
  that this baseline is the patient's untreated steady state.
- :meth:`Cohort.from_records`: the same inversion from observed baseline values per patient.

Both build traits with :func:`prt_sim.model.baseline.build_patients`, as do the PyMC models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataFormatError, ValidationError, check_int, check_range
from .baseline import (
    BASELINE_VARS,
    N_UNIFORMS,
    build_patients,
    check_entry_shift,
    entry_latent,
    observed_readings,
    patient_variability,
    records_latent,
    standard_draws,
    steady_pain,
    window_to_state,
)
from .dynamics import STATE_RANGES, TRAIT_RANGES, State, Traits
from .instruments import INSTRUMENTS
from .params import ModelParams
from .rng import check_seed, derive_key, uniform_matrix
from .spec import Validated, spec

__all__ = ["Cohort", "CohortSpec", "RECORD_COLUMNS"]

#: Columns understood by :meth:`Cohort.from_records`: (required, allowed range, meaning).
RECORD_COLUMNS = {
    name: (name == "pain_avg", (ins.lo, ins.hi), f"{ins.long_name}, {ins.unit}")
    for name, ins in INSTRUMENTS.items()
} | {"chronicity": (False, TRAIT_RANGES["chronicity"], "years with back pain")}

# Spearman rank correlations of (pain, TSK-11, PCS, ODI, chronicity) at baseline in the public
# Ashar 2022 data (n = 151; computed by experiments/baseline_correlations.py), converted to the
# Gaussian-copula scale with r = 2 sin(pi * rho / 6). The attribution count correlated weakly and
# noisily (|rho| <= 0.25 on a 0-3 count), so belief enters independent of the others.
_SPEARMAN = {
    ("pain", "fear"): 0.18,
    ("pain", "catastrophizing"): 0.24,
    ("pain", "avoidance"): 0.44,
    ("fear", "catastrophizing"): 0.60,
    ("fear", "avoidance"): 0.43,
    ("catastrophizing", "avoidance"): 0.42,
    ("pain", "chronicity"): 0.04,
    ("fear", "chronicity"): 0.14,
    ("catastrophizing", "chronicity"): 0.06,
    ("avoidance", "chronicity"): 0.18,
}


def _default_correlation() -> tuple[tuple[float, ...], ...]:
    k = len(BASELINE_VARS)
    r = np.eye(k)
    for (a, b), rho in _SPEARMAN.items():
        i, j = BASELINE_VARS.index(a), BASELINE_VARS.index(b)
        r[i, j] = r[j, i] = 2.0 * np.sin(np.pi * rho / 6.0)
    return tuple(tuple(float(v) for v in row) for row in r)


@dataclass(frozen=True)
class CohortSpec(Validated):
    """Distributions a trial-like cohort is drawn from (defaults: Ashar 2022 baseline).

    Latent SDs are the observed SDs with the instruments' measurement noise removed.
    """

    pain_mean: float = spec(3.0, 0.0, 10.0, "points", "mean steady-state (untreated) weekly pain")
    pain_sd: float = spec(1.25, 0.0, 5.0, "points", "SD of steady-state weekly pain")
    entry_shift: float = spec(
        1.4,
        0.0,
        5.0,
        "points",
        "extra pain in the 7-day recall at the first simulated visit (the eligibility visit "
        "in the trial schedule) from selection on a pain threshold; it decays as the "
        "fluctuation does (regression to the mean)",
    )
    fear_mean: float = spec(
        0.385,
        0.0,
        1.0,
        "fraction",
        "mean fear reading at entry (the first simulated visit), (TSK-11 - 11) / 33",
    )
    fear_sd: float = spec(0.13, 0.0, 0.5, "fraction", "SD of the fear reading at entry")
    cat_mean: float = spec(
        0.25, 0.0, 1.0, "fraction", "mean catastrophizing reading at entry, PCS / 52"
    )
    cat_sd: float = spec(0.13, 0.0, 0.5, "fraction", "SD of the catastrophizing reading at entry")
    avoid_mean: float = spec(
        0.244, 0.0, 1.0, "fraction", "mean avoidance reading at entry, Oswestry / 100"
    )
    avoid_sd: float = spec(0.085, 0.0, 0.5, "fraction", "SD of the avoidance reading at entry")
    belief_mean: float = spec(
        0.90,
        0.0,
        1.0,
        "fraction",
        "mean damage belief (1 - mind-brain share of attributed causes: about 10% at baseline)",
    )
    belief_sd: float = spec(0.07, 0.0, 0.5, "fraction", "SD of the damage belief")
    chronicity_median: float = spec(7.0, 0.1, 60.0, "years", "median years with back pain")
    chronicity_log_sd: float = spec(0.9, 0.0, 3.0, "log years", "SD of log chronicity")
    safety_mean: float = spec(0.05, 0.0, 0.5, "fraction", "mean initial safety memory")
    floor_mean: float = spec(0.4, 0.0, 5.0, "points", "mean pain floor (non-amplified pain)")
    floor_sd: float = spec(0.3, 0.0, 5.0, "points", "SD of the pain floor")
    variability_sd: float = spec(
        0.0,
        0.0,
        1.5,
        "log units",
        "between-patient SD of the log of each patient's rating variability (the scale of their "
        "day-to-day fluctuation and report noise, mean square 1); 0: every patient alike",
    )
    edu_efficacy_median: float = spec(
        0.12, 0.0, 5.0, "1/session", "median per-session education efficacy"
    )
    edu_efficacy_log_sd: float = spec(0.8, 0.0, 3.0, "log", "between-patient SD of log efficacy")
    adherence_mean: float = spec(0.8, 0.0, 1.0, "probability", "mean exposure adherence")
    adherence_concentration: float = spec(6.0, 0.1, 1000.0, "1", "Beta concentration of adherence")
    placebo_median: float = spec(
        0.14,
        0.0,
        1.0,
        "fraction",
        "median open-label placebo expectancy (logit-normal)",
        lo_open=True,
        hi_open=True,
    )
    placebo_logit_sd: float = spec(
        1.0, 0.0, 5.0, "logit", "between-patient SD of the logit of the placebo expectancy"
    )
    correlation: tuple[tuple[float, ...], ...] = field(default_factory=_default_correlation)

    def _check(self) -> None:
        r = np.asarray(self.correlation, dtype=float)
        k = len(BASELINE_VARS)
        if r.shape != (k, k):
            raise ValidationError(
                "CohortSpec.correlation", r.shape, f"a {k}x{k} matrix over {BASELINE_VARS}"
            )
        if not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1.0) or np.abs(r).max() > 1:
            raise ValidationError(
                "CohortSpec.correlation", "matrix", "symmetric, unit diagonal, entries in [-1, 1]"
            )
        if np.linalg.eigvalsh(r).min() <= 0:
            raise ValidationError("CohortSpec.correlation", "matrix", "positive definite")
        object.__setattr__(self, "correlation", tuple(tuple(float(v) for v in row) for row in r))


class Cohort:
    """Patients' traits and initial states (arrays over patients).

    Build with :meth:`from_trial_baseline` or :meth:`from_records`; index with ``cohort[a:b]``
    or an integer array; ``len(cohort)`` is the number of patients.

    ``baseline`` holds the drawn or recorded baseline per patient: steady-state pain (points),
    the fear, catastrophizing and avoidance *readings* at entry (fractions of TSK-11 - 11, PCS
    and Oswestry; the latent states are lower by the state excess, see
    :func:`latent_from_readings`), belief and chronicity.
    """

    def __init__(
        self,
        traits: Traits,
        state: State,
        patient_id: np.ndarray,
        baseline: Mapping[str, np.ndarray] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        n = len(patient_id)
        self.patient_id = np.ascontiguousarray(patient_id, dtype=np.uint64)
        self.traits = Traits(
            *(np.ascontiguousarray(np.broadcast_to(np.asarray(v, float), (n,))) for v in traits)
        )
        self.state = State(
            *(np.ascontiguousarray(np.broadcast_to(np.asarray(v, float), (n,))) for v in state)
        )
        self.baseline = {k: np.asarray(v) for k, v in (baseline or {}).items()}
        self.meta = dict(meta or {})
        self._validate()

    # -- container protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.patient_id)

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self)

    def __getitem__(self, idx) -> Cohort:
        n = len(self)
        if isinstance(idx, (int, np.integer)):
            i = int(idx)
            if not -n <= i < n:
                raise ValidationError("Cohort[index]", i, f"an index in [{-n}, {n - 1}]")
            i %= n
            idx = slice(i, i + 1)
        sub = self.patient_id[idx]
        if len(sub) == 0:
            raise ValidationError(
                "Cohort[index]", idx, f"a selection of at least one of the {n} patients"
            )
        return Cohort(
            Traits(*(v[idx] for v in self.traits)),
            State(*(v[idx] for v in self.state)),
            sub,
            {k: v[idx] for k, v in self.baseline.items()},
            self.meta,
        )

    def __repr__(self) -> str:
        return f"Cohort(n={len(self)}, source={self.meta.get('source', '?')!r})"

    @staticmethod
    def concat(cohorts: list[Cohort]) -> Cohort:
        """Concatenate cohorts (patient ids must stay unique)."""
        pid = np.concatenate([c.patient_id for c in cohorts])
        if len(np.unique(pid)) != len(pid):
            raise ValidationError(
                "Cohort.patient_id",
                "duplicates",
                "unique patient ids",
                "use id_offset= when building cohorts to concatenate",
            )
        keys = set.intersection(*(set(c.baseline) for c in cohorts))
        return Cohort(
            Traits(*(np.concatenate(v) for v in zip(*(c.traits for c in cohorts)))),
            State(*(np.concatenate(v) for v in zip(*(c.state for c in cohorts)))),
            pid,
            {k: np.concatenate([c.baseline[k] for c in cohorts]) for k in keys},
            cohorts[0].meta,
        )

    def trait_table(self) -> np.ndarray:
        """float64[n, N_TRAITS]: one row of :class:`Traits` per patient (what the engine reads)."""
        return np.ascontiguousarray(np.stack(self.traits, axis=1))

    def state_table(self) -> np.ndarray:
        """float64[n, N_STATE]: one row of the initial :class:`State` per patient."""
        return np.ascontiguousarray(np.stack(self.state, axis=1))

    def to_dataset(self) -> xr.Dataset:
        """Traits, initial state and baseline as an ``xarray.Dataset`` over ``patient``."""
        coords = {"patient": self.patient_id.astype(np.int64)}
        data = {f"trait_{k}": ("patient", v) for k, v in self.traits._asdict().items()}
        data |= {f"init_{k}": ("patient", v) for k, v in self.state._asdict().items()}
        data |= {f"baseline_{k}": ("patient", v) for k, v in self.baseline.items()}
        return xr.Dataset(data, coords=coords)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Cohort:
        """Inverse of :meth:`to_dataset`."""
        n = ds.sizes["patient"]
        # The rating variability (0.9.0), absent from older datasets, is 1 (every patient alike).
        traits = Traits(
            *(
                ds[f"trait_{k}"].values if f"trait_{k}" in ds or k != "variability" else np.ones(n)
                for k in Traits._fields
            )
        )
        # A state field added after the dataset was written (contact, 0.7.0) starts at 0.
        state = State(
            *(ds[f"init_{k}"].values if f"init_{k}" in ds else np.zeros(n) for k in State._fields)
        )
        base = {
            k[len("baseline_") :]: ds[k].values for k in ds.data_vars if k.startswith("baseline_")
        }
        return cls(traits, state, ds["patient"].values.astype(np.uint64), base)

    def _validate(self) -> None:
        n = len(self)
        if n == 0:
            raise ValidationError("Cohort.patient_id", "empty", "at least one patient")
        for name, (lo, hi) in TRAIT_RANGES.items():
            v = getattr(self.traits, name)
            bad = ~((v >= lo) & (v <= hi))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValidationError(f"Cohort.traits.{name}[{i}]", float(v[i]), f"[{lo}, {hi}]")
        for name, (lo, hi) in STATE_RANGES.items():
            v = getattr(self.state, name)
            bad = ~((v >= lo) & (v <= hi) & np.isfinite(v))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValidationError(f"Cohort.state.{name}[{i}]", float(v[i]), f"[{lo}, {hi}]")
        if len(np.unique(self.patient_id)) != n:
            raise ValidationError("Cohort.patient_id", "duplicates", "unique patient ids")

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_trial_baseline(
        cls,
        n: int,
        seed: int = 0,
        *,
        spec: CohortSpec | None = None,
        params: ModelParams | None = None,
        id_offset: int = 0,
    ) -> Cohort:
        """Draw ``n`` patients like the Ashar 2022 sample at baseline.

        Parameters
        ----------
        n : int
            Number of patients, 1 to 10**8.
        seed : int
            Seed; patient ``i``'s draws depend only on ``(seed, id_offset + i)``, so a larger
            cohort from the same seed starts with the same patients.
        spec : CohortSpec, optional
            Baseline distributions (default: the trial's).
        params : ModelParams, optional
            Dynamics used to make the baseline each patient's untreated steady state.
        id_offset : int
            First patient id (to build several disjoint cohorts from one seed).

        Returns
        -------
        Cohort
        """
        n = check_int("n", n, 1, 10**8)
        seed = check_seed(seed)
        id_offset = check_int("id_offset", id_offset, 0, 2**62)
        spec = spec or CohortSpec()
        params = params or ModelParams()
        pids = np.arange(id_offset, id_offset + n, dtype=np.uint64)
        key = np.uint64(derive_key(seed, "cohort"))
        u = uniform_matrix(key, pids, np.arange(N_UNIFORMS))
        check_entry_shift(spec.entry_shift, params, "CohortSpec.entry_shift")
        std = standard_draws(u, spec)
        p = params.to_tuple()
        latent = entry_latent(std, spec, p)
        traits, state = build_patients(latent, std, spec, p, spec.entry_shift)
        # What was drawn: steady pain, and the questionnaire readings at entry.
        baseline = {k: np.asarray(std[k]) for k in BASELINE_VARS[1:]}
        baseline["pain"] = steady_pain(latent["pain"])
        meta = {"source": "trial_baseline", "seed": seed, "spec": spec.to_dict()}
        return cls(traits, state, pids, baseline, meta)

    @classmethod
    def from_records(
        cls,
        table: Any,
        *,
        seed: int = 0,
        spec: CohortSpec | None = None,
        params: ModelParams | None = None,
        name: str = "records",
        id_column: str | None = None,
        pain_offset: float = 0.0,
        entry_shift: float = 0.0,
    ) -> Cohort:
        """Build a cohort from observed baseline values, one row per patient.

        Parameters
        ----------
        table : mapping of column -> 1-D array, or a pandas DataFrame
            Columns in :data:`RECORD_COLUMNS`; ``pain_avg`` is required. Missing optional
            columns (or NaN cells in them) are filled with the population means of ``spec``.
        seed : int
            Seed for the response traits not observable at baseline (education efficacy,
            adherence, placebo response, pain floor, initial fluctuation, rating variability).
        spec, params : optional
            As in :meth:`from_trial_baseline`.
        name : str
            Name of the table, used in error messages.
        id_column : str, optional
            Column of integer patient ids (default: row numbers).
        pain_offset : float
            Points by which the recorded pain exceeds each patient's steady state, 0-5. Trials
            that enrol on a pain threshold record inflated baselines (regression to the mean):
            for Ashar 2022's T1 values about 0.8. The recorded TSK-11, PCS and Oswestry carry the
            same excess, as the fluctuation stood at the end of that visit day: each loses
            ``<instrument>_pain_state * pain_offset * window_to_state(params)`` of its range
            (:func:`records_latent`).
        entry_shift : float
            Extra pain (points, 0-5) in the 7-day mean at the first visit, carried by an elevated
            initial fluctuation that decays (as ``CohortSpec.entry_shift``); 0 = none.

        Raises
        ------
        DataFormatError
            A missing required column, a non-numeric cell, or a value out of its range
            (the message names the column and the row).
        """
        spec = spec or CohortSpec()
        params = params or ModelParams()
        seed = check_seed(seed)
        pain_offset = check_range("pain_offset", pain_offset, 0.0, 5.0)
        entry_shift = check_range("entry_shift", entry_shift, 0.0, 5.0)
        check_entry_shift(entry_shift, params, "entry_shift")
        try:
            columns = list(table.keys())
        except AttributeError:
            raise DataFormatError(
                "cohort table must be a mapping of columns or a DataFrame", file=name
            ) from None
        if "pain_avg" not in columns:
            raise DataFormatError(
                "missing required column 'pain_avg' (average pain, allowed values 0-10)",
                file=name,
                column="pain_avg",
            )
        n = len(np.asarray(table["pain_avg"]))
        if n == 0:
            raise DataFormatError("cohort table has no rows", file=name)
        vals = {}
        for col, (required, (lo, hi), _) in RECORD_COLUMNS.items():
            if col not in columns:
                continue
            try:
                v = np.asarray(table[col], dtype=float)
            except (TypeError, ValueError):
                raw = np.asarray(table[col], dtype=object)
                for r, cell in enumerate(raw):
                    try:
                        float(cell)
                    except (TypeError, ValueError):
                        raise DataFormatError(
                            f"non-numeric value {cell!r}: allowed numbers in [{lo:g}, {hi:g}]",
                            file=name,
                            column=col,
                            row=r,
                        ) from None
                raise
            if v.shape != (n,):
                raise DataFormatError(
                    f"column has shape {v.shape}, expected ({n},)", file=name, column=col
                )
            if required and np.isnan(v).any():
                r = int(np.argmax(np.isnan(v)))
                raise DataFormatError(
                    "missing value in a required column", file=name, column=col, row=r
                )
            bad = ~np.isnan(v) & ((v < lo) | (v > hi))
            if bad.any():
                r = int(np.argmax(bad))
                raise DataFormatError(
                    f"value {v[r]:g} outside the allowed range [{lo:g}, {hi:g}]",
                    file=name,
                    column=col,
                    row=r,
                )
            vals[col] = v
        if id_column is not None:
            if id_column not in columns:
                raise DataFormatError(
                    f"missing id column {id_column!r}", file=name, column=id_column
                )
            pids = np.asarray(table[id_column])
            if not np.issubdtype(pids.dtype, np.integer) or (pids < 0).any():
                raise DataFormatError(
                    "patient ids must be non-negative integers", file=name, column=id_column
                )
            if len(np.unique(pids)) != n:
                raise DataFormatError("duplicate patient ids", file=name, column=id_column)
            pids = pids.astype(np.uint64)
        else:
            pids = np.arange(n, dtype=np.uint64)

        pain = steady_pain(vals["pain_avg"] - pain_offset)  # a required column: no NaN
        baseline = {"pain": pain, **observed_readings(vals, spec)}
        # The recorded questionnaires carry the state excess of the recorded pain at the end of
        # its visit day.
        p = params.to_tuple()
        key = np.uint64(derive_key(seed, "cohort-records"))
        std = standard_draws(uniform_matrix(key, pids, np.arange(N_UNIFORMS)), spec)
        variability = patient_variability(std, spec)  # scales that excess in points
        latent = records_latent(
            vals, spec, p, pain_offset * window_to_state(p) * variability, pain, variability
        )
        traits, state = build_patients(latent, std, spec, p, entry_shift)
        meta = {"source": f"records:{name}", "seed": seed, "spec": spec.to_dict()}
        return cls(traits, state, pids, baseline, meta)
