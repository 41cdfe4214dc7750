"""``tidings inbox``: a reader's inbox, newest first.

    tidings inbox --user EMAIL [--json] [--unread] [--limit N]

Every notification the reader has not cleared, whatever channel carried it: title, url, source,
byline, published, snippet, the alerts that matched (their queries), how many other sources
reported the story, where it was routed (quick, held, digest) and whether it was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from tidings.accounts import alert_queries, inbox
from tidings.cli._common import iso, json_option, open_database, print_rows, user_option
from tidings.cli.users import account_errors, reader
from tidings.store.models import Notification


@click.command("inbox")
@user_option
@json_option
@click.option("--unread", is_flag=True, help="Only notifications not read yet.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="At most this many, newest first.",
)
def command(email: str, as_json: bool, unread: bool, limit: int) -> None:
    """A reader's inbox, newest first (cleared notifications are left out)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        items = inbox(session, reader(session, email), unread_only=unread, limit=limit)
        queries = alert_queries(session, [i for item in items for i in item.alert_ids or []])
    rows = [inbox_row(item, queries) for item in items]
    print_rows(rows, as_json, describe, empty="the inbox is empty")


def inbox_row(item: Notification, queries: dict[int, str]) -> dict[str, Any]:
    alert_ids = list(item.alert_ids or [])
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.title,
        "url": item.url,
        "source": item.source,
        "byline": item.byline,
        "published": iso(item.published),
        "snippet": item.snippet,
        "alert_ids": alert_ids,
        "alerts": [queries[i] for i in alert_ids if i in queries],
        "also_reported_by": item.also_reported_by,
        "mode": item.mode,
        "route": item.route,
        "read": item.read_at is not None,
        "created_at": iso(item.created_at),
    }


def describe(row: Mapping[str, Any]) -> str:
    """A few lines per notification for people reading a terminal."""
    state = "read" if row["read"] else "unread"
    meta = " · ".join(str(p) for p in (row["source"], row["byline"], row["published"]) if p)
    lines = [f"{row['id']:>6}  [{state}] {row['title']}", meta, row["url"] or "", row["snippet"]]
    matched = ", ".join(repr(q) for q in row["alerts"])
    extra = [f"matched {matched}" if matched else "", f"route {row['route']}"]
    if row["also_reported_by"]:
        extra.append(f"also reported by {row['also_reported_by']} source(s)")
    lines.append("; ".join(e for e in extra if e))
    return "\n".join(["      " + line if n else line for n, line in enumerate(lines) if line])
