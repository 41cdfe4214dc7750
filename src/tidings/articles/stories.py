"""Stories: the same news from several outlets is one story with several articles.

Two articles are one story when they are the same article (the same identity URL: that is one
``Article`` row, updated in place, and it keeps its story) or when their texts are near
duplicates — an agency story run by several outlets with light edits, trims and their own
first line.  Near duplicates are found with MinHash over 3-word shingles of the analysed text
(the same analysis as alert matching) and an LSH index over the articles of the last few days.

Tuning (tests/articles/test_stories.py, on realistic pairs): an agency story and an outlet's
lightly edited copy have a shingle Jaccard similarity near 0.55; a version with nearly every
sentence reworded, 0.30; the same event written independently, about 0.08; two different
stories about the same people, under 0.05.  ``THRESHOLD`` = 0.25 groups the first two and keeps
the others apart with a wide margin (a 128-permutation estimate is within ±0.05 of the truth
most of the time).

Across processes: each ``StoryIndex`` lives in one worker.  Before assigning it reads the
articles other workers stored since it last looked (by id; every ``RESCAN_EVERY`` refreshes it
also re-reads a short tail of recent ids, so rows committed out of id order are not missed).  Remaining races, by design:
two near-duplicate articles assigned at the same moment by two workers, neither yet
committed, become two stories; a row committed out of id order is seen by other workers only
at their next tail rescan, and not at all if it is more than ``RESCAN_IDS`` ids late (until
they restart).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from sqlalchemy import ColumnElement, Table, insert, select, update
from sqlalchemy.orm import Session

from tidings.alerts.analysis import analyze
from tidings.articles.urls import host_of
from tidings.clock import Clock, as_utc, naive_utc, utcnow
from tidings.store.models import Article, Story

SHINGLE_WORDS = 3
NUM_PERM = 128
THRESHOLD = 0.25
# Fewer distinct shingles than this (a one-line brief) and similarity is noise: own story.
MIN_SHINGLES = 20
WINDOW = timedelta(days=7)
RESCAN_IDS = 256
RESCAN_EVERY = 32
_BATCH = 500  # ids per IN (…) when loading: far below SQLite's and PostgreSQL's parameter limits
_SCHEME = "affine32"
_SEED = 1


def shingles(text: str) -> set[bytes]:
    """The distinct runs of ``SHINGLE_WORDS`` analysed tokens of ``text``."""
    tokens = analyze(text)
    runs = range(len(tokens) - SHINGLE_WORDS + 1)
    return {" ".join(tokens[i : i + SHINGLE_WORDS]).encode("utf-8") for i in runs}


def text_minhash(text: str) -> LeanMinHash | None:
    """The MinHash of ``text``'s shingles, or ``None`` when the text is too short to compare."""
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return None
    minhash = MinHash(seed=_SEED, scheme=_SCHEME, permutations=_permutations())
    minhash.update_batch(found)
    return LeanMinHash(minhash)


@cache
def _permutations() -> Any:
    """The random permutations of the MinHash: the same for every article, computed once."""
    return MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations


def text_signature(text: str) -> bytes | None:
    """The stored form of ``text``'s MinHash (None when too short to compare)."""
    minhash = text_minhash(text)
    return minhash_bytes(minhash) if minhash is not None else None


def minhash_bytes(minhash: LeanMinHash) -> bytes:
    """Compact storage: the hash values as little-endian uint32 (512 bytes for 128)."""
    return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()


def minhash_from_bytes(data: bytes) -> LeanMinHash:
    values = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    return LeanMinHash(seed=_SEED, hashvalues=values, scheme=_SCHEME)


# Core tables: the index's queries run on the session's connection, without ORM bookkeeping.
_ARTICLES = cast(Table, Article.__table__)
_STORIES = cast(Table, Story.__table__)
_ASSIGNED = (_ARTICLES.c.story_id.is_not(None), _ARTICLES.c.minhash.is_not(None))


@dataclass(frozen=True)
class _Entry:
    story_id: int
    minhash: LeanMinHash


