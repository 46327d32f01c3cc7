"""The on-disk cache of nutpie's compiled model gives the model's own log density and gradient."""

from __future__ import annotations

import ctypes
import json

import numpy as np
import pytest

import prt_sim as ps
from prt_sim.inference.nutpie_cache import compile_nutpie, graph_key


def _call(compiled, x):
    out, lp = np.zeros(compiled.n_dim), np.zeros(())
    ptr = ctypes.POINTER(ctypes.c_double)
    code = compiled.compiled_logp_func.ctypes(
        compiled.n_dim,
        x.ctypes.data_as(ptr),
        out.ctypes.data_as(ptr),
        lp.ctypes.data_as(ptr),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return code, float(lp), out


def _small_model():
    """A model with bounded, positive and vector variables that compiles in seconds: the
    cache's machinery does not depend on the model (the default trial model goes through it
    in every fit test, and ``tests/test_inference.py`` checks its gradient by finite
    differences)."""
    import pymc as pm

    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0, shape=3)
        s = pm.HalfNormal("s", 1.0)
        b = pm.Beta("b", 2.0, 3.0)
        pm.Normal("y", a.sum() * b, s, observed=np.array([0.1, -0.3, 0.7]))
    return model


def _special_model():
    """A model whose gradient calls digamma (a Beta likelihood with a fitted shape) and whose
    log density calls erfcx (a censored normal), as the patient-level model's do: PyTensor
    cannot key scipy's versions of either, so without prt_sim's own (numba_special) such a
    model never reached the cache and compiled cold in every process."""
    import pymc as pm

    with pm.Model() as model:
        k = pm.LogNormal("k", 1.0, 0.5)
        m = pm.Normal("m", 0.0, 1.0)
        pm.Beta("share", alpha=2.0 * k, beta=k, observed=np.array([0.6, 0.8, 0.5]))
        pm.Censored("rating", pm.Normal.dist(m, 1.0), lower=0.0, upper=10.0,
                    observed=np.array([0.0, 1.5, 4.0, 0.0]))  # fmt: skip
    return model


@pytest.mark.parametrize("make", [_small_model, _special_model], ids=["small", "digamma_erfcx"])
def test_cached_compile_matches_the_model_logp_and_gradient(make, tmp_path, monkeypatch):
    from prt_sim.inference import nutpie_cache

    monkeypatch.setattr(nutpie_cache, "cache_dir", lambda: tmp_path)
    model = make()
    first = compile_nutpie(model)  # a miss: fills the cache, then loads as a hit does
    second = compile_nutpie(model)  # a hit: no PyTensor function rebuilt
    assert second.logp_func is None
    assert len(list(tmp_path.glob("prt_sim_nutpie-*.json"))) == 1
    names, slices, _ = second.shape_info
    logp = model.compile_logp()
    dlogp = model.compile_dlogp()
    ip = model.initial_point()
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(0.0, 0.3, second.n_dim)
        point = {n: x[s].reshape(ip[n].shape) for n, s in zip(names, slices) if n in ip}
        assert len(point) == len(ip)
        want_grad = np.concatenate(
            [np.ravel(g) for g in np.split(dlogp(point), [s.stop for s in slices][:-1])]
        )
        results = [_call(compiled, x) for compiled in (first, second)]
        for code, lp, grad in results:
            assert code == 0
            np.testing.assert_allclose(lp, logp(point), rtol=1e-12)
            np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(results[0][2], results[1][2])  # one compiled gradient


def test_graph_key_tracks_the_model():
    data = ps.data.published_ashar2022()
    a = graph_key(ps.TrialModel(data, n_agents=4).model)
    assert a == graph_key(ps.TrialModel(data, n_agents=4).model)  # stable
    assert a != graph_key(ps.TrialModel(data, n_agents=5).model)  # other agents
    assert a != graph_key(ps.TrialModel(data.subset(max_day=30), n_agents=4).model)


def test_a_corrupt_record_falls_back_to_a_fresh_compile(tmp_path, monkeypatch):
    from prt_sim.inference import nutpie_cache

    monkeypatch.setattr(nutpie_cache, "cache_dir", lambda: tmp_path)
    model = _small_model()
    compile_nutpie(model)  # the record exists now
    path = nutpie_cache._record_path(graph_key(model))
    assert path.exists()
    want = _call(compile_nutpie(model), np.full(5, 0.2))
    for garbage in ("{not json", '{"format": "prt_sim-nutpie-cache-v1", "n_dim": 3}', ""):
        path.write_text(garbage)
        compiled = compile_nutpie(model)
        code, lp, grad = _call(compiled, np.full(compiled.n_dim, 0.2))
        assert code == 0 and lp == want[1]
        np.testing.assert_array_equal(grad, want[2])
        assert json.loads(path.read_text())["n_dim"] == compiled.n_dim  # rewritten, valid


def test_the_cache_keeps_a_bounded_number_of_records(tmp_path, monkeypatch):
    """Records beyond MAX_RECORDS go, least recently used first, with the callback files only
    they point to."""
    import os
    import time

    from prt_sim.inference import nutpie_cache

    monkeypatch.setattr(nutpie_cache, "cache_dir", lambda: tmp_path)
    for k in range(5):
        rec = {"cfuncs": [["logp", "sig", f"key{k}", {}], ["expand", "sig", "shared", {}]]}
        p = tmp_path / f"prt_sim_nutpie-{k}.json"
        p.write_text(json.dumps(rec))
        (tmp_path / f"nutpie_logp_cached-key{k}.py311.nbi").write_text("x")
        os.utime(p, (time.time() - 100 + k, time.time() - 100 + k))  # record 4 newest
    (tmp_path / "nutpie_expand_cached-shared.py311.nbi").write_text("x")
    nutpie_cache._prune(keep=2)
    left = sorted(p.name for p in tmp_path.glob("prt_sim_nutpie-*.json"))
    assert left == ["prt_sim_nutpie-3.json", "prt_sim_nutpie-4.json"]
    assert sorted(p.name for p in tmp_path.glob("*key*.nbi")) == [
        "nutpie_logp_cached-key3.py311.nbi",
        "nutpie_logp_cached-key4.py311.nbi",
    ]
    assert (tmp_path / "nutpie_expand_cached-shared.py311.nbi").exists()  # still used
