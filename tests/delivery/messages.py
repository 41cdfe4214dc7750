"""A news message for channel tests (the seed article's story)."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings.delivery.message import Message


def assad_message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "tag": "1234",
        "title": "Syria's Assad plans to visit North Korea's Kim Jong-un",
        "body": "Oneindia · by Shubham",
        "url": "https://www.oneindia.com/international/assad-kim-visit.html",
        "source": "Oneindia",
        "byline": "Shubham",
        "published": datetime(2018, 6, 3, 9, 30, tzinfo=UTC),
        "snippet": "Syrian President Bashar al-Assad plans to visit Kim Jong-un in Pyongyang",
        "snippet_html": "Syrian President Bashar al-<mark>Assad</mark> plans to visit "
        "<mark>Kim Jong-un</mark> in Pyongyang &amp; more",
        "alerts": ["assad kim", '"kim jong-un"'],
        "also_reported_by": 2,
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]
