"""Matching benchmark: Tidings' alert index against tantivy micro-batch brute force.

One process and one core at a time; each alert count runs in its own child process so that its
resident-memory figure starts from a clean heap.  The children are built one after the other,
then match the article stream in turns (``--rounds``: a round of each count, then the next), so
that whatever else the machine does meanwhile falls on every count alike; the growth from one
count to the next is printed round by round.  The workload is synthetic but shaped like the
real thing (deterministic seed):

* a Zipfian vocabulary (common English words first, then made-up words), people's names with
  Zipfian popularity, a few hundred news sites with sections;
* articles of ~650 tokens with a title, a handful of names, a URL and a language;
* alerts: mostly names and short phrases, then single words, boolean queries, ``site:``,
  ``intitle:`` and ``lang:`` alerts, and a few very common words.

The peer indexes a batch of the same articles in RAM with tantivy and runs every alert as a
query against it.  At large alert counts it runs a sample of the alerts and is extrapolated
linearly (per-query cost does not depend on how many other queries there are); the output says
so.  Times are CPU time of the process (``time.process_time``: every thread, ours and
tantivy's), so that other jobs on a shared machine do not count against either side; wall-clock
figures are in the JSON lines too.  The index anchors each alert on the rarest of its keys by
token frequencies learned from 2,000 other articles of the same stream, as a worker learns them
from its latest stored articles (``--learned-stats 0``: the built-in prior instead).  Usage::

    python benchmarks/match.py                 # 10k, 100k and 1M alerts
    python benchmarks/match.py --quick         # 10k and 100k alerts, fewer articles
    python benchmarks/match.py --sizes 10000,1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, cast

import psutil
import tantivy

from tidings.alerts.engine import AlertIndex
from tidings.alerts.model import MatchArticle, url_host_path
from tidings.alerts.query import And, Lang, Node, Not, Or, Phrase, Site, Term, parse
from tidings.alerts.stats import _COMMON_ENGLISH, TokenStats
from tidings.alerts.store import article_tokens, loading_for_life

SEED = 20180603
# Articles the index's token frequencies are learned from (tidings.alerts.store's
# learn_token_stats reads as many of the latest stored ones when a worker loads its index).
LEARNED_STATS = 2000
CHILD_TIMEOUT = 1800  # seconds a child may take over one step before it is taken for stuck
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


# --- the workload ---------------------------------------------------------------------------


def _zipf_cumulative(n: int, s: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


@dataclass
class World:
    """Vocabulary, names and sites, with their popularity."""

    words: list[str]
    word_weights: list[float]
    names: list[tuple[str, str]]
    name_weights: list[float]  # how often the news mentions them
    follow_weights: list[float]  # how many readers follow them: flatter
    sites: list[tuple[str, list[str]]]

    def pick_words(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.word_weights, k=k)

    def pick_name(self, rng: random.Random) -> tuple[str, str]:
        return rng.choices(self.names, cum_weights=self.name_weights, k=1)[0]

    def followed_name(self, rng: random.Random) -> tuple[str, str]:
        return rng.choices(self.names, cum_weights=self.follow_weights, k=1)[0]

    def mid_word(self, rng: random.Random) -> str:
        """A word that is neither very common nor unheard of (what people search for)."""
        return self.words[int(1000 * (len(self.words) / 1000) ** rng.random())]


def make_world(rng: random.Random) -> World:
    made_up = {_made_up_word(rng) for _ in range(60_000)} - set(_COMMON_ENGLISH)
    words = list(dict.fromkeys(_COMMON_ENGLISH)) + _shuffled(rng, sorted(made_up))
    first = sorted({_made_up_word(rng).capitalize() for _ in range(4_000)})
    last = sorted(
        {
            (_made_up_word(rng) + rng.choice(["", "ov", "son", "ez", "i"])).capitalize()
            for _ in range(40_000)
        }
    )
    names = [(rng.choice(first), rng.choice(last)) for _ in range(300_000)]
    sites = [
        (
            f"{_made_up_word(rng)}{rng.choice(['news', 'times', 'post', 'daily', ''])}.{rng.choice(['com', 'co.uk', 'in', 'org'])}",
            rng.sample(
                ["world", "politics", "business", "sport", "tech", "india", "us", "opinion"], 4
            ),
        )
        for _ in range(400)
    ]
    return World(
        words,
        _zipf_cumulative(len(words), 1.05),
        names,
        _zipf_cumulative(len(names), 1.0),
        _zipf_cumulative(len(names), 0.6),
        sites,
    )


def _shuffled(rng: random.Random, items: list[str]) -> list[str]:
    items = list(items)
    rng.shuffle(items)
    return items


def _made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4))))


def make_article(world: World, rng: random.Random, number: int) -> MatchArticle:
    people = [world.pick_name(rng) for _ in range(rng.randint(3, 9))]
    words = world.pick_words(rng, rng.randint(450, 800))
    for first, last in people:
        at = rng.randrange(len(words))
        words[at:at] = rng.choice(
            [[first, last], [first, last], [last + "'s"], [first, last + ","]]
        )
    sentences = [" ".join(words[i : i + 18]).capitalize() + "." for i in range(0, len(words), 18)]
    title_person = people[0]
    title = " ".join(
        [*world.pick_words(rng, 4), *title_person, *world.pick_words(rng, 5)]
    ).capitalize()
    host, sections = rng.choice(world.sites)
    url = f"https://www.{host}/{rng.choice(sections)}/{number}.html"
    return MatchArticle(
        number, title, " ".join(sentences), url, "fr" if rng.random() < 0.1 else "en"
    )


def make_alert(world: World, rng: random.Random) -> str:
    roll = rng.random()
    first, last = world.followed_name(rng)
    if roll < 0.22:
        return f'"{first} {last}"'
    if roll < 0.32:
        return f"{first} {last}"
    if roll < 0.40:
        return last
    if roll < 0.52:
        return world.mid_word(rng)
    if roll < 0.60:
        return f'"{world.mid_word(rng)} {world.mid_word(rng)}"'
    if roll < 0.72:
        return _boolean_alert(world, rng, first, last)
    if roll < 0.80:
        return _site_alert(world, rng, last)
    if roll < 0.87:
        return rng.choice([f"intitle:{last}", f'intitle:"{first} {last}"'])
    if roll < 0.998:
        return f'lang:{rng.choice(["en", "fr"])} "{first} {last}"'
    return rng.choice(
        [
            "the",
            "said",
            "police",
            "government minister",
            "president OR minister",
            "police -the",
            f"the {world.mid_word(rng)}",
            "security court",
        ]
    )


def _boolean_alert(world: World, rng: random.Random, first: str, last: str) -> str:
    other_first, other_last = world.followed_name(rng)
    return rng.choice(
        [
            f"{last} OR {other_last}",
            f'"{first} {last}" -{world.mid_word(rng)}',
            f"({last} OR {other_last}) {world.mid_word(rng)}",
            f"{last} {other_last}",
            f'"{first} {last}" | "{other_first} {other_last}"',
            f"{last} -(said OR {world.mid_word(rng)})",
        ]
    )


def _site_alert(world: World, rng: random.Random, last: str) -> str:
    host, sections = rng.choice(world.sites)
    return rng.choice(
        [
            f"site:{host}",
            f"site:{host}/{sections[0]}",
            f"site:{host} {last}",
            f"site:{host}/{sections[1]} {world.mid_word(rng)}",
        ]
    )


# --- Tidings --------------------------------------------------------------------------------


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def huge_page_mb() -> float:
    """This process's anonymous memory in huge pages (Linux; 0 elsewhere), in MiB."""
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def build_index(
    queries: list[str], huge_pages: bool = True, stats: TokenStats | None = None
) -> tuple[AlertIndex, dict[str, float]]:
    """The index of ``queries``, built as ``SyncedAlertIndex.load()`` builds one, and what the
    build cost."""
    before = rss()
    start = time.process_time()
    index = AlertIndex(stats)
    with loading_for_life(index, huge_pages=huge_pages):  # as SyncedAlertIndex.load()
        for alert_id, query in enumerate(queries, start=1):
            index.add(alert_id, query)
    build = time.process_time() - start
    memory = rss() - before
    return index, {
        "build_s": build,
        "huge_page_mb": huge_page_mb(),  # how much of the heap the kernel did back with them
        "bytes_per_alert": memory / len(queries),
    }


