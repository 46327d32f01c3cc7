"""A sweep's points: the table of factor values its design gives (grid, Latin hypercube, Sobol, Saltelli, posterior draws).

:func:`design_points` returns the points as a :class:`Points` table (one row per point, one
column per target). Sobol and Saltelli designs are prefixes of one scrambled sequence, so
doubling ``n`` keeps the earlier points bit-identical and a sweep can be extended; a grid or a
Latin hypercube of another size is another design.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from ..errors import ValidationError
from .spec import SweepSpec

__all__ = ["Points", "design_points", "unit_to_values", "saltelli_unit", "saltelli_blocks"]


@dataclass(frozen=True)
class Points:
    """The design's points.

    Attributes
    ----------
    targets : tuple of str
        Column targets (``params.<field>``, ``cohort.<field>``, ``protocol.<field>``).
    names : tuple of str
        Column labels in results.
    values : numpy.ndarray
        float64[n_points, n_columns].
    source : numpy.ndarray or None
        Flat posterior draw index of each point (posterior designs only).
    """

    targets: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray
    source: np.ndarray | None = None

    def __len__(self) -> int:
        return self.values.shape[0]

    def row(self, i: int) -> dict[str, float]:
        """Point ``i`` as ``{target: value}``."""
        return dict(zip(self.targets, (float(v) for v in self.values[i])))


def unit_to_values(u: np.ndarray, spec: SweepSpec) -> np.ndarray:
    """Map unit-cube coordinates (n, d) to the factors' ranges (linear or log scale; integer
    targets rounded to the nearest whole number)."""
    out = np.empty_like(u, dtype=np.float64)
    for j, f in enumerate(spec.factors):
        lo, hi = f.range
        if f.scale == "log":
            v = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
        else:
            v = lo + u[:, j] * (hi - lo)
        out[:, j] = np.clip(np.round(v) if f.integer else v, lo, hi)
    return out


def _sobol_unit(d: int, n: int, seed: int) -> np.ndarray:
    return qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random(n)


def saltelli_unit(n: int, d: int, seed: int) -> np.ndarray:
    """Saltelli's A, B and AB matrices in the unit cube, laid out by base row: float64[n * (d +
    2), d] (see :func:`saltelli_blocks`). A and B are the two halves of a scrambled
    2d-dimensional Sobol sequence, so the first n rows of a 2n design are the n design."""
    s = _sobol_unit(2 * d, n, seed)
    a, b = s[:, :d], s[:, d:]
    rows = np.empty((n, d + 2, d))
    rows[:, 0], rows[:, 1] = a, b
    for j in range(d):
        ab = a.copy()
        ab[:, j] = b[:, j]
        rows[:, 2 + j] = ab
    return rows.reshape(-1, d)


def saltelli_blocks(n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point indices of a Saltelli design's matrices: ``A`` (n,), ``B`` (n,), ``AB`` (d, n)
    (``AB[j]`` is A with column j taken from B)."""
    base = np.arange(n) * (d + 2)
    return base, base + 1, base[None, :] + 2 + np.arange(d)[:, None]


def design_points(spec: SweepSpec) -> Points:
    """The points of ``spec``'s design.

    Returns
    -------
    Points
        Grid: every combination of the levels, the first factor varying slowest. LHS: a Latin
        hypercube of ``n`` points (seeded). Sobol: the first ``n`` points of a scrambled Sobol
        sequence. Saltelli: ``n * (d + 2)`` points laid out as :func:`saltelli_blocks` says.
        Posterior: ``n`` evenly spaced draws of the fit; the columns are its fitted model
        parameters and cohort fields.
    """
    kind = spec.design.kind
    seed = spec.seed if spec.design.seed is None else spec.design.seed
    targets = tuple(f.target for f in spec.factors)
    names = tuple(f.name for f in spec.factors)
    d = len(spec.factors)
    if kind == "grid":
        vals = np.array(list(itertools.product(*(f.levels for f in spec.factors))), dtype=float)
        return Points(targets, names, vals.reshape(-1, d))
    if kind == "lhs":
        u = qmc.LatinHypercube(d, rng=np.random.default_rng(seed)).random(spec.design.n)
        return Points(targets, names, unit_to_values(u, spec))
    if kind == "sobol":
        return Points(targets, names, unit_to_values(_sobol_unit(d, spec.design.n, seed), spec))
    if kind == "saltelli":
        return Points(targets, names, unit_to_values(saltelli_unit(spec.design.n, d, seed), spec))
    return _posterior_points(spec)


def _posterior_points(spec: SweepSpec) -> Points:
    from ..inference.posterior import fit_configuration, posterior_inputs, spaced_draws
    from ..inference.trial_model import TrialModel

    try:
        idata = TrialModel.load(spec.design.fit)
    except Exception as e:
        raise ValidationError(
            "design.fit", spec.design.fit, "a fit saved by prt-sim fit / TrialModel.save", str(e)
        ) from None
    group = spec.design.group
    if group not in idata.groups():
        raise ValidationError("design.group", group, f"one of the fit's groups {idata.groups()}")
    post = idata[group]
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, spec.design.n)
    priors, _, _ = fit_configuration(idata)
    inputs = posterior_inputs(idata, flat, group=group)
    p_names = sorted(n for n, pr in priors.items() if pr.target == "params")
    s_names = sorted(n for n, pr in priors.items() if pr.target == "spec")
    targets = tuple(f"params.{n}" for n in p_names) + tuple(f"cohort.{n}" for n in s_names)
    rows = []
    for params, specs, _scale in inputs:
        # the arms' populations differ only in their baseline pain offset: take their mean
        sp = list(specs.values())
        row = [getattr(params, n) for n in p_names]
        row += [
            float(np.mean([getattr(s, n) for s in sp])) if n == "pain_mean" else getattr(sp[0], n)
            for n in s_names
        ]
        rows.append(row)
    names = tuple(t.partition(".")[2] for t in targets)
    return Points(targets, names, np.asarray(rows, dtype=float).reshape(len(flat), -1), flat)
