"""``tidings articles list``: the articles Tidings has stored."""

from __future__ import annotations

import click
from sqlalchemy import select

from tidings.cli._common import iso, open_database, print_json_lines
from tidings.store.models import Article


@click.group("articles")
def command() -> None:
    """Stored articles."""


@command.command("list")
@click.option("--source", "source_id", type=int, help="Only articles of this source id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
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
    if as_json:
        print_json_lines(rows)
        return
    for row in rows:
        byline = f" by {row['author']}" if row["author"] else ""
        click.echo(f"{row['id']:>5}  story {row['story_id']:<5} {row['title']}{byline}\n"
                   f"       {row['url']}")
