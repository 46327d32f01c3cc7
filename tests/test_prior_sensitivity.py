"""Power-scaling prior sensitivity (prt_sim.inference.prior_sensitivity), checked against a
conjugate normal model whose reweighted posterior is known in closed form."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import integrate

import prt_sim as ps
from prt_sim.errors import ValidationError
from prt_sim.inference.prior_sensitivity import (
    cjs_distance,
    power_scale_weights,
    prior_sensitivity,
)
from prt_sim.inference.priors import Prior
from prt_sim.io import to_jsonable

Y, SIGMA = 3.6, 0.2  # one observation of pain_mean with this noise


@pytest.fixture(scope="module")
def conjugate_fit():
    """Exact posterior draws of pain_mean under its default prior, Normal(3.0, 0.5)."""
    tm = ps.TrialModel(ps.data.published_ashar2022())
    prior = tm.priors["pain_mean"]
    prec = 1 / SIGMA**2 + 1 / prior.b**2
    mean = (Y / SIGMA**2 + prior.a / prior.b**2) / prec
    draws = np.random.default_rng(3).normal(mean, prec**-0.5, (1, 40_000))
    post = xr.Dataset({"pain_mean": (("chain", "draw"), draws)})
    idata = az.InferenceData(posterior=post)
    idata.attrs["config"] = json.dumps(to_jsonable(tm.config()))
    return idata, prior


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_reweighting_gives_the_posterior_under_the_scaled_prior(conjugate_fit, alpha):
    idata, prior = conjugate_fit
    x = idata.posterior["pain_mean"].values[0]
    chain, draw = np.zeros(x.size, int), np.arange(x.size)
    res = prior_sensitivity(idata, {"pain_mean": x}, chain, draw, alphas=(alpha,),
                            names=["pain_mean"])  # fmt: skip
    # prior^alpha of a normal is a normal with variance b^2 / alpha
    prec = 1 / SIGMA**2 + alpha / prior.b**2
    exact = (Y / SIGMA**2 + alpha * prior.a / prior.b**2) / prec
    one = res["pain_mean"][f"{alpha:g}"]
    assert one["reliable"]
    assert x.mean() + one["shift"]["pain_mean"] == pytest.approx(exact, abs=0.004)
    assert set(res) == {"pain_mean", "all"}  # "all" scales every named prior together
    assert res["all"][f"{alpha:g}"]["shift"] == one["shift"]


def test_weights_are_normalised_and_refuse_silly_powers():
    w, k = power_scale_weights(np.random.default_rng(0).normal(size=500), 0.5)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all() and k < 0.7
    with pytest.raises(ValidationError, match="alpha"):
        power_scale_weights(np.zeros(10), 0.0)


@pytest.mark.parametrize(
    "prior",
    [
        Prior("normal", 3.0, 0.5, "spec"),
        Prior("lognormal", 0.12, 0.75, "spec", lower=0.01, upper=2.0),
        Prior("beta", 2.0, 30.0, "params"),
        Prior("truncnormal", 1.4, 0.5, "spec", lower=0.0, upper=4.0),
    ],
)
def test_prior_log_density_is_a_truncated_density(prior):
    lo = (
        prior.lower
        if prior.lower is not None
        else {"beta": 0.0, "lognormal": 0.0}.get(prior.family, -10.0)
    )
    hi = prior.upper if prior.upper is not None else {"beta": 1.0}.get(prior.family, 20.0)
    mass, _ = integrate.quad(lambda v: np.exp(prior.logpdf(v)), lo, hi, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-4)
    if prior.lower is not None:
        assert prior.logpdf(prior.lower - 1e-3) == -np.inf


def test_refuses_quantities_of_the_wrong_length(conjugate_fit):
    idata, _ = conjugate_fit
    with pytest.raises(ValidationError, match="one value per draw"):
        prior_sensitivity(idata, {"q": np.zeros(3)}, [0, 0], [0, 1], names=["pain_mean"])
    with pytest.raises(ValidationError, match="fitted parameters"):
        prior_sensitivity(idata, {"q": np.zeros(2)}, [0, 0], [0, 1], names=["nonsense"])


def test_cjs_distance_grows_with_the_change_and_sees_spread():
    x = np.random.default_rng(1).normal(size=4000)
    flat = np.full(x.size, 1 / x.size)
    assert cjs_distance(x, flat) == pytest.approx(0.0, abs=1e-6)
    shifts = []
    for d in (0.1, 0.3, 0.6):
        w = np.exp(d * x)
        shifts.append(cjs_distance(x, w / w.sum()))
    assert 0 < shifts[0] < shifts[1] < shifts[2] < 1
    # A change of spread with the mean unchanged is seen too (what a mean shift misses).
    w = np.exp(-(x**2) / (2 * 1.5**2) + x**2 / 2)
    assert cjs_distance(x, w / w.sum()) > 0.05


def test_prior_log_density_is_the_one_pymc_samples_from():
    import pymc as pm

    from prt_sim.inference.priors import DEFAULT_PRIORS, validate_priors

    priors = validate_priors(dict(DEFAULT_PRIORS))
    for name in ("pain_mean", "reinstatement", "edu_efficacy_median", "entry_shift"):
        pr = priors[name]
        x = pr.draw(np.random.default_rng(0), 5)
        with pm.Model():
            rv = pr.dist(name)
            ref = np.array([float(pm.logp(rv, v).eval()) for v in x])
        diff = pr.logpdf(x) - ref  # the same density (normalising constants agree to 1e-4)
        assert np.ptp(diff) < 1e-8 and abs(diff.mean()) < 1e-4
