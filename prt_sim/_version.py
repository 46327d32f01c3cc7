"""The package version, and the fingerprint of the equations it was released with.

``__version__`` is bumped whenever the model's equations change (anything under
``prt_sim/model/``, or the engine that runs them): every output stores it, and a saved fit is
refused by another version. :data:`MODEL_FINGERPRINT` is the :func:`model_fingerprint` of the
sources at this version; ``tests/test_version.py`` fails when the sources change without a new
version and fingerprint.
"""

from __future__ import annotations

__all__ = [
    "__version__",
    "MODEL_FINGERPRINT",
    "model_fingerprint",
    "current_fingerprint",
    "MODEL_SOURCES",
]

__version__ = "0.10.1"
#: model_fingerprint() of the sources released as __version__.
MODEL_FINGERPRINT = "c8859aebb37227e4"
#: The sources whose meaning is the model: a change to them changes the numbers.
MODEL_SOURCES = ("model", "engine.py")


def model_fingerprint(root=None) -> str:
    """Hash (16 hex digits) of the model's sources, comments and docstrings aside: their
    abstract syntax trees, so reformatting or rewording a docstring does not count as a change
    of the equations. ``root`` is the package folder (default: this one)."""
    import ast
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent if root is None else Path(root)
    files = []
    for src in MODEL_SOURCES:
        p = root / src
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body[0] = ast.Pass()  # a docstring
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(ast.dump(tree, annotate_fields=False).encode())
    return h.hexdigest()[:16]


_CURRENT: list[str] = []


def current_fingerprint() -> str:
    """:func:`model_fingerprint` of the sources this process runs (computed once). Results
    record it, so that a fit made while the sources differed from the released ones (same
    version, other equations) is recognised as another model's."""
    if not _CURRENT:
        _CURRENT.append(model_fingerprint())
    return _CURRENT[0]
