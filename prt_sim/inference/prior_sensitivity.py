"""How much a fit's conclusions lean on each prior: power-scaling sensitivity, without refitting.

Raising one prior to a power ``alpha`` (below 1 weakens it, above 1 strengthens it) changes the
posterior by importance weights proportional to ``p(theta)^(alpha - 1)`` (Kallioinen, Paananen,
Buerkner & Vehtari 2023, *Stat Comput* 34:57). :func:`prior_sensitivity` applies them, Pareto
smoothed (``arviz.psislw``), to posterior draws and to any quantity computed from them (a
forecast, say), and reports how far each quantity's distribution moves: the cumulative
Jensen-Shannon distance between the two (:func:`cjs_distance`, as in the authors' priorsense
package; 0.05 or more flags sensitivity there), the shift of its mean and the ratio of its
SDs, with the Pareto k that says whether the reweighting can be trusted (k <= 0.7). A
parameter the data pin down barely changes; one the data cannot inform changes with its prior
(in spread, if the prior is symmetric about the posterior), and so does every conclusion
resting on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ValidationError, check_range

__all__ = [
    "log_prior",
    "power_scale_weights",
    "cjs_distance",
    "prior_sensitivity",
    "PARETO_K_OK",
    "CJS_SENSITIVE",
]

#: Pareto k up to which the reweighted estimates are reliable.
PARETO_K_OK = 0.7
#: Cumulative Jensen-Shannon distance from which priorsense calls a quantity prior-sensitive.
CJS_SENSITIVE = 0.05


def cjs_distance(x: np.ndarray, w: np.ndarray) -> float:
    """Cumulative Jensen-Shannon distance (0-1) between the equally weighted draws ``x`` and
    the same draws weighted by ``w`` (normalised weights), as priorsense's ``cjs_dist``
    (Nguyen & Vreeken 2015; Kallioinen et al. 2023). 0: the same distribution."""
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, dtype=float)[order]
    n = x.size
    if n < 2 or x[-1] == x[0]:
        return 0.0
    widths = np.diff(np.append(x, x[-1] + (x[-1] - x[-2])))
    p = np.arange(1, n + 1) / n  # ECDF of the base draws at each draw
    q = np.cumsum(np.asarray(w, dtype=float)[order])
    q = np.minimum(q / q[-1], 1.0)
    # ties: each value takes the ECDF at its last copy
    last = np.r_[x[1:] != x[:-1], True]
    idx = np.flatnonzero(last)
    fill = np.searchsorted(idx, np.arange(n))
    p, q = p[idx][fill], q[idx][fill]
    p_int, q_int = float(p @ widths), float(q @ widths)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * (np.log2(p) - np.log2(m)), 0.0)
        tq = np.where(q > 0, q * (np.log2(q) - np.log2(m)), 0.0)
    cjs_pq = float(widths @ tp) + 0.5 / np.log(2) * (q_int - p_int)
    cjs_qp = float(widths @ tq) + 0.5 / np.log(2) * (p_int - q_int)
    bound = p_int + q_int
    return float(np.sqrt(max(cjs_pq + cjs_qp, 0.0)) / np.sqrt(bound)) if bound > 0 else 0.0


def log_prior(idata, chain, draw, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Each fitted parameter's prior log density at the posterior draws ``(chain[i],
    draw[i])``, up to a constant (float64 arrays; the priors are read from the fit's
    configuration)."""
    from .posterior import fit_configuration

    priors, _, _ = fit_configuration(idata)
    names = list(priors) if names is None else list(names)
    unknown = [n for n in names if n not in priors]
    if unknown:
        raise ValidationError("names", unknown, f"fitted parameters of this fit: {list(priors)}")
    post = idata.posterior
    chain, draw = np.asarray(chain, dtype=int), np.asarray(draw, dtype=int)
    return {n: priors[n].logpdf(post[n].values[chain, draw]) for n in names}


def power_scale_weights(log_prior_values: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Normalised Pareto-smoothed weights that raise a prior to the power ``alpha`` (0.1-10),
    and their Pareto k."""
    import arviz as az

    alpha = check_range("alpha", alpha, 0.1, 10.0)
    lw, k = az.psislw((alpha - 1.0) * np.asarray(log_prior_values, dtype=float))
    return np.exp(lw), float(k)


def prior_sensitivity(
    idata,
    quantities: Mapping[str, np.ndarray],
    chain,
    draw,
    *,
    alphas: Sequence[float] = (0.5, 2.0),
    names: Sequence[str] | None = None,
) -> dict[str, dict]:
    """How far each quantity's posterior mean moves when one prior, or all of them together,
    is weakened or strengthened.

    Parameters
    ----------
    idata : arviz.InferenceData
        A fit (:class:`~prt_sim.inference.trial_model.TrialModel`).
    quantities : dict of name -> array
        Values over the draws ``(chain[i], draw[i])``: parameters, forecasts, anything.
    chain, draw : arrays of int
        The posterior draws the quantities were computed at.
    alphas : sequence of float
        Powers applied to each prior (0.1-10; 0.5: the prior's log density halved, a normal
        prior's SD times sqrt 2).
    names : sequence of str, optional
        Priors to scale one at a time (default: every fitted parameter); ``"all"`` scales
        them together.

    Returns
    -------
    dict
        ``{prior or "all": {alpha: {"pareto_k": k, "reliable": k <= 0.7, "shift": {quantity:
        weighted mean - mean}, "shift_sd": {quantity: shift / posterior SD}, "sd_ratio":
        {quantity: weighted SD / SD}, "cjs": {quantity: cumulative Jensen-Shannon distance}}}}``,
        alphas as strings.
    """
    chain, draw = np.asarray(chain, dtype=int), np.asarray(draw, dtype=int)
    lp = log_prior(idata, chain, draw, names)
    q = {k: np.asarray(v, dtype=float) for k, v in quantities.items()}
    for k, v in q.items():
        if v.shape != chain.shape:
            raise ValidationError(
                f"quantities[{k!r}]", v.shape, f"one value per draw {chain.shape}"
            )
    base = {k: float(np.mean(v)) for k, v in q.items()}
    sd = {k: float(np.std(v)) for k, v in q.items()}
    sets = {n: v for n, v in lp.items()} | {"all": sum(lp.values())}
    out: dict[str, dict] = {}
    for name, values in sets.items():
        out[name] = {}
        for a in alphas:
            w, k = power_scale_weights(values, a)
            shift = {n: float(np.sum(w * v)) - base[n] for n, v in q.items()}
            new_sd = {n: float(np.sqrt(np.sum(w * (v - base[n] - shift[n]) ** 2)))
                      for n, v in q.items()}  # fmt: skip
            out[name][f"{a:g}"] = {
                "pareto_k": k,
                "reliable": bool(k <= PARETO_K_OK),
                "shift": shift,
                "shift_sd": {n: (s / sd[n] if sd[n] > 0 else 0.0) for n, s in shift.items()},
                "sd_ratio": {n: (new_sd[n] / sd[n] if sd[n] > 0 else 1.0) for n in q},
                "cjs": {n: cjs_distance(v, w) for n, v in q.items()},
            }
    return out
