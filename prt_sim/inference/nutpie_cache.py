"""nutpie's compiled model, cached on disk across processes.

``nutpie.compile_pymc_model`` takes about 25 s per process for the arm-level model, all of it
repeated in every process even with warm caches: PyTensor rewrites the log-density graph
(about 6 s), then nutpie wraps PyTensor's numba function in a ``numba.cfunc``, and numba links
and re-optimises every callee into one module (about 18 s). nutpie's own ``cache=True`` never
hits, because its cfunc closes over generated functions that hash differently in every process.

:func:`compile_nutpie` removes both costs on a warm cache:

1. the two C callbacks (log density with gradient, and the trace expansion) are built from
   closure-free source and registered with PyTensor's numba cache under a content key: PyTensor's
   own key of the compiled graph, everything the callback bakes in (dimensions, shared-data
   layout, C signature) and the library versions;
2. a structural hash of the *un-rewritten* graphs (ops with their properties, the skeleton Ops'
   content keys, constants' bytes, input types) keys a small JSON record of what nutpie needs
   besides the callbacks (dimensions, variable names, slices and shapes, shared-variable
   names); on a hit, PyTensor's rewrites are skipped altogether.

Measured (``docs/performance.md``): compile 25 s -> 1.6 s with warm caches. The model is
compiled with IEEE-strict math (:func:`strict_math`), and a cold compile writes the cache and
then loads the callbacks exactly as a warm one does, so the same seed gives the same draws, cold
or warm (tested). A corrupt or
stale record is recompiled and rewritten; any other failure (a nutpie or PyTensor version whose
internals differ, a graph PyTensor cannot key) falls back to ``nutpie.compile_pymc_model``.

The cache lives in PyTensor's numba cache folder (:func:`cache_dir`, ``<compiledir>/numba``;
``PYTENSOR_FLAGS=base_compiledir=...`` moves it, and deleting it is always safe). It keeps at
most :data:`MAX_RECORDS` records, dropping the least recently used with their callbacks.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import numba_special

__all__ = [
    "compile_nutpie",
    "graph_key",
    "cached_compile",
    "strict_math",
    "cache_dir",
    "MAX_RECORDS",
]

#: Records kept (the least recently used go first, with the compiled callbacks they point to).
MAX_RECORDS = 32

_FORMAT = "prt_sim-nutpie-cache-v1"

_LOGP_SRC = """
def nutpie_logp_cached(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
        logp = numba.carray(logp_, ())
        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_SRC = """
def nutpie_expand_cached(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
        (values,) = extract(x, user_data_)
        out[...] = values
    except Exception:
        return -2
    return 0
"""


def _key(*parts) -> str:
    import numba
    import nutpie
    import pytensor

    h = hashlib.sha256()
    # compile_nutpie always compiles with strict math (strict_math), whatever the ambient flags
    for p in (_FORMAT, nutpie.__version__, numba.__version__, pytensor.__version__, "strict-math",
              *parts):  # fmt: skip
        h.update(repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def _cfunc(src, name, c_sig, extract, graph_cache_key, shared_names, shared_data, **fmt):
    """A C callback from closure-free source, cached under a content key when PyTensor could
    key the graph it calls."""
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    meta = [(n, shared_data[n].dtype.str, shared_data[n].ndim) for n in shared_names]
    key = None
    if graph_cache_key is not None:
        key = _key(name, graph_cache_key, sorted(fmt.items()), meta, str(c_sig))
    fn = compile_numba_function_src(
        src.format(**fmt),
        name,
        # __name__ must be an importable module: numba rebuilds the environment from it on load
        global_env=globals() | {"numba": numba, "extract": extract},
        cache_key=key,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot cache compiled function")
        return numba.cfunc(c_sig, cache=key is not None)(fn), key


def _initial_point(model, cp):
    from pymc.initial_point import make_initial_point_fn

    return cp._wrap_with_lock(
        make_initial_point_fn(
            model=model,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def _compile_keyed(model):
    """Layer 1: nutpie's compile with the two callbacks disk-cached. Returns the compiled model
    and the record a layer-2 hit needs (None when PyTensor could not key a graph)."""
    import nutpie.compile_pymc as cp
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    n_dim, n_expanded, logp_pt, expand_pt, initial_point_fn, shape_info = cp._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=_initial_point(model, cp),
        var_names=None,
    )
    logp_fn, expand_fn = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    shared_data, shared_vars, seen = {}, {}, set()
    for val in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if val.name in shared_data and val not in seen:
            raise ValueError(f"shared variables must have unique names: {val.name}")
        shared_data[val.name] = np.array(val.get_value(), order="C", copy=True)
        shared_vars[val.name] = val
        seen.add(val)
    for val in shared_data.values():
        val.flags.writeable = False
    user_data = cp.make_user_data(shared_vars, shared_data)

    logp_shared = [v.name for v in logp_pt.get_shared()]
    _, sig = cp._make_c_logp_func(n_dim, logp_fn, user_data, logp_shared, shared_data)
    extract = cp.make_extraction_fn(logp_fn, shared_data, logp_shared, user_data.dtype)
    logp_c, logp_key = _cfunc(
        _LOGP_SRC,
        "nutpie_logp_cached",
        sig,
        extract,
        CACHED_SRC_FUNCTIONS.get(logp_fn.py_func),
        logp_shared,
        shared_data,
        n_dim=n_dim,
    )
    expand_shared = [v.name for v in expand_pt.get_shared()]
    _, sig_e = cp._make_c_expand_func(
        n_dim, n_expanded, expand_fn, user_data, expand_shared, shared_data
    )
    extract_e = cp.make_extraction_fn(expand_fn, shared_data, expand_shared, user_data.dtype)
    expand_c, expand_key = _cfunc(
        _EXPAND_SRC,
        "nutpie_expand_cached",
        sig_e,
        extract_e,
        CACHED_SRC_FUNCTIONS.get(expand_fn.py_func),
        expand_shared,
        shared_data,
        n_dim=n_dim,
        n_expanded=n_expanded,
    )
    dims, coords = cp._prepare_dims_and_coords(model, shape_info)
    compiled = cp.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_c,
        compiled_expand_func=expand_c,
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_pt,
        expand_func=expand_pt,
    )
    record = None
    if logp_key is not None and expand_key is not None:
        names, slices, shapes = shape_info
        record = {
            "format": _FORMAT,
            "n_dim": int(n_dim),
            "n_expanded": int(n_expanded),
            "names": list(names),
            "slices": [[int(s.start), int(s.stop)] for s in slices],
            "shapes": [[int(x) for x in np.asarray(s)] for s in shapes],
            "shared_names": list(shared_data),
            "cfuncs": [
                ["logp", str(sig), logp_key, {"n_dim": int(n_dim)}],
                ["expand", str(sig_e), expand_key, {"n_dim": int(n_dim), "n_expanded": int(n_expanded)}],
            ],
        }  # fmt: skip
    return compiled, record


def _op_key(op) -> str:
    from pytensor.link.numba.dispatch.basic import default_hash_key_from_props

    from .skeleton import SkeletonOp, _cache_key, _SkeletonGradOp

    if isinstance(op, SkeletonOp):
        return _cache_key("forward")  # the grid is a constant input: hashed with the inputs
    if isinstance(op, _SkeletonGradOp):
        return _cache_key("backward")
    if not hasattr(op, "__props__"):
        raise TypeError(f"op without __props__: {op}")
    return default_hash_key_from_props(op)


def graph_key(model) -> str:
    """Structural hash of the model's un-rewritten log density and trace graphs."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import graph_inputs, io_toposort

    outputs = [model.logp(), *model.unobserved_value_vars]
    h = hashlib.sha256()
    ids = {}
    inputs = list(graph_inputs(outputs))
    for i, v in enumerate(inputs):
        ids[v] = f"i{i}"
        h.update(f"{i}|{v.type}|{v.name}|".encode())
        if isinstance(v, Constant):
            a = np.ascontiguousarray(np.asarray(v.data))
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        elif isinstance(v, SharedVariable):
            # Data containers are read at run time (their values may change), but their shapes
            # are compiled in; integer scalars are dimension lengths, so their values count.
            a = np.asarray(v.get_value())
            h.update(f"shared{a.dtype.str}{a.shape}".encode())
            if a.ndim == 0 and a.dtype.kind in "iu":
                h.update(a.tobytes())
    for j, node in enumerate(io_toposort(inputs, outputs)):
        args = [ids[x] for x in node.inputs]
        outs = [str(o.type) for o in node.outputs]
        h.update(f"{_op_key(node.op)}|{args}|{outs}".encode())
        for k, o in enumerate(node.outputs):
            ids[o] = f"n{j}.{k}"
    h.update(str([ids[o] for o in outputs]).encode())
    h.update(str([v.name for v in model.free_RVs]).encode())
    # the callbacks compile in our digamma and erfcx: a record must not outlive their source
    return _key("graph", numba_special.source_key(), h.hexdigest())


def cache_dir() -> Path:
    """Where the cache lives: PyTensor's numba cache folder, ``<compiledir>/numba`` (set
    ``PYTENSOR_FLAGS=base_compiledir=...`` to move it; deleting it is always safe)."""
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    return Path(NUMBA_CACHE_PATH)


def _record_path(key: str) -> Path:
    return cache_dir() / f"prt_sim_nutpie-{key}.json"


def _prune(keep: int = MAX_RECORDS) -> None:
    """Keep the ``keep`` most recently used records; delete the others and the compiled
    callbacks (numba cache files named after their content keys) only they point to."""
    records = sorted(
        cache_dir().glob("prt_sim_nutpie-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    kept, dropped = records[:keep], records[keep:]
    if not dropped:
        return

    def keys(path: Path) -> set[str]:
        try:
            return {c[2] for c in json.loads(path.read_text())["cfuncs"]}
        except Exception:
            return set()

    live = set().union(*(keys(p) for p in kept)) if kept else set()
    for path in dropped:
        for key in keys(path) - live:
            for f in cache_dir().glob(f"*{key}*"):
                f.unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def _load_hit(model, record):
    """Layer 2: rebuild the compiled model from the record and the cached callbacks only."""
    import numba
    import nutpie.compile_pymc as cp
    from pytensor.link.numba.cache import compile_numba_function_src

    srcs = {
        "logp": (_LOGP_SRC, "nutpie_logp_cached"),
        "expand": (_EXPAND_SRC, "nutpie_expand_cached"),
    }
    if record.get("format") != _FORMAT:
        raise RuntimeError("cache record of another format")
    n_dim = sum(int(np.prod(np.shape(v))) for v in model.initial_point().values())
    if n_dim != record["n_dim"]:
        raise RuntimeError("cache record of another model size")
    cfuncs = {}
    for kind, sig_text, ckey, fmt in record["cfuncs"]:
        src, name = srcs[kind]
        sig = _signature(kind)
        if str(sig) != sig_text:
            raise RuntimeError("callback signature changed")
        # extract=None: only a cache hit can succeed (a miss fails to type and falls back)
        fn = compile_numba_function_src(
            src.format(**fmt),
            name,
            global_env=globals() | {"numba": numba, "extract": None},
            cache_key=ckey,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Cannot cache compiled function")
            cf = numba.cfunc(sig, cache=True)(fn)
        if cf.cache_hits != 1:
            raise RuntimeError("callback cache miss")
        cfuncs[kind] = cf
    names = record["names"]
    slices = [slice(a, b) for a, b in record["slices"]]
    shapes = [np.asarray(s, dtype=np.int64) for s in record["shapes"]]
    shape_info = (names, slices, shapes)
    shared_vars = {n: model.named_vars[n] for n in record["shared_names"]}
    shared_data = {n: np.array(v.get_value(), order="C", copy=True) for n, v in shared_vars.items()}
    for v in shared_data.values():
        v.flags.writeable = False
    user_data = cp.make_user_data(shared_vars, shared_data)
    n_free = len(model.free_RVs)
    initial_point_fn = cp._rv_dict_to_flat_array_wrapper(
        _initial_point(model, cp), names=names[:n_free], shapes=shapes[:n_free]
    )
    dims, coords = cp._prepare_dims_and_coords(model, shape_info)
    return cp.CompiledPyMCModel(
        _n_dim=record["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes)},
        compiled_logp_func=cfuncs["logp"],
        compiled_expand_func=cfuncs["expand"],
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=record["n_expanded"],
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
    )


def _signature(kind: str):
    """The C signatures of nutpie's callbacks (``_make_c_logp_func``, ``_make_c_expand_func``);
    checked against the recorded ones on load."""
    from numba import types

    f64p = types.CPointer(types.double)
    if kind == "logp":
        return types.int64(types.uint64, f64p, f64p, f64p, types.voidptr)
    return types.int64(types.uint64, types.uint64, f64p, f64p, types.voidptr)


@contextmanager
def strict_math():
    """PyTensor's numba code without fast-math flags, for as long as the block runs.

    With fast math, LLVM may reassociate and contract floating-point operations differently
    depending on how the compiled pieces are linked: a model compiled in this process (a cold
    cache) and the same model loaded from the cache (warm) then give gradients a few ulps apart,
    and NUTS turns that into different draws for the same seed. IEEE-strict code computes the
    same numbers however it was linked (``tests/test_compile_determinism.py``).
    """
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield


def compile_nutpie(model, *, cache: bool = True):
    """``nutpie.compile_pymc_model(model)`` with IEEE-strict math (:func:`strict_math`), cached
    on disk across processes (see the module docstring); falls back to nutpie's own compile on
    any failure."""
    import nutpie

    numba_special.register()  # before any compile: keyable digamma and erfcx
    with strict_math():
        if not cache:
            return nutpie.compile_pymc_model(model)
        try:
            key = graph_key(model)
            path = _record_path(key)
            if path.exists():
                try:
                    hit = _load_hit(model, json.loads(path.read_text()))
                    path.touch()  # recently used: pruned last
                    return hit
                except Exception:  # a corrupt, stale or partial entry: recompile, rewrite it
                    pass
            compiled, record = _compile_keyed(model)
            if record is not None:
                from ..io import write_text

                write_text(path, json.dumps(record))
                _prune()
                # The sampler always runs the callbacks as a cache hit loads them, whether the
                # cache was cold or warm.
                compiled = _load_hit(model, record)
            return compiled
        except Exception as err:  # internals changed: nutpie's own (uncached) compile
            warnings.warn(
                f"nutpie compile cache unavailable ({type(err).__name__}: {err}); "
                "compiling uncached",
                RuntimeWarning,
                stacklevel=2,
            )
            return nutpie.compile_pymc_model(model)


@contextmanager
def cached_compile():
    """Within the block, ``nutpie.compile_pymc_model(model)`` (as ``pm.sample(nuts_sampler=
    "nutpie")`` calls it) goes through :func:`compile_nutpie`, so PyMC assembles the
    InferenceData exactly as usual. Calls with compile options pass through unchanged.

    This swaps an attribute of the ``nutpie`` module for the duration of the block: do not
    compile other models with nutpie from another thread meanwhile."""
    import nutpie

    original = nutpie.compile_pymc_model

    def compile_pymc_model(model, var_names=None, **kwargs):
        if var_names is None and not kwargs:
            return compile_nutpie(model)
        return original(model, var_names=var_names, **kwargs)

    nutpie.compile_pymc_model = compile_pymc_model
    try:
        yield
    finally:
        nutpie.compile_pymc_model = original
