"""``tidings sources``: add, list, import and export the sources Tidings watches."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from tidings.cli._common import iso, json_option, open_database, print_rows
from tidings.clock import naive_utc, utcnow
from tidings.pipeline import count_articles
from tidings.sources.discovery import discover
from tidings.sources.http import Fetcher, FetchError
from tidings.sources.opml import OpmlOutline, parse_opml, render_opml
from tidings.store.models import Source


@click.group("sources")
def command() -> None:
    """The feeds and pages Tidings watches."""


@command.command("add")
@click.argument("url")
def add(url: str) -> None:
    """Watch URL: a feed, a page that links its feed, an article page or a section page."""
    settings, db = open_database()
    fetcher = Fetcher(settings)
    try:
        found = discover(fetcher, url)
    except FetchError as exc:
        raise click.ClickException(f"cannot add {url}: {exc}") from exc
    finally:
        fetcher.close()
    with db.session() as session:
        source, created = add_source(session, found.url, kind=found.kind, title=found.title)
    verb = "added" if created else "already watching"
    click.echo(f"{verb} source {source.id}: {found.url} ({found.kind}{_titled(found.title)})")


def add_source(
    session: Session, url: str, *, kind: str = "feed", title: str | None = None,
    site_url: str | None = None,
) -> tuple[Source, bool]:
    """Add a source due now; an already watched URL is left as it is."""
    existing = session.scalar(select(Source).where(Source.url == url))
    if existing is not None:
        return existing, False
    now = naive_utc(utcnow())
    source = Source(url=url, kind=kind, title=title, site_url=site_url, next_check_at=now,
                    created_at=now)
    session.add(source)
    session.flush()
    return source, True


@command.command("list")
@json_option
def list_sources(as_json: bool) -> None:
    """Every source with its health: status, last error, next check, articles stored."""
    _, db = open_database()
    with db.session() as session:
        counts = count_articles(session)
        rows = [
            {"id": s.id, "url": s.url, "title": s.title, "kind": s.kind, "status": s.status,
             "last_error": s.last_error, "next_check_at": iso(s.next_check_at),
             "last_fetch_at": iso(s.last_fetch_at), "articles": counts.get(s.id, 0)}
            for s in session.scalars(select(Source).order_by(Source.id))
        ]
    print_rows(rows, as_json, describe_source)


def describe_source(row: Mapping[str, Any]) -> str:
    title = row["title"] if isinstance(row["title"], str) else None
    error = f"\n    error: {row['last_error']}" if row["last_error"] else ""
    return (
        f"{row['id']:>4}  {row['status']:<6} {row['articles']:>5} articles  "
        f"next {row['next_check_at']}  {row['url']}{_titled(title)}{error}"
    )


@command.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_opml(opml_file: Path) -> None:
    """Add every feed of an OPML file."""
    try:
        outlines = parse_opml(opml_file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{opml_file}: {exc}") from exc
    _, db = open_database()
    added = 0
    with db.session() as session:
        for outline in outlines:
            added += add_source(session, outline.url, title=outline.title,
                                site_url=outline.site_url)[1]
    click.echo(f"imported {added} new source(s) of {len(outlines)} in {opml_file}")


@command.command("export")
def export_opml() -> None:
    """Print every feed source as OPML."""
    _, db = open_database()
    with db.session() as session:
        outlines = [
            OpmlOutline(url=s.url, title=s.title, site_url=s.site_url)
            for s in session.scalars(select(Source).order_by(Source.id))
        ]
    sys.stdout.write(render_opml(outlines))


def _titled(title: str | None) -> str:
    return f" — {title}" if title else ""
