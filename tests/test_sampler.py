"""A fit reports its progress in logs, not only on a terminal, and the draws do not change."""

from __future__ import annotations

import numpy as np
import pytest

from prt_sim.inference.sampler import _Lines, progress_mode


def test_progress_lines_say_draws_divergences_and_time_left(monkeypatch):
    lines: list[str] = []
    clock = iter([100.0, 101.0, 106.0, 112.0])
    monkeypatch.setattr("prt_sim.inference.sampler.time.monotonic", lambda: next(clock))
    report = _Lines(lines.append, every=5.0, label="sampling")
    report("0|600|0,0,")  # the first report starts the clock
    report("100|600|0,1,")  # 1 s later: too soon for another line
    report("300|600|2,1,")  # 6 s after the start: a line
    report("600|600|2,1,")  # finished: always a line
    assert len(lines) == 3
    assert lines[1] == (
        "sampling: 300/600 draws (tuning included), 3 divergences, 6 s elapsed, 6 s left"
    )
    assert lines[2].startswith("sampling: 600/600") and "0 s left" in lines[2]


def test_progress_mode_picks_lines_when_not_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert progress_mode(True) == "lines"
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert progress_mode(True) == "bar"
    assert progress_mode(False) == "none" and progress_mode("lines") == "lines"


@pytest.mark.slow
def test_sampling_with_progress_lines_gives_the_same_draws():
    import pymc as pm

    from prt_sim.inference.sampler import sample

    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        pm.Normal("y", x.sum(), 1.0, observed=2.0)
    lines: list[str] = []
    kw = dict(draws=200, tune=100, chains=2, cores=1, random_seed=4, progressbar=False)
    kw.pop("progressbar")
    a = sample(model, progress="lines", every=0.0, write=lines.append, **kw)
    b = sample(model, progress="none", **kw)
    np.testing.assert_array_equal(a.posterior["x"].values, b.posterior["x"].values)
    assert lines and lines[-1].startswith("sampling: 600/600 draws")


def test_the_direct_hand_over_to_nutpie_gives_pm_samples_draws(monkeypatch):
    """sample() hands the model to PyMC's external-NUTS step directly, skipping
    assign_step_methods; with that step forced off it goes through pm.sample: same draws,
    same groups, same sample stats."""
    import pymc as pm

    from prt_sim.inference import sampler

    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", x.sum(), s, observed=[2.0, 1.5])
    kw = dict(draws=150, tune=100, chains=2, cores=1, random_seed=5, target_accept=0.9,
              compute_convergence_checks=False)  # fmt: skip
    assert sampler._external_nuts() is not None and sampler._only_continuous(model)
    direct = sampler.sample(model, progress="none", **kw)
    monkeypatch.setattr(sampler, "_external_nuts", lambda: None)
    via_pm = sampler.sample(model, progress="none", **kw)
    assert set(direct.groups()) == set(via_pm.groups())
    for name in ("x", "s"):
        np.testing.assert_array_equal(direct.posterior[name].values, via_pm.posterior[name].values)
    np.testing.assert_array_equal(
        direct.sample_stats["step_size"].values, via_pm.sample_stats["step_size"].values
    )


def test_a_model_with_a_discrete_variable_is_left_to_pm_sample():
    import pymc as pm

    from prt_sim.inference import sampler

    with pm.Model() as model:
        pm.Poisson("k", 3.0)
        pm.Normal("x", 0.0, 1.0)
    assert not sampler._only_continuous(model)
    with pytest.raises(ValueError, match="NUTS alone"):
        sampler.sample(model, progress="none", draws=10, tune=10, chains=1)
