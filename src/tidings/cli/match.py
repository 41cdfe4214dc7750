"""``tidings match``: run alerts against articles, offline, and print what matched.

    tidings match [--alert QUERY]… [--alerts FILE] ARTICLES…

Alert ids are 1, 2, 3, … in order: the ``--alert`` options first, then the lines of FILE (one
query per line; blank lines and lines starting with ``#`` are skipped).  ARTICLES are ``.jsonl``
files (one object per line: ``id``, ``title``, ``text``, optional ``url`` and ``language``) or
``.html`` pages, extracted first, whose id is their path.  Output: one JSON line per match,
``{"article": ID, "alert": N, "terms": [...]}``, in article order, then alert order.

Exit 2 when a query is invalid (stderr names the alert and the error), 1 when an article file
cannot be read, 0 otherwise — with or without matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click

from tidings.alerts.engine import AlertIndex
from tidings.alerts.model import Match, MatchArticle
from tidings.alerts.query import QueryError, parse


class ArticleFileError(click.ClickException):
    """An article file that cannot be read; exit 1."""


@click.command("match")
@click.option("--alert", "alert_queries", multiple=True, metavar="QUERY", help="An alert query.")
@click.option(
    "--alerts",
    "alert_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A file of alert queries, one per line (# comments).",
)
@click.argument("articles", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def command(
    alert_queries: tuple[str, ...], alert_files: tuple[Path, ...], articles: tuple[Path, ...]
) -> None:
    """Match alerts against articles (.jsonl or .html) and print one JSON line per match."""
    queries = list(alert_queries) + [q for path in alert_files for q in read_alert_file(path)]
    index = build_index(queries)
    for path in articles:
        for article in read_articles(path):
            for match in sorted(index.match(article), key=alert_order):
                line = {"article": article.id, "alert": match.alert_id, "terms": list(match.terms)}
                click.echo(json.dumps(line, ensure_ascii=False))


def alert_order(match: Match) -> int:
    """The engine answers in no particular order; the output is in alert id order."""
    return match.alert_id


def read_alert_file(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def build_index(queries: list[str]) -> AlertIndex:
    """An index of ``queries`` with ids 1, 2, 3…; exit 2 naming the first invalid one."""
    index = AlertIndex()
    with index.loading():  # all at once, as a worker's start
        for alert_id, query in enumerate(queries, start=1):
            try:
                index.add(alert_id, parse(query))
            except QueryError as error:
                click.echo(f"alert {alert_id}: {error} (query: {query!r})", err=True)
                raise SystemExit(2) from error
    return index


def read_articles(path: Path) -> Iterator[MatchArticle]:
    if path.suffix.lower() in (".html", ".htm"):
        yield _html_article(path)
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield _json_article(path, number, line)


def _json_article(path: Path, number: int, line: str) -> MatchArticle:
    try:
        row = json.loads(line)
        return MatchArticle(
            id=row["id"],
            title=str(row.get("title") or ""),
            text=str(row.get("text") or ""),
            url=row.get("url"),
            language=row.get("language"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ArticleFileError(f"{path}:{number}: not an article object ({error})") from error


def _html_article(path: Path) -> MatchArticle:
    from tidings.articles.extract import extract_article

    try:
        extracted = extract_article(path.read_bytes())
    except Exception as error:  # ExtractionError, or a page the extractor cannot read
        raise ArticleFileError(f"{path}: {error}") from error
    return MatchArticle(
        str(path), extracted.title or "", extracted.text or "", extracted.url, extracted.language
    )
