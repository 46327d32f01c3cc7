"""Patient cohorts: per-patient traits and initial states.

A :class:`Cohort` holds, for ``n`` patients, the traits of :class:`prt_sim.dynamics.Traits`, the
initial :class:`prt_sim.dynamics.State` (on the first simulated day, 7 days before the first
visit) and the baseline values it was built from. Each patient has a global id that keys its
random numbers, so ``cohort[:100]`` simulates exactly like the first 100 patients of ``cohort``.

Two constructors:

- :meth:`Cohort.from_trial_baseline`: draws baseline pain, fear (TSK-11), catastrophizing (PCS),
  disability (Oswestry), the damage belief (attributions) and chronicity with the Ashar 2022
  sample's means, SDs and rank correlations (Gaussian copula), then sets each patient's traits so
  that this baseline is the patient's untreated steady state.
- :meth:`Cohort.from_records`: the same inversion from observed baseline values per patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from ._math import exp, log, maximum, minimum
from ._spec import Validated, spec
from .dynamics import STATE_RANGES, TRAIT_RANGES, State, Traits, threat
from .errors import DataFormatError, ValidationError, check_int, check_range
from .params import ModelParams
from .rng import check_seed, derive_key, uniform_matrix
from .timeline import RECALL_DAYS

__all__ = ["Cohort", "CohortSpec", "BASELINE_VARS", "RECORD_COLUMNS"]

#: Baseline variables drawn jointly by :meth:`Cohort.from_trial_baseline` (copula order).
BASELINE_VARS = ("pain", "fear", "catastrophizing", "avoidance", "belief", "chronicity")

#: Columns understood by :meth:`Cohort.from_records`: (required, allowed range, meaning).
RECORD_COLUMNS = {
    "pain_avg": (True, (0.0, 10.0), "baseline average pain, 0-10 (T1 or mean of visits)"),
    "tsk11": (False, (11.0, 44.0), "TSK-11 sum, 11-44"),
    "pcs": (False, (0.0, 52.0), "PCS sum, 0-52"),
    "odi": (False, (0.0, 100.0), "Oswestry Disability Index, 0-100"),
    "attrib_mb": (False, (0.0, 3.0), "number of mind-brain attributed causes, 0-3"),
    "chronicity": (False, (0.0, 80.0), "years with back pain"),
}

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


def _beta_ppf(u: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Beta quantiles with a given mean and SD (SD shrunk if impossible for that mean)."""
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    var = min(sd**2, 0.9 * mean * (1 - mean))
    if var <= 0:
        return np.full_like(u, mean)
    conc = mean * (1 - mean) / var - 1
    return stats.beta.ppf(u, mean * conc, (1 - mean) * conc)


def _beta_mc(u: np.ndarray, mean: float, conc: float) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return stats.beta.ppf(u, mean * conc, (1 - mean) * conc)


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
        if isinstance(idx, (int, np.integer)):
            idx = slice(int(idx), int(idx) + 1 if int(idx) != -1 else None)
        return Cohort(
            Traits(*(v[idx] for v in self.traits)),
            State(*(v[idx] for v in self.state)),
            self.patient_id[idx],
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

    def traits_array(self) -> np.ndarray:
        """float64[10, n] traits in :class:`Traits` order (what the engine consumes)."""
        return np.stack(self.traits)

    def state_array(self) -> np.ndarray:
        """float64[7, n] initial state in :class:`State` order."""
        return np.stack(self.state)

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
        traits = Traits(*(ds[f"trait_{k}"].values for k in Traits._fields))
        state = State(*(ds[f"init_{k}"].values for k in State._fields))
        base = {
            k[len("baseline_") :]: ds[k].values for k in ds.data_vars if k.startswith("baseline_")
        }
        return cls(traits, state, ds["patient"].values.astype(np.uint64), base)

    def _validate(self) -> None:
        n = len(self)
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
        _check_entry_shift(spec.entry_shift, params, "CohortSpec.entry_shift")
        std = standard_draws(u, spec)
        traits, state = realize(std, spec, params.to_tuple())
        baseline = {k: np.asarray(v) for k, v in trial_baseline(std, spec).items()}
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
            adherence, placebo response, pain floor, initial fluctuation).
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
        _check_entry_shift(entry_shift, params, "entry_shift")
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

        pain = vals["pain_avg"]
        baseline = {
            "pain": np.clip(
                np.where(np.isnan(pain), spec.pain_mean, pain) - pain_offset, 0.3, 10.0
            ),
            **observed_baseline(vals, spec),
        }
        # The recorded questionnaires carry the state excess of the recorded pain at the end of
        # its visit day.
        p = params.to_tuple()
        latent = records_latent(vals, spec, p, pain_offset * window_to_state(p))
        latent["pain"] = baseline["pain"]
        key = np.uint64(derive_key(seed, "cohort-records"))
        u = uniform_matrix(key, pids, np.arange(N_UNIFORMS))
        std = standard_draws(u, spec)
        response = response_traits(std, spec)
        fluct0 = entry_fluctuation(std["fluct_z"], entry_shift, p)
        traits, state = traits_from_baseline(latent, response, fluct0, p)
        meta = {"source": f"records:{name}", "seed": seed, "spec": spec.to_dict()}
        return cls(traits, state, pids, baseline, meta)


