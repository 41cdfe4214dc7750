"""When each demo article is "published", computed from the clock on every request.

The first ``initial`` articles are already out when the demo starts, with dates spread over the
hours before it. After that one more article is published every ``publish_every`` seconds of
clock time. No thread sleeps: a request at time *t* sees exactly what was out by *t*, so a test
that advances a ``FrozenClock`` advances publication deterministically.

When every article is out the demo keeps going by **updating in place**: each further step
refreshes one article (oldest first, round-robin), which keeps its URL and publication date but
gets a new modification time and an "Updated" line at the end. One article also carries a
scripted update (an extra paragraph) a few steps after its own publication.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidings.demo.site.catalogue import DemoArticle

BACKLOG_SPACING = timedelta(minutes=19)
"""The average gap between the already-published articles (plus a per-article jitter)."""


@dataclass(frozen=True)
class Publication:
    """An article as it stands at some moment: published, perhaps updated since."""

    article: DemoArticle
    published_at: datetime
    modified_at: datetime
    paragraphs: tuple[str, ...]

    @property
    def path(self) -> str:
        return self.article.path

    @property
    def last_activity(self) -> datetime:
        return max(self.published_at, self.modified_at)


class Timeline:
    """The publication schedule of a sequence of articles, anchored at ``started_at``."""

    def __init__(
        self,
        articles: tuple[DemoArticle, ...],
        started_at: datetime,
        publish_every: float,
        initial: int,
    ) -> None:
        if publish_every <= 0:
            raise ValueError("publish_every must be a positive number of seconds")
        self.articles = articles
        self.started_at = started_at
        self.step = timedelta(seconds=publish_every)
        self.initial = max(0, min(initial, len(articles)))
        self._backlog_times = self._spread_backlog()

    def _spread_backlog(self) -> list[datetime]:
        """Past publication times for the initial articles, newest just before the start."""
        times: list[datetime] = []
        moment = self.started_at
        for article in reversed(self.articles[: self.initial]):
            jitter = timedelta(minutes=zlib.crc32(article.slug.encode()) % 17)
            moment -= BACKLOG_SPACING - timedelta(minutes=8) + jitter
            times.append(moment)
        return list(reversed(times))

    @property
    def live_count(self) -> int:
        """How many articles are published while the demo runs (after the initial ones)."""
        return len(self.articles) - self.initial

    def steps_at(self, now: datetime) -> int:
        """How many publication steps have happened by ``now`` (0 before the first)."""
        elapsed = (now - self.started_at) / self.step
        return max(0, math.floor(elapsed + 1e-9))

    def step_time(self, step: int) -> datetime:
        return self.started_at + step * self.step

    def published_at(self, index: int) -> datetime:
        """When the article at ``index`` is (or will be) published."""
        if index < self.initial:
            return self._backlog_times[index]
        return self.step_time(index - self.initial + 1)

    def publication_step(self, index: int) -> int:
        """The step at which the article appears (0 for the initial ones)."""
        return max(0, index - self.initial + 1)

    def edition(self, now: datetime) -> list[Publication]:
        """Every article published by ``now``, newest first, as it stands at ``now``."""
        steps = self.steps_at(now)
        published = [
            self._as_of(index, steps)
            for index in range(len(self.articles))
            if self.published_at(index) <= now
        ]
        return sorted(published, key=lambda p: p.published_at, reverse=True)

    def _as_of(self, index: int, steps: int) -> Publication:
        article = self.articles[index]
        published_at = self.published_at(index)
        paragraphs, modified_at = article.paragraphs, published_at
        update = article.update
        if update and steps >= self.publication_step(index) + update.after:
            paragraphs = paragraphs + update.paragraphs
            modified_at = self.step_time(self.publication_step(index) + update.after)
        refreshed = self.last_refresh_step(index, steps)
        if refreshed is not None:
            modified_at = self.step_time(refreshed)
            paragraphs = paragraphs + (refresh_note(modified_at),)
        return Publication(article, published_at, modified_at, paragraphs)

    def last_refresh_step(self, index: int, steps: int) -> int | None:
        """The latest round-robin refresh of the article by step ``steps``, once all are out."""
        if not self.articles:
            return None
        refreshes = steps - self.live_count  # refresh k happens at step live_count + k, k >= 1
        if refreshes < 1:
            return None
        last = refreshes - 1 - ((refreshes - 1 - index) % len(self.articles))
        return None if last < 0 else self.live_count + last + 1


def refresh_note(moment: datetime) -> str:
    """The line a round-robin refresh appends to an article."""
    return (
        f"Updated {moment:%H:%M:%S} UTC on {moment:%d %B %Y}: this story has been updated "
        "with additional reporting."
    )
