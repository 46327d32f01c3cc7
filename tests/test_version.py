"""The version means something: it changes when the equations do, and outputs record it."""

from __future__ import annotations

import shutil
from pathlib import Path

import prt_sim
from prt_sim._version import MODEL_FINGERPRINT, model_fingerprint

PKG = Path(prt_sim.__file__).resolve().parent


def test_the_version_tracks_the_equations():
    got = model_fingerprint()
    assert got == MODEL_FINGERPRINT, (
        f"the model's sources changed (fingerprint {got}, released {MODEL_FINGERPRINT} as "
        f"prt_sim {prt_sim.__version__}): bump __version__ in prt_sim/_version.py and set "
        f"MODEL_FINGERPRINT = {got!r}"
    )


def test_the_fingerprint_sees_equations_not_prose(tmp_path):
    copy = tmp_path / "prt_sim"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = model_fingerprint(copy)
    dyn = copy / "model" / "dynamics.py"
    text = dyn.read_text()
    # a reworded docstring and a new comment: not a change of the equations
    dyn.write_text(text.replace('"""Advance one patient', '"""Advance one\n    patient', 1)
                   .replace("    dt = d.dt\n", "    dt = d.dt  # step length\n", 1))  # fmt: skip
    assert model_fingerprint(copy) == base
    # a changed term is
    dyn.write_text(text.replace("return minimum(10.0, maximum(0.0, raw))",
                                "return minimum(10.0, maximum(0.0, raw + 0.1))", 1))  # fmt: skip
    assert model_fingerprint(copy) != base


def test_outputs_carry_version_and_configuration_hash():
    c = prt_sim.Cohort.from_trial_baseline(3, seed=1)
    res = prt_sim.simulate(c, "none", horizon_days=5, visits=(prt_sim.Visit(name="v", day=0),))
    assert res.attrs["prt_sim_version"] == prt_sim.__version__
    from prt_sim.io import config_hash

    assert res.attrs["config_hash"] == config_hash(res.config)
