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
from collections.abc import Iterable
from functools import cache
from typing import Any, cast

from sqlalchemy import Executable, Table, delete, select, update
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
_ADD_A_PAGE: dict[str, Any] = {
    "index_elements": [_BLOCKS.c.source_id, _BLOCKS.c.block_hash],
    "set_": {"pages": _BLOCKS.c.pages + 1},
}


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
    keys = sorted(countable_blocks(text))
    pages_seen = learn(session, source_id, keys) if new_page else _pages_seen(session, source_id)
    return strip(text, boilerplate_keys(session, source_id, keys, pages_seen, min_pages))


def learn(session: Session, source_id: int, keys: Iterable[str]) -> int:
    """Record a new page of the source with these block hashes; return the source's page count.

    The source row is updated first: on PostgreSQL its row lock orders concurrent learners of
    one source (no deadlock between their block upserts); SQLite serialises writers anyway.
    """
    connection = session.connection()
    pages_seen = connection.execute(
        update(_SOURCES)
        .where(_SOURCES.c.id == source_id)
        .values(pages_seen=_SOURCES.c.pages_seen + 1)
        .returning(_SOURCES.c.pages_seen)
    ).scalar_one()
    rows = [{"source_id": source_id, "block_hash": key, "pages": 1} for key in keys]
    if rows:
        connection.execute(_add_a_page(connection.dialect.name), rows)
    if pages_seen >= WINDOW:
        pages_seen = _decay(session, source_id)
    return int(pages_seen)


@cache
def _add_a_page(dialect: str) -> Executable:
    """INSERT … ON CONFLICT DO UPDATE pages = pages + 1, in the dialect; built once and run
    with a list of rows (executemany), so SQLAlchemy compiles it once."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_BLOCKS).on_conflict_do_update(**_ADD_A_PAGE)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(_BLOCKS).on_conflict_do_update(**_ADD_A_PAGE)


def _decay(session: Session, source_id: int) -> int:
    """Halve every count of the source, forgetting blocks that reach zero."""
    connection = session.connection()
    mine = _BLOCKS.c.source_id == source_id
    connection.execute(update(_BLOCKS).where(mine).values(pages=_BLOCKS.c.pages // 2))
    connection.execute(delete(_BLOCKS).where(mine, _BLOCKS.c.pages <= 0))
    halved = connection.execute(
        update(_SOURCES)
        .where(_SOURCES.c.id == source_id)
        .values(pages_seen=_SOURCES.c.pages_seen // 2)
        .returning(_SOURCES.c.pages_seen)
    )
    return int(halved.scalar_one())


def _pages_seen(session: Session, source_id: int) -> int:
    query = select(_SOURCES.c.pages_seen).where(_SOURCES.c.id == source_id)
    return int(session.connection().execute(query).scalar() or 0)


def threshold(pages_seen: int, min_pages: int) -> int:
    """On how many of the source's (recent) pages a block must appear to be boilerplate."""
    return max(min_pages, math.ceil(SHARE * pages_seen))


def boilerplate_keys(
    session: Session, source_id: int, keys: list[str], pages_seen: int, min_pages: int
) -> set[str]:
    """Which of ``keys`` are boilerplate for the source."""
    if not keys or pages_seen < min_pages:  # no block can have reached the threshold yet
        return set()
    rows = session.connection().execute(
        select(_BLOCKS.c.block_hash).where(
            _BLOCKS.c.source_id == source_id,
            _BLOCKS.c.block_hash.in_(keys),
            _BLOCKS.c.pages >= threshold(pages_seen, min_pages),
        )
    )
    return set(rows.scalars())


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
