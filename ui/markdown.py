"""Text from people (photo, file and survey names) put into Markdown that others read: shown as
text, never as a link, an image or HTML. Gradio strips scripts, not a link to a lookalike login
page or an image that reports who opened the page."""

from __future__ import annotations

import html
import re

# What makes links, images, emphasis, code, tables and headings mid-line ("." and "-" only start lists).
_MARKUP = re.compile(r"([\\`*_\[\]()!|#~])")


def as_text(value: str) -> str:
    """``value`` escaped for Markdown: its punctuation backslashed, ``<``, ``>``, ``&`` as entities."""
    return _MARKUP.sub(r"\\\1", html.escape(value, quote=False))
