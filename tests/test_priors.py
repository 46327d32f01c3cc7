"""The default priors: each names its basis, the docs tables are the code's (including how far
each hand-set default lies from its prior's centre), and the prior predictive check of the
anchoring runs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import prt_sim as ps
from prt_sim.inference.priors import (
    DEFAULT_PRIORS,
    MECHANISM_PRIORS,
    PATIENT_FLOOR_MEAN_PRIOR,
    PATIENT_PAIN_SD_PRIOR,
    PATIENT_VARIABILITY_SD_PRIOR,
    SURVEY_OFFSET_PRIOR,
    validate_priors,
)

ROOT = Path(__file__).resolve().parents[1]
ALL = {
    **DEFAULT_PRIORS,
    **MECHANISM_PRIORS,
    "pain_sd": PATIENT_PAIN_SD_PRIOR,
    "floor_mean": PATIENT_FLOOR_MEAN_PRIOR,
    "survey_offset": SURVEY_OFFSET_PRIOR,
    "variability_sd": PATIENT_VARIABILITY_SD_PRIOR,
}
# A citation ("Author et al. 2019", "Author & Author 2016") or an argued weakly informative range.
_CITED = re.compile(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?: et al\.| & [A-Z][a-z]+)? \d{4}")


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_prior_names_its_basis(name):
    doc = ALL[name].doc
    assert _CITED.search(doc) or "weakly informative" in doc.lower() or "nominal" in doc, (
        f"prior {name!r} names no source and does not say it is weakly informative: {doc!r}"
    )


def _distance_from_default(name: str) -> float:
    """How far the hand-set default lies from the prior's centre, in prior SDs (log scale for
    log-normal priors), with the prior truncated to its field's range as fitted."""
    pr = validate_priors({name: ALL[name]})[name]
    if pr.target == "protocol":
        default = 1.0  # the protocols' nominal self-guided dose
    else:
        target = ps.ModelParams() if pr.target == "params" else ps.CohortSpec()
        default = getattr(target, name)
    x = pr.draw(np.random.default_rng(0), 40001)
    f = np.log if pr.family == "lognormal" else (lambda v: v)
    return float(abs(f(default) - np.median(f(x))) / np.std(f(x)))


def test_how_near_each_prior_is_to_the_hand_set_default_is_disclosed():
    """docs/inference.md lists, for every default prior, how far the hand-set default (chosen
    with the trial's outcomes in view) lies from the prior's centre. A prior changed without
    updating that disclosure fails here."""
    text = (ROOT / "docs" / "inference.md").read_text()
    # The mechanisms' priors were written weakly informative from the start (no hand-set centre).
    for name in [*DEFAULT_PRIORS, "pain_sd", "floor_mean", "survey_offset", "variability_sd"]:
        row = next(
            (
                ln
                for ln in text.splitlines()
                if ln.startswith(f"| `{name}` |") and ln.count("|") == 7
            ),
            None,
        )
        assert row is not None, f"docs/inference.md discloses nothing for {name}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == ALL[name].describe(), (name, cells[2])
        assert abs(float(cells[5]) - _distance_from_default(name)) < 0.02, (name, cells[5])


def test_docs_table_is_the_code():
    text = (ROOT / "docs" / "inference.md").read_text()
    for name, pr in DEFAULT_PRIORS.items():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docs/inference.md has no row for {name}"
        assert row == f"| `{name}` | {pr.describe()} | {pr.target} | {pr.doc} |", (name, row)
    assert f"`pain_sd` (patient level) | {PATIENT_PAIN_SD_PRIOR.describe()}" in text
    row = f"| `floor_mean` (patient level) | {PATIENT_FLOOR_MEAN_PRIOR.describe()} | spec |"
    assert f"{row} {PATIENT_FLOOR_MEAN_PRIOR.doc} |" in text
    row = f"| `survey_offset` (patient level) | {SURVEY_OFFSET_PRIOR.describe()} | params |"
    assert f"{row} {SURVEY_OFFSET_PRIOR.doc} |" in text
    pr = PATIENT_VARIABILITY_SD_PRIOR
    row = f"| `variability_sd` (patient level) | {pr.describe()} | spec |"
    assert f"{row} {pr.doc} |" in text


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_prior_predictive_check_simulates_the_other_trials():
    pp = _script("prior_predictive")
    s = pp.measure(n_draws=6, n_patients=150, seed=3)
    assert s["draws"] >= 4  # the cohort builder inverts (nearly) every prior draw
    rows = {r["check"]: r for r in s["rows"]}
    assert [r["published"] for r in rows.values()] == [c[3] for c in pp.CHECKS]
    # Treatment minus no treatment on the same patients and random numbers: placebo and
    # education lower pain in (nearly) every prior draw (different patients or shocks in the
    # two arms would spread the differences around 0).
    assert rows["open-label placebo, 3 weeks: pain vs usual care"]["hi90"] < 0.0
    assert rows["pain education, 2 sessions: pain at 2 weeks"]["hi90"] <= 0.0
    # Same seed, same numbers.
    assert pp.measure(n_draws=6, n_patients=150, seed=3) == s
