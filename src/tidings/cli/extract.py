"""``tidings extract PATH_OR_URL… [--json]``: the article in each page, as Tidings sees it.

Each input is a file path or an http(s) URL (fetched through Tidings' one HTTP door, robots.txt
obeyed).  Inputs are handled in order and independently: one that cannot be read or holds no
article is reported and the others still come out.  Exit status: 0 when every input gave an
article, 1 when any did not.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from tidings.articles.extract import ExtractedArticle, extract_article


class _Reader:
    """Reads an input's bytes: a file, or a URL through one lazily created ``Fetcher``."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.fetcher: Any = None

    def read(self, source: str) -> tuple[bytes, str | None]:
        if not source.lower().startswith(("http://", "https://")):
            return Path(source).read_bytes(), None
        result = self._fetcher().fetch(source, obey_robots=True)
        return result.body, result.url

    def _fetcher(self) -> Any:
        if self.fetcher is None:
            from tidings.config import ConfigError, Settings
            from tidings.sources.http import Fetcher

            try:
                settings = Settings.from_env()
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from exc
            self.fetcher = self.stack.enter_context(Fetcher(settings))
        return self.fetcher


def article_record(article: ExtractedArticle) -> dict[str, Any]:
    """The JSON form: the identity URL, ISO 8601 publication time."""
    return {
        "url": article.canonical_url or article.url,
        "title": article.title,
        "author": article.author,
        "published": article.published.isoformat() if article.published else None,
        "sitename": article.sitename,
        "language": article.language,
        "text": article.text,
    }


def human_text(article: ExtractedArticle) -> str:
    """Title, byline, date, site and language, the URL, then the text."""
    published = article.published.strftime("%Y-%m-%d %H:%M UTC") if article.published else None
    facts = [
        f"By {article.author}" if article.author else None,
        published,
        article.sitename,
        article.language,
    ]
    head = [article.title or "(no title)", " · ".join(f for f in facts if f)]
    head.append(article.canonical_url or article.url or "")
    return "\n".join(line for line in head if line) + "\n\n" + article.text + "\n"


def _extract_one(reader: _Reader, source: str) -> ExtractedArticle | str:
    """The article in ``source``, or why there is none."""
    try:
        body, url = reader.read(source)
        return extract_article(body, url)
    except click.ClickException:
        raise
    except Exception as exc:  # unreadable file, fetch error, no article, broken page…
        return str(exc) or type(exc).__name__


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
def command(inputs: tuple[str, ...], as_json: bool) -> None:
    """Extract the article from each page (file or URL), in input order.

    With --json each line is an object with url, title, author, published (ISO 8601),
    sitename, language and text — or, for an input without an article, {"input", "error"}.
    Exit status 0 if every input gave an article, 1 if any did not.
    """
    failed = False
    with ExitStack() as stack:
        reader = _Reader(stack)
        for index, source in enumerate(inputs):
            result = _extract_one(reader, source)
            failed |= isinstance(result, str)
            _show(source, result, as_json=as_json, first=index == 0)
    if failed:
        raise SystemExit(1)


def _show(source: str, result: ExtractedArticle | str, *, as_json: bool, first: bool) -> None:
    if as_json:
        record = (
            {"input": source, "error": result}
            if isinstance(result, str)
            else article_record(result)
        )
        click.echo(json.dumps(record, ensure_ascii=False))
    elif isinstance(result, str):
        click.echo(f"tidings extract: {source}: {result}", err=True)
    else:
        click.echo(("" if first else "\n" + "─" * 72 + "\n") + human_text(result), nl=False)
