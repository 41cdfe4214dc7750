"""The command line as scripts use it: sources, fetch --once, articles, db upgrade."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.newsroom import Newsroom
from tidings.cli import main


@pytest.fixture
def room() -> Iterator[Newsroom]:
    newsroom = Newsroom.generate(feeds=2, articles_per_feed=2)
    with newsroom.serve():
        yield newsroom


@pytest.fixture
def run(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    env = {
        "TIDINGS_DATA_DIR": str(tmp_path / "data"),
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_ALLOW_PRIVATE_NETWORKS": "1",
        "TIDINGS_EXTRACT_PROCESSES": "1",
    }

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        return result

    return invoke


def json_lines(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_sources_add_fetch_and_list(run, room: Newsroom) -> None:  # type: ignore[no-untyped-def]
    for url in room.feed_urls():
        result = run("sources", "add", url)
        assert result.exit_code == 0, result.output
        assert "added source" in result.output
    assert "already watching" in run("sources", "add", room.feed_urls()[0]).output
    fetched = run("fetch", "--once")
    assert fetched.exit_code == 0
    assert "checked 2 source(s): 4 new article(s), 0 failed" in fetched.output
    sources = json_lines(run("sources", "list", "--json"))
    assert [s["url"] for s in sources] == room.feed_urls()
    for source in sources:
        assert set(source) >= {"id", "url", "title", "status", "last_error", "next_check_at",
                               "articles"}
        assert source["status"] == "ok" and source["articles"] == 2
        assert source["last_error"] is None


def test_articles_list_json(run, room: Newsroom) -> None:  # type: ignore[no-untyped-def]
    run("sources", "add", room.feed_urls()[0])
    run("fetch", "--once")
    articles = json_lines(run("articles", "list", "--json"))
    assert len(articles) == 2
    for article in articles:
        assert set(article) >= {"id", "url", "title", "author", "published", "story_id", "text"}
        assert article["published"].endswith("+00:00")
    only = json_lines(run("articles", "list", "--source", "1", "--json"))
    assert len(only) == 2
    assert json_lines(run("articles", "list", "--source", "99", "--json")) == []


def test_opml_export_then_import_round_trips(run, room: Newsroom, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for url in room.feed_urls():
        run("sources", "add", url)
    exported = run("sources", "export").output
    assert exported.count("xmlUrl=") == 2
    opml = tmp_path / "feeds.opml"
    opml.write_text(exported.replace("/feeds/0.xml", "/feeds/other.xml"))
    result = run("sources", "import", str(opml))
    assert "imported 1 new source(s) of 2" in result.output
    urls = [s["url"] for s in json_lines(run("sources", "list", "--json"))]
    assert urls[-1].endswith("/feeds/other.xml")


def test_a_source_that_breaks_shows_its_error_in_the_list(run, room: Newsroom) -> None:  # type: ignore[no-untyped-def]
    run("sources", "add", room.feed_urls()[0])
    del room.feeds["/feeds/0.xml"]
    assert "1 failed" in run("fetch", "--once").output
    [source] = json_lines(run("sources", "list", "--json"))
    assert source["status"] == "error"
    assert "404" in source["last_error"]
    human = run("sources", "list").output
    assert "error: " in human and "404" in human


def test_adding_an_unreachable_url_fails_with_a_clear_message(run, room: Newsroom) -> None:  # type: ignore[no-untyped-def]
    result = run("sources", "add", room.base_url + "/feeds/missing.xml")
    assert result.exit_code == 1
    assert "cannot add" in result.output and "404" in result.output


def test_db_upgrade(run) -> None:  # type: ignore[no-untyped-def]
    result = run("db", "upgrade")
    assert result.exit_code == 0
    assert "up to date" in result.output
