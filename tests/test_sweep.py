"""Sweeps: the same numbers on any executor, extension keeps results, resume refuses another
spec, failures are recorded and retried, bad input is refused before work names the key."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prt_sim.cli import main
from prt_sim.errors import DataFormatError, ValidationError
from prt_sim.experiments import (
    Arm,
    Design,
    Factor,
    Outcome,
    SequentialExecutor,
    SweepSpec,
    load_spec,
    load_sweep,
    run_sweep,
    task_seeds,
)
from prt_sim.experiments.design import design_points, saltelli_blocks
from prt_sim.experiments.store import MANIFEST

OUTCOMES = (
    Outcome("pain_free", "pain_free", days=(30, 91)),
    Outcome("pain", "pain_mean", days=(91,)),
    Outcome("relapsed", "relapse", days=(91,)),
    Outcome("free_time", "pain_free_time"),
)


def small(n=4, replicates=1, seed=7, **kw) -> SweepSpec:
    base = dict(
        factors=(
            Factor("params.exposure_learning", range=(0.05, 0.3)),
            Factor("cohort.cat_mean", range=(0.1, 0.4)),
        ),
        design=Design("sobol", n=n),
        outcomes=OUTCOMES,
        replicates=replicates,
        n_patients=12,
        horizon_days=100,
        seed=seed,
    )
    base.update(kw)
    return SweepSpec(**base)


VARS = ("status", "cohort_seed", "sim_seed", "pain_free", "pain", "relapsed", "free_time")


def same(a, b, points=None, replicates=None):
    for v in VARS:
        x, y = a[v], b[v]
        if points is not None:
            x = x.isel(point=slice(0, points), replicate=slice(0, replicates))
            y = y.isel(point=slice(0, points), replicate=slice(0, replicates))
        assert np.array_equal(x.values, y.values, equal_nan=v not in VARS[:3]), v


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sequential run of the small sweep (4 points x 2 replicates)."""
    out = tmp_path_factory.mktemp("ref") / "sweep"
    return run_sweep(small(replicates=2), out, executor="sequential", progress=False)


def test_a_sweep_records_every_outcome_with_its_shape_and_provenance(reference):
    ds = reference.data
    assert reference.summary["finished"] == 8 and reference.summary["failed"] == 0
    assert ds["pain_free"].dims == ("point", "replicate", "arm", "population", "pain_free_day")
    assert ds["free_time"].shape == (4, 2, 1, 1)
    assert list(ds["pain_free_day"].values) == [30, 91]
    pf = ds["pain_free"].values
    assert np.all((pf >= 0) & (pf <= 1)) and np.isfinite(ds["pain"].values).all()
    assert ds.attrs["spec_hash"] == small(replicates=2).hash
    assert ds.attrs["kind"] == "sweep" and ds.attrs["seed"] == 7
    # the design's values are labelled on the points, and seeds come from the key alone
    assert np.allclose(ds["exposure_learning"].values, design_points(small()).values[:, 0])
    assert int(ds["sim_seed"][2, 1]) == task_seeds(7, 2, 1)[1]
    # replicates differ (own seeds), and the results file on disk is the same Dataset
    assert not np.array_equal(pf[:, 0], pf[:, 1])
    same(load_sweep(reference.path), ds)


def test_seeds_depend_on_the_key_only():
    a = task_seeds(5, 3, 2)
    assert a == task_seeds(5, 3, 2) and a != task_seeds(5, 2, 3) and a != task_seeds(6, 3, 2)
    assert task_seeds(5, 3, 2, common=True) == task_seeds(5, 0, 2)


