"""MkDocs hook: the lessons page, written from the lessons themselves.

``docs/lessons.md`` holds a ``<!-- lessons -->`` marker; at build time it is replaced by one
section per ``examples/NN_*.py``: the script's docstring (its question, what to look at, what to
try), the command that runs it, and the figure ``make lessons`` saved in docs/figures/lessons.
The page cannot drift from the scripts. A lesson whose figure is missing is a warning, which
fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.lessons")
MARKER = "<!-- lessons -->"


def _section(path: Path, docs_dir: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    title, _, body = doc.partition("\n")
    body = re.sub(r"``(.+?)``", r"`\1`", body.strip(), flags=re.S)  # reST literals -> Markdown
    figure = f"figures/lessons/{path.stem}.png"
    if not (docs_dir / figure).is_file():
        log.warning("lessons: %s has no figure %s (run `make lessons`)", path.name, figure)
    return (
        f"## {title.rstrip('.')}\n\n"
        f"`examples/{path.name}`\n\n{body}\n\n"
        f"```\npython examples/{path.name}\n```\n\n"
        f"![{title}]({figure})\n"
    )


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_path != "lessons.md" or MARKER not in markdown:
        return markdown
    docs_dir = Path(config["docs_dir"])
    lessons = sorted((docs_dir.parent / "examples").glob("[0-9][0-9]_*.py"))
    if not lessons:
        log.warning("lessons: no examples/NN_*.py found")
    return markdown.replace(MARKER, "\n".join(_section(p, docs_dir) for p in lessons))
