"""From a page a source points at to a stored article: fetch → extract → store.

    page ──fetch (a thread)──▶ HTML ──extract (a process)──▶ article ──store (one thread)──▶ row

Fetching is I/O: the page pool's threads, through the one shared ``Fetcher``.  Extraction is
CPU: a process pool; at most ``extract_slots`` pages wait for it at a time, so fetching cannot
run far ahead and pile up HTML in memory.  Storing is one thread per worker that takes every
page ready — from all the sources being checked — and stores them in one transaction
(``tidings.batching``): a transaction's fixed cost is paid once per batch, not per article.

What one transaction holds, for every article of the batch: the article (new, or updated in
place), its story, the source's learned boilerplate, the page remembered as seen (so a page
not stored is fetched again: a crash loses nothing), and whatever the after-store hooks write
(the notifier's notifications and deliveries: the outbox rule).  Pages that failed for good
are remembered in it too.  Only once it has committed are the articles added to the story
index and the waiting ``Future``s told.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidings.articles.extract import ExtractedArticle, ExtractionError
from tidings.articles.store import StoredArticle, store_articles
from tidings.articles.stories import StoryIndex
from tidings.batching import Batches
from tidings.clock import Clock, naive_utc, utcnow
from tidings.config import Settings
from tidings.sources.http import Fetcher, FetchError
from tidings.store.db import Database
from tidings.store.models import Article, SourceEntry

log = logging.getLogger("tidings.ingest")

Extract = Callable[[bytes, str], "Future[ExtractedArticle]"]
ArticleHook = Callable[[Session, Article], None]
Stored = tuple[int, bool]  # (article id, created)

MOST_PER_BATCH = 64  # articles stored in one transaction, at most
LINGER = 0.25  # seconds a ready page may wait for others to share its transaction
ATTEMPTS = 3  # a batch that raced another worker's insert of the same URL is tried again


@dataclass(frozen=True)
class PageRef:
    """A page a source points at: its URL, a stable key and a version that changes on edits."""

    url: str
    key: str
    version: str | None = None


@dataclass
class PageJob:
    """One page on its way: where it is, and what became of it."""

    source_id: int
    page: PageRef
    position: int  # in its source's list: a source's articles are stored in that order
    done: Future[Stored] = field(default_factory=Future)
    extracted: ExtractedArticle | None = None
    error: BaseException | None = None

    @property
    def failed_for_good(self) -> bool:
        """A fetch or extraction error that retrying will not fix: remember the page as seen."""
        error = self.error
        return isinstance(error, FetchError | ExtractionError) and error.permanent


class Ingest:
    """Takes pages, gives ``Future``s of stored articles.  One per worker process."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        fetcher: Fetcher,
        extract: Extract,
        extract_slots: int,
        stories: StoryIndex,
        page_pool: ThreadPoolExecutor,
        after_store: list[ArticleHook],
        clock: Clock = utcnow,
    ) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.fetcher, self.extract, self.page_pool = fetcher, extract, page_pool
        self.stories, self.after_store = stories, after_store
        self._slots = threading.BoundedSemaphore(extract_slots)
        self._batches: Batches[PageJob] = Batches(most=MOST_PER_BATCH, linger=LINGER)
        # The story index is only ever used by the storing thread (placing a batch in its
        # transaction, learning it after the commit), so it needs no lock.
        self._storer = threading.Thread(target=self._store_batches, name="store", daemon=True)
        self._storer.start()

    def submit(self, source_id: int, page: PageRef, position: int) -> Future[Stored]:
        """Fetch, extract and store a page; the ``Future`` says (article id, created), or
        raises the page's ``FetchError``/``ExtractionError``."""
        job = PageJob(source_id, page, position)
        self._batches.expect()
        try:
            self.page_pool.submit(self._fetch, job)
        except BaseException as exc:  # the pool is shut down: the job still reaches the storer
            job.error = exc
            self._batches.put(job)
        return job.done

    def close(self) -> None:
        """Store what is ready, then stop the storing thread.  (A page still on its way is
        not stored, nor remembered as seen: it is fetched again by the next check.)"""
        self._batches.close()
        self._storer.join()

    # -- fetch and extract ------------------------------------------------------------------

    def _fetch(self, job: PageJob) -> None:
        """In the page pool: fetch (robots.txt obeyed), then queue for extraction."""
        try:
            result = self.fetcher.fetch(job.page.url, obey_robots=True)
            self._slots.acquire()
            try:
                extracting = self.extract(result.body, result.url)
            except BaseException:
                self._slots.release()
                raise
        except BaseException as exc:  # noqa: BLE001 — every job must reach the storer
            job.error = exc
            self._batches.put(job)
            return
        extracting.add_done_callback(lambda future: self._extracted(job, future))

    def _extracted(self, job: PageJob, future: Future[ExtractedArticle]) -> None:
        self._slots.release()
        job.error = future.exception()
        job.extracted = future.result() if job.error is None else None
        self._batches.put(job)

    # -- store ------------------------------------------------------------------------------

    def _store_batches(self) -> None:
        """The storing thread: batch after batch until closed."""
        while (batch := self._batches.take()) is not None:
            jobs = sorted(batch, key=lambda job: (job.source_id, job.position))
            for job in jobs:
                if job.error is not None and not job.failed_for_good:
                    job.done.set_exception(job.error)  # not remembered: fetched again later
            waiting = [job for job in jobs if not job.done.done()]
            try:
                self._store_isolating_failures(waiting)
            except BaseException as exc:  # noqa: BLE001 — the thread must outlive any batch
                _fail(waiting, exc)

    def _store_isolating_failures(self, jobs: list[PageJob]) -> None:
        """Store the batch; if that fails, each source's part on its own, so one source's
        trouble stays its own."""
        try:
            self._store(jobs)
            return
        except Exception as exc:
            parts = [list(part) for _, part in groupby(jobs, key=lambda job: job.source_id)]
            if len(parts) == 1:
                _fail(jobs, exc)
                return
        for part in parts:
            try:
                self._store(part)
            except Exception as exc:
                _fail(part, exc)

    def _store(self, jobs: list[PageJob]) -> None:
        """Store in one transaction (tried again if another worker raced us to a URL), then
        put the articles in the story index and resolve the jobs."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                stored = self._store_in_one_transaction(jobs)
                for item in stored.values():
                    item.index(self.stories)
                break
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
                log.info("articles raced, retrying", extra={"articles": len(jobs)})
        for job in jobs:
            if job.error is not None:
                job.done.set_exception(job.error)
            else:
                item = stored[id(job)]
                job.done.set_result((item.article.id, item.created))

    def _store_in_one_transaction(self, jobs: list[PageJob]) -> dict[int, StoredArticle]:
        """Every article of the batch, its page remembered as seen (and the pages that failed
        for good), and the after-store hooks — in one transaction."""
        good = [job for job in jobs if job.extracted is not None]
        with self.db.session() as session:
            stored = store_articles(
                session, [(job.source_id, cast(ExtractedArticle, job.extracted)) for job in good],
                stories=self.stories, min_pages=self.settings.boilerplate_min_pages,
                now=self.clock(),
            )
            by_job = {id(job): item for job, item in zip(good, stored, strict=True)}
            self._remember(session, jobs, by_job)
            for item in stored:
                for hook in self.after_store:
                    hook(session, item.article)
        return by_job

    def _remember(
        self, session: Session, jobs: list[PageJob], stored: dict[int, StoredArticle]
    ) -> None:
        now = naive_utc(self.clock())
        for source_id, part in groupby(jobs, key=lambda job: job.source_id):
            seen = [(job.page, stored[id(job)].article.id if id(job) in stored else None)
                    for job in part]
            remember(session, source_id, seen, now=now)


def _fail(jobs: Sequence[PageJob], error: BaseException) -> None:
    """The jobs' transaction failed: nothing of it was stored or remembered.  Each ``Future``
    raises its page's own error if it had one, else why storing failed."""
    log.error("storing articles failed", exc_info=error, extra={"articles": len(jobs)})
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(job.error or error)


def remember(
    session: Session,
    source_id: int,
    pages: Sequence[tuple[PageRef, int | None]],
    *,
    now: datetime,
) -> None:
    """Record the pages as seen (with their article, if any): one statement for all."""
    rows = [
        {"source_id": source_id, "entry_key": page.key, "version": page.version,
         "article_id": article_id, "seen_at": now}
        for page, article_id in pages
    ]
    if rows:
        session.connection().execute(_remember_statement(session.get_bind().dialect.name), rows)


@cache
def _remember_statement(dialect: str) -> Any:
    """INSERT … ON CONFLICT (source_id, entry_key) DO UPDATE, in the dialect; built once and run
    with a list of rows (executemany)."""
    table = cast(Table, SourceEntry.__table__)
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=["source_id", "entry_key"],
        set_={name: insert.excluded[name] for name in ("version", "article_id", "seen_at")},
    )
