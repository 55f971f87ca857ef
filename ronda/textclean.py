"""What strangers type, made plain: Unicode NFKC, no control or invisible formatting
characters, whitespace collapsed. Pure; used for the region and comment of a user's report.

Hand-written because it is a few lines over the standard library's unicodedata: no library
does exactly this (bleach and friends clean HTML, which a report never is).
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width joiners hold emoji sequences and some scripts' ligatures together: harmless,
# unlike the other format characters (bidirectional overrides can make a comment read
# differently from what it is).
_KEPT_FORMAT = frozenset("\u200c\u200d")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def plain(text: str, *, lines: bool = False) -> str:
    """`text` in NFKC with control, format, surrogate, private and unassigned characters
    removed and each run of whitespace one space, trimmed. With `lines`, line breaks stay
    (at most one blank line in a row), each line trimmed."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = []
    for char in text:
        if char == "\n":
            kept.append("\n" if lines else " ")
        elif char.isspace():
            kept.append(" ")
        elif not unicodedata.category(char).startswith("C") or char in _KEPT_FORMAT:
            kept.append(char)
    joined = "".join(kept)
    if not lines:
        return _SPACES.sub(" ", joined).strip()
    stripped = "\n".join(_SPACES.sub(" ", line).strip() for line in joined.split("\n"))
    return _BLANK_LINES.sub("\n\n", stripped).strip()
