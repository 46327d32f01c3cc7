"""Every numbered lesson in examples/ runs (shorter settings than a student's defaults), says
what it found, saves its figure, is listed in examples/README.md, and answers a bad option
with the allowed values instead of a traceback."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = ROOT.parent / "shared" / "data" / "ashar2022"

# lesson: (shorter arguments for CI, what its printout must say, a bad option, what the refusal names)
LESSONS = {
    "01_one_patient": (
        ["--days", "60"],
        ["flare-ups, on the same days in both runs"],
        ["--versus", "usualcare"],
        "usual_care",
    ),
    "02_fear_avoidance_cycle": (
        ["--n", "100"],
        ["change from T1 to post", "fear moves through the belief"],
        ["--mechanism", "fear"],
        "fear_mediated",
    ),
    "03_trial_in_silico": (
        ["--trials", "20", "--big", "500"],
        ["model defaults (hand-set, not fitted", "PRT - usual care, pain at post"],
        ["--visit", "m24"],
        "m12",
    ),
    "04_fit_and_check": (
        ["--draws", "40", "--tune", "40", "--ppc-draws", "6"],
        ["R-hat (do independent chains agree", "published figures inside their 90% intervals"],
        ["--param", "reinstatment"],
        "reinstatement",
    ),
    "05_how_long_gains_last": (
        ["--n", "300", "--years", "2", "--mechanisms", "inhibition", "consolidation"],
        ["PRT pain-free", "consolidation 1.00", "Pareto k > 0.7"],
        ["--mechanisms", "consolidate"],
        "consolidation",
    ),
    "06_what_if": (
        ["--patients", "100", "--replicates", "2", "--executor", "sequential"],
        ["Trial PRT (8 sessions, no booster)", "matters most"],
        ["--executor", "seq"],
        "sequential",
    ),
    "07_access": (
        ["--replications", "2", "--days", "182"],
        ["therapists | wait of those seen", "more pain-days"],
        ["--format", "grup"],
        "group",
    ),
    "08_one_patients_future": (
        ["--draws", "2"],
        ["the priors (no fit given)", "chance of pain 0-1"],
        ["--upto", "week99"],
        "week4",
    ),
}


def _run(name, *args, timeout=600):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def test_every_numbered_lesson_is_tested_listed_and_documented():
    found = sorted(p.stem for p in EXAMPLES.glob("[0-9][0-9]_*.py"))
    assert found == sorted(LESSONS)
    readme = (EXAMPLES / "README.md").read_text()
    for i, name in enumerate(found, start=1):
        path = EXAMPLES / f"{name}.py"
        assert name.startswith(f"{i:02d}_")  # numbered in order, no gaps
        assert f"{name}.py" in readme and f"{name}.png" in readme
        assert len(path.read_text().splitlines()) < 150  # short enough to read in one go
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc.startswith(f"Lesson {i}:")
        for part in ("The question:", "Look at the figure:", "Try:", "Run with"):
            assert part in doc, (name, part)


def _with_group(name):
    # Lesson 4 fits the default model: on the worker that fits it in other tests, so the
    # compiled model is built once.
    if name == "04_fit_and_check":
        return pytest.param(name, marks=pytest.mark.xdist_group("default_fit"))
    return name


@pytest.mark.example
@pytest.mark.slow
@pytest.mark.parametrize("name", [_with_group(n) for n in sorted(LESSONS)])
def test_lesson_runs_and_saves_its_figure(name, tmp_path):
    if name == "08_one_patients_future" and not DATA.is_dir():
        pytest.skip(f"the public data are not at {DATA}")
    args, says, _, _ = LESSONS[name]
    proc = _run(name, str(tmp_path), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for text in says:
        assert text in proc.stdout, (text, proc.stdout)
    assert f"wrote {tmp_path / name}.png" in proc.stdout
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*"))  # no half-written files left


@pytest.mark.example
@pytest.mark.parametrize("name", sorted(LESSONS))
def test_a_bad_option_prints_the_allowed_values(name, tmp_path):
    _, _, bad, allowed = LESSONS[name]
    proc = _run(name, str(tmp_path), *bad, timeout=120)
    assert proc.returncode != 0
    assert allowed in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not list(tmp_path.iterdir())  # refused before anything was written