class StoryIndex:
    """Recent articles' MinHashes in an LSH index, kept current from the database."""

    def __init__(self, *, window: timedelta = WINDOW, clock: Clock = utcnow) -> None:
        self.window = window
        self.clock = clock
        self.lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, weights=(0.3, 0.7))
        self.entries: dict[int, _Entry] = {}
        self.expiry: list[tuple[datetime, int]] = []  # heap of (fetched_at, article id)
        self.last_seen_id = 0
        self.refreshes = 0

    def __len__(self) -> int:
        return len(self.entries)

    def place(
        self, session: Session, articles: Sequence[tuple[LeanMinHash | None, str]]
    ) -> list[int]:
        """The stories of new articles, given as (MinHash, title), in order.

        Each joins the story of its most similar recent article — one stored before (the
        index, refreshed first) or one earlier in the list — if similar enough, else starts a
        story.  The stories' rows are written here, in two statements whatever the number of
        articles (one UPDATE of the joined stories' counts, one INSERT of the new stories);
        the index is left alone: ``add`` each article once it is committed, so a rolled-back
        transaction leaves nothing behind in it.
        """
        if not articles:
            return []
        self.refresh(session)
        targets = self._targets([minhash for minhash, _title in articles])
        now = naive_utc(self.clock())
        missing = _join(session, Counter(t for t in targets if t >= 0), now)
        if missing:  # gone (a rolled-back transaction): its first joiner starts it again
            again = {t: -1 - targets.index(t) for t in missing}
            targets = [again.get(t, t) for t in targets]
        starters = Counter(-1 - t for t in targets if t < 0)
        rows = [
            {"title": articles[i][1], "first_seen_at": now, "updated_at": now, "article_count": n}
            for i, n in sorted(starters.items())
        ]
        created: list[int] = []
        if rows:
            statement = insert(_STORIES).returning(_STORIES.c.id, sort_by_parameter_order=True)
            created = list(session.connection().execute(statement, rows).scalars())
        new_ids = dict(zip(sorted(starters), created, strict=True))
        return [t if t >= 0 else new_ids[-1 - t] for t in targets]

    def _targets(self, minhashes: list[LeanMinHash | None]) -> list[int]:
        """Per article, the stored story it joins (an id, ≥ 0), or ``-1 - i`` for the new
        story started by the list's article ``i``."""
        targets: list[int] = []
        earlier = _Batch(len(minhashes))
        for i, minhash in enumerate(minhashes):
            if minhash is None:
                targets.append(-1 - i)
                continue
            stored = self._nearest(minhash)
            local = earlier.nearest(minhash)
            if local is not None and (stored is None or local[0] > stored[0]):
                targets.append(targets[local[1]])
            else:
                targets.append(stored[1] if stored is not None else -1 - i)
            earlier.add(i, minhash)
        return targets

    def _nearest(self, minhash: LeanMinHash) -> tuple[float, int] | None:
        """(similarity, story id) of the most similar recent article, if similar enough."""
        best: tuple[float, int] | None = None
        for article_id in self.lsh.query(minhash):
            entry = self.entries[article_id]
            similarity = minhash.jaccard(entry.minhash)
            if similarity >= THRESHOLD and (best is None or similarity > best[0]):
                best = (similarity, entry.story_id)
        return best

    def add(
        self,
        article_id: int,
        story_id: int | None,
        minhash: LeanMinHash | None,
        fetched_at: datetime | None,
    ) -> None:
        """Put a stored article in the index (replacing it if there: updated in place)."""
        self._remove(article_id)
        if minhash is not None and story_id is not None:
            when = naive_utc(as_utc(fetched_at) or self.clock())
            self._add(article_id, story_id, minhash, when)

    def refresh(self, session: Session) -> None:
        """Take in articles stored (by any worker) since this index last looked; drop old ones.

        Usually one query for the rows past the highest id seen.  Every ``RESCAN_EVERY``
        refreshes the last ``RESCAN_IDS`` ids are looked at again, for rows another worker
        committed after rows with higher ids.
        """
        cutoff = naive_utc(self.clock() - self.window)
        self.refreshes += 1
        if self.last_seen_id and self.refreshes % RESCAN_EVERY == 0:
            self._rescan_tail(session, cutoff)
        self._load(session, _ARTICLES.c.id > self.last_seen_id, _ARTICLES.c.fetched_at >= cutoff)
        self._expire(cutoff)

    def _rescan_tail(self, session: Session, cutoff: datetime) -> None:
        low = max(0, self.last_seen_id - RESCAN_IDS)
        ids = (
            session.connection()
            .execute(
                select(_ARTICLES.c.id).where(
                    *_ASSIGNED, _ARTICLES.c.id > low, _ARTICLES.c.fetched_at >= cutoff
                )
            )
            .scalars()
        )
        unseen = [i for i in ids if i not in self.entries]
        for start in range(0, len(unseen), _BATCH):
            self._load(session, _ARTICLES.c.id.in_(unseen[start : start + _BATCH]))

    def _load(self, session: Session, *where: ColumnElement[bool]) -> None:
        c = _ARTICLES.c
        query = select(c.id, c.story_id, c.minhash, c.fetched_at).where(*_ASSIGNED, *where)
        rows = session.connection().execute(query.order_by(c.id))
        for article_id, story_id, data, fetched_at in rows:
            if article_id not in self.entries and story_id is not None and data is not None:
                self._add(article_id, story_id, minhash_from_bytes(data), fetched_at)

    def _add(
        self, article_id: int, story_id: int, minhash: LeanMinHash, fetched_at: datetime
    ) -> None:
        self.entries[article_id] = _Entry(story_id, minhash)
        self.lsh.insert(article_id, minhash, check_duplication=False)
        heapq.heappush(self.expiry, (fetched_at, article_id))
        self.last_seen_id = max(self.last_seen_id, article_id)

    def _remove(self, article_id: int) -> None:
        if self.entries.pop(article_id, None) is not None:
            self.lsh.remove(article_id)

    def _expire(self, cutoff: datetime) -> None:
        while self.expiry and self.expiry[0][0] < cutoff:
            _fetched_at, article_id = heapq.heappop(self.expiry)
            self._remove(article_id)


