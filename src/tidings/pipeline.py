"""The pipeline of DESIGN.md, wired in one place.

    sources ──fetch──▶ pages/feeds ──extract──▶ articles ──group──▶ stories ──▶ match ──▶ …

``check_source`` reads like that diagram: fetch the source, find the pages it lists, and
hand each to ``Ingest`` (``tidings.ingest``), which fetches and extracts it and stores the
article (boilerplate learned per source, identity by canonical URL) grouped into its story,
then the later stages' after-store hooks — a batch of pages per transaction.  Each stage lives
in its own package; this module only calls them in order and records what happened.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tidings.articles.extract import ExtractionError
from tidings.clock import Clock, as_utc, naive_utc, utcnow
from tidings.config import Settings
from tidings.ingest import Ingest, PageRef
from tidings.sources.discovery import article_links
from tidings.sources.feeds import FeedEntry, FeedError, ParsedFeed, parse_feed
from tidings.sources.http import Fetcher, FetchError, FetchResult
from tidings.sources.schedule import backoff_interval, next_interval
from tidings.sources.websub import subscribe_source
from tidings.store.claims import release_claim, renew_claim
from tidings.store.db import Database
from tidings.store.models import Article, FetchAttempt, Source, SourceEntry

log = logging.getLogger("tidings.pipeline")


@dataclass
class CheckReport:
    source_id: int
    ok: bool = True
    new_articles: int = 0
    updated_articles: int = 0
    page_errors: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Pipeline:
    """Everything the stages share.  One per worker process."""

    settings: Settings
    db: Database
    fetcher: Fetcher
    ingest: Ingest  # page → fetch → extract → store
    worker_id: str
    clock: Clock = utcnow
    _renewed: dict[int, datetime] = field(default_factory=dict)

    # -- one source -------------------------------------------------------------------------

    def check_source(self, source_id: int) -> CheckReport:
        """Fetch one claimed source through the whole pipeline, then schedule its next check."""
        source = self._load(source_id)
        report = CheckReport(source_id)
        self._renewed[source_id] = self.clock()  # claimed just now
        attempt_id = self._start_attempt(source_id)
        try:
            result, pages, feed = self._list_pages(source)
            for article in self._ingest_pages(source, pages, report):
                log.info("article stored", extra={"source_id": source_id, "article_id": article})
            if source.kind == "page" and report.page_errors:  # the page is the whole source
                raise ExtractionError(report.page_errors[0])
            self._finish(source, report, attempt_id, result=result, feed=feed)
        except (FetchError, FeedError, ExtractionError) as exc:
            report.ok, report.error = False, str(exc)
            self._finish(source, report, attempt_id, error=exc)
            return report
        if feed is not None and feed.hub_url:
            self._keep_subscribed(source_id)
        return report

    def _keep_subscribed(self, source_id: int) -> None:
        """Subscribe at the feed's WebSub hub, and again before the lease runs out.

        Polling goes on regardless: pushes only make a source due sooner.
        """
        with self.db.session() as session:
            source = session.get(Source, source_id)
            if source is None or not websub_due(source, self.clock()):
                return
        try:
            subscribe_source(self.db, self.fetcher, source_id, base_url=self.settings.base_url)
        except FetchError as exc:
            log.warning("websub subscribe failed", extra={"source_id": source_id, "error": str(exc)})

    def _list_pages(self, source: Source) -> tuple[FetchResult, list[PageRef], ParsedFeed | None]:
        """Fetch the source itself and list the article pages it points at."""
        result = self.fetcher.fetch(
            source.url, etag=source.etag, last_modified=source.last_modified,
            obey_robots=source.kind != "feed",
        )
        if result.not_modified:
            return result, [], None
        if source.kind == "page":
            return result, [PageRef(result.url, _key(source.url), _digest(result.body))], None
        if source.kind == "section":
            links = article_links(result.body.decode("utf-8", "replace"), result.url)
            return result, [PageRef(link, _key(link)) for link in links], None
        feed = parse_feed(result.body, url=result.url, headers=result.headers)
        return result, [_page_ref(entry) for entry in feed.entries if entry.link], feed

    def _ingest_pages(
        self, source: Source, pages: list[PageRef], report: CheckReport
    ) -> Iterable[int]:
        """Fetch, extract and store the pages not seen yet (or changed); yield each stored
        article's id, in the source's order."""
        todo = self._unseen(source.id, pages)
        stored = [self.ingest.submit(source.id, page, i) for i, page in enumerate(todo)]
        for page, future in zip(todo, stored, strict=True):
            self._renew(source.id)
            try:
                article_id, created = future.result()
            except (FetchError, ExtractionError) as exc:
                report.page_errors.append(f"{page.url}: {exc}")
                continue
            report.new_articles += created
            report.updated_articles += not created
            yield article_id

    # -- bookkeeping ------------------------------------------------------------------------

    def _load(self, source_id: int) -> Source:
        with self.db.session() as session:
            source = session.get(Source, source_id)
            if source is None:
                raise LookupError(f"source {source_id} does not exist")
            session.expunge(source)
            return source

    def _unseen(self, source_id: int, pages: list[PageRef]) -> list[PageRef]:
        """Pages that are new to this source, or whose version changed since last time."""
        keys = [page.key for page in pages]
        with self.db.session() as session:
            rows = session.execute(
                select(SourceEntry.entry_key, SourceEntry.version).where(
                    SourceEntry.source_id == source_id, SourceEntry.entry_key.in_(keys)
                )
            )
            seen = {key: version for key, version in rows}
        fresh: dict[str, PageRef] = {}
        for page in pages:
            if page.key not in fresh and (page.key not in seen or seen[page.key] != page.version):
                fresh[page.key] = page
        return list(fresh.values())

    def _renew(self, source_id: int) -> None:
        """Extend this worker's lease on the source when a third of it has passed."""
        now = self.clock()
        last = self._renewed.get(source_id)
        if last is not None and (now - last).total_seconds() < self.settings.claim_lease / 3:
            return
        self._renewed[source_id] = now
        with self.db.session() as session:
            renew_claim(
                session, source_id, self.worker_id, self.clock(),
                lease_seconds=self.settings.claim_lease,
            )

    def _start_attempt(self, source_id: int) -> int:
        with self.db.session() as session:
            attempt = FetchAttempt(
                source_id=source_id, worker=self.worker_id, started_at=naive_utc(self.clock())
            )
            session.add(attempt)
            session.flush()
            return attempt.id

    def _finish(
        self,
        source: Source,
        report: CheckReport,
        attempt_id: int,
        *,
        result: FetchResult | None = None,
        feed: ParsedFeed | None = None,
        error: Exception | None = None,
    ) -> None:
        """Record the attempt and schedule the next check: adaptive on success, backoff on error."""
        now = self.clock()
        self._renewed.pop(source.id, None)
        values = self._schedule(source, now, result, feed, error, report)
        with self.db.session() as session:
            attempt = session.get(FetchAttempt, attempt_id)
            if attempt is not None:
                attempt.finished_at = naive_utc(now)
                attempt.status = "error" if error else "ok"
                attempt.http_status = getattr(error, "status", None) or (
                    result.status if result else None
                )
                attempt.new_articles = report.new_articles
                attempt.error = str(error) if error else None
            released = release_claim(session, source.id, self.worker_id, **values)
        log.log(
            logging.WARNING if error else logging.INFO,
            "source checked",
            extra={"source_id": source.id, "new": report.new_articles,
                   "error": str(error) if error else "", "released": released},
        )

    def _schedule(
        self,
        source: Source,
        now: datetime,
        result: FetchResult | None,
        feed: ParsedFeed | None,
        error: Exception | None,
        report: CheckReport,
    ) -> dict[str, Any]:
        if error is not None:
            count = source.error_count + 1
            retry_after = getattr(error, "retry_after", None)
            seconds = backoff_interval(self.settings, count, retry_after)
            return {
                "status": "error", "last_error": str(error), "error_count": count,
                "next_check_at": naive_utc(now + timedelta(seconds=seconds)),
                "interval_seconds": int(seconds),
            }
        assert result is not None
        seconds = next_interval(
            self.settings,
            now=now,
            headers=result.headers,
            ttl_minutes=feed.ttl_minutes if feed else None,
            entry_dates=_entry_dates(feed),
            previous=source.interval_seconds,
        )
        values: dict[str, Any] = {
            "status": "ok", "error_count": 0, "last_fetch_at": naive_utc(now),
            "next_check_at": naive_utc(now + timedelta(seconds=seconds)),
            "interval_seconds": int(seconds),
            "last_error": _summarize(report.page_errors),
        }
        if not result.not_modified:
            values.update(etag=result.headers.get("etag"),
                          last_modified=result.headers.get("last-modified"))
            if feed is not None:
                values.update(_feed_details(source, feed))
        return values


