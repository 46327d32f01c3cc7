# Two entry points (see README): `make run` (the main job) and `make test` (lint + tests).
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint format bench docs lessons mechanisms clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## The main job: fit the trial, check the fit, forecast 5 years, write out/reproduce/report.md.
run: install
	MPLBACKEND=Agg $(VENV)/bin/prt-sim reproduce --out out/reproduce

## Lint, then the whole test suite (slow tests included, as in CI), on two workers; the tests
## that fit the default model share one worker, so that model is compiled once.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MPLBACKEND=Agg $(PY) -m pytest -q -n 2 --dist loadgroup --durations=20

## The patient-level chain, in order (hours on 2 cores; each fit is saved in out/mechanisms and
## reused): every memory mechanism fitted and compared (docs/mechanisms.md), then the analyses
## that read those fits and write their blocks of validation.md and forecasting.md.
mechanisms: install
	MPLBACKEND=Agg $(PY) experiments/compare_mechanisms.py
	MPLBACKEND=Agg $(PY) experiments/paired_changes.py
	MPLBACKEND=Agg $(PY) experiments/skeleton_gap.py
	MPLBACKEND=Agg $(PY) experiments/late_responders.py
	MPLBACKEND=Agg $(PY) experiments/prior_sensitivity.py
	MPLBACKEND=Agg $(PY) experiments/constants_sensitivity.py
	MPLBACKEND=Agg $(PY) experiments/no_weekly_surveys.py

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/forecast.py

## The docs site (site/): equations as MathML, the API reference, the lessons; warnings fail.
docs: install
	$(VENV)/bin/mkdocs build --strict

## Run every numbered lesson with its defaults; their figures go to docs/figures/lessons.
lessons: install
	for f in examples/[0-9][0-9]_*.py; do MPLBACKEND=Agg $(PY) $$f docs/figures/lessons || exit 1; done
	find docs/figures/lessons -mindepth 1 -type d -prune -exec rm -rf {} +  # keep the figures only

clean:
	rm -rf $(VENV) out site .pytest_cache .ruff_cache
