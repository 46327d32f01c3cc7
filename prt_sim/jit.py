"""numba compilation whose on-disk cache is keyed on every source file a kernel can inline.

numba's own ``cache=True`` checks only the file that defines a function (its modification time
and size). prt_sim's kernels inline code from other modules (the daily update, the adjoint, the
instrument table, the random numbers), so an edit to ``model/dynamics.py`` alone would leave
compiled engine code stale. :func:`njit` builds the same dispatcher as ``numba.njit`` but, with
``cache=True``, stamps its cache index with :func:`source_hash` of the defining file: a hash of
that file and of every ``prt_sim`` module it imports, directly or not. Any edit to any of them
makes numba recompile and overwrite the entry; nothing older than its sources is ever served.

The cache lives where numba puts it: ``$NUMBA_CACHE_DIR`` when set, else the ``__pycache__``
folder beside each source file (or numba's user-wide folder when that is not writable).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

import numba
from numba.core import caching

__all__ = ["njit", "row_tuple", "store_row", "add_to_row", "source_hash", "source_closure"]

_PACKAGE_ROOT = Path(__file__).resolve().parent
_PACKAGE = _PACKAGE_ROOT.name


def _module_name(path: Path) -> str:
    rel = path.resolve().relative_to(_PACKAGE_ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _module_file(name: str) -> Path | None:
    """The source file of a ``prt_sim`` module (None for other packages or missing files)."""
    if name != _PACKAGE and not name.startswith(_PACKAGE + "."):
        return None
    base = _PACKAGE_ROOT.parent.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(path: Path) -> set[Path]:
    """``prt_sim`` source files imported by one file (absolute and relative imports, at any
    depth of the file: function-level imports count too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from .x import y``: y may be a module of its own, or a name defined in x
            names = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            f = _module_file(name)
            if f is not None:
                out.add(f)
    return out


@functools.cache
def source_closure(py_file: str) -> tuple[str, ...]:
    """Every ``prt_sim`` source file reachable by imports from ``py_file`` (itself included),
    as sorted paths relative to the package's parent folder."""
    start = Path(py_file).resolve()
    seen = {start}
    todo = [start]
    while todo:
        for dep in _imports(todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return tuple(sorted(str(p.relative_to(_PACKAGE_ROOT.parent)) for p in seen))


@functools.cache
def source_hash(py_file: str) -> str:
    """SHA-256 (hex, 16 characters) of the contents of :func:`source_closure` ``(py_file)``."""
    h = hashlib.sha256()
    for rel in source_closure(str(Path(py_file).resolve())):
        h.update(rel.encode() + b"\0")
        h.update(_PACKAGE_ROOT.parent.joinpath(rel).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


class _ClosureStamp:
    """Cache locator mixin: the index is fresh only while no source of the closure changed."""

    def get_source_stamp(self):
        return ("prt_sim.jit", source_hash(self._py_file))


class _UserProvidedLocator(_ClosureStamp, caching.UserProvidedCacheLocator):
    pass


class _InTreeLocator(_ClosureStamp, caching.InTreeCacheLocator):
    pass


class _UserWideLocator(_ClosureStamp, caching.UserWideCacheLocator):
    pass


class _CacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [_UserProvidedLocator, _InTreeLocator, _UserWideLocator]


class _FunctionCache(caching.FunctionCache):
    """Entries keyed on the compile options too: numba keys them on the signature only, so a
    function compiled both serially and with ``parallel=True`` (``rng._uniform_loop``) would
    load whichever version was saved first (the parallel one cost 8 ms a call on 100 patients,
    waking the thread pool, where the serial one takes microseconds)."""

    _impl_class = _CacheImpl

    def __init__(self, py_func, options: str = "") -> None:
        super().__init__(py_func)
        self._options = options

    def _index_key(self, sig, codegen):
        return (super()._index_key(sig, codegen), self._options)


def njit(*args, cache: bool = False, **options):
    """``numba.njit`` whose ``cache=True`` is keyed on :func:`source_hash` of the function's
    file (see the module docstring). Usable bare (``@njit``) or with options."""

    def wrap(fn):
        disp = numba.njit(**options)(fn)
        if cache:
            disp._cache = _FunctionCache(disp.py_func, repr(sorted(options.items())))
        return disp

    if args and callable(args[0]) and len(args) == 1:
        return wrap(args[0])
    if args:
        raise TypeError("prt_sim.jit.njit takes the function and keyword options only")
    return wrap


def _item_pointer(context, builder, arrty, ary, k: int):
    """Pointer to item ``k`` (a literal index, no bounds check) of a 1-D array in generated
    code: what :func:`row_tuple`, :func:`store_row` and :func:`add_to_row` read or write."""
    from numba.core import cgutils, types

    index = [context.get_constant(types.intp, k)]
    return cgutils.get_item_pointer(context, builder, arrty, ary, index, wraparound=False)


@numba.extending.intrinsic
def row_tuple(typingctx, row, length):
    """The first ``length`` (a literal) items of a 1-D array as a tuple, one load each (compiled
    code only; no bounds check).

    ``numba.np.unsafe.ndarray.to_fixed_tuple`` fills its tuple in a run-time loop of
    ``tuple_setitem``, which copies the whole tuple at each step: for the 23 parameters that
    was 250 ns per call, most of the engine's per-visit cost."""
    from numba.core import types
    from numba.core.errors import RequireLiteralValue, TypingError
    from numba.np.arrayobj import load_item

    if not isinstance(length, types.IntegerLiteral):
        raise RequireLiteralValue("row_tuple: the length must be a literal")
    if not isinstance(row, types.Array) or row.ndim != 1:
        raise TypingError("row_tuple takes a 1-D array")
    size = int(length.literal_value)
    tuple_type = types.UniTuple(row.dtype, size)

    def codegen(context, builder, signature, args):
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, args[0])
        items = [
            load_item(context, builder, arrty, _item_pointer(context, builder, arrty, ary, k))
            for k in range(size)
        ]
        return context.make_tuple(builder, tuple_type, items)

    return tuple_type(row, length), codegen


def _row_writer(accumulate: bool):
    """An intrinsic writing (or adding) a homogeneous tuple into a 1-D array, item k into
    ``row[k]``, one literal-index store each.

    A loop ``for k in range(n): row[k] = values[k]`` indexes the tuple at run time, which numba
    compiles to a jump table: an indirect branch per item. In the skeleton's backward pass the
    accumulation of the 31 parameter cotangents that way was about 17% of its time (sampled
    with ``perf``)."""
    from numba.core import types
    from numba.core.errors import TypingError
    from numba.np.arrayobj import load_item, store_item

    def impl(typingctx, row, values):
        if not isinstance(row, types.Array) or row.ndim != 1:
            raise TypingError("the row must be a 1-D array")
        if not isinstance(values, types.BaseTuple) or not all(
            isinstance(t, (types.Float, types.Integer)) for t in values.types
        ):
            raise TypingError("the values must be a tuple of numbers")
        if accumulate and not isinstance(row.dtype, types.Float):
            raise TypingError("add_to_row adds into a float row only")
        size = len(values.types)

        def codegen(context, builder, signature, args):
            arrty, tupty = signature.args
            ary = context.make_array(arrty)(context, builder, args[0])
            for k in range(size):
                ptr = _item_pointer(context, builder, arrty, ary, k)
                item = builder.extract_value(args[1], k)
                item = context.cast(builder, item, tupty.types[k], arrty.dtype)
                if accumulate:
                    item = builder.fadd(load_item(context, builder, arrty, ptr), item)
                store_item(context, builder, arrty, item, ptr)
            return context.get_dummy_value()

        return types.none(row, values), codegen

    return impl


store_row = numba.extending.intrinsic(_row_writer(False))
store_row.__doc__ = """``row[k] = values[k]`` for every item of the tuple ``values`` (compiled code only; no
bounds check: ``row`` must have at least ``len(values)`` items)."""
add_to_row = numba.extending.intrinsic(_row_writer(True))
add_to_row.__doc__ = """``row[k] += values[k]`` for every item of the float tuple ``values`` (compiled code
only; no bounds check; float rows only)."""