class Timings:
    """The CPU and wall-clock times of every article matched, over the rounds."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.walls: list[float] = []
        self.matches = 0

    def round(self, index: AlertIndex, articles: list[MatchArticle]) -> float:
        """Match every article once; return this round's CPU ms per article."""
        spent = 0.0
        for article in articles:
            t0, w0 = time.process_time(), time.perf_counter()
            self.matches += len(index.match(article))
            cpu = time.process_time() - t0
            self.walls.append(time.perf_counter() - w0)
            self.times.append(cpu)
            spent += cpu
        return 1000 * spent / len(articles)

    def summary(self, index: AlertIndex) -> dict[str, float]:
        times, walls = self.times, self.walls
        stats = index.stats()
        return {
            "articles_per_s": len(times) / sum(times),
            "p50_ms": 1000 * statistics.median(times),
            "p99_ms": 1000 * statistics.quantiles(times, n=100)[98],
            "wall_articles_per_s": len(walls) / sum(walls),
            "wall_p99_ms": 1000 * statistics.quantiles(walls, n=100)[98],
            "matches_per_article": self.matches / len(times),
            "candidates_per_match": stats["candidates_per_match"],
            "verified_per_article": stats["verified"] / stats["articles"],
            "conditions_per_article": stats["conditions"] / stats["articles"],
            "exact_share": stats["exact_matches"] / max(1, stats["matches"]),
            "case_share": (stats["exact_matches"] + stats["condition_matches"])
            / max(1, stats["matches"]),
            "always_check": stats["always_check"],
            "programs": stats["programs"],
        }