def observed_baseline(values: Mapping[str, np.ndarray], spec: CohortSpec) -> dict[str, np.ndarray]:
    """Latent baseline fractions from recorded instruments (NaN or absent: population means).

    ``values`` may hold ``tsk11``, ``pcs``, ``odi``, ``attrib_mb`` (mind-brain causes of 3) and
    ``chronicity`` arrays of equal length. Attribution counts are coarse (0-3), so the belief is
    shrunk toward ``spec.belief_mean`` with a pseudo-count of 10 causes.
    """
    n = len(next(iter(values.values())))

    def col(name: str, default: float) -> np.ndarray:
        v = np.asarray(values.get(name, np.full(n, np.nan)), dtype=float)
        return np.where(np.isnan(v), default, v)

    mb = np.asarray(values.get("attrib_mb", np.full(n, np.nan)), dtype=float)
    w = 3.0 / (3.0 + 10.0)
    belief = np.where(
        np.isnan(mb), spec.belief_mean, (1 - w) * spec.belief_mean + w * (1 - mb / 3.0)
    )
    return {
        "fear": np.clip((col("tsk11", 11 + 33 * spec.fear_mean) - 11) / 33, 0.01, 1.0),
        "catastrophizing": np.clip(col("pcs", 52 * spec.cat_mean) / 52, 0.0, 1.0),
        "avoidance": np.clip(col("odi", 100 * spec.avoid_mean) / 100, 0.0, 1.0),
        "belief": np.clip(belief, 0.05, 0.99),
        "chronicity": np.clip(col("chronicity", spec.chronicity_median), 0.0, 80.0),
    }


#: Uniform draws per patient behind a cohort (copula, response traits, initial fluctuation).
N_UNIFORMS = len(BASELINE_VARS) + 6


def standard_draws(u: np.ndarray, spec: CohortSpec) -> dict[str, np.ndarray]:
    """Turn ``u`` (uniforms, shape ``(N_UNIFORMS, n)``) into standardized per-patient draws.

    The baseline marginals that are never fitted (fear, catastrophizing, avoidance, belief,
    chronicity, initial safety, pain floor, adherence) are evaluated here with scipy; the
    quantities that depend on fitted parameters stay standard normal (``pain_z``, ``edu_z``,
    ``placebo_z``, ``fluct_z``) and are transformed by :func:`realize`, which also runs on
    PyTensor tensors. The simulator's cohorts use keyed random uniforms; the inference layer's
    surrogate agents use scrambled Sobol points, through the same function.
    """
    u = np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12)
    k = len(BASELINE_VARS)
    chol = np.linalg.cholesky(np.asarray(spec.correlation))
    z = chol @ stats.norm.ppf(u[:k])
    c = stats.norm.cdf(z)
    c = np.clip(c, 1e-12, 1 - 1e-12)
    return {
        "pain_z": z[0],
        "fear": _beta_ppf(c[1], spec.fear_mean, spec.fear_sd),
        "catastrophizing": _beta_ppf(c[2], spec.cat_mean, spec.cat_sd),
        "avoidance": _beta_ppf(c[3], spec.avoid_mean, spec.avoid_sd),
        "belief": _beta_ppf(c[4], spec.belief_mean, spec.belief_sd),
        "chronicity": np.clip(
            spec.chronicity_median * np.exp(spec.chronicity_log_sd * z[5]), 0.1, 80
        ),
        "safety": _beta_mc(u[k], spec.safety_mean, 20.0) if spec.safety_mean > 0 else 0.0 * u[k],
        "floor": np.clip(spec.floor_mean + spec.floor_sd * stats.norm.ppf(u[k + 1]), 0.0, 10.0),
        "edu_z": stats.norm.ppf(u[k + 2]),
        "adherence": _beta_mc(u[k + 3], spec.adherence_mean, spec.adherence_concentration),
        "placebo_z": stats.norm.ppf(u[k + 4]),
        "fluct_z": stats.norm.ppf(u[k + 5]),
    }


