"""Boilerplate a site repeats inside its article bodies, learned per source.

trafilatura removes a page's chrome, but not the call-to-action blocks a site puts *between*
the paragraphs of every article ("Also Read: …", "Download our app …", "Get Instant News
Updates").  Those are recognised by what they are: the same short block on many of one
source's pages.

The mechanism:

- The text is split into blocks (its lines: trafilatura puts each paragraph on one).
- Each block is normalised (NFKC, casefold, digits → ``0``, whitespace collapsed) and hashed
  (BLAKE2b, 16 hex characters).  Only *short* blocks — at most ``MAX_BLOCK_WORDS`` words — are
  counted at all: a long paragraph shared by several articles of one source is content (an
  agency background paragraph, a syndicated story), and removing it would hide real text
  from alerts.  A call to action is a line or two.
- For a page the source has not seen before (the caller says so: an article re-fetched or
  updated in place must not count twice), each distinct block's page count goes up by one,
  and so does the source's ``pages_seen``.
- A block is boilerplate for a source when it has appeared on at least ``min_pages`` distinct
  pages *and* on at least ``SHARE`` of the pages the source has shown recently.  "Recently":
  when ``pages_seen`` reaches ``WINDOW`` pages, every count of that source is halved (and
  blocks that fall to zero forgotten), so counts decay exponentially.  That keeps the table
  small, lets a new call to action be learned quickly, and lets an old one be forgotten.
- Boilerplate blocks are removed from the text; if nothing would be left, the text stays as
  it was (a page made only of recurring lines is better judged by a reader than emptied).

Pages seen before a block became boilerplate keep it in their stored text; every page after
that loses it.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import cast

from sqlalchemy import Connection, Executable, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidings.store.models import BoilerplateBlock, Source

MAX_BLOCK_WORDS = 40
SHARE = 0.1
WINDOW = 200

_DIGITS = re.compile(r"\d+")
# Core tables: these statements run on the session's connection, skipping the ORM's
# per-statement bookkeeping (they touch no loaded objects; ``Source.pages_seen`` of a Source
# already loaded in the session is not refreshed).
_BLOCKS = cast(Table, BoilerplateBlock.__table__)
_SOURCES = cast(Table, Source.__table__)
_CONFLICT = [_BLOCKS.c.source_id, _BLOCKS.c.block_hash]
_BATCH = 500  # block hashes per IN (…): far below SQLite's and PostgreSQL's parameter limits


def block_key(block: str) -> str:
    """The stable hash of a block's normalised form (16 hex characters)."""
    normal = _DIGITS.sub("0", " ".join(unicodedata.normalize("NFKC", block).casefold().split()))
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=8).hexdigest()


def countable_blocks(text: str) -> dict[str, str]:
    """Short blocks of ``text`` by hash: the only ones that can ever be boilerplate."""
    blocks: dict[str, str] = {}
    for line in text.splitlines():
        words = len(line.split())
        if 0 < words <= MAX_BLOCK_WORDS:
            blocks.setdefault(block_key(line), line)
    return blocks


def learn_and_strip(
    session: Session, source_id: int, text: str, *, new_page: bool, min_pages: int
) -> str:
    """Count this page's blocks for its source (when ``new_page``), then return ``text``
    without the blocks that are boilerplate for that source."""
    [stripped] = learn_and_strip_many(session, source_id, [(text, new_page)], min_pages=min_pages)
    return stripped


