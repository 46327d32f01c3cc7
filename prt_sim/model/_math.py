"""Elementwise math that runs on numpy, in numba-compiled code, and on PyTensor tensors.

The daily update (:mod:`prt_sim.model.dynamics`) calls these instead of ``np.*`` so that the very same
source builds a symbolic PyTensor graph (used to cross-check the hand-written adjoint and by the
inference layer's tests), runs vectorised on numpy arrays, and compiles in numba (each function
has a numba overload to the corresponding numpy ufunc).
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

__all__ = ["exp", "expm1", "log", "sqrt", "minimum", "maximum", "power", "off"]


def _ns(*xs):
    """The array namespace of the arguments: PyTensor if any is symbolic, else numpy."""
    for x in xs:
        if type(x).__module__.startswith("pytensor"):
            import pytensor.tensor as pt

            return pt
    return np


def exp(x):
    """Elementwise exponential."""
    return _ns(x).exp(x)


def expm1(x):
    """Elementwise ``exp(x) - 1``, exact to rounding near 0 (exactly 0 at 0)."""
    return _ns(x).expm1(x)


def log(x):
    """Elementwise natural logarithm."""
    return _ns(x).log(x)


def sqrt(x):
    """Elementwise square root."""
    return _ns(x).sqrt(x)


def minimum(a, b):
    """Elementwise minimum."""
    return _ns(a, b).minimum(a, b)


def maximum(a, b):
    """Elementwise maximum."""
    return _ns(a, b).maximum(a, b)


def power(a, b):
    """Elementwise ``a ** b``."""
    return _ns(a, b).power(a, b)


def off(x):
    """True if ``x`` is a number equal to 0 (a switched-off term of the update); False for a
    symbolic tensor, whose value is unknown when the graph is built."""
    return isinstance(x, (int, float, np.number)) and x == 0


@overload(exp)
def _exp_nb(x):
    return lambda x: np.exp(x)


@overload(expm1)
def _expm1_nb(x):
    return lambda x: np.expm1(x)


@overload(log)
def _log_nb(x):
    return lambda x: np.log(x)


@overload(sqrt)
def _sqrt_nb(x):
    return lambda x: np.sqrt(x)


@overload(minimum)
def _minimum_nb(a, b):
    return lambda a, b: np.minimum(a, b)


@overload(maximum)
def _maximum_nb(a, b):
    return lambda a, b: np.maximum(a, b)


@overload(power)
def _power_nb(a, b):
    # Daily steps raise to the power 1: skip the libm call (the simulator's hot path).
    return lambda a, b: a if b == 1.0 else np.power(a, b)


@overload(off)
def _off_nb(x):
    # A scalar parameter in compiled code: a branch every patient takes the same way.
    return lambda x: x == 0.0
