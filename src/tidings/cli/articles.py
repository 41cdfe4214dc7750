"""``tidings articles list``: the articles Tidings has stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from sqlalchemy import select

from tidings.cli._common import iso, json_option, open_database, print_rows
from tidings.store.models import Article


@click.group("articles")
def command() -> None:
    """Stored articles."""


@command.command("list")
@click.option("--source", "source_id", type=int, help="Only articles of this source id.")
@json_option
@click.option("--limit", type=int, default=None, help="At most this many, newest first.")
def list_articles(source_id: int | None, as_json: bool, limit: int | None) -> None:
    """Stored articles, newest first."""
    _, db = open_database()
    query = select(Article).order_by(Article.fetched_at.desc(), Article.id.desc())
    if source_id is not None:
        query = query.where(Article.source_id == source_id)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        rows = [
            {"id": a.id, "url": a.url, "title": a.title, "author": a.author,
             "published": iso(a.published), "story_id": a.story_id, "source_id": a.source_id,
             "sitename": a.sitename, "language": a.language, "text": a.text}
            for a in session.scalars(query)
        ]
    print_rows(rows, as_json, describe_article)


def describe_article(row: Mapping[str, Any]) -> str:
    byline = f" by {row['author']}" if row["author"] else ""
    return f"{row['id']:>5}  story {row['story_id']:<5} {row['title']}{byline}\n       {row['url']}"
