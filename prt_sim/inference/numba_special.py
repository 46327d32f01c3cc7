"""Digamma and the scaled complementary error function in pure numba, so that PyTensor can
cache the compiled log density of every model on disk.

PyTensor's numba backend calls ``scipy.special.psi`` and ``scipy.special.erfcx`` through
function pointers into scipy's Cython module. A function pointer is an address in this process,
so numba cannot cache any function that calls one, and PyTensor then cannot key the whole
log-density graph: with either function in it, a model compiles cold in every process. The
patient-level model has both (``erfcx`` in the censored normal's log CDF, ``psi`` in the
gradient of its Beta terms): 146-292 s of compile per fit, measured with a fit running
beside it, cache or no cache.

:func:`register` gives PyTensor numba implementations of both that call no pointer, under cache
keys that hash their own source (a changed implementation is never served from an old cache).
Measured against scipy (``tests/test_numba_special.py``): erfcx within 2e-15 relative for x >= 0
and 1e-13 for x < 0 (where scipy rounds x² before exp; we split it exactly); digamma within 1e-14
relative for x > 0 (2e-15 absolute where |psi| < 0.1, around its root) and 5e-12 for x < 0.
Registration is process-wide (PyTensor's dispatch has no scope); :func:`compile_nutpie` does it
before it compiles.
"""

from __future__ import annotations

import hashlib
import math

from numba import njit

__all__ = ["digamma", "erfcx", "register", "source_key"]

_INV_SQRT_PI = 0.5641895835477563  # 1 / sqrt(pi)


@njit
def _digamma_positive(x):
    # Recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series through
    # x^-14 (truncation error below 1e-16 there).
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    t = f * (
        -1.0 / 12.0
        + f
        * (
            1.0 / 120.0
            + f
            * (
                -1.0 / 252.0
                + f * (1.0 / 240.0 + f * (-1.0 / 132.0 + f * (691.0 / 32760.0 + f * (-1.0 / 12.0))))
            )
        )
    )
    return r + math.log(x) - 0.5 / x + t


@njit
def digamma(x):
    """The digamma function psi(x) = d/dx log Gamma(x), as ``scipy.special.psi`` for real x:
    nan at non-positive integers and -inf, -inf at +0, +inf at +inf."""
    x = float(x)
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x == 0.0:
        return -math.inf if math.copysign(1.0, x) > 0 else math.inf
    if x < 0.0:
        if x == math.floor(x):
            return math.nan
        # reflection: psi(x) = psi(1 - x) - pi / tan(pi x), with tan's argument reduced
        # exactly to (-pi/2, pi/2] first (pi x itself rounds too coarsely near the poles)
        n = math.floor(x)
        r = x - n
        if r > 0.5:
            r = x - (n + 1.0)  # exact; (x - n) - 1 would round when x is near n + 1
        return _digamma_positive(1.0 - x) - math.pi / math.tan(math.pi * r)
    return _digamma_positive(x)


@njit
def _exp_square(x):
    # exp(x*x) with x*x split exactly into hi + lo (Veltkamp), so the rounding of x*x (relative
    # error up to x^2 ulp after exp) does not reach the result.
    hi = x * x
    c = 134217729.0 * x
    xh = c - (c - x)
    xl = x - xh
    lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
    return math.exp(hi) * (1.0 + lo)


@njit
def _erfcx_nonnegative(x):
    if x < 26.0:
        # erfc stays a normal number up to x = 26, where libm's is accurate to about 1 ulp
        return _exp_square(x) * math.erfc(x)
    # asymptotic series 1/(x sqrt(pi)) * sum (-1)^n (2n-1)!! / (2x^2)^n, 12 terms: the next one
    # is below 1e-17 relative from x = 26 on
    f = 1.0 / (2.0 * x * x)
    s = 1.0
    term = 1.0
    for n in range(1, 13):
        term *= -(2.0 * n - 1.0) * f
        s += term
    return _INV_SQRT_PI / x * s


@njit
def erfcx(x):
    """The scaled complementary error function exp(x^2) erfc(x), as ``scipy.special.erfcx``
    for real x (+inf below about -26.6, where exp(x^2) overflows)."""
    x = float(x)
    if math.isnan(x):
        return math.nan
    if x >= 0.0:
        return _erfcx_nonnegative(x)
    if x < -26.7:
        return math.inf
    # erfc(x) = 2 - erfc(-x)
    return 2.0 * _exp_square(x) - _erfcx_nonnegative(-x)


def source_key(name: str = "") -> str:
    """A hash of this module's source (functions and the constants numba freezes into them,
    :func:`prt_sim.jit.source_hash`, as the skeleton's kernels are keyed) and PyTensor's version,
    with ``name``."""
    import pytensor

    from ..jit import source_hash

    text = f"prt_sim.numba_special|{name}|{pytensor.__version__}|{source_hash(__file__)}"
    return hashlib.sha256(text.encode()).hexdigest()


_REGISTERED = False


def register() -> None:
    """Register :func:`digamma` and :func:`erfcx` as PyTensor's numba implementations of
    ``Psi`` and ``Erfcx`` (real inputs), with cache keys. Idempotent; process-wide."""
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
        from pytensor.link.numba.dispatch.scalar import numba_funcify_ScalarOp
        from pytensor.scalar.math import Erfcx, Psi
    except ImportError:  # pragma: no cover - a PyTensor without these
        return

    def make(name, impl):
        key = source_key(name)

        def funcify(op, node, **kwargs):
            if any(i.type.dtype.startswith("complex") for i in node.inputs):
                return numba_funcify_ScalarOp(op, node=node, **kwargs)  # scipy's, uncached
            return impl, key

        return funcify

    register_funcify_and_cache_key(Psi)(make("psi", digamma))
    register_funcify_and_cache_key(Erfcx)(make("erfcx", erfcx))
    _REGISTERED = True
