"""Declarative, validated parameter objects.

A parameter is declared once with its default, allowed range, unit and meaning; validation,
documentation tables and error messages are all derived from that declaration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import check_int, check_range

__all__ = ["spec", "Validated", "describe"]


def spec(
    default: float,
    lo: float | None,
    hi: float | None,
    unit: str,
    doc: str,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool = False,
    role: str = "",
) -> Any:
    """Declare a validated numeric field of a :class:`Validated` dataclass (``role`` tags what
    the field is for, e.g. "measurement")."""
    return field(
        default=default,
        metadata={
            "lo": lo,
            "hi": hi,
            "lo_open": lo_open,
            "hi_open": hi_open,
            "unit": unit,
            "doc": doc,
            "integer": integer,
            "role": role,
        },
    )


@dataclass(frozen=True)
class Validated:
    """Base for frozen parameter objects whose numeric fields are checked on construction."""

    def __post_init__(self) -> None:
        cls = type(self).__name__
        for f in fields(self):
            m = f.metadata
            if "lo" not in m:
                continue
            name = f"{cls}.{f.name}"
            v = getattr(self, f.name)
            if m["integer"]:
                v = check_int(name, v, m["lo"], m["hi"])
            else:
                v = check_range(
                    name, v, m["lo"], m["hi"], lo_open=m["lo_open"], hi_open=m["hi_open"]
                )
            object.__setattr__(self, f.name, v)
        self._check()

    def _check(self) -> None:
        """Cross-field checks; override in subclasses."""

    @classmethod
    def field_range(cls, name: str) -> tuple[float | None, float | None]:
        """Declared ``(lo, hi)`` of field ``name`` (None: unbounded on that side; whether a
        bound is open is in the field's metadata)."""
        m = next(f.metadata for f in fields(cls) if f.name == name)
        return m.get("lo"), m.get("hi")

    def replace(self, **changes: Any) -> Validated:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of field values (JSON-serialisable)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Build from a dict, rejecting unknown keys by name."""
        from ..errors import ValidationError

        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ValidationError(
                    f"{cls.__name__}.{k}",
                    d[k],
                    f"one of the fields {sorted(known)}",
                    "unknown field",
                )
        return cls(**d)


def describe(cls: type) -> list[dict[str, Any]]:
    """Rows (name, default, range, unit, doc) describing a :class:`Validated` class's fields."""
    rows = []
    for f in fields(cls):
        m = f.metadata
        if "lo" not in m:
            continue
        lo = "-inf" if m["lo"] is None else m["lo"]
        hi = "inf" if m["hi"] is None else m["hi"]
        rng = f"{'(' if m['lo_open'] else '['}{lo}, {hi}{')' if m['hi_open'] else ']'}"
        rows.append(
            {"name": f.name, "default": f.default, "range": rng, "unit": m["unit"], "doc": m["doc"]}
        )
    return rows
