"""A CSV reader whose every error names the file, the column and the row.

:func:`read_csv` reads a file as strings (UTF-8, or Latin-1 for free-text columns), refuses
what is not a comma-separated table, and returns a :class:`Table` whose accessors validate
cells: numbers in a range, integer codes from an allowed set, missing markers
(:data:`MISSING_MARKERS`) read as NaN.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

__all__ = ["Table", "read_csv", "sha256", "MISSING_MARKERS"]

#: Cell contents read as missing (after stripping whitespace): empty, NaN, <undefined>.
MISSING_MARKERS = frozenset({"", "NaN", "nan", "NAN", "<undefined>"})


class Table:
    """A CSV file read as strings, with validated accessors that name file, column and row."""

    def __init__(self, file: str, header: list[str], rows: list[list[str]], lines: list[int]):
        self.file = file
        self.header = header
        self.rows = rows
        self.lines = lines
        self.index = {c: i for i, c in enumerate(header)}

    def __len__(self) -> int:
        return len(self.rows)

    def error(self, msg: str, column: str | None = None, row: int | None = None) -> DataFormatError:
        """A DataFormatError naming the file, column and 0-based data row (+ line and id)."""
        if row is not None:
            where = f"line {self.lines[row]} of the file"
            if column != "id" and "id" in self.index:
                where += f", id {self.rows[row][self.index['id']].strip()}"
            msg = f"{msg} ({where})"
        return DataFormatError(msg, file=self.file, column=column, row=row)

    def require(self, columns: Iterable[str]) -> None:
        for c in columns:
            if c not in self.index:
                raise self.error(f"missing required column {c!r}", column=c)

    def cells(self, column: str) -> list[str]:
        j = self.index[column]
        return [r[j].strip() for r in self.rows]

    def numbers(self, column: str, lo: float, hi: float, what: str = "") -> np.ndarray:
        """Float column; missing markers -> NaN; non-numeric or out-of-range cells raise."""
        out = np.empty(len(self.rows))
        for r, cell in enumerate(self.cells(column)):
            if cell in MISSING_MARKERS:
                out[r] = np.nan
                continue
            try:
                x = float(cell)
            except ValueError:
                raise self.error(
                    f"non-numeric value {cell!r} (missing values are empty, NaN or <undefined>)",
                    column,
                    r,
                ) from None
            if not (lo <= x <= hi):  # also catches inf and nan spellings not in the markers
                raise self.error(
                    f"value {cell} outside the allowed range [{lo:g}, {hi:g}]"
                    + (f" of {what}" if what else ""),
                    column,
                    r,
                )
            out[r] = x
        return out

    def integers(
        self, column: str, allowed: Iterable[int] | None = None, *, missing_ok: bool = False
    ) -> np.ndarray:
        """Integer column as float (NaN for missing when allowed); without ``allowed``, >= 0."""
        allowed = None if allowed is None else set(allowed)
        out = np.empty(len(self.rows))
        for r, cell in enumerate(self.cells(column)):
            if cell in MISSING_MARKERS:
                if missing_ok:
                    out[r] = np.nan
                    continue
                raise self.error(f"missing value in required column {column!r}", column, r)
            try:
                x = float(cell)
            except ValueError:
                x = math.nan
            bad = not math.isfinite(x) or x != int(x)
            bad = bad or (x not in allowed if allowed is not None else x < 0)
            if bad:
                what = (
                    f"unknown {column} code {cell!r}; allowed {sorted(allowed)}"
                    if allowed is not None
                    else f"{column} {cell!r} is not a non-negative integer"
                )
                raise self.error(what, column, r)
            out[r] = x
        return out


def _resolve(path: str | os.PathLike, default_name: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / default_name
    return p


def read_csv(
    path: str | os.PathLike, default_name: str, hint: str = "", *, header_only: bool = False
) -> Table:
    """Read a CSV file (or ``default_name`` inside a folder) as a validated :class:`Table`.

    ``hint`` is added to the "file not found" message (where to get the file);
    ``header_only`` stops after the header (for recognising a file by its columns).
    """
    p = _resolve(path, default_name)
    file = str(p)
    if not p.is_file():
        raise DataFormatError(f"file not found{hint}", file=file)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataFormatError(f"cannot read file: {e.strerror or e}", file=file) from None
    if not raw.strip():
        raise DataFormatError("file is empty", file=file)
    if b"\x00" in raw:
        raise DataFormatError("not a CSV text file (contains NUL bytes)", file=file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")  # free-text attribution columns may not be UTF-8
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise DataFormatError("not a CSV text file", file=file) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        for rec in reader:
            if not rec or all(not c.strip() for c in rec) and len(rec) <= 1:
                continue  # blank line
            if header is None:
                header = [c.strip() for c in rec]
                header_line = reader.line_num
                if header_only:
                    break
                continue
            if len(rec) != len(header):
                raise DataFormatError(
                    f"row has {len(rec)} fields but the header has {len(header)} "
                    f"(line {reader.line_num})",
                    file=file,
                    row=len(rows),
                )
            rows.append(rec)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFormatError(
            f"not a valid CSV file: {e} (line {reader.line_num})", file=file, row=len(rows)
        ) from None
    if header is None:
        raise DataFormatError("file is empty", file=file)
    if len(header) < 2:
        raise DataFormatError(
            f"not a comma-separated table: the header (line {header_line}) has one column "
            f"{header[0][:60]!r}",
            file=file,
        )
    seen: set[str] = set()
    for c in header:
        if c in seen:
            raise DataFormatError(f"duplicate column {c!r} in the header", file=file, column=c)
        seen.add(c)
    if not rows and not header_only:
        raise DataFormatError("file has a header but no data rows", file=file)
    return Table(file, header, rows, lines)


def sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