def _phases(index: AlertIndex, articles: list[MatchArticle]) -> dict[str, float]:
    """Where ``match`` spends its CPU time per article, measured on the same articles again:
    analysing the article into keys (with finding their postings: each key is probed once, for
    its posting and, a word, for whether it starts a word pair some query needs), looking its
    keys up (taking the matches found, checking the conditions) and verifying the rest.  Then, in passes of their own: ``probe``, only
    finding the article's postings in the anchor dictionary (the least an index of anchors
    must do), and ``take``, only building the answer from the ready matches of exact cases
    found (the least that producing the matches costs)."""
    from itertools import chain

    from tidings.alerts.engine import _MATCHES, ArticleKeys, _verify

    postings = index._postings  # noqa: SLF001 - the benchmark looks inside to explain the time
    spent = dict.fromkeys(("keys", "look_up", "verify", "probe", "take"), 0.0)
    all_keys, all_found = [], []
    for article in articles:
        t0 = time.process_time()
        seen = ArticleKeys(article, postings=postings)
        t1 = time.process_time()
        answer, _, _, checked = index._look_up(seen.keys, seen.found or [])  # noqa: SLF001
        t2 = time.process_time()
        _verify(checked, seen, answer)
        t3 = time.process_time()
        spent["keys"] += t1 - t0
        spent["look_up"] += t2 - t1
        spent["verify"] += t3 - t2
        all_keys.append(seen.keys)
    for keys in all_keys:
        t0 = time.process_time()
        all_found.append(list(map(postings.__getitem__, postings.keys() & keys)))
        spent["probe"] += time.process_time() - t0
    for found in all_found:
        t0 = time.process_time()
        list(chain.from_iterable(map(_MATCHES, found)))
        spent["take"] += time.process_time() - t0
    return {f"{phase}_ms": 1000 * seconds / len(articles) for phase, seconds in spent.items()}


def _reset_counters(index: AlertIndex) -> AlertIndex:
    for key in index._counters:  # noqa: SLF001 - the benchmark measures only the timed stream
        index._counters[key] = 0
    return index


# --- the peer: tantivy micro-batch brute force ----------------------------------------------