def test_dask_gives_the_same_numbers_bit_for_bit(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        run = run_sweep(small(replicates=2), tmp_path / "d", scheduler=client, batch_size=3,
                        progress=False)  # fmt: skip
    assert run.summary["executor"] == "dask"
    same(run.data, reference.data)


@pytest.mark.slow
def test_a_process_pool_gives_the_same_numbers_bit_for_bit(reference, tmp_path):
    run = run_sweep(small(replicates=2), tmp_path / "p", workers=2, batch_size=1, progress=False)
    assert run.summary["executor"] == "pool" and run.summary["workers"] == 2
    same(run.data, reference.data)


def test_extending_keeps_earlier_results_bit_identical(reference, tmp_path):
    out = tmp_path / "ext"
    first = run_sweep(small(n=2), out, executor="sequential", progress=False)
    assert first.summary["ran"] == 2
    more = run_sweep(small(n=4, replicates=2), out, executor="sequential", progress=False)
    assert more.summary["already_done"] == 2 and more.summary["ran"] == 6
    same(more.data, reference.data)
    again = run_sweep(small(n=4, replicates=2), out, executor="sequential", progress=False)
    assert again.summary["ran"] == 0  # nothing left: the same command resumes nothing


def test_a_changed_spec_refuses_to_resume_naming_what_differs(tmp_path):
    out = tmp_path / "s"
    run_sweep(small(n=2), out, executor="sequential", progress=False)
    with pytest.raises(ValidationError, match=r"differ in: n_patients") as e:
        run_sweep(small(n=2, n_patients=13), out, executor="sequential", progress=False)
    assert e.value.field == "out"
    lhs = dict(design=Design("lhs", n=2))
    run_sweep(small(**lhs), tmp_path / "l", executor="sequential", progress=False)
    with pytest.raises(ValidationError, match="extend"):
        run_sweep(small(design=Design("lhs", n=3)), tmp_path / "l", executor="sequential")


def test_a_failing_task_is_recorded_and_the_rest_go_on(tmp_path):
    # therapy session 11 falls on day 39, the arm's booster day: that protocol is refused
    spec = SweepSpec(
        factors=(Factor("protocol.therapy_sessions", levels=(2, 11)),),
        arms=(Arm("prt", boosters=(39,)),),
        outcomes=(Outcome("pain_free", "pain_free", days=(60,)),),
        n_patients=10,
        horizon_days=60,
    )
    out = tmp_path / "f"
    run = run_sweep(spec, out, executor="sequential", progress=False)
    assert run.summary["finished"] == 1 and run.summary["failed"] == 1
    assert list(run.data["status"].values[:, 0]) == [1, 2]
    assert np.isnan(run.data["pain_free"].values[1]).all()
    (fail,) = json.loads(run.data.attrs["failures"])
    assert fail["point"] == 1 and "one session per day" in fail["error"]
    assert (fail["cohort_seed"], fail["sim_seed"]) == task_seeds(0, 1, 0)
    assert run_sweep(spec, out, executor="sequential", progress=False).summary["ran"] == 0
    retry = run_sweep(spec, out, executor=SequentialExecutor(), retry_failed=True, progress=False)
    assert retry.summary["ran"] == 1 and retry.summary["failed_total"] == 1


def test_protocol_factors_change_what_is_delivered(tmp_path):
    spec = SweepSpec(
        factors=(Factor("protocol.exposure_scale", levels=(0.0, 1.0)),),
        arms=(Arm("prt"), Arm("uc", protocol="usual_care")),
        outcomes=(Outcome("pain", "pain_mean", days=(30,)),),
        common_random_numbers=True,
        n_patients=30,
        horizon_days=40,
    )
    ds = run_sweep(spec, tmp_path / "x", executor="sequential", progress=False).data
    pain = ds["pain"].sel(population="trial").values[:, 0, :, 0]  # (point, arm)
    assert pain[0, 0] > pain[1, 0]  # education only relieves less than education + exposure
    assert pain[0, 1] == pain[1, 1]  # usual care has no sessions to scale (and CRN)


def test_saltelli_points_are_A_B_and_AB_blocks_that_extend_as_n_doubles():
    spec = small(n=4, design=Design("saltelli", n=4))
    pts = design_points(spec).values
    a, b, ab = saltelli_blocks(4, 2)
    assert pts.shape == (16, 2)
    assert np.array_equal(pts[ab[0], 0], pts[b, 0]) and np.array_equal(pts[ab[0], 1], pts[a, 1])
    assert np.array_equal(pts[ab[1], 1], pts[b, 1]) and np.array_equal(pts[ab[1], 0], pts[a, 0])
    bigger = design_points(small(design=Design("saltelli", n=8))).values
    assert np.array_equal(bigger[:16], pts)
    grid = design_points(
        small(factors=(Factor("params.fear_rate", levels=(0.1, 0.2)),
                       Factor("protocol.uptake", levels=(0.5, 0.7, 0.9))),
              design=Design("grid"))
    ).values  # fmt: skip
    assert grid.shape == (6, 2) and list(grid[:3, 1]) == [0.5, 0.7, 0.9]


TOML = """
name = "tiny"
seed = 7
n_patients = 12
horizon_days = 100

[design]
kind = "sobol"
n = 4

[[factors]]
target = "params.exposure_learning"
range = [0.05, 0.3]

[[factors]]
target = "cohort.cat_mean"
range = [0.1, 0.4]

[[outcomes]]
name = "pain_free"
kind = "pain_free"
days = [30, 91]

[[outcomes]]
name = "pain"
kind = "pain_mean"
days = [91]

[[outcomes]]
name = "relapsed"
kind = "relapse"
days = [91]

[[outcomes]]
name = "free_time"
kind = "pain_free_time"
"""


def test_the_toml_spec_is_the_python_spec_and_the_cli_runs_it(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML)
    spec = load_spec(path)
    assert spec.identity() | {"name": "x"} == small().identity() | {"name": "x"}
    out = tmp_path / "cli"
    code = main(["sweep", str(path), "--out", str(out), "--executor", "sequential", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "4 points x 1 replicates = 4 tasks" in text and "results.nc" in text
    assert json.loads((out / MANIFEST).read_text())["hash"] == spec.hash


@pytest.mark.parametrize(
    "change, key, allowed",
    [
        ({"factors": [{"target": "params.flare_speed", "range": [0, 1]}]}, "factors[0].target",
         "params.<threat_slope"),
        ({"factors": [{"target": "params.flare_rate", "range": [0.1, 1.5]}]}, "factors[0].range",
         "inside params.flare_rate's allowed [0.0, 1.0]"),
        ({"factors": [{"target": "params.fluct_persistence", "range": [0.5, 1.0]}]},
         "factors[0].range", "[0.0, 1.0)"),
        ({"factors": []}, "factors", "at least one factor"),
        ({"design": {"kind": "grid"}, "factors": [{"target": "params.fear_rate", "levels": []}]},
         "factors[0].levels", "at least one level"),
        ({"design": {"kind": "sobol", "n": 6}}, "design.n", "a power of two"),
        ({"design": {"kind": "mystery"}}, "design.kind", "one of"),
        ({"outcomes": [{"name": "x", "kind": "pain_free", "days": [500]}]}, "outcomes[0].days",
         "horizon_days"),
        ({"population": []}, "population", "one of the keys"),
        ({"replicates": 0}, "replicates", "an integer in [1"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused_naming_the_key_and_what_is_allowed(tmp_path, change, key, allowed):
    import tomllib

    data = tomllib.loads(TOML) | change
    with pytest.raises(ValidationError) as e:
        SweepSpec.from_dict(data)
    assert e.value.field == key and allowed in e.value.allowed, str(e.value)


def test_bad_output_folders_and_schedulers_are_refused_before_work(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="notes.txt"):
        run_sweep(small(), junk, executor="sequential")
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ValidationError, match="existing file"):
        run_sweep(small(), afile, executor="sequential")
    pytest.importorskip("distributed")
    with pytest.raises(ValidationError, match="running Dask scheduler") as e:
        run_sweep(small(), tmp_path / "never", scheduler="tcp://127.0.0.1:9", scheduler_timeout=1)
    assert e.value.field == "scheduler" and not (tmp_path / "never").exists()
    with pytest.raises(DataFormatError, match="not a sweep folder"):
        load_sweep(junk)
    bad = tmp_path / "bad.toml"
    bad.write_text("[design\nkind=1")
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_a_posterior_design_runs_each_draws_parameters(tmp_path):
    import prt_sim as ps

    idata = ps.TrialModel(ps.data.published_ashar2022()).sample_prior(draws=6, seed=3)
    fit = ps.TrialModel.save(idata, tmp_path / "prior.nc")
    spec = SweepSpec(
        design=Design("posterior", n=4, fit=str(fit), group="prior"),
        outcomes=(Outcome("pain_free", "pain_free", days=(30,)),),
        n_patients=10,
        horizon_days=40,
    )
    ds = run_sweep(spec, tmp_path / "post", executor="sequential", progress=False).data
    assert list(ds["source_draw"].values) == [0, 2, 3, 5] and (ds["status"] == 1).all()
    drawn = idata.prior["exposure_learning"].values.reshape(-1)
    assert np.array_equal(ds["exposure_learning"].values, drawn[[0, 2, 3, 5]])
    with pytest.raises(ValidationError, match="none with a posterior design"):
        SweepSpec(
            factors=(Factor("params.fear_rate", range=(0.1, 0.2)),),
            design=Design("posterior", n=2, fit=str(fit)),
            outcomes=spec.outcomes,
        )
    with pytest.raises(ValidationError) as e:
        run_sweep(spec.__class__(**{**spec.__dict__, "design": Design("posterior", n=2,
                  fit=str(tmp_path / "none.nc"))}), tmp_path / "x", executor="sequential")  # fmt: skip
    assert e.value.field == "design.fit"


def test_the_example_spec_is_valid():
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[1] / "examples" / "sweep_sensitivity.toml")
    assert spec.design.kind == "saltelli" and len(design_points(spec)) == 64 * 7


def test_progress_reaches_logs_when_not_a_terminal(tmp_path):
    import io

    log = io.StringIO()
    run_sweep(small(n=2), tmp_path / "p", executor="sequential", progress=True,
              progress_interval=0.1, stream=log)  # fmt: skip
    lines = log.getvalue().splitlines()
    assert lines and lines[-1].startswith("sweep: 2/2 tasks (100%) over 2 points")
    assert all("tasks/min" in x and "left ~" in x for x in lines)
