"""Per-source boilerplate: call-to-action blocks a site repeats inside its articles are learned
from the site's own pages (served by a local HTTP server) and removed; content stays."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.articles.localsite import Site, serve
from tidings.articles import boilerplate
from tidings.articles.boilerplate import (
    block_key,
    countable_blocks,
    learn_and_strip,
    learn_and_strip_many,
)
from tidings.articles.extract import extract_article
from tidings.store.db import Database
from tidings.store.models import Article, BoilerplateBlock, Source

NOW = datetime(2018, 6, 4, 12, 0, tzinfo=UTC)
CALLS_TO_ACTION = [
    "Download the Harbour Gazette app for breaking news alerts on your phone.",
    "Get Instant News Updates",
    "Subscribe to our morning newsletter, it is free.",
]
STORIES = [
    (
        "Ferry timetable changes for the summer season",
        [
            "The harbour ferry will run every twenty minutes from the first of July, the operator said on Monday, after a winter of complaints about overcrowded boats.",
            "Extra evening sailings will be added on Fridays and Saturdays until the end of September.",
            "Season tickets bought before the change remain valid on every sailing.",
        ],
    ),
    (
        "Council approves new cycle lanes on the seafront",
        [
            "Councillors voted nine to four on Tuesday to build protected cycle lanes along the seafront promenade.",
            "Work is due to start in October and take about five months, with the promenade open to walkers throughout.",
            "Shop owners on the front said they feared losing parking spaces during the busy summer months.",
        ],
    ),
    (
        "Lifeboat crew rescues kayakers off the point",
        [
            "Two kayakers were brought ashore by the volunteer lifeboat crew on Wednesday after strong winds pushed them past the point.",
            "Both were checked by paramedics on the slipway and did not need hospital treatment.",
            "The coastguard reminded visitors to check the forecast and carry a way of calling for help.",
        ],
    ),
    (
        "School fair raises money for new library books",
        [
            "Parents and pupils at the primary school on Hill Street raised more than two thousand pounds at Saturday's summer fair.",
            "The money will buy new books for the school library, which lost much of its stock to a leaking roof last winter.",
            "The head teacher thanked the bakery on Quay Road for donating cakes for the afternoon.",
        ],
    ),
    (
        "Fishing fleet lands record mackerel catch",
        [
            "The town's fishing fleet landed its largest mackerel catch in a decade this week, the harbour master said.",
            "Prices at the morning auction fell as buyers from across the region competed for the fish.",
            "Skippers credited cooler water temperatures, which brought the shoals closer to the coast.",
        ],
    ),
]


def article_page(title: str, paragraphs: list[str], *, with_calls_to_action: bool = True) -> str:
    """A news page with the site's calls to action between the article's paragraphs."""
    body = []
    for index, paragraph in enumerate(paragraphs):
        body.append(f"<p>{paragraph}</p>")
        if with_calls_to_action and index < len(CALLS_TO_ACTION):
            body.append(f"<p><strong>{CALLS_TO_ACTION[index]}</strong></p>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:title" content="{title}"></head><body>'
        '<nav><a href="/">Home</a> <a href="/news/">News</a></nav>'
        f"<article><h1>{title}</h1>{''.join(body)}</article>"
        "<footer>The Harbour Gazette</footer></body></html>"
    )


@pytest.fixture
def site() -> Iterator[Site]:
    pages: dict[str, bytes | str] = {
        f"/news/{i}.html": article_page(title, paras) for i, (title, paras) in enumerate(STORIES)
    }
    with serve(pages) as served:
        yield served


def add_source(db: Database, url: str) -> int:
    with db.session() as session:
        source = Source(url=url, kind="feed", next_check_at=NOW, created_at=NOW)
        session.add(source)
        session.flush()
        return source.id


def ingest(db: Database, site: Site, source_id: int, path: str, *, new_page: bool = True) -> str:
    """Fetch, extract, strip learned boilerplate, store; return the stored text."""
    url = site.url(path)
    extracted = extract_article(site.get(path), url)
    with db.session() as session:
        text = learn_and_strip(session, source_id, extracted.text, new_page=new_page, min_pages=3)
        article = session.scalar(select(Article).where(Article.url == url))
        if article is None:
            article = Article(url=url, source_id=source_id, fetched_at=NOW)
            session.add(article)
        article.title, article.text, article.updated_at = extracted.title or "", text, NOW
        article.content_hash = hashlib.sha256(text.encode()).hexdigest()
    with db.session() as session:
        return session.scalar(select(Article.text).where(Article.url == url)) or ""


def test_calls_to_action_vanish_after_a_few_pages_and_paragraphs_stay(
    db: Database, site: Site
) -> None:
    source_id = add_source(db, site.url("/feed.xml"))
    stored = [ingest(db, site, source_id, f"/news/{i}.html") for i in range(len(STORIES))]
    for text in stored[:2]:  # extraction alone keeps them, and two pages prove nothing yet
        assert all(cta in text for cta in CALLS_TO_ACTION)
    for text, (_title, paragraphs) in zip(stored[2:], STORIES[2:], strict=True):
        assert text.splitlines() == paragraphs
    with db.session() as session:
        assert session.scalar(select(Source.pages_seen).where(Source.id == source_id)) == 5


def test_page_updated_in_place_is_not_counted_twice(db: Database, site: Site) -> None:
    source_id = add_source(db, site.url("/feed.xml"))
    for _ in range(3):
        ingest(db, site, source_id, "/news/0.html", new_page=False)
    ingest(db, site, source_id, "/news/0.html", new_page=True)
    again = ingest(db, site, source_id, "/news/0.html", new_page=False)
    assert all(cta in again for cta in CALLS_TO_ACTION)
    with db.session() as session:
        assert session.scalar(select(Source.pages_seen).where(Source.id == source_id)) == 1
        counts = session.scalars(select(BoilerplateBlock.pages)).all()
    assert counts and set(counts) == {1}


def test_earlier_page_refetched_after_learning_loses_the_calls_to_action(
    db: Database, site: Site
) -> None:
    source_id = add_source(db, site.url("/feed.xml"))
    for i in range(3):
        ingest(db, site, source_id, f"/news/{i}.html")
    refetched = ingest(db, site, source_id, "/news/0.html", new_page=False)
    assert refetched.splitlines() == STORIES[0][1]


def test_another_source_is_unaffected(db: Database, site: Site) -> None:
    learned = add_source(db, site.url("/feed.xml"))
    other = add_source(db, "http://other.example/feed.xml")
    for i in range(4):
        ingest(db, site, learned, f"/news/{i}.html")
    text = "\n".join(["A different paper's own story about the harbour.", *CALLS_TO_ACTION])
    with db.session() as session:
        assert learn_and_strip(session, other, text, new_page=True, min_pages=3) == text


def test_long_paragraph_shared_by_articles_is_never_boilerplate(db: Database) -> None:
    source_id = add_source(db, "http://agency.example/feed.xml")
    background = (
        "Syria's civil war began in 2011 with protests against the government and has since "
        "killed hundreds of thousands of people and driven millions from their homes, drawing "
        "in Russia, Iran, Turkey and a coalition led by the United States, which has carried "
        "out strikes against the Islamic State group in the east of the country."
    )
    for day in range(6):
        text = f"Story {day} opens with its own news of day {day * 7} and no other.\n{background}"
        with db.session() as session:
            result = learn_and_strip(session, source_id, text, new_page=True, min_pages=3)
        assert background in result


def test_counts_decay_so_the_share_is_of_recent_pages(db: Database) -> None:
    source_id = add_source(db, "http://decay.example/feed.xml")
    with db.session() as session:
        learn_and_strip(session, source_id, "Old call to action", new_page=True, min_pages=3)
        session.query(Source).filter(Source.id == source_id).update(
            {Source.pages_seen: boilerplate.WINDOW - 1}
        )
        session.query(BoilerplateBlock).update({BoilerplateBlock.pages: 41})
    with db.session() as session:
        learn_and_strip(session, source_id, "A fresh line", new_page=True, min_pages=3)
    with db.session() as session:
        assert session.scalar(select(Source.pages_seen)) == boilerplate.WINDOW // 2
        rows = session.execute(select(BoilerplateBlock.block_hash, BoilerplateBlock.pages))
        pages = {key: count for key, count in rows}
        assert session.scalar(select(func.count()).select_from(BoilerplateBlock)) == 1
    assert pages == {block_key("Old call to action"): 20}  # 41 // 2; the fresh line (1) forgotten


def test_a_page_made_only_of_recurring_lines_is_left_alone(db: Database) -> None:
    source_id = add_source(db, "http://thin.example/feed.xml")
    text = "Read more\nShare this"
    results = []
    for _ in range(4):
        with db.session() as session:
            results.append(learn_and_strip(session, source_id, text, new_page=True, min_pages=3))
    assert results[-1] == text


def test_block_key_ignores_case_spacing_and_numbers() -> None:
    assert block_key("Also read:  Top 10 stories") == block_key("ALSO READ: Top 12 stories")
    assert block_key("Get Instant News Updates") != block_key("Get News Updates")
    assert len(block_key("x")) == 16


def test_only_short_blocks_are_counted() -> None:
    long_paragraph = " ".join(["word"] * (boilerplate.MAX_BLOCK_WORDS + 1))
    blocks = countable_blocks(f"Enable\n\n{long_paragraph}\nEnable")
    assert list(blocks.values()) == ["Enable"]


def learned(db: Database, source_id: int) -> tuple[int, dict[str, int]]:
    """A source's page count and block counts."""
    with db.session() as session:
        seen = session.scalar(select(Source.pages_seen).where(Source.id == source_id)) or 0
        rows = session.execute(
            select(BoilerplateBlock.block_hash, BoilerplateBlock.pages).where(
                BoilerplateBlock.source_id == source_id
            )
        )
        return seen, {key: pages for key, pages in rows}


