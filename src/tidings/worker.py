"""A worker process: claims due sources and runs each through the pipeline.

fetch → extract → store → match → notify (an ``after_store`` hook, in the article's
transaction) → deliver (a task on every pass: the outbox sender).

Fetching is I/O (threads, one shared HTTP client, per-host limits in the fetcher); extraction
is CPU (a process pool, one process per core by default); storing is one thread, a batch of
articles per transaction (``tidings.ingest``).
Any number of workers may share one database: claims keep them off each other's sources.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
from datetime import timedelta
from multiprocessing.pool import Pool
from typing import Any

from sqlalchemy import func, select

from tidings.articles.extract import ExtractedArticle, ExtractionError, extract_article
from tidings.articles.stories import StoryIndex, text_signature
from tidings.clock import Clock, naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.digests import DigestScheduler
from tidings.delivery.notify import Notifier
from tidings.delivery.outbox import DeliveryWorker, SubscriptionHousekeeping
from tidings.ingest import ArticleHook, Ingest
from tidings.pipeline import CheckReport, Pipeline
from tidings.sources.http import Fetcher
from tidings.store.claims import PAUSED, claim_due_sources
from tidings.store.db import Database
from tidings.store.models import Source

log = logging.getLogger("tidings.worker")

DIGEST_RETRY = 30.0  # seconds after a failed digest pass before the next
EXTRACT_SLOTS_PER_PROCESS = 4  # fetched pages waiting for (or in) extraction, per process

Task = Callable[[], int]  # does the work that is due; returns how much it did


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; the parent decides how to stop its children.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def extract_and_sign(body: bytes, url: str) -> ExtractedArticle:
    """In an extraction process: extract, and compute the story signature there too, so the
    storing process has less to do."""
    article = extract_article(body, url)
    return dataclasses.replace(article, signature=text_signature(article.text))


class _Pool(multiprocessing.pool.Pool):
    """``multiprocessing.Pool`` without a busy loop.

    The pool's worker-handler thread waits on the result pipe as well as on its processes'
    sentinels, and while a result sits in that pipe (until the result-handler thread reads
    it) the wait returns at once, again and again: measured in benchmarks/ingest.py at
    ~0.8 ms of CPU per extracted page, as much as fetching the page.  The handler only has
    work when a process exits (its sentinel, still waited on) or the pool changes state (the
    change notifier), so that is all it waits for.  (Overrides CPython's private
    ``Pool._get_sentinels``, 3.8 and later; were it gone, the pool would work as before.)
    """

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]  # type: ignore[attr-defined]


class Extractor:
    """Runs extraction in a pool of processes (created on first use, all at once).

    ``multiprocessing.Pool`` starts every process up front; ``ProcessPoolExecutor`` starts
    them on demand and, as measured here, kept one of two cores idle under a steady stream
    of small tasks.  Results come back as ``Future``s.

    A page whose extraction has not finished after ``timeout`` seconds fails with a temporary
    ``ExtractionError`` (its check goes on; the page is tried again next time).  That is also
    how a page learns its extraction process died (a hostile page crashing lxml, the OOM
    killer): the pool replaces the process, but never answers for the task it was running.
    A watchdog thread looks at the oldest pending page about once a second.
    """

    def __init__(self, processes: int, *, timeout: float = 120.0) -> None:
        self.processes = processes or os.cpu_count() or 1
        self.timeout = timeout
        self.function: Callable[[bytes, str], ExtractedArticle] = extract_and_sign
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self._pending: dict[Future[ExtractedArticle], tuple[float, str]] = {}
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    def __call__(self, body: bytes, url: str) -> Future[ExtractedArticle]:
        future: Future[ExtractedArticle] = Future()
        with self._lock:
            self._pending[future] = (time.monotonic() + self.timeout, url)
        self._get_pool().apply_async(
            self.function, (body, url),
            callback=lambda result: self._answer(future, future.set_result, result),
            error_callback=lambda error: self._answer(future, future.set_exception, error),
        )
        return future

    def _answer(
        self, future: Future[ExtractedArticle], answer: Callable[[Any], None], value: Any
    ) -> None:
        """Settle a page's ``Future`` (the pool's answer, or the watchdog's), once."""
        with self._lock:
            self._pending.pop(future, None)
        with contextlib.suppress(InvalidStateError):  # the other one answered first
            answer(value)

    def _watch(self) -> None:
        """Fail pages whose extraction is overdue (or lost with its process)."""
        while not self._closed.wait(min(1.0, self.timeout / 4)):
            now = time.monotonic()
            with self._lock:
                overdue = [(f, url) for f, (deadline, url) in self._pending.items() if deadline <= now]
            for future, url in overdue:
                error = ExtractionError(
                    f"extraction of {url} did not finish in {self.timeout:g} s "
                    "(or its extraction process died); it will be tried again",
                    permanent=False,
                )
                self._answer(future, future.set_exception, error)

    def _get_pool(self) -> Pool:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                self._pool = _Pool(self.processes, initializer=_ignore_sigint, context=context)
                self._closed.clear()
                self._watchdog = threading.Thread(
                    target=self._watch, name="extract-watchdog", daemon=True
                )
                self._watchdog.start()
            return self._pool

    def close(self) -> None:
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool.join()
                self._pool = None