def _peer_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, fast=True)
    builder.add_text_field("title")
    builder.add_text_field("text")
    for raw in ("site", "lang"):
        builder.add_text_field(raw, tokenizer_name="raw", index_option="basic")
    return builder.build()


def _peer_document(article: MatchArticle) -> tantivy.Document:
    host, path = url_host_path(article.url)
    labels = host.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    segments = [s for s in path.split("/") if s]
    prefixes = ["/" + "/".join(segments[:i]) for i in range(1, len(segments) + 1)]
    sites = suffixes + [s + p for s in suffixes for p in prefixes]
    language = (article.language or "").lower()
    return tantivy.Document(
        id=int(article.id), title=article.title, text=article.text, site=sites, lang=[language]
    )


def peer_query(schema: tantivy.Schema, node: Node) -> tantivy.Query:
    """The alert as a tantivy query with the same meaning (ASCII workload: same tokens)."""
    Occur = tantivy.Occur
    if isinstance(node, Term | Phrase):
        fields = ["title"] if node.in_title else ["title", "text"]
        if isinstance(node, Term):
            parts = [tantivy.Query.term_query(schema, f, node.token) for f in fields]
        else:
            parts = [tantivy.Query.phrase_query(schema, f, list(node.tokens)) for f in fields]
        return (
            parts[0]
            if len(parts) == 1
            else tantivy.Query.boolean_query([(Occur.Should, p) for p in parts])
        )
    if isinstance(node, Site):
        return tantivy.Query.term_query(schema, "site", node.host + node.path)
    if isinstance(node, Lang):
        return tantivy.Query.term_query(schema, "lang", node.code)
    if isinstance(node, Or):
        return tantivy.Query.boolean_query(
            [(Occur.Should, peer_query(schema, c)) for c in node.children]
        )
    if isinstance(node, And):
        return tantivy.Query.boolean_query(
            [
                (Occur.MustNot, peer_query(schema, c.child))
                if isinstance(c, Not)
                else (Occur.Must, peer_query(schema, c))
                for c in node.children
            ]
        )
    raise ValueError(f"no peer form for {node!r}")


def run_peer(queries: list[str], articles: list[MatchArticle], sample: int) -> dict[str, float]:
    schema = _peer_schema()
    chosen = queries[:: max(1, len(queries) // sample)][:sample]
    compiled = [peer_query(schema, parse(q)) for q in chosen]
    start, wall = time.process_time(), time.perf_counter()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for article in articles:
        writer.add_document(_peer_document(article))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    indexed, indexed_wall = time.process_time() - start, time.perf_counter() - wall
    start, wall = time.process_time(), time.perf_counter()
    hits = sum(len(searcher.search(q, len(articles)).hits) for q in compiled)
    queried, queried_wall = time.process_time() - start, time.perf_counter() - wall
    scale = len(queries) / len(compiled)
    total = indexed + queried * scale
    return {
        "peer_articles_per_s": len(articles) / total,
        "peer_wall_articles_per_s": len(articles) / (indexed_wall + queried_wall * scale),
        "peer_sampled_alerts": len(compiled),
        "peer_extrapolated": scale > 1,
        "peer_matches_per_article": hits * scale / len(articles),
    }


# --- preview: 50,000 stored articles ------------------------------------------------------


def measure_preview(articles_count: int, queries_count: int) -> dict[str, float]:
    """Preview latency over ``articles_count`` recent articles, against tantivy searching the
    same articles (indexed once, in RAM) for the same queries."""
    from datetime import UTC, datetime, timedelta

    from tidings.alerts.preview import RecentArticles
    from tidings.clock import FrozenClock

    rng = random.Random(SEED + 1)
    world = make_world(rng)
    now = datetime(2018, 6, 10, tzinfo=UTC)
    recent = RecentArticles(FrozenClock(now))
    articles = [make_article(world, rng, n) for n in range(1, articles_count + 1)]
    start = time.perf_counter()
    for n, article in enumerate(articles):
        recent.add(article, now - timedelta(seconds=n))
    load = time.perf_counter() - start
    queries = [make_alert(world, rng) for _ in range(queries_count)]
    ours = [_timed(lambda q=q: recent.preview(q).total) for q in queries]
    schema = _peer_schema()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for article in articles:
        writer.add_document(_peer_document(article))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    peer = [
        _timed(lambda q=q: searcher.search(peer_query(schema, parse(q)), 20).count) for q in queries
    ]
    return {
        "preview_articles": articles_count,
        "preview_load_s": load,
        "preview_p50_ms": 1000 * statistics.median(t for t, _ in ours),
        "preview_p99_ms": 1000 * statistics.quantiles([t for t, _ in ours], n=100)[98],
        "preview_max_ms": 1000 * max(t for t, _ in ours),
        "peer_p50_ms": 1000 * statistics.median(t for t, _ in peer),
        "peer_p99_ms": 1000 * statistics.quantiles([t for t, _ in peer], n=100)[98],
        "same_totals": sum(a[1] == b[1] for a, b in zip(ours, peer, strict=True)) / len(queries),
    }


def _timed(run):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


# --- a worker's start: the index built from the database ------------------------------------


def measure_db_load(size: int, url: str | None) -> dict[str, float]:
    """Time ``SyncedAlertIndex.load()`` over ``size`` stored alerts (SQLite file by default)."""
    import tempfile
    from datetime import datetime

    from sqlalchemy import insert

    from tidings.alerts.store import SyncedAlertIndex
    from tidings.store.db import Database
    from tidings.store.models import Alert

    rng = random.Random(SEED)
    world = make_world(rng)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(url or f"sqlite:///{tmp}/alerts.db")
        db.upgrade()
        now = datetime(2018, 6, 3)
        with db.engine.begin() as conn:
            for start in range(0, size, 50_000):
                rows = [
                    {
                        "query": make_alert(world, rng),
                        "mode": "quick",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for _ in range(start, min(size, start + 50_000))
                ]
                conn.execute(insert(Alert), rows)
        start, cpu_start = time.perf_counter(), time.process_time()
        engine = SyncedAlertIndex(db)
        loaded = engine.load()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        db.dispose()
    # CPU time is what a dedicated machine's wall clock would show for this one-process load
    # (on SQLite the reading is in this process too); wall time counts other jobs' turns.
    return {
        "db_alerts": loaded,
        "db_load_s": seconds,
        "db_load_cpu_s": cpu,
        "db": (url or "sqlite").split(":")[0],
    }


# --- driver ---------------------------------------------------------------------------------


def serve_size(
    size: int,
    articles_count: int,
    batch: int,
    sample: int,
    huge_pages: bool = True,
    learned: int = 0,
) -> dict[str, float]:
    """One alert count, in a child process: build its index, say so, then match the whole
    stream once for each ``round`` read on stdin (answering with the round's CPU ms per article),
    and at ``finish`` split the time by phase and run the peer."""
    rng = random.Random(SEED)
    world = make_world(rng)
    queries = [make_alert(world, rng) for _ in range(size)]
    articles = [make_article(world, rng, n) for n in range(1, articles_count + 1)]
    stats = None
    if learned:  # as SyncedAlertIndex learns them from the latest stored articles
        seen = (make_article(world, rng, -n) for n in range(1, learned + 1))
        stats = TokenStats.learn(article_tokens(a.title, a.text, a.url, a.language) for a in seen)
    index, built = build_index(queries, huge_pages, stats)
    for article in articles[:20]:  # warm up
        index.match(article)
    index = _reset_counters(index)
    print(json.dumps({"ready": size}), flush=True)
    timings, rounds = Timings(), []
    for line in sys.stdin:
        command = line.strip()
        if command == "finish" and rounds:
            break
        if command != "round":
            raise SystemExit(f"unexpected command {command!r} after {len(rounds)} rounds")
        rounds.append(timings.round(index, articles))
        print(json.dumps({"round_ms": rounds[-1]}), flush=True)
    else:
        raise SystemExit("the benchmark's parent went away")  # no work for nobody
    result: dict[str, Any] = {"alerts": size, **built, **timings.summary(index)}
    result["duplicate_share"] = 1 - len(set(queries)) / len(queries)
    result["round_ms"] = rounds
    result.update(_phases(index, articles))
    result["huge_pages"] = huge_pages
    result["learned_stats"] = learned
    result.update(run_peer(queries, articles[:batch], sample))
    result["speedup"] = result["articles_per_s"] / result["peer_articles_per_s"]
    return result


def report(results: list[dict[str, float]]) -> None:
    header = (
        f"{'alerts':>9} {'dup %':>6} {'build s':>8} {'B/alert':>8} {'art/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'matches':>8} {'exact %':>7} {'case %':>6} {'conds':>6} {'verified':>8} "
        f"{'cand/match':>10} "
        f"{'always':>6} {'peer art/s':>10} {'ratio':>7} {'huge MB':>7}"
    )
    print(header)
    for r in results:
        note = "*" if r["peer_extrapolated"] else " "
        print(
            f"{r['alerts']:>9,} {100 * r['duplicate_share']:>6.1f} {r['build_s']:>8.1f} "
            f"{r['bytes_per_alert']:>8.0f} {r['articles_per_s']:>8.0f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['matches_per_article']:>8.0f} {100 * r['exact_share']:>7.1f} "
            f"{100 * r['case_share']:>6.1f} {r['conditions_per_article']:>6.0f} "
            f"{r['verified_per_article']:>8.1f} {r['candidates_per_match']:>10.2f} "
            f"{r['always_check']:>6} {r['peer_articles_per_s']:>9.2f}{note} {r['speedup']:>6.1f}x "
            f"{r.get('huge_page_mb', 0):>7.0f}"
        )
    if any(r["peer_extrapolated"] for r in results):
        print(
            "* peer measured on a sample of the alerts (see peer_sampled_alerts) and extrapolated linearly"
        )
    by_size = {r["alerts"]: r for r in results}
    for small, big in ((10_000, 100_000), (100_000, 1_000_000)):
        if small in by_size and big in by_size:
            growth = (1 / by_size[big]["articles_per_s"]) / (1 / by_size[small]["articles_per_s"])
            rounds = [
                b / s
                for s, b in zip(by_size[small]["round_ms"], by_size[big]["round_ms"], strict=True)
            ]
            print(
                f"time per article, {big:,} vs {small:,} alerts: {growth:.2f}x over all rounds "
                f"(target <= 2x); round by round {', '.join(f'{g:.2f}' for g in rounds)}x, "
                f"median {statistics.median(rounds):.2f}x"
            )
    print("CPU ms per article by phase (the same articles, matched again):")
    for r in results:
        print(
            f"{r['alerts']:>9,}: keys {r['keys_ms']:.3f}, look-up {r['look_up_ms']:.3f} "
            f"(of which probe {r['probe_ms']:.3f}; taking the exact matches alone "
            f"{r['take_ms']:.3f}), verify {r['verify_ms']:.3f}"
        )
    for r in results:
        print(json.dumps(r))


def run_sizes(sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each alert count in a child process of its own, built one after the other (so that each
    build has the machine to itself), then matching the stream in turns: a round of each count,
    then the next round of each.  Whatever else the machine does meanwhile falls on every count
    alike, instead of on whichever count happened to run then."""
    children: list[subprocess.Popen[str]] = []
    try:
        return _run_children(sizes, args, children)
    finally:
        for child in children:  # a failed or interrupted run leaves none behind
            if child.poll() is None:
                child.kill()
                child.wait()


def _run_children(
    sizes: list[int], args: argparse.Namespace, children: list[subprocess.Popen[str]]
) -> list[dict[str, Any]]:
    for size in sizes:
        command = [
            sys.executable,
            __file__,
            "--one-size",
            str(size),
            "--articles",
            str(args.articles),
            "--batch",
            str(args.batch),
            "--sample",
            str(args.sample),
            *([] if args.huge_pages else ["--no-huge-pages"]),
            "--learned-stats",
            str(args.learned_stats),
        ]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(child)
        _answer(child)  # ready
        print(f"built {size:,} alerts", file=sys.stderr)
    for number in range(1, args.rounds + 1):
        for size, child in zip(sizes, children, strict=True):
            _ask(child, "round")
            print(
                f"round {number}: {size:,} alerts {_answer(child)['round_ms']:.3f} ms",
                file=sys.stderr,
            )
    results = []
    for child in children:
        _ask(child, "finish")
        results.append(_answer(child))
        if child.wait() != 0:
            raise SystemExit(f"a benchmark child failed ({child.args})")
    return results


def _ask(child: subprocess.Popen[str], command: str) -> None:
    assert child.stdin is not None
    child.stdin.write(command + "\n")
    child.stdin.flush()


def _answer(child: subprocess.Popen[str]) -> dict[str, Any]:
    """The child's next line: it says one per command (building 1M alerts, or the peer at
    finish, takes a minute or two; a child silent for ``CHILD_TIMEOUT`` is stuck)."""
    assert child.stdout is not None

    def stuck(signum: int, frame: Any) -> None:
        raise SystemExit(f"a benchmark child said nothing for {CHILD_TIMEOUT} s ({child.args})")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(CHILD_TIMEOUT)
    try:
        line = child.stdout.readline()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if not line:
        raise SystemExit(f"a benchmark child ended early ({child.args}): exit {child.wait()}")
    return cast(dict[str, Any], json.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10k and 100k alerts, fewer articles")
    parser.add_argument(
        "--articles", type=int, default=2000, help="articles matched per size in a round"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of the whole stream, each alert count in turn (see run_sizes)",
    )
    parser.add_argument("--batch", type=int, default=200, help="peer micro-batch size (articles)")
    parser.add_argument("--sample", type=int, default=20000, help="peer alerts sampled at most")
    parser.add_argument("--preview-articles", type=int, default=50_000, help="0 skips the preview")
    parser.add_argument(
        "--no-huge-pages",
        dest="huge_pages",
        action="store_false",
        help="leave the index on the pages the allocator gets (load() asks for huge pages)",
    )
    parser.add_argument(
        "--learned-stats",
        type=int,
        default=LEARNED_STATS,
        metavar="N",
        help="anchor on token frequencies learned from N other generated articles, as a "
        f"worker learns them from its latest stored ones (default {LEARNED_STATS}, as "
        "SyncedAlertIndex; 0: the built-in prior, which rates made-up words and names alike)",
    )
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--preview-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--db-load", type=int, default=0, help="also time building N alerts from a database"
    )
    parser.add_argument(
        "--db-url", default=None, help="database for --db-load (default: a SQLite file)"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.quick:
        args.sizes, args.articles, args.batch, args.sample = "10000,100000", 500, 100, 5000
        args.preview_articles = 10_000
    if args.one_size is not None:
        print(
            json.dumps(
                serve_size(
                    args.one_size,
                    args.articles,
                    args.batch,
                    args.sample,
                    args.huge_pages,
                    args.learned_stats,
                )
            )
        )
        return
    if args.db_load:
        print(json.dumps(measure_db_load(args.db_load, args.db_url)))
        return
    if args.preview_only:
        print(json.dumps(measure_preview(args.preview_articles, 300)))
        return
    results = run_sizes([int(s) for s in args.sizes.split(",")], args)
    report(results)
    if args.preview_articles:
        command = [
            sys.executable,
            __file__,
            "--preview-only",
            "--preview-articles",
            str(args.preview_articles),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        preview = json.loads(output.strip().splitlines()[-1])
        print(
            f"preview over {preview['preview_articles']:,} articles: p50 {preview['preview_p50_ms']:.1f} ms, "
            f"p99 {preview['preview_p99_ms']:.1f} ms, max {preview['preview_max_ms']:.1f} ms (target <= 200 ms); "
            f"tantivy searching the same: p50 {preview['peer_p50_ms']:.2f} ms, p99 {preview['peer_p99_ms']:.2f} ms; "
            f"same totals on {100 * preview['same_totals']:.0f}% of queries"
        )
        print(json.dumps(preview))


if __name__ == "__main__":
    main()
