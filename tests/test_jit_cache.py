"""The on-disk numba caches never serve code older than its sources.

numba keys ``cache=True`` on the defining file only, while the engine's kernels inline the
daily update from ``model/dynamics.py``. ``prt_sim.jit.njit`` keys each entry on every source a
kernel imports. A copy of the package is run three times in fresh processes: cold (compiles),
warm (loads the cache), and after an edit to ``dynamics.py`` alone (must recompile and see it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import prt_sim

PKG = Path(prt_sim.__file__).resolve().parent

_SCRIPT = """
import json, numpy as np
import prt_sim
from prt_sim import engine
from prt_sim.model.cohorts import Cohort
from prt_sim.model.params import ModelParams
from prt_sim.runner import make_draws, make_patients
c = Cohort.from_trial_baseline(4, seed=2)
batch = make_patients(c.trait_table(), c.state_table(), c.patient_id)
engine.prime(batch, make_draws([ModelParams()], [1]))
print(json.dumps({"file": prt_sim.__file__, "pain": batch.ring[:, 0].tolist(),
                  "hits": sum(engine.prime.stats.cache_hits.values()),
                  "misses": sum(engine.prime.stats.cache_misses.values())}))
"""


def _run(src: Path, cache: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run(  # run from the copy's folder: the working directory comes first
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True,
        cwd=src,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_an_edit_to_an_inlined_dependency_recompiles_the_kernel(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PKG, src / "prt_sim", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "numba_cache"
    cold = _run(src, cache)
    assert Path(cold["file"]).is_relative_to(src), "the copy, not the installed package, ran"
    assert cold["misses"] >= 1 and cold["hits"] == 0
    warm = _run(src, cache)
    assert warm["hits"] >= 1 and warm["misses"] == 0, "the warm run did not use the cache"
    assert warm["pain"] == cold["pain"]

    # Edit the equations' file only: the kernel lives in engine.py, which is untouched.
    dyn = src / "prt_sim" / "model" / "dynamics.py"
    text = dyn.read_text()
    edited = text.replace(
        "return minimum(10.0, maximum(0.0, raw))", "return minimum(10.0, maximum(0.0, raw + 1.0))"
    )
    assert edited != text
    dyn.write_text(edited)
    after = _run(src, cache)
    assert after["misses"] >= 1 and after["hits"] == 0, "stale machine code was served"
    for old, new in zip(cold["pain"], after["pain"]):
        assert new == pytest.approx(min(10.0, old + 1.0), abs=1e-9)


def test_serial_and_parallel_compiles_of_one_function_have_their_own_cache_entries():
    """numba keys a cached function on its signature only: the serial and the parallel compile
    of ``rng._uniform_loop`` would share an entry, and the parallel one (8 ms a call on a small
    cohort) could serve the serial calls."""
    import numpy as np

    from prt_sim.model import rng

    pids, counters = np.arange(5, dtype=np.uint64), np.arange(3, dtype=np.uint64)
    a = rng._uniform_ser(np.uint64(7), pids, counters)
    b = rng._uniform_par(np.uint64(7), pids, counters)
    np.testing.assert_array_equal(a, b)
    (sig_s,), (sig_p,) = rng._uniform_ser.signatures, rng._uniform_par.signatures
    assert sig_s == sig_p
    codegen = rng._uniform_ser.targetctx.codegen()
    key_s = rng._uniform_ser._cache._index_key(sig_s, codegen)
    key_p = rng._uniform_par._cache._index_key(sig_p, codegen)
    assert key_s != key_p and "parallel" in repr(key_p) and "parallel" not in repr(key_s)


def test_row_tuple_reads_every_field_of_a_row():
    import numpy as np

    from prt_sim.jit import njit, row_tuple
    from prt_sim.model.params import N_PARAMS, DynParams, ModelParams, params_from_array

    @njit
    def first_three(row):
        return row_tuple(row, 3)

    row = np.array([1.5, -2.0, 3.25, 9.0])
    assert first_three(row) == (1.5, -2.0, 3.25)
    table = np.array([ModelParams().to_tuple(), np.arange(N_PARAMS, dtype=float)])
    load = njit(lambda t, r: params_from_array(t[r]))
    assert load(table, 1) == DynParams(*np.arange(N_PARAMS, dtype=float))
    assert load(table, 0) == DynParams(*ModelParams().to_tuple())


def test_store_row_and_add_to_row_write_every_item_in_order():
    import numpy as np
    import pytest
    from numba.core.errors import TypingError

    from prt_sim.jit import add_to_row, njit, store_row
    from prt_sim.model.dynamics import N_STATE, State, load_state, store_state

    @njit
    def store(row, a, b, c):
        store_row(row, (a, b, c))

    @njit
    def accumulate(row, t):
        add_to_row(row, t)
        add_to_row(row, t)

    row = np.full(4, 7.0)
    store(row, 1.5, -2.0, 3.25)
    assert row.tolist() == [1.5, -2.0, 3.25, 7.0]  # items past the tuple untouched
    acc = np.array([1.0, 2.0, 3.0])
    accumulate(acc, (0.5, -1.0, 0.25))
    assert acc.tolist() == [2.0, 0.0, 3.5]
    ints = np.zeros(2, dtype=np.int64)
    njit(lambda r: store_row(r, (4, 5)))(ints)
    assert ints.tolist() == [4, 5]
    with pytest.raises(TypingError):
        njit(lambda r: add_to_row(r, (1, 2)))(np.zeros(2, dtype=np.int64))

    # the state round trip the engine and the skeleton use
    s = State(*np.arange(N_STATE, dtype=float) + 0.5)
    out = np.zeros(N_STATE)
    njit(lambda r, v: store_state(r, v))(out, s)
    assert tuple(out) == tuple(s)
    assert njit(lambda r: load_state(r))(out) == s
