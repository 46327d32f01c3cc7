"""Leave one patient out with the random effects integrated out (prt_sim.inference.loo).

The integration is checked against a closed form: with a Gaussian stand-in for the model's
likelihood, a patient's marginal probability under the population's standard normal random
effects is known exactly. The real model is run once, small.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import stats
from test_patient_checks import _hand_made_fit

import prt_sim.inference.patient_model as pm_mod
from prt_sim.errors import ValidationError
from prt_sim.inference.loo import integrated_log_likelihood
from prt_sim.inference.patient_model import random_effects

pytestmark = pytest.mark.data
S = 0.5  # SD of the stand-in likelihood around each patient's target


def _targets(n):
    return np.linspace(-1.5, 1.5, n)


def _noisy_fit(data, n_draws=4, seed=0):
    """A hand-made fit whose random effects vary over draws around each patient's posterior."""
    n = data.records.sizes["patient"]
    fit = _hand_made_fit(data, np.zeros(n), n_draws=n_draws)
    rng = np.random.default_rng(seed)
    a = _targets(n)
    post_mean, post_sd = a / (1 + S**2), np.sqrt(S**2 / (1 + S**2))
    for e in random_effects(fit):
        fit.posterior[e] = (("chain", "draw", "patient"),
                            post_mean + post_sd * rng.standard_normal((1, n_draws, n)))  # fmt: skip
    return fit


def test_the_integral_is_the_closed_form(public_data, monkeypatch):
    n = public_data.records.sizes["patient"]
    a = _targets(n)

    class _Model:
        pass

    seen = {}

    def fake_build(sub, **kwargs):
        seen.update(kwargs)
        m = _Model()
        m.n = sub.records.sizes["patient"]
        return type("Parts", (), {"model": m})()

    def fake_likelihood(model, names):
        idx = np.arange(model.n) % n  # copy-major: candidate c of patient i at c * n + i

        def ll(*args):
            z = np.stack(args[len(names) :])
            return stats.norm.logpdf(a[idx], z, S).sum(0)

        return ll

    monkeypatch.setattr(pm_mod, "build_patient_model", fake_build)
    monkeypatch.setattr(pm_mod, "likelihood_function", fake_likelihood)
    fit = _noisy_fit(public_data, n_draws=400)  # the proposal is read from these draws
    out = integrated_log_likelihood(fit, public_data, n_draws=3,
                                    n_effects=512, seed=2)  # fmt: skip
    got = out.log_likelihood["patient_loglik"].values[0]
    exact = len(random_effects(fit)) * stats.norm.logpdf(a, 0.0, np.sqrt(1 + S**2))
    # The candidates keep their patient's own draws of the traits that are not random effects.
    from prt_sim.inference.patient_model import patient_records
    from prt_sim.inference.posterior import fit_configuration

    own = patient_records(public_data, fit_configuration(fit)[2], 0).std
    np.testing.assert_array_equal(seen["trait_draws"]["floor"], np.tile(own["floor"], 512))
    err = got - exact
    # Monte Carlo error of 512 candidates: about 0.04 per value, no bias.
    assert abs(err.mean()) < 0.01 and np.sqrt((err**2).mean()) < 0.06 and abs(err).max() < 0.25
    ess = out.sample_stats["candidate_ess"].values
    assert ess.min() > 100  # the proposal sits on the posterior
    # Same seed, same numbers; another seed, other candidates.
    again = integrated_log_likelihood(fit, public_data, n_draws=3,
                                      n_effects=512, seed=2)  # fmt: skip
    np.testing.assert_array_equal(again.log_likelihood["patient_loglik"].values, got[None])
    other = integrated_log_likelihood(fit, public_data, n_draws=3,
                                      n_effects=512, seed=3)  # fmt: skip
    assert not np.array_equal(other.log_likelihood["patient_loglik"].values, got[None])


@pytest.mark.slow
def test_the_real_model_gives_a_loo_per_patient(public_data):
    fit = _noisy_fit(public_data, n_draws=3)
    out = integrated_log_likelihood(fit, public_data, n_draws=3, n_effects=8, seed=1)
    ll = out.log_likelihood["patient_loglik"]
    assert ll.dims == ("chain", "draw", "patient") and ll.shape == (1, 3, 151)
    assert np.isfinite(ll.values).all() and (ll.values < 0).all()
    assert (out.sample_stats["candidate_ess"].values >= 1 - 1e-9).all()
    assert out.log_likelihood.attrs["seed"] == 1
    with pytest.warns(UserWarning):  # three draws are too few for PSIS, and arviz says so
        loo = az.loo(out, pointwise=True)
    assert np.asarray(loo.pareto_k).shape == (151,)


def test_refuses_what_it_cannot_score(public_data):
    fit = _noisy_fit(public_data, n_draws=2)
    import prt_sim as ps

    with pytest.raises(ValidationError, match="data.level"):
        integrated_log_likelihood(fit, ps.data.published_ashar2022())
    with pytest.raises(ValidationError, match="same patients"):
        integrated_log_likelihood(fit, public_data.subset(arms=["prt", "usual_care"]))
    with pytest.raises(ValidationError, match="n_effects"):
        integrated_log_likelihood(fit, public_data, n_effects=4)