def _join(session: Session, joins: Counter[int], now: datetime) -> set[int]:
    """Count the joining articles of each story (story id → how many); return the stories
    that are not there (a rolled-back transaction of this worker may have left them in the
    index).  One UPDATE per distinct count: usually one in all."""
    missing = set(joins)
    by_count: dict[int, list[int]] = {}
    for story_id, count in joins.items():
        by_count.setdefault(count, []).append(story_id)
    for count, ids in by_count.items():
        for start in range(0, len(ids), _BATCH):
            updated = session.connection().execute(
                update(_STORIES)
                .where(_STORIES.c.id.in_(ids[start : start + _BATCH]))
                .values(article_count=_STORIES.c.article_count + count, updated_at=now)
                .returning(_STORIES.c.id)
            )
            missing.difference_update(updated.scalars())
    return missing


class _Batch:
    """The MinHashes of a batch's earlier articles, compared all at once (the batch is not
    in the LSH index yet: its articles have no ids)."""

    def __init__(self, size: int) -> None:
        self.values = np.empty((size, NUM_PERM), dtype=np.uint64)
        self.positions: list[int] = []

    def add(self, position: int, minhash: LeanMinHash) -> None:
        self.values[len(self.positions)] = minhash.hashvalues
        self.positions.append(position)

    def nearest(self, minhash: LeanMinHash) -> tuple[float, int] | None:
        """(similarity, position) of the most similar earlier article, if similar enough."""
        if not self.positions:
            return None
        earlier = self.values[: len(self.positions)]
        equal = np.count_nonzero(earlier == minhash.hashvalues, axis=1)
        best = int(np.argmax(equal))  # the first of the most similar
        similarity = float(equal[best]) / NUM_PERM
        return (similarity, self.positions[best]) if similarity >= THRESHOLD else None


def story_sources(session: Session, story_id: int) -> list[str]:
    """The distinct sites that reported the story, first reporter first: one per host (without
    ``www.``), named by its first article's site name, else by the host."""
    return stories_sources(session, [story_id]).get(story_id, [])


def stories_sources(session: Session, story_ids: Iterable[int]) -> dict[int, list[str]]:
    """``story_sources`` of several stories with one query (a page listing stories)."""
    rows = session.execute(
        select(Article.story_id, Article.sitename, Article.url)
        .where(Article.story_id.in_(set(story_ids)))
        .order_by(Article.id)
    )
    names: dict[int, dict[str, str]] = {}
    for story_id, sitename, url in rows:
        host = host_of(url)
        port = urlsplit(url).port  # two sites on one host (e.g. local ones) are still two
        site = f"{host}:{port}" if port else host
        assert story_id is not None  # one of story_ids
        names.setdefault(story_id, {}).setdefault(site, sitename or host)
    return {story_id: list(sites.values()) for story_id, sites in names.items()}
