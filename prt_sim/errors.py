"""Project exceptions and the validation helpers every input check goes through.

Every error names the field, the value it got, and what is allowed, so a user can fix the input
without reading the source.
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = [
    "PrtSimError",
    "ValidationError",
    "DataFormatError",
    "DifferentModelError",
    "VersionWarning",
    "check_range",
    "check_int",
]


class PrtSimError(Exception):
    """Base class of every prt_sim error."""


class ValidationError(PrtSimError, ValueError):
    """A parameter, protocol or option is out of its allowed range or of the wrong type.

    Attributes
    ----------
    field : str
        Dotted name of the offending field (for example ``"ModelParams.flare_rate"``).
    value : object
        The value that was given.
    allowed : str
        Human-readable description of the allowed values.
    """

    def __init__(self, field: str, value: object, allowed: str, hint: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        msg = f"{field}={value!r} is invalid: allowed {allowed}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class DataFormatError(PrtSimError, ValueError):
    """A data file or table is malformed: names the file, column and row where known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file, self.column, self.row = file, column, row
        where = ", ".join(
            f"{k} {v}"
            for k, v in (("file", file), ("column", column), ("row", row))
            if v is not None
        )
        super().__init__(f"{message}" + (f" [{where}]" if where else ""))


class DifferentModelError(PrtSimError):
    """A saved fit was made by another model: another prt_sim version (other equations) or
    another configuration than the one it is loaded for (as pymc-marketing's error of that
    name)."""


class VersionWarning(UserWarning):
    """A file written by another prt_sim version is being read: its numbers came from other
    equations than the ones installed."""


def _fmt_interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def check_range(
    field: str,
    value: object,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in ``[lo, hi]``.

    Parameters
    ----------
    field : str
        Name used in the error message.
    value : object
        The value to check. ``bool`` is rejected (it is almost always a mistake).
    lo, hi : float or None
        Bounds; ``None`` means unbounded on that side.
    lo_open, hi_open : bool
        Whether the bound itself is excluded.

    Raises
    ------
    ValidationError
        If the value is not a finite real number in the interval.
    """
    allowed = "a real number in " + _fmt_interval(lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, Real):
        # numpy scalars are Real; strings, None and arrays are not.
        raise ValidationError(field, value, allowed, f"got type {type(value).__name__}")
    v = float(value)
    # Infinity is accepted only where it is an included bound (for example a half-life of inf).
    if math.isnan(v) or (math.isinf(v) and not (v == hi and not hi_open)):
        raise ValidationError(field, value, allowed)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValidationError(field, value, allowed)
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValidationError(field, value, allowed)
    return v


def check_int(field: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer in ``[lo, hi]``.

    Raises
    ------
    ValidationError
        If the value is not an integer (floats with a fractional part and bools are rejected)
        or lies outside the bounds.
    """
    allowed = "an integer in " + _fmt_interval(lo, hi, False, False)
    if isinstance(value, bool):
        raise ValidationError(field, value, allowed, "got type bool")
    try:
        import numpy as np

        if isinstance(value, np.integer):
            value = int(value)
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError(field, value, allowed, f"got type {type(value).__name__}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValidationError(field, value, allowed)
    return value