class Worker:
    """Claims due sources in batches and checks them concurrently."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock = utcnow,
        fetcher: Fetcher | None = None,
        extractor: Extractor | None = None,
        after_store: list[ArticleHook] | None = None,
        tasks: list[Task] | None = None,
        deliver: bool = True,
    ) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.fetcher = fetcher or Fetcher(settings)
        self._owns_extractor = extractor is None
        self.extractor = extractor or Extractor(
            settings.extract_processes, timeout=settings.extract_timeout
        )
        self.sources_pool = ThreadPoolExecutor(settings.fetch_concurrency, "source")
        self.page_pool = ThreadPoolExecutor(settings.fetch_concurrency, "page")
        # Other due work (deliveries, digests) that each pass of the loop also runs.
        self.tasks: list[Task] = list(tasks or [])
        hooks = list(after_store or [])
        self.sender: DeliveryWorker | None = None
        self.digests: DigestScheduler | None = None
        if deliver:  # match → notify (in the article's transaction) → deliver (a task)
            hooks.insert(0, Notifier(db, clock=clock))
            self.sender = DeliveryWorker(settings, db, clock=clock, worker_id=self.worker_id)
            self.tasks += [self.sender, SubscriptionHousekeeping(db, clock=clock)]
            self.digests = DigestScheduler(settings, db, clock=clock, worker_id=self.worker_id)
            self.tasks.insert(-2, self.digests)  # run_once: built before the sender's turn
        self.ingest = Ingest(
            settings, db, fetcher=self.fetcher, extract=self.extractor,
            extract_slots=EXTRACT_SLOTS_PER_PROCESS * self.extractor.processes,
            stories=StoryIndex(clock=clock), page_pool=self.page_pool, after_store=hooks,
            clock=clock,
        )
        self.pipeline = Pipeline(
            settings=settings, db=db, fetcher=self.fetcher, ingest=self.ingest,
            worker_id=self.worker_id, clock=clock,
        )

    def claim(self, limit: int) -> list[int]:
        with self.db.session() as session:
            return claim_due_sources(
                session, self.worker_id, self.clock(),
                lease_seconds=self.settings.claim_lease, limit=limit,
            )

    def run_once(self, stop: threading.Event | None = None) -> list[CheckReport]:
        """Check every source that is due now and run the other due tasks (digests included);
        return what happened to each source."""
        reports = self._check_due_sources(stop)
        for task in self.tasks:
            task()
        return reports

    def _check_due_sources(self, stop: threading.Event | None) -> list[CheckReport]:
        """At most ``fetch_concurrency`` sources are checked at a time, and another is claimed
        as soon as one is done (not when a whole batch is), so the pipeline stays full."""
        reports: list[CheckReport] = []
        checking: set[Future[CheckReport]] = set()
        drained = False  # a claim found nothing due: no more claims this pass
        while True:
            room = self.settings.fetch_concurrency - len(checking)
            if room and not drained and not (stop and stop.is_set()):
                claimed = self.claim(room)
                drained = not claimed
                for source_id in claimed:
                    checking.add(self.sources_pool.submit(self.pipeline.check_source, source_id))
            if not checking:
                break
            done, checking = wait(checking, return_when=FIRST_COMPLETED)
            reports += [future.result() for future in done]
        return reports

    def run(self, stop: threading.Event, *, idle_poll: float = 1.0) -> None:
        """Check sources as they fall due, and run the other tasks, until ``stop`` is set.

        Digests are built by a thread of their own (``_build_digests``): at a popular digest
        time the scheduler may have 100,000 readers' digests to build (~15 s of mostly the
        database's work), and meanwhile this loop goes on checking sources and sending — Quick
        Alerts are not held up behind the build, and each batch of digests committed is sent
        by the next pass, not after the last one (benchmarks/digests.py ``--together``: the
        first email after 0.6-3 s instead of after the whole build)."""
        log.info("worker started", extra={"worker": self.worker_id})
        tasks = [task for task in self.tasks if task is not self.digests]
        halt = threading.Event()  # the digest thread's stop: set however this loop ends
        builder = None
        if self.digests is not None:
            builder = threading.Thread(
                target=self._build_digests, args=(self.digests, halt, idle_poll),
                name="digests", daemon=True,
            )
            builder.start()
        try:
            while not stop.is_set():
                self._check_due_sources(stop)
                busy = sum(task() for task in tasks)  # a task may have more: go on at once
                if not busy:
                    stop.wait(min(idle_poll, self.seconds_until_next_due()))
        finally:
            halt.set()
            if builder is not None:
                builder.join()
        log.info("worker stopped", extra={"worker": self.worker_id})

    @staticmethod
    def _build_digests(scheduler: DigestScheduler, halt: threading.Event, idle: float) -> None:
        """Build digests as they fall due until ``halt`` (which also ends a pass between two
        batches of readers).  A pass that fails (the database gone away) is logged with its
        cause and tried again after ``DIGEST_RETRY``; what it had committed stays built, and
        the rest is built by the next pass."""
        while not halt.is_set():
            try:
                scheduler.run_due(halt)
            except Exception:
                log.exception("building digests failed; trying again in %s s", DIGEST_RETRY)
                halt.wait(DIGEST_RETRY)
                continue
            halt.wait(max(idle, scheduler.seconds_to_next_scan()))

    def seconds_until_next_due(self) -> float:
        with self.db.session() as session:
            due = session.scalar(
                select(func.min(Source.next_check_at)).where(Source.status != PAUSED)
            )
        if due is None:
            return 60.0
        return max(0.0, (due - naive_utc(self.clock())) / timedelta(seconds=1))

    def close(self) -> None:
        self.sources_pool.shutdown(wait=True, cancel_futures=True)
        self.page_pool.shutdown(wait=True, cancel_futures=True)
        self.ingest.close()
        if self.sender is not None:
            self.sender.close()
        if self._owns_extractor:
            self.extractor.close()
        self.fetcher.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
