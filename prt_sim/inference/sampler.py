"""Sampling a PyMC model with NUTS: nutpie through the compile cache, with progress that reaches logs.

nutpie draws its progress bar only on a terminal (or in a notebook); under ``make run > log``
a fit would print nothing for minutes. :func:`sample` runs ``pm.sample`` as usual and, when
asked for plain-text progress, has nutpie report through a callback: a line every few seconds
with the draws done, divergences so far, elapsed time and the time left. The draws are the
same either way (progress only reads the sampler's counters).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

__all__ = ["sample", "progress_mode"]

# A plain-text template for nutpie's progress callback: fields separated by "|", divergences
# per chain separated by ",".
_TEMPLATE = (
    "{{ total_finished_draws }}|{{ total_draws }}|"
    "{% for chain in chains %}{{ chain.divergences }},{% endfor %}"
)


def progress_mode(progress: bool | str) -> str:
    """``"bar"`` (nutpie's own, on a terminal), ``"lines"`` (plain lines, for logs) or
    ``"none"``; ``True`` picks the bar on a terminal and lines otherwise."""
    if progress in ("bar", "lines", "none"):
        return progress
    if not progress:
        return "none"
    return "bar" if sys.stderr.isatty() else "lines"


class _Lines:
    """Turns nutpie's formatted progress into a line every ``every`` seconds."""

    def __init__(self, write: Callable[[str], None], every: float, label: str):
        self.write, self.every, self.label = write, every, label
        self.start: float | None = None  # the first report: sampling has started
        self.last = -float("inf")

    def __call__(self, formatted: str) -> None:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        done, total, divs = (formatted.split("|") + ["", "", ""])[:3]
        done, total = int(done or 0), int(total or 0)
        if now - self.last < self.every and done < total:
            return
        self.last = now
        elapsed = now - self.start
        left = f"{elapsed * (total - done) / done:.0f} s" if done else "?"
        n_div = sum(int(d) for d in re.findall(r"\d+", divs))
        self.write(
            f"{self.label}: {done}/{total} draws (tuning included), {n_div} divergences, "
            f"{elapsed:.0f} s elapsed, {left} left"
        )


@contextmanager
def _progress_lines(report: _Lines):
    """Within the block, ``nutpie.sample`` reports through ``report`` instead of a terminal
    bar (the sampler itself is unchanged)."""
    import importlib

    from nutpie import _lib

    ns = importlib.import_module("nutpie.sample")  # the module (``nutpie.sample`` is a function)

    original = ns._BackgroundSampler

    class Logged(original):
        # nutpie's own constructor (0.16), with a progress callback in place of a display.
        def __init__(self, compiled_model, settings, init_mean, cores, *, store=None, **kw):
            self._settings = settings
            self._compiled_model = compiled_model
            self._save_warmup = kw.get("save_warmup", True)
            self._return_raw_trace = kw.get("return_raw_trace", False)
            self._html = None
            if store is None:
                store = _lib.PyStorage.arrow()
            elif type(store).__module__ == "_lib.store":
                self._zarr_store = store
                store = _lib.PyStorage.zarr(store)
            self._store = store
            progress = _lib.ProgressType.template_callback(1000, _TEMPLATE, cores, report)
            self._sampler = compiled_model._make_sampler(
                settings, init_mean, cores, progress, self._store
            )

    ns._BackgroundSampler = Logged
    try:
        yield
    finally:
        ns._BackgroundSampler = original


def sample(
    model,
    *,
    sampler: str = "nutpie",
    progress: bool | str = True,
    every: float = 5.0,
    write: Callable[[str], None] | None = None,
    nuts_sampler_kwargs: dict[str, Any] | None = None,
    **kwargs,
):
    """``pm.sample`` of ``model`` with nutpie (through the compile cache) or PyMC's NUTS.

    Parameters
    ----------
    sampler : {"nutpie", "pymc"}
    progress : bool or {"bar", "lines", "none"}
        See :func:`progress_mode`; ``"lines"`` writes a line every ``every`` seconds.
    write : callable, optional
        Where progress lines go (default: print to stderr, flushed).
    **kwargs
        Passed to ``pm.sample`` (draws, tune, chains, cores, random_seed, target_accept, ...).
    """
    import pymc as pm

    from .nutpie_cache import cached_compile

    mode = progress_mode(progress)
    write = write or (lambda s: print(s, file=sys.stderr, flush=True))
    with model:
        if sampler == "pymc":
            return pm.sample(progressbar=mode != "none", **kwargs)
        lines = _progress_lines(_Lines(write, every, "sampling")) if mode == "lines" else None
        with cached_compile():  # the compiled model is reused across processes
            with lines if lines is not None else _nullcontext():
                external = _external_nuts()
                if external is None or not _only_continuous(model):
                    return pm.sample(
                        nuts_sampler="nutpie",
                        progressbar=mode == "bar",
                        nuts_sampler_kwargs=nuts_sampler_kwargs or {},
                        **kwargs,
                    )
                return external(
                    sampler="nutpie",
                    draws=kwargs.pop("draws", 1000),
                    tune=kwargs.pop("tune", 1000),
                    chains=kwargs.pop("chains", 4),
                    target_accept=kwargs.pop("target_accept", 0.8),
                    random_seed=kwargs.pop("random_seed", None),
                    initvals=None,
                    model=model,
                    var_names=None,
                    progressbar=mode == "bar",
                    quiet=False,
                    idata_kwargs=None,
                    compute_convergence_checks=kwargs.pop("compute_convergence_checks", True),
                    nuts_sampler_kwargs=dict(nuts_sampler_kwargs or {}),
                )


def _external_nuts():
    """PyMC's own hand-over to an external NUTS sampler, which ``pm.sample`` reaches only after
    ``assign_step_methods`` has differentiated the log density once per free variable to choose
    step methods nutpie never uses (15-17 s per fit, measured on both trial models). Calling it
    directly gives the same InferenceData from the same seed (tested); ``None`` if this PyMC
    does not have it with the arguments we pass, and then ``pm.sample`` runs."""
    import inspect

    try:
        from pymc.sampling.mcmc import _sample_external_nuts
    except ImportError:  # pragma: no cover - another PyMC
        return None
    want = {"sampler", "draws", "tune", "chains", "target_accept", "random_seed", "initvals",
            "model", "var_names", "progressbar", "quiet", "idata_kwargs",
            "compute_convergence_checks", "nuts_sampler_kwargs"}  # fmt: skip
    if not want <= set(inspect.signature(_sample_external_nuts).parameters):
        return None  # pragma: no cover - another PyMC
    return _sample_external_nuts


def _only_continuous(model) -> bool:
    """What ``pm.sample`` checks before an external NUTS sampler: every free variable is
    continuous (else it raises; here ``pm.sample`` is left to say so)."""
    return bool(model.free_RVs) and all(v.type.dtype.startswith("float") for v in model.free_RVs)


@contextmanager
def _nullcontext():
    yield
