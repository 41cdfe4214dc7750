"""The snippet of a notification: the passage of the article with the most matched terms.

Matching sees analysed tokens (``tidings.alerts.analysis``: NFKC, casefold, accents off,
tokens are runs of letters/marks/digits, each Han/Kana character alone); a reader sees the
original text.  ``token_spans`` tokenises the original text *the same way* and remembers where
each token came from, so the alert ``"kim jong un"`` highlights "Kim Jong-un" as it was
written, hyphen included.

How the spans are found: the text is cut into clusters (a character and the combining marks
after it), each cluster is normalised on its own, and the analysed tokens of the normalised
text are located in it one after another; every normalised character knows its cluster.  For
the rare sequences that normalise differently together than apart (Hangul jamo, for one), the
tokens may differ from ``analyze(text)``; highlighting then misses them, nothing worse.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from tidings.alerts.analysis import analyze, normalize

SNIPPET_CHARS = 200
LEAD_CHARS = 60  # context kept before the first matched term of the passage
ELLIPSIS = "…"
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


class TokenSpan(NamedTuple):
    """An analysed token and the ``[start, end)`` of the original text it came from."""

    token: str
    start: int
    end: int


@dataclass(frozen=True)
class Snippet:
    """Plain text (with "…" where cut) and the same passage HTML-escaped, terms in ``<mark>``."""

    text: str
    html: str


def token_spans(text: str) -> list[TokenSpan]:
    """The analysed tokens of ``text`` with their spans in ``text``."""
    if text.isascii():
        return _ascii_spans(text)
    folded, origin = _normalized_with_origin(text)
    spans: list[TokenSpan] = []
    cursor = 0
    for token in analyze(folded):
        at = folded.find(token, cursor)
        if at < 0:  # normalisation was not idempotent here: stop rather than guess
            break
        cursor = at + len(token)
        spans.append(TokenSpan(token, origin[at][0], origin[cursor - 1][1]))
    return spans


def _ascii_spans(text: str) -> list[TokenSpan]:
    return [TokenSpan(m[0].lower(), m.start(), m.end()) for m in _ASCII_TOKEN.finditer(text)]


def _normalized_with_origin(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` normalised cluster by cluster, and for each normalised character the
    ``[start, end)`` of the cluster it came from."""
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    for start, end in _clusters(text):
        piece = normalize(text[start:end])
        pieces.append(piece)
        origin.extend([(start, end)] * len(piece))
    return "".join(pieces), origin


def _clusters(text: str) -> list[tuple[int, int]]:
    """A base character and the combining marks (category M) that follow it."""
    clusters: list[tuple[int, int]] = []
    for i, char in enumerate(text):
        if clusters and unicodedata.category(char).startswith("M"):
            clusters[-1] = (clusters[-1][0], i + 1)
        else:
            clusters.append((i, i + 1))
    return clusters


def term_spans(spans: list[TokenSpan], terms: list[str]) -> list[tuple[int, int, str]]:
    """Where each term (a word, or a phrase as consecutive tokens) occurs: ``(start, end, term)``
    in the original text, in text order."""
    tokens = [span.token for span in spans]
    found: list[tuple[int, int, str]] = []
    for term in terms:
        wanted = analyze(term)
        width = len(wanted)
        if not width:
            continue
        for i in range(len(tokens) - width + 1):
            if tokens[i] == wanted[0] and tokens[i : i + width] == wanted:
                found.append((spans[i].start, spans[i + width - 1].end, term))
    return sorted(found)


def best_window(
    hits: list[tuple[int, int, str]], length: int, size: int = SNIPPET_CHARS
) -> tuple[int, int]:
    """The ``[start, end)`` of about ``size`` characters holding the most distinct terms (then
    the most occurrences; the earliest on a tie).  No hits: the start of the text."""
    best, best_score = (0, min(size, length)), (0, 0)
    for first, _, _ in hits:
        start = max(0, first - LEAD_CHARS)
        end = min(length, start + size)
        inside = [hit for hit in hits if hit[0] >= start and hit[1] <= end]
        score = (len({term for _, _, term in inside}), len(inside))
        if score > best_score:
            best, best_score = (start, end), score
    return best


def make_snippet(text: str, terms: list[str], size: int = SNIPPET_CHARS) -> Snippet:
    """The passage of ``text`` with the most ``terms``, cut at word boundaries, terms marked."""
    spans = token_spans(text)
    hits = term_spans(spans, terms)
    start, end = _snap(text, spans, *best_window(hits, len(text), size))
    marks = _merge([(s, e) for s, e, _ in hits if s >= start and e <= end])
    plain = text[start:end].strip()
    lead = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(text.rstrip()) else ""
    return Snippet(
        text=_squash(lead + plain + tail),
        html=_squash(lead + _marked(text, start, end, marks).strip() + tail),
    )


def _snap(text: str, spans: list[TokenSpan], start: int, end: int) -> tuple[int, int]:
    """Move the window's edges out of the middle of a word: the start forward to the next
    token, the end back to the end of the last whole token."""
    if start > 0:
        start = next((s.start for s in spans if s.start >= start), start)
    if end < len(text):
        end = max((s.end for s in spans if start < s.end <= end), default=end)
    return start, end


def _merge(marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching marks as one (a phrase and a word inside it are one mark)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(marks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _marked(text: str, start: int, end: int, marks: list[tuple[int, int]]) -> str:
    parts: list[str] = []
    cursor = start
    for mark_start, mark_end in marks:
        parts.append(html.escape(text[cursor:mark_start]))
        parts.append(f"<mark>{html.escape(text[mark_start:mark_end])}</mark>")
        cursor = mark_end
    parts.append(html.escape(text[cursor:end]))
    return "".join(parts)


def _squash(text: str) -> str:
    """Paragraph breaks and runs of spaces as single spaces (a snippet is one line)."""
    return " ".join(text.split())