def trial_baseline(std: dict, spec: Any) -> dict:
    """Baseline values of a trial-like cohort: steady-state pain from ``pain_z`` plus the rest.

    ``spec`` needs ``pain_mean`` and ``pain_sd`` (numbers or PyTensor tensors).
    """
    pain = minimum(9.5, maximum(0.5, spec.pain_mean + spec.pain_sd * std["pain_z"]))
    return {"pain": pain, **{k: std[k] for k in BASELINE_VARS[1:]}}


def response_traits(std: dict, spec: Any) -> dict:
    """Response traits from standardized draws: log-normal education efficacy, logit-normal
    placebo expectancy (``spec`` fields may be PyTensor tensors)."""
    edu = spec.edu_efficacy_median * exp(spec.edu_efficacy_log_sd * std["edu_z"])
    logit = log(spec.placebo_median) - log(1.0 - spec.placebo_median)
    placebo = 1.0 / (1.0 + exp(-(logit + spec.placebo_logit_sd * std["placebo_z"])))
    return {
        "safety": std["safety"],
        "floor": std["floor"],
        "edu_efficacy": minimum(5.0, edu),
        "adherence": std["adherence"],
        "placebo_response": placebo,
    }


def _recall_window(phi):
    """Mean of ``phi**1 ... phi**7``: the first visit's recall covers simulated days 1-7 (day 0
    is the initial state), where an initial excess has decayed by those factors."""
    return phi * (1.0 - phi**7) / (7.0 * (1.0 - phi))


def entry_fluctuation(z0, shift, p):
    """Initial standardised fluctuation raised so its 7-day mean at the first visit is ``shift``.

    Enrolment on a pain threshold selects patients on a high day-to-day fluctuation; the excess
    then decays with the AR(1) persistence (regression to the mean between eligibility, T1 and
    post). ``p`` is a :class:`~prt_sim.params.DynParams` (fields may be tensors).
    """
    denom = p.fluct_sd * _recall_window(p.fluct_persistence)
    # No persistent fluctuation (fluct_sd or persistence 0): the selection cannot be carried.
    return z0 + shift / maximum(denom, 1e-9) * ((denom > 0) * 1.0)


def _check_entry_shift(shift: float, params: ModelParams, field: str) -> None:
    """Refuse an entry shift the fluctuation process cannot carry (more than 10 SD at day 0)."""
    phi, sd = params.fluct_persistence, params.fluct_sd
    window = _recall_window(phi)
    if shift > 0 and sd * window > 0 and shift / (sd * window) > 10.0 * (1 + 1e-9):
        raise ValidationError(
            field,
            shift,
            f"at most {10 * sd * window:.3g} points with fluct_sd={sd:g} and "
            f"fluct_persistence={phi:g}",
            "the initial fluctuation would exceed 10 SD",
        )


def realize(std: dict, spec: Any, p) -> tuple[Traits, State]:
    """Traits and initial state of trial-like patients from standardized draws.

    ``spec`` (a :class:`CohortSpec` or any object with its fields, possibly PyTensor tensors) and
    ``p`` (:class:`~prt_sim.params.DynParams`) may hold fitted values: this is the function the
    inference layer differentiates.
    """
    baseline = latent_from_readings(
        trial_baseline(std, spec), entry_state_pain(spec.entry_shift, p, RECALL_DAYS + 1), p
    )
    response = response_traits(std, spec)
    fluct0 = entry_fluctuation(std["fluct_z"], spec.entry_shift, p)
    return traits_from_baseline(baseline, response, fluct0, p)


def window_to_state(p):
    """End-of-day fluctuation excess per point of the same excess in a visit's 7-day recall.

    An AR(1) excess decaying as ``fluct_persistence ** day`` averages over the recalled days to
    more than it is at the end of the visit day: the ratio is ``phi**7 * 7 (1 - phi) / (1 -
    phi**7)`` (0.77 at the default persistence 0.94; 0 without persistence). Turns a recorded
    pain's excess (e.g. ``pain_offset``) into the state excess its questionnaires carry.
    """
    phi = p.fluct_persistence
    return phi**7 * 7.0 * (1.0 - phi) / (1.0 - phi**7)


def records_latent(values: Mapping, spec: Any, p, state_pain) -> dict:
    """Latent baseline from recorded instruments taken when the fluctuation stood
    ``state_pain`` points above its mean (:func:`latent_from_readings`).

    Missing TSK-11, PCS or Oswestry values take the population means of ``spec``, which are
    readings at entry: those lose the entry excess of ``spec.entry_shift`` instead, so that every
    patient with a missing value gets the population's latent mean. ``state_pain`` and the
    fields of ``p`` may be tensors.
    """
    base = observed_baseline(values, spec)
    at_record = latent_from_readings(base, state_pain, p)
    at_entry = latent_from_readings(base, entry_state_pain(spec.entry_shift, p, RECALL_DAYS + 1), p)
    n = len(base["fear"])
    out = dict(at_record)
    for key, col in (("fear", "tsk11"), ("catastrophizing", "pcs"), ("avoidance", "odi")):
        missing = np.isnan(np.asarray(values.get(col, np.full(n, np.nan)), dtype=float)) * 1.0
        out[key] = missing * at_entry[key] + (1.0 - missing) * at_record[key]
    return out


def entry_state_pain(shift, p, steps):
    """Expected selection excess of the pain fluctuation (points) after ``steps`` daily updates.

    The initial fluctuation carries the entry shift (:func:`entry_fluctuation`) and decays as
    ``fluct_persistence ** steps``. The first visit's state (end of its day) is ``RECALL_DAYS +
    1`` updates after the initial state; a visit on study day ``v`` is ``v - start_day + 1``.
    Fields of ``p`` (:class:`~prt_sim.params.DynParams`) and ``shift`` may be tensors.
    """
    phi = p.fluct_persistence
    window = _recall_window(phi)
    carried = (p.fluct_sd * window > 0) * 1.0
    return shift / maximum(window, 1e-9) * phi**steps * carried


def latent_from_readings(baseline: dict, state_pain, p) -> dict:
    """Latent fear, catastrophizing and avoidance from questionnaire readings taken when the
    pain fluctuation stood ``state_pain`` points above its mean.

    Inverts :func:`prt_sim.instruments.questionnaire_readings` (state-dependent responding):
    subtracts ``p.<instrument>_pain_state * state_pain`` from each reading, floored at the
    cohort's clipping (fear 0.01, the others 0). Other entries of ``baseline`` are kept.
    """
    out = dict(baseline)
    out["fear"] = maximum(0.01, baseline["fear"] - p.tsk11_pain_state * state_pain)
    out["catastrophizing"] = maximum(
        0.0, baseline["catastrophizing"] - p.pcs_pain_state * state_pain
    )
    out["avoidance"] = maximum(0.0, baseline["avoidance"] - p.odi_pain_state * state_pain)
    return out


def traits_from_baseline(baseline: dict, response: dict, fluct0, p) -> tuple[Traits, State]:
    """Traits that make the given baseline each patient's untreated steady state.

    Fear, avoidance and catastrophizing relax toward proportional targets, so their propensities
    are ratios of baseline values; the gain is whatever makes baseline pain equal floor + gain *
    threat + the expected flare pain. Values are clipped to the trait ranges (a patient whose
    baseline cannot be matched exactly gets the nearest admissible traits). Runs on numpy arrays
    and on PyTensor tensors (``p`` a :class:`~prt_sim.params.DynParams`).
    """
    belief0 = baseline["belief"]
    # Initial safety memory cannot exceed 1 - belief, or the schema behind the belief would
    # have to exceed 1.
    safety = minimum(0.5, maximum(0.0, minimum(response["safety"], 1.0 - belief0)))
    schema = minimum(1.0, maximum(0.02, belief0 / (1.0 - safety)))
    b = schema * (1.0 - safety)
    fear_prop = minimum(1.0, maximum(0.0, baseline["fear"] / b))
    fear = fear_prop * b
    avoid_prop = minimum(3.0, maximum(0.0, baseline["avoidance"] / maximum(fear, 1e-3)))
    avoidance = minimum(1.0, avoid_prop * fear)
    pain = baseline["pain"]
    w = p.cat_belief_weight
    cat_base = w * b + (1.0 - w) * pain / 10.0
    cat_prop = minimum(1.0, maximum(0.0, baseline["catastrophizing"] / (cat_base + 1e-9)))
    cat = cat_prop * cat_base
    floor = minimum(response["floor"], 0.8 * pain)
    # Mean flare intensity of the stationary flare process (ignoring the cap at 1).
    flare_mean = minimum(1.0, p.flare_rate / (1.0 - exp(-1.0 / p.flare_duration)))
    zero = 0.0 * b
    s_tmp = State(safety, cat, fear, avoidance, zero, zero, zero)
    t = threat(b, s_tmp, p)
    gain = minimum(
        10.0, maximum(0.0, (pain - floor - p.flare_pain * flare_mean) / maximum(t, 1e-3))
    )
    traits = Traits(
        schema,
        floor,
        gain,
        fear_prop,
        avoid_prop,
        cat_prop,
        response["edu_efficacy"],
        response["adherence"],
        response["placebo_response"],
        minimum(80.0, maximum(0.0, baseline["chronicity"])),
    )
    # Start the flare process at its stationary mean, as the gain inversion assumes.
    state = State(safety, cat, fear, avoidance, zero, fluct0 + zero, zero + flare_mean)
    return traits, state
