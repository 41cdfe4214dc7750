"""What a channel sends: one ``Message``, built once from a notification and handed to any channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

KINDS = ("quick", "digest", "test")
URGENCIES = ("very-low", "low", "normal", "high")


class DigestStory(NamedTuple):
    """One story in a digest email.  ``see_section`` names the section that shows it in full
    when it is only referenced here (a story matched by several alerts is shown once).
    (A named tuple: a digest has ~20 and a sender makes hundreds a second.)"""

    title: str
    url: str = ""
    source: str = ""
    byline: str = ""
    published: datetime | None = None
    snippet: str = ""
    snippet_html: str = ""
    also_reported_by: int = 0
    see_section: str = ""


class DigestSection(NamedTuple):
    """The stories one alert (or followed topic) brought into a digest."""

    heading: str
    stories: tuple[DigestStory, ...] = ()


@dataclass(frozen=True)
class Message:
    """One notification as the channels see it.

    ``tag`` is the notification id as a string: Web Push uses it as the notification tag, so a
    repeated push collapses on the device.  ``snippet`` is plain text; ``snippet_html`` is the same
    snippet, HTML-escaped, with the matched terms wrapped in ``<mark>``.
    """

    tag: str
    title: str
    body: str = ""
    url: str = ""
    source: str = ""
    byline: str = ""
    published: datetime | None = None
    snippet: str = ""
    snippet_html: str = ""
    alerts: list[str] = field(default_factory=list)
    also_reported_by: int = 0
    kind: str = "quick"
    urgency: str = "normal"
    # A digest email carries its stories grouped by alert; the email template renders them.
    sections: tuple[DigestSection, ...] = ()
    # Per-reader one-click unsubscribe link (RFC 8058); overrides the channel's own.
    unsubscribe_url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"message kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency {self.urgency!r} is not one of {', '.join(URGENCIES)}")

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of a push message and (with ``event`` and ``sent_at``) of a webhook.

        This is a public contract; fields are only ever added::

            {
              "tag": "1234",                  # notification id (string)
              "kind": "quick",                # "quick" | "digest" | "test"
              "urgency": "normal",            # "very-low" | "low" | "normal" | "high"
              "title": "Assad plans to visit Kim Jong-un",
              "body": "Oneindia · by Shubham",  # plain text, what a notification shows
              "url": "https://example.com/article",
              "source": "Oneindia",
              "byline": "Shubham",
              "published": "2019-05-01T10:00:00+00:00",  # ISO 8601, or null
              "snippet": "… Assad plans to visit Kim …",   # plain text
              "snippet_html": "… <mark>Assad</mark> plans …",  # escaped HTML with <mark>
              "alerts": ["assad kim"],        # the reader's alert queries that matched
              "also_reported_by": 2           # other sources with the same story
            }

        A webhook body adds ``"event": "notification.<kind>"`` and ``"sent_at"`` (ISO 8601 UTC).
        A push payload may have its text fields shortened so that it fits in 4 KB.
        """
        return {
            "tag": self.tag,
            "kind": self.kind,
            "urgency": self.urgency,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "source": self.source,
            "byline": self.byline,
            "published": self.published.isoformat() if self.published else None,
            "snippet": self.snippet,
            "snippet_html": self.snippet_html,
            "alerts": list(self.alerts),
            "also_reported_by": self.also_reported_by,
        }
