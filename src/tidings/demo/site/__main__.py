"""``python -m tidings.demo.site``: serve the demo news site until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from tidings.demo.site.server import DemoSite


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tidings.demo.site",
        description="Serve the offline demo news site (fictional stories) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8000, help="first outlet's port (0: any free)")
    parser.add_argument("--publish-every", type=float, default=5.0, help="seconds between articles")
    parser.add_argument("--initial", type=int, default=None, help="articles out at start")
    return parser.parse_args()


def _describe(site: DemoSite) -> str:
    lines = ["Tidings demo news site — fictional stories, served offline:"]
    for name, url in site.base_urls.items():
        lines.append(
            f"  {name:<14} {url}/  feeds: {url}/feed.rss  {url}/feed.atom  {url}/feed.json"
        )
    lines.append(f"Feeds to watch: {' '.join(site.feed_urls())}")
    every = site.timeline.step.total_seconds()
    lines.append(f"A new article every {every:g} s. Press Ctrl-C to stop.")
    return "\n".join(lines)


def main() -> None:
    arguments = _arguments()
    site = DemoSite(publish_every=arguments.publish_every, initial=arguments.initial)
    site.start(port=arguments.port)
    print(_describe(site), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nStopping the demo news site.")
    finally:
        site.stop()


if __name__ == "__main__":
    main()
