"""A sweep killed with SIGKILL mid-run loses only the tasks in flight, and the same command
resumes it to exactly the numbers of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from prt_sim.experiments import Design, Factor, Outcome, SweepSpec, load_sweep, run_sweep
from prt_sim.experiments.store import SweepStore


def spec() -> SweepSpec:
    return SweepSpec(
        factors=(
            Factor("params.safety_decay", range=(0.0005, 0.005), scale="log"),
            Factor("cohort.fear_mean", range=(0.2, 0.5)),
        ),
        design=Design("sobol", n=8),
        outcomes=(
            Outcome("pain_free", "pain_free", days=(30, 91)),
            Outcome("relapsed", "relapse", days=(91,)),
        ),
        replicates=3,
        n_patients=12,
        horizon_days=100,
        seed=11,
    )


SCRIPT = """
import sys, time
import prt_sim.experiments.task as task
from prt_sim.experiments import SweepSpec, run_sweep
slow = task.run_task
def run_task(*a, **k):  # slow enough that the kill lands mid-run
    time.sleep(0.15)
    return slow(*a, **k)
task.run_task = run_task
spec = SweepSpec.from_json(sys.argv[1])
run_sweep(spec, sys.argv[2], executor="sequential", batch_size=1, progress=False)
print("finished")
"""


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_resumes_to_the_uninterrupted_numbers(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), spec().to_json(), str(out)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "batches").glob("*.done"))) >= 5 if out.exists() else False:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = len(SweepStore.read(out).status())
    assert 5 <= done < 24, done
    partial = load_sweep(out)  # a killed sweep's results are readable as they stand
    assert int((partial["status"].values == 1).sum()) == done
    resumed = run_sweep(spec(), out, executor="sequential", progress=False)
    assert resumed.summary["already_done"] == done and resumed.summary["ran"] == 24 - done
    whole = run_sweep(spec(), tmp_path / "whole", executor="sequential", progress=False)
    for v in ("status", "cohort_seed", "sim_seed", "pain_free", "relapsed"):
        assert np.array_equal(resumed.data[v].values, whole.data[v].values, equal_nan=True), v
