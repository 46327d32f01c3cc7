"""What a surrogate agent predicts about the recorded measures, shared by both PyMC models.

The skeleton gives each agent's expected 7-day mean pain and its state at each visit; what the
trial recorded adds noise around them: the day-to-day fluctuation and flare-ups averaged over
the recalled week, the report noise (:func:`report_noise_sd`), rounding to an integer
(:func:`reported_pain_moments`), and the questionnaires' occasion noise. Every noise parameter
enters as the value the model is given, fitted or fixed: a prior on one reaches the likelihood.
:func:`symbolic_inputs` assembles the model's parameters, fitted (PyTensor variables) or fixed.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..model._math import exp, power, sqrt
from ..model.calendar import RECALL_DAYS
from ..model.cohorts import CohortSpec
from ..model.params import MEASUREMENT_PARAMS, DynParams, ModelParams

__all__ = [
    "report_noise_sd",
    "reported_pain_moments",
    "survey_adjusted",
    "symbolic_inputs",
    "questionnaire_noise_var",
    "param_vector",
    "stack_rows",
]

_LAGS = np.arange(1, RECALL_DAYS)  # 1..6: lags between two days of a weekly recall
_ONSETS = np.arange(RECALL_DAYS)  # flare onsets inside the recalled week


def report_noise_sd(p, variability=None):
    """SD (points) of a reported weekly pain around an agent's expected 7-day mean.

    Sums the variance of the 7-day mean of the stationary AR(1) fluctuation, of flare-up pain
    (onsets Bernoulli(``flare_rate``) per day, each decaying with ``flare_duration``; the cap at
    1 is ignored) and of the report noise, in closed form. ``p`` is a
    :class:`~prt_sim.model.params.DynParams` or :class:`~prt_sim.model.params.ModelParams`
    whose fields may be PyTensor variables. ``variability`` (the trait, per agent: an array or
    tensor of shape ``(agent, 1)``; None: 1) scales the fluctuation and the report noise, not
    the flare-ups.
    """
    n = float(RECALL_DAYS)
    phi = p.fluct_persistence
    # mean of phi ** |i - j| over the 7 x 7 recalled day pairs
    fluct_corr = (n + 2.0 * ((n - _LAGS) * power(phi, _LAGS)).sum()) / n**2
    fluct_var = p.fluct_sd**2 * fluct_corr
    # Weight of a flare starting on day o of the window in the 7-day mean: onsets inside the
    # window (o = 0..6), and the geometric tail of onsets before it.
    q = exp(-1.0 / p.flare_duration)
    inside = ((1.0 - power(q, n - _ONSETS)) / (n * (1.0 - q))) ** 2
    whole = (1.0 - q**n) / (n * (1.0 - q))
    weights = inside.sum() + whole**2 * q**2 / (1.0 - q**2)
    r = p.flare_rate
    flare_var = p.flare_pain**2 * r * (1.0 - r) * weights
    if variability is None:
        return sqrt(fluct_var + flare_var + p.pain_report_sd**2)
    return sqrt(variability**2 * (fluct_var + p.pain_report_sd**2) + flare_var)


def survey_adjusted(week, p, visits):
    """The 7-day mean pain a report is drawn around at each visit: ``week`` (agent x visit),
    plus ``survey_offset`` at the survey visits (``Visit.mode``), as the simulator's
    :func:`~prt_sim.engine.observe` adds it."""
    survey = np.array([v.mode == "survey" for v in visits], dtype=float)
    if not survey.any():
        return week
    return week + p.survey_offset * survey[None, :]


def reported_pain_moments(mu, sd):
    """Mean, second moment and P(<= 1) of ``round-and-clip(mu + N(0, sd^2))`` to 0..10
    (tensors: ``mu`` of any shape, ``sd`` a scalar or broadcasting against ``mu[..., None]``)."""
    import pytensor.tensor as pt

    edges = np.arange(10) + 0.5  # P(Y <= k) = Phi((k + 0.5 - mu) / sd), k = 0..9
    cdf = 0.5 * (1.0 + pt.erf((edges[None, None, :] - mu[..., None]) / sd / np.sqrt(2.0)))
    cdf = pt.concatenate([cdf, pt.ones_like(cdf[..., :1])], axis=-1)
    pmf = pt.concatenate([cdf[..., :1], cdf[..., 1:] - cdf[..., :-1]], axis=-1)
    k = np.arange(11.0)
    return (pmf * k).sum(-1), (pmf * k**2).sum(-1), cdf[..., 1]


def questionnaire_noise_var(p, loading, variability=None):
    """Variance (in scale fractions) of a questionnaire reading around its latent value: the
    occasion noise ``item_noise_sd`` and the random part of the pain fluctuation the reading
    follows (``loading`` per point of a stationary fluctuation of SD ``fluct_sd``, times the
    agent's ``variability`` where given)."""
    if variability is None:
        return p.item_noise_sd**2 + (loading * p.fluct_sd) ** 2
    return p.item_noise_sd**2 + (loading * p.fluct_sd * variability) ** 2


def symbolic_inputs(theta: dict[str, Any], params: ModelParams, spec: CohortSpec):
    """The model's parameters as the equations take them: fitted ones from ``theta`` (PyTensor
    variables by name), the others fixed from ``params`` and ``spec``.

    Returns
    -------
    (DynParams, SimpleNamespace)
        Parameters of the daily update and the cohort's population (``CohortSpec`` fields).
    """
    p_sym = DynParams(**{f: theta.get(f, getattr(params, f)) for f in DynParams._fields})
    spec_sym = SimpleNamespace(
        **{f.name: theta.get(f.name, getattr(spec, f.name)) for f in dataclasses.fields(CohortSpec)}
    )
    return p_sym, spec_sym


def param_vector(p, fixed: ModelParams):
    """The parameters of the daily update as one float64 vector in :class:`DynParams` field
    order (the skeleton Op's input). The measurement parameters, which the update never reads,
    enter as their fixed values: they reach the likelihood through the observation models
    only, so a prior on one that no observation model uses is seen as unlearnable."""
    import pytensor.tensor as pt

    values = [
        getattr(fixed, name) if name in MEASUREMENT_PARAMS else v
        for name, v in zip(DynParams._fields, p)
    ]
    return pt.stack([pt.as_tensor_variable(v).astype("float64") for v in values])


def stack_rows(values, n: int, index=None):
    """A float64 matrix with one row per field of ``values`` (scalars broadcast to ``n``
    agents; ``index`` picks agents), as the skeleton Op takes traits and states."""
    import pytensor.tensor as pt

    rows = []
    for v in values:
        row = pt.as_tensor_variable(v).astype("float64") * pt.ones(n)
        rows.append(row if index is None else row[index])
    return pt.stack(rows)
