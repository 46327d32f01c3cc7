"""Same seed, same posterior, whatever the state of the compile caches.

A fit runs in a fresh process twice over the same, initially empty, PyTensor compile folder
(where the compiled graph and nutpie's callbacks are cached): the first compiles the model
(cold), the second loads it (warm). The draws must be bit for bit the same. (The numba caches
of prt_sim's own kernels are keyed on their sources: ``tests/test_jit_cache.py``.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = """
import hashlib, warnings
warnings.filterwarnings("ignore")
import numpy as np
import prt_sim as ps
# A small model (PRT and usual care, mean pain through post, three fitted parameters): its cold
# compile is the part that takes time.
data = ps.data.published_ashar2022().subset(
    arms=["prt", "usual_care"], measures="pain_avg", max_day=30
)
priors = {k: ps.inference.DEFAULT_PRIORS[k]
          for k in ("edu_efficacy_median", "exposure_learning", "pain_mean")}
tm = ps.TrialModel(data, n_agents=4, priors=priors)
idata = tm.fit(draws=40, tune=40, chains=2, cores=2, seed=7, progress=False)
h = hashlib.sha256()
for name in sorted(idata.posterior.data_vars):
    h.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_cold_and_warm_compile_caches_give_the_same_draws(tmp_path):
    # PyTensor's C modules are copied (they serve the initial point only, and compiling them
    # anew takes minutes); its numba cache, where the sampled code lives, starts empty.
    base = subprocess.run(
        [sys.executable, "-c", "import pytensor; print(pytensor.config.base_compiledir)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    compiledir = tmp_path / "pytensor"
    if Path(base).is_dir():
        shutil.copytree(base, compiledir, ignore=shutil.ignore_patterns("numba", "lock_dir"))
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")

    def fit() -> str:
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip().splitlines()[-1]

    cold = fit()
    assert any((tmp_path / "pytensor").rglob("prt_sim_nutpie-*.json")), "the cache was not filled"
    warm = fit()
    assert cold == warm
