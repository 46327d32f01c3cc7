"""MkDocs hook: render the docs' LaTeX as MathML when the site is built.

``pymdownx.arithmatex`` (generic mode) finds ``$...$`` and ``$$...$$`` and wraps them in
``<span class="arithmatex">\\(...\\)</span>`` / ``<div class="arithmatex">\\[...\\]</div>``; this
hook converts each to MathML with ``latex2mathml``. Browsers draw MathML natively, so the built
site shows equations offline with no JavaScript and no CDN. An expression that cannot be
converted is logged as a warning naming the page, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

_INLINE = re.compile(r'<span class="arithmatex">\\\((.+?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.+?)\\\]</div>', re.S)


_ALIGNED = re.compile(r"\\begin\{aligned\}(.*?)\\end\{aligned\}", re.S)


def _aligned_as_array(tex: str) -> str:
    """``aligned`` as the ``array`` it lays out: columns alternately right- and left-aligned,
    split at the same ``&`` (latex2mathml has ``array`` but not ``aligned``)."""

    def one(m: re.Match) -> str:
        body = m[1]
        n = 1 + max(row.count("&") for row in re.split(r"\\\\", body))
        return "\\begin{array}{" + ("rl" * n)[:n] + "}" + body + "\\end{array}"

    return _ALIGNED.sub(one, tex)


def _render(latex: str, display: str, page) -> str:
    tex = _aligned_as_array(html.unescape(latex).strip())
    try:
        out = convert(tex, display=display)
    except Exception as e:  # latex2mathml raises many types; each is a build error here
        out = None
        why = str(e)
    else:  # a construct latex2mathml does not know leaves its characters as identifiers
        bad = "<mi>&</mi>" in out or re.search(r"<m[ion]>\\[A-Za-z]+</m[ion]>", out)
        why = "unsupported construct" if bad else ""
    if why:
        log.warning("%s: cannot render %r as MathML (%s)", page.file.src_path, tex, why)
        return f"<code>{html.escape(tex)}</code>"
    return out


def on_page_content(content: str, page, config, files) -> str:
    content = _BLOCK.sub(
        lambda m: f'<div class="math">{_render(m[1], "block", page)}</div>', content
    )
    return _INLINE.sub(lambda m: _render(m[1], "inline", page), content)
