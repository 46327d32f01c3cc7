"""Parameter recovery: simulate a trial with known parameters (full stochastic simulator),
summarise it like the published figures, fit it, and find the truth in the posterior."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import prt_sim as ps
from prt_sim.data import trial_from_simulations
from prt_sim.inference import DEFAULT_PRIORS

warnings.filterwarnings("ignore", category=FutureWarning)

#: Truth differs from the prior centres where the arm-level data can tell.
TRUTH = {"edu_efficacy_median": 0.2, "pain_mean": 3.4, "placebo_median": 0.3}


def _synthetic_trial(seed: int = 7):
    spec = ps.CohortSpec(
        edu_efficacy_median=TRUTH["edu_efficacy_median"],
        pain_mean=TRUTH["pain_mean"],
        placebo_median=TRUTH["placebo_median"],
    )
    protocols = {
        "prt": ps.protocols.PRT(),
        "placebo": ps.protocols.OpenLabelPlacebo(),
        "usual_care": ps.protocols.UsualCare(),
    }
    sizes = {"prt": 50, "placebo": 51, "usual_care": 50}
    results, offset = {}, 0
    for arm, prot in protocols.items():
        cohort = ps.Cohort.from_trial_baseline(sizes[arm], seed=seed, spec=spec, id_offset=offset)
        offset += 10**6
        results[arm] = ps.simulate(cohort, prot, seed=seed, horizon_days=400)
    return trial_from_simulations(results, protocols, source="synthetic (recovery test)")


@pytest.mark.slow
def test_fit_recovers_known_parameters():
    trial = _synthetic_trial()
    tm = ps.TrialModel(trial.to_arm_level())
    idata = tm.fit(draws=400, tune=300, chains=2, seed=11, progress=False)
    diag = tm.diagnostics(idata)
    assert diag["divergences"] == 0 and diag["max_rhat"] < 1.05, diag
    post = idata.posterior
    for name, true in TRUTH.items():
        draws = post[name].values.ravel()
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert lo <= true <= hi, (name, true, lo, hi)
        # The data moved the posterior from the prior centre toward the truth.
        prior_centre = float(np.median(DEFAULT_PRIORS[name].draw(np.random.default_rng(0), 20000)))
        assert abs(np.median(draws) - true) < abs(prior_centre - true), (name, prior_centre)