def learn_and_strip_many(
    session: Session, source_id: int, pages: Sequence[tuple[str, bool]], *, min_pages: int
) -> list[str]:
    """``learn_and_strip`` for several pages of one source, in order, in a few statements.

    Each page is ``(text, new_page)``.  The result is exactly what calling ``learn_and_strip``
    once per page would give, and leaves the same counts: the source's counts of the pages'
    blocks are read once, the pages are counted and judged in memory one after the other
    (decay included), and the new counts are written back at the end (and before each decay,
    which halves the source's other blocks too).

    The source row is read ``FOR UPDATE`` first: on PostgreSQL its row lock orders concurrent
    learners of one source (no deadlock between their block upserts); SQLite serialises
    writers anyway.
    """
    keys = [sorted(countable_blocks(text)) for text, _new_page in pages]
    connection = session.connection()
    seen = _pages_seen(session, source_id, lock=True)
    counts = _counts(session, source_id, sorted({key for page in keys for key in page}))
    added: dict[str, int] = {}  # counted since the last write
    stripped = []
    for (text, new_page), page_keys in zip(pages, keys, strict=True):
        if new_page:
            seen += 1
            for key in page_keys:
                counts[key] = counts.get(key, 0) + 1
                added[key] = added.get(key, 0) + 1
            if seen >= WINDOW:  # halve every count of the source, forget those at zero
                _add_pages(connection, source_id, added)
                added = {}
                _decay(session, source_id)
                counts = {key: count // 2 for key, count in counts.items()}
                seen //= 2
        boilerplate = set()
        if seen >= min_pages:  # below that, no block can have reached the threshold yet
            needed = threshold(seen, min_pages)
            boilerplate = {key for key in page_keys if counts.get(key, 0) >= needed}
        stripped.append(strip(text, boilerplate))
    if any(new_page for _text, new_page in pages):
        _add_pages(connection, source_id, added)
        connection.execute(
            update(_SOURCES).where(_SOURCES.c.id == source_id).values(pages_seen=seen)
        )
    return stripped


def _counts(session: Session, source_id: int, keys: list[str]) -> dict[str, int]:
    """The source's page counts of these block hashes (absent: never seen)."""
    counts: dict[str, int] = {}
    for start in range(0, len(keys), _BATCH):
        rows = session.connection().execute(
            select(_BLOCKS.c.block_hash, _BLOCKS.c.pages).where(
                _BLOCKS.c.source_id == source_id,
                _BLOCKS.c.block_hash.in_(keys[start : start + _BATCH]),
            )
        )
        counts.update({key: pages for key, pages in rows})
    return counts


def _add_pages(connection: Connection, source_id: int, added: dict[str, int]) -> None:
    """Add to the blocks' page counts (new blocks start at the number added)."""
    rows = [
        {"source_id": source_id, "block_hash": key, "pages": n} for key, n in sorted(added.items())
    ]
    if rows:
        connection.execute(_add_pages_statement(connection.dialect.name), rows)


@cache
def _add_pages_statement(dialect: str) -> Executable:
    """INSERT … ON CONFLICT DO UPDATE pages = pages + excluded.pages, in the dialect; built
    once and run with a list of rows (executemany), so SQLAlchemy compiles it once."""
    upsert = postgresql.insert(_BLOCKS) if dialect == "postgresql" else sqlite.insert(_BLOCKS)
    return upsert.on_conflict_do_update(
        index_elements=_CONFLICT, set_={"pages": _BLOCKS.c.pages + upsert.excluded.pages}
    )


def _decay(session: Session, source_id: int) -> None:
    """Halve every block count of the source, forgetting blocks that reach zero (the caller
    halves ``pages_seen``)."""
    connection = session.connection()
    mine = _BLOCKS.c.source_id == source_id
    connection.execute(update(_BLOCKS).where(mine).values(pages=_BLOCKS.c.pages // 2))
    connection.execute(delete(_BLOCKS).where(mine, _BLOCKS.c.pages <= 0))


def _pages_seen(session: Session, source_id: int, *, lock: bool = False) -> int:
    query = select(_SOURCES.c.pages_seen).where(_SOURCES.c.id == source_id)
    if lock:
        query = query.with_for_update()
    return int(session.connection().execute(query).scalar() or 0)


def threshold(pages_seen: int, min_pages: int) -> int:
    """On how many of the source's (recent) pages a block must appear to be boilerplate."""
    return max(min_pages, math.ceil(SHARE * pages_seen))


def strip(text: str, boilerplate: set[str]) -> str:
    """``text`` without its boilerplate lines (unchanged if that would leave nothing)."""
    if not boilerplate:
        return text
    kept = [
        line
        for line in text.splitlines()
        if not (0 < len(line.split()) <= MAX_BLOCK_WORDS and block_key(line) in boilerplate)
    ]
    return "\n".join(kept) if any(line.strip() for line in kept) else text