def websub_due(source: Source, now: datetime) -> bool:
    """Subscribe when never subscribed (no secret) or when the lease ends within a day.

    A secret without a lease is a subscription the hub has not verified yet: wait for it.
    """
    if source.websub_secret is None:
        return True
    lease = as_utc(source.websub_lease_until)
    return lease is not None and lease - now < timedelta(days=1)


def mark_pushed(db: Database, clock: Clock = utcnow) -> Callable[[int, bytes, Any], None]:
    """What a verified WebSub push does: the source becomes due now, and a worker fetches it
    (a conditional GET, so an unchanged feed costs one small request)."""

    def on_push(source_id: int, body: bytes, headers: Any) -> None:
        with db.session() as session:
            session.execute(
                update(Source).where(Source.id == source_id)
                .values(next_check_at=naive_utc(clock()))
            )
        log.info("websub push", extra={"source_id": source_id, "bytes": len(body)})

    return on_push


def _feed_details(source: Source, feed: ParsedFeed) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if feed.title and not source.title:
        details["title"] = feed.title
    if feed.site_url and not source.site_url:
        details["site_url"] = feed.site_url
    if feed.hub_url:
        details.update(hub_url=feed.hub_url, topic_url=feed.self_url or source.url)
    return details


def _entry_dates(feed: ParsedFeed | None) -> list[datetime]:
    if feed is None:
        return []
    return [d for e in feed.entries if (d := e.published or e.updated) is not None]


def _page_ref(entry: FeedEntry) -> PageRef:
    return PageRef(entry.link or "", _key(entry.key), entry.version)


def _summarize(errors: list[str]) -> str | None:
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{len(errors)} article page(s) failed: {errors[0]}{more}"


def _key(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def count_articles(session: Session) -> dict[int, int]:
    """Articles stored per source id."""
    rows = session.execute(select(Article.source_id, func.count()).group_by(Article.source_id))
    return {source_id: n for source_id, n in rows if source_id is not None}
