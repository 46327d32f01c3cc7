"""The docs' code blocks that say what they print print it.

A ```python block of ``docs/*.md`` with a line ``print(...)  # <value>`` (a value: starting with
a digit, a sign, a bracket or a quote) is run as written, and each such line's output must be
the value in its comment: an example's numbers in the docs are measured, and stay true.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SAYS = re.compile(r"^\s*print\(.*\)\s+#\s*([\[\(\d\-+'\"].*)$")


def _blocks():
    for page in sorted(DOCS.glob("*.md")):
        for k, m in enumerate(BLOCK.finditer(page.read_text())):
            code = m.group(1)
            said = [s.group(1).strip() for s in map(SAYS.match, code.splitlines()) if s]
            if said:
                yield pytest.param(code, said, id=f"{page.name}-{k}")


@pytest.mark.parametrize(("code", "said"), list(_blocks()))
def test_docs_block_prints_what_it_says(code, said):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<docs>", "exec"), {"__name__": "__docs__"})
    printed = [line.strip() for line in out.getvalue().splitlines()]
    assert printed == said


def test_the_docs_have_blocks_that_say_what_they_print():
    assert len(list(_blocks())) >= 3
