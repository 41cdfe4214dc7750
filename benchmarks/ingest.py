"""Ingest throughput: Tidings' fetch → extract → store against bare trafilatura.

Both sides handle the same generated news pages on all cores of this machine:

* bare: ``trafilatura.bare_extraction`` over the pages' HTML (already in memory) in a
  process pool with one process per core — extraction alone, the ceiling;
* Tidings: a ``Worker`` on a fresh SQLite database checks the feeds listing those pages,
  served over real HTTP by a separate server process, and fetches, extracts (process pool),
  strips learned boilerplate, stores and groups every article.

Run: ``.venv/bin/python benchmarks/ingest.py [--feeds 10 --per-feed 40]``.
Target: Tidings at ≥ 0.85 of bare trafilatura's pages per second.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.newsroom import Newsroom  # noqa: E402


def bare_extract(html: str) -> int:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    return len(doc.text or "") if doc is not None else 0


def warm(_: int) -> int:
    import trafilatura  # noqa: F401

    return 0


def run_bare(pages: list[str], processes: int) -> float:
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        list(pool.map(warm, range(processes * 2)))
        start = time.perf_counter()
        extracted = list(pool.map(bare_extract, pages, chunksize=1))
        elapsed = time.perf_counter() - start
    assert all(extracted), "bare trafilatura failed on a page"
    return len(pages) / elapsed


def serve_forever(feeds: int, per_feed: int, ready: Any) -> None:
    room = Newsroom.generate(feeds=feeds, articles_per_feed=per_feed)
    with room.serve():
        for path in room.pages:  # render before timing: serving is not what is measured
            room.rendered(path)
        ready.send(room.base_url)
        ready.recv()  # until the parent says stop


def run_tidings(feeds: int, per_feed: int, processes: int) -> tuple[float, int]:
    from tidings.cli.sources import add_source
    from tidings.config import Settings
    from tidings.store.db import Database
    from tidings.worker import Worker

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_forever, args=(feeds, per_feed, child), daemon=True
    )
    server.start()
    base_url = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {}, data_dir=Path(tmp), allow_private_networks=True, extract_processes=processes,
            per_host_concurrency=8, fetch_concurrency=8,
        )
        db = Database.from_settings(settings)
        with db.session() as session:
            for f in range(feeds):
                add_source(session, f"{base_url}/feeds/{f}.xml")
        with Worker(settings, db) as worker:
            worker.extractor(b"<html><body><p>warm up</p></body></html>", base_url).exception()
            start = time.perf_counter()
            reports = worker.run_once()
            elapsed = time.perf_counter() - start
        stored = sum(r.new_articles for r in reports)
        db.dispose()
    parent.send("stop")
    server.join(10)
    return stored / elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--per-feed", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate bare and Tidings this many times; report the median")
    args = parser.parse_args()
    processes = os.cpu_count() or 1
    room = Newsroom.generate(feeds=args.feeds, articles_per_feed=args.per_feed)
    room.base_url = "http://127.0.0.1"
    pages = [page.html(room.base_url) for page in room.pages.values()]
    size = sum(len(page) for page in pages) // len(pages) // 1024
    print(f"ingest: {len(pages)} pages of ~{size} KB, {processes} core(s), {args.rounds} rounds")
    ratios = []
    for round_ in range(1, args.rounds + 1):
        bare = run_bare(pages, processes)
        ours, stored = run_tidings(args.feeds, args.per_feed, processes)
        assert stored == len(pages), f"stored {stored} of {len(pages)} pages"
        ratios.append(ours / bare)
        print(f"  round {round_}: bare trafilatura (process pool) {bare:6.1f} pages/s, "
              f"tidings fetch→extract→store {ours:6.1f} pages/s, ratio {ours / bare:.2f}")
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio >= 0.85 else "MISSES"
    print(f"  median ratio tidings/bare: {ratio:.2f} ({verdict} the ≥ 0.85 target)")


if __name__ == "__main__":
    main()
