"""Text analysis shared by articles and alert queries (DESIGN.md, "Alert queries").

1. Unicode NFKC, then casefold.
2. Accents off Latin, Greek and Cyrillic letters: NFKD, drop the combining marks that follow
   such a letter (or another dropped mark), then NFC.  Marks of other scripts stay.
3. Tokens are maximal runs of letters, marks and digits (categories L, M, N), except that each
   Han, Hiragana or Katakana character is a token by itself.

ASCII text (most of it, in English news) takes a fast path that gives the same tokens.  The
character classes for the general path are built from ``unicodedata`` the first time non-ASCII
text is seen, so the analysis and the normalisation use one Unicode version.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_ASTRAL = "\U00010000"

# Code points that can be letters, marks or digits: everything assigned below the last CJK
# extension block, plus the variation selectors supplement (marks) in plane 14.
_SCANNED_RANGES = (range(0x80, 0x323B0), range(0xE0100, 0xE01F0))
_HAN_EXTRAS = frozenset("々〆〇〡〢〣〤〥〦〧〨〩〸〹〺〻")
_SEPARATE_PREFIXES = (
    "CJK UNIFIED IDEOGRAPH",
    "CJK COMPATIBILITY IDEOGRAPH",
    "HIRAGANA",
    "KATAKANA",
)
_ACCENTED_PREFIXES = ("LATIN ", "GREEK ", "CYRILLIC ")


class _Classes:
    """Compiled patterns for the general (non-ASCII) path.

    ``re`` matches a character class quickly only when it lies in the Basic Multilingual
    Plane, so each pattern comes twice: BMP-only (the common case) and full.
    """

    def __init__(
        self, word: list[int], separate: list[int], accented: list[int], marks: list[int]
    ) -> None:
        self.token_bmp = re.compile(
            f"{_char_class(separate, bmp=True)}|{_char_class(word, bmp=True)}+"
        )
        self.token_full = re.compile(f"{_char_class(separate)}|{_char_class(word)}+")
        self.accents_bmp = re.compile(
            f"(?<={_char_class(accented, bmp=True)}){_char_class(marks, bmp=True)}+"
        )
        self.accents_full = re.compile(f"(?<={_char_class(accented)}){_char_class(marks)}+")

    def tokens(self, text: str) -> list[str]:
        pattern = self.token_bmp if max(text, default=" ") < _ASTRAL else self.token_full
        return pattern.findall(text)

    def strip_accents(self, text: str) -> str:
        pattern = self.accents_bmp if max(text, default=" ") < _ASTRAL else self.accents_full
        return pattern.sub("", text)


def analyze(text: str) -> list[str]:
    """The tokens of ``text``: normalised, case-folded, accents off, split into words."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    return _classes().tokens(normalize(text))


def normalize(text: str) -> str:
    """Steps 1 and 2 of the analysis: NFKC + casefold, then accents off Latin/Greek/Cyrillic."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return unicodedata.normalize("NFC", _classes().strip_accents(decomposed))


@cache
def _classes() -> _Classes:
    letters_digits: list[int] = []
    marks: list[int] = []
    separate: list[int] = []
    accented: list[int] = []
    for cp in _scanned_code_points():
        char = chr(cp)
        kind = unicodedata.category(char)[0]
        if kind not in "LMN":
            continue
        if kind == "M":
            marks.append(cp)
        elif _is_separate_script(char):
            separate.append(cp)
            continue
        elif kind == "L" and unicodedata.name(char, "").startswith(_ACCENTED_PREFIXES):
            accented.append(cp)
        letters_digits.append(cp)
    ascii_word = [cp for cp in range(0x80) if chr(cp).isalnum()]
    return _Classes(ascii_word + letters_digits, separate, accented + _ascii_letters(), marks)


def _scanned_code_points() -> list[int]:
    return [cp for block in _SCANNED_RANGES for cp in block]


def _is_separate_script(char: str) -> bool:
    """Han, Hiragana and Katakana characters are each a token by themselves."""
    if char in _HAN_EXTRAS:
        return True
    name = unicodedata.name(char, "")
    return name.startswith(_SEPARATE_PREFIXES) or name.startswith("HALFWIDTH KATAKANA")


def _ascii_letters() -> list[int]:
    return [cp for cp in range(0x80) if chr(cp).isalpha()]


def _char_class(code_points: list[int], *, bmp: bool = False) -> str:
    """A regular expression matching one of ``code_points`` (only those in the BMP if ``bmp``)."""
    low = _bracket([cp for cp in code_points if cp < 0x10000])
    high = [cp for cp in code_points if cp >= 0x10000]
    if bmp or not high:
        return low
    return f"(?:{low}|{_bracket(high)})"


def _bracket(code_points: list[int]) -> str:
    parts: list[str] = []
    for start, end in _ranges(sorted(code_points)):
        first, last = re.escape(chr(start)), re.escape(chr(end))
        parts.append(first if start == end else f"{first}-{last}")
    return "[" + "".join(parts) + "]" if parts else "(?!)"


def _ranges(code_points: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges
