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
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

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


@dataclass
class Run:
    pages_per_second: float  # wall clock: what a dedicated machine shows
    cpu_per_page: float  # CPU seconds of every process involved: robust to other load
    stored: int
    parts: dict[str, float] | None = None  # CPU seconds per page by process, where known


def cpu_seconds(*roots: psutil.Process) -> float:
    """CPU time of these processes and all their descendants (user + system)."""
    total = 0.0
    for root in roots:
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def run_bare(pages: list[str], processes: int) -> Run:
    ctx = multiprocessing.get_context("forkserver")
    me = psutil.Process()
    with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        list(pool.map(warm, range(processes * 2)))
        cpu_before, start = cpu_seconds(me), time.perf_counter()
        extracted = list(pool.map(bare_extract, pages, chunksize=1))
        elapsed, cpu = time.perf_counter() - start, cpu_seconds(me) - cpu_before
    assert all(extracted), "bare trafilatura failed on a page"
    return Run(len(pages) / elapsed, cpu / len(pages), len(pages))


def serve_forever(feeds: int, per_feed: int, ready: Any) -> None:
    room = Newsroom.generate(feeds=feeds, articles_per_feed=per_feed)
    with room.serve():
        for path in room.pages:  # render before timing: serving is not what is measured
            room.rendered(path)
        ready.send(room.base_url)
        ready.recv()  # until the parent says stop


def run_tidings(feeds: int, per_feed: int, processes: int) -> Run:
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
        me, test_server = psutil.Process(), psutil.Process(server.pid)
        with Worker(settings, db) as worker:
            worker.extractor(b"<html><body><p>warm up</p></body></html>", base_url).exception()
            before, start = _cpu_parts(me, test_server), time.perf_counter()
            reports = worker.run_once()
            elapsed = time.perf_counter() - start
            after = _cpu_parts(me, test_server)
        stored = sum(r.new_articles for r in reports)
        db.dispose()
    parent.send("stop")
    server.join(10)
    parts = {name: (after[name] - before[name]) / max(stored, 1) for name in after}
    return Run(stored / elapsed, sum(parts.values()), stored, parts)


def _cpu_parts(me: psutil.Process, test_server: psutil.Process) -> dict[str, float]:
    """CPU seconds so far of the worker process, its extraction processes (every other
    process under this one) and the test server (a child of this process too: counted once)."""
    times = me.cpu_times()
    worker = times.user + times.system
    server = cpu_seconds(test_server)
    return {"worker": worker, "extraction": cpu_seconds(me) - worker - server, "server": server}


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
    wall, cpu = [], []
    for round_ in range(1, args.rounds + 1):
        bare = run_bare(pages, processes)
        ours = run_tidings(args.feeds, args.per_feed, processes)
        assert ours.stored == len(pages), f"stored {ours.stored} of {len(pages)} pages"
        wall.append(ours.pages_per_second / bare.pages_per_second)
        cpu.append(bare.cpu_per_page / ours.cpu_per_page)
        parts = ", ".join(f"{name} {cpu * 1000:.1f}" for name, cpu in (ours.parts or {}).items())
        print(f"  round {round_}: bare {bare.pages_per_second:6.1f} pages/s "
              f"({bare.cpu_per_page * 1000:5.1f} ms CPU/page), tidings "
              f"{ours.pages_per_second:6.1f} pages/s ({ours.cpu_per_page * 1000:5.1f} ms CPU/page: "
              f"{parts})")
    for name, ratios in (("wall-clock pages/s", wall), ("CPU per page", cpu)):
        ratio = statistics.median(ratios)
        verdict = "meets" if ratio >= 0.85 else "MISSES"
        print(f"  median ratio tidings/bare by {name}: {ratio:.2f} ({verdict} the ≥ 0.85 target)")


if __name__ == "__main__":
    main()