def page_texts() -> list[tuple[str, bool]]:
    """The gazette's stories with its calls to action, each a new page; the first comes again
    (not new) after the others, and then a story without any call to action."""
    pages = [
        ("\n".join([paragraphs[0], *CALLS_TO_ACTION, *paragraphs[1:]]), True)
        for _title, paragraphs in STORIES
    ]
    return [*pages, (pages[0][0], False), ("\n".join(STORIES[0][1]), True)]


def by_the_rules(
    pages: list[tuple[str, bool]], seen: int, counts: dict[str, int], min_pages: int
) -> tuple[list[str], int, dict[str, int]]:
    """The module's rules, one page at a time, in memory: what storing must come to."""
    stripped = []
    for text, new_page in pages:
        keys = countable_blocks(text)
        if new_page:
            seen += 1
            counts = {**counts, **{key: counts.get(key, 0) + 1 for key in keys}}
            if seen >= boilerplate.WINDOW:
                counts = {key: n // 2 for key, n in counts.items() if n // 2}
                seen //= 2
        needed = boilerplate.threshold(seen, min_pages)
        found = {k for k in keys if seen >= min_pages and counts.get(k, 0) >= needed}
        stripped.append(boilerplate.strip(text, found))
    return stripped, seen, counts


@pytest.mark.parametrize("seen_before", [0, boilerplate.WINDOW - 3])
def test_a_batch_of_pages_is_learned_and_stripped_one_page_after_the_other(
    db: Database, seen_before: int
) -> None:
    """Also across a decay in the middle of the batch (a source with WINDOW - 3 pages seen)."""
    source_id = add_source(db, "http://batch.example/feed")
    counts = {block_key(CALLS_TO_ACTION[0]): 19, block_key(CALLS_TO_ACTION[1]): 41}
    with db.session() as session:
        session.query(Source).update({Source.pages_seen: seen_before})
        if seen_before:  # a call to action just under the share, another one well over it
            session.add_all(
                BoilerplateBlock(source_id=source_id, block_hash=key, pages=n)
                for key, n in counts.items()
            )
    pages = page_texts()
    expected = by_the_rules(pages, seen_before, counts if seen_before else {}, 3)
    with db.session() as session:
        batched = learn_and_strip_many(session, source_id, pages, min_pages=3)
    assert (batched, *learned(db, source_id)) == expected
    assert any(text != original for text, (original, _) in zip(batched, pages, strict=True))
    assert any(text == original for text, (original, _) in zip(batched, pages, strict=True))
