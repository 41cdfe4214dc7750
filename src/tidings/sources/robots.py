"""robots.txt, fetched once per site and kept for a while.

As Google does: a robots.txt answered 4xx means "no rules, crawl anything"; one answered 5xx,
or unreachable, means "crawl nothing for now" (and is asked again sooner).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

ROBOTS_TTL = 3600.0  # seconds a fetched robots.txt is trusted
FAILURE_TTL = 600.0  # seconds a failed fetch counts as "disallow all"

# Returns (http status or None on a network failure, body).
FetchRobots = Callable[[str], tuple[int | None, bytes]]


class RobotsCache:
    """Answers "may this user agent fetch this URL?" from each site's cached robots.txt."""

    def __init__(
        self,
        fetch: FetchRobots,
        user_agent: str,
        *,
        ttl: float = ROBOTS_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch, self._agent = fetch, user_agent
        self._ttl, self._monotonic = ttl, monotonic
        self._rules: dict[str, tuple[float, RobotFileParser]] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        return self._rules_for(site_of(url)).can_fetch(self._agent, url)

    def _rules_for(self, site: str) -> RobotFileParser:
        now = self._monotonic()
        with self._lock:
            cached = self._rules.get(site)
        if cached is not None and cached[0] > now:
            return cached[1]
        rules, ttl = self._load(site)
        with self._lock:
            self._rules[site] = (now + ttl, rules)
        return rules

    def _load(self, site: str) -> tuple[RobotFileParser, float]:
        status, body = self._fetch(site + "/robots.txt")
        rules = RobotFileParser(site + "/robots.txt")
        if status is not None and 200 <= status < 300:
            rules.parse(body.decode("utf-8", "replace").splitlines())
            return rules, self._ttl
        if status is not None and 400 <= status < 500:
            rules.parse([])  # no rules: everything allowed
            return rules, self._ttl
        rules.parse(["User-agent: *", "Disallow: /"])
        return rules, min(self._ttl, FAILURE_TTL)


def site_of(url: str) -> str:
    """scheme://host[:port] — the scope of one robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
