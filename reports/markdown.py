"""Markdown that shows the text it holds: values from records (parameter values, error texts,
commands) never become HTML, emphasis, links or extra table columns in ``summary.md`` or a CI
job summary."""

from __future__ import annotations

import re

# What GitHub-flavoured Markdown acts on inside a line: escapes, code, emphasis, strikethrough,
# links and images, table pipes.
_ACTIVE = re.compile(r"([\\`*_\[\]|~])")


def _one_line(value: object) -> str:
    return " ".join(str(value).splitlines())


def md_text(value: object) -> str:
    """``value`` as literal Markdown text on one line (safe in a table cell)."""
    # ``<`` and ``&`` start raw HTML and entities; a ``>`` inside a line starts nothing.
    text = _one_line(value).replace("&", "&amp;").replace("<", "&lt;")
    return _ACTIVE.sub(r"\\\1", text)


def md_code(value: object, in_table: bool = False) -> str:
    """``value`` as a code span (backticks inside are fenced by a longer run); in a table,
    pipes are escaped as GFM's table parser needs even inside code."""
    text = _one_line(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"
