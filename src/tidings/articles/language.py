"""An article's language: what the page declares, else what its text reads as."""

from __future__ import annotations

import re

# Below this many letters the statistical guess is no better than a coin toss.
MIN_LETTERS = 20
# Enough text to decide; classifying a whole long article costs time and changes nothing.
SAMPLE_CHARS = 1000

_LANGUAGE_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*$")


def language_from_tag(tag: str | None) -> str | None:
    """The primary language of a declared tag: ``en-IN`` → ``en``; nonsense → ``None``."""
    if not tag:
        return None
    match = _LANGUAGE_TAG.match(tag.split(",")[0])
    if not match:
        return None
    primary = match.group(1).lower()
    return None if primary in {"und", "mul", "zxx", "xx"} else primary


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is written in, or ``None`` when too short."""
    sample = text[:SAMPLE_CHARS]
    if sum(1 for ch in sample if ch.isalpha()) < MIN_LETTERS:
        return None
    import py3langid

    code, _score = py3langid.classify(sample)
    return str(code)
