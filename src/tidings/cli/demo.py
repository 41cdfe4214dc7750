"""``tidings demo``: Tidings on its embedded default, watching a bundled offline news site.

It serves the demo site on 127.0.0.1, adds its feeds as sources and runs the worker,
printing each story as it arrives, until Ctrl-C (or ``--duration`` seconds).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from types import FrameType

import click
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from tidings.accounts import (
    add_alert,
    alert_queries,
    create_topic,
    create_user,
    find_topic,
    find_user,
    follow_topic,
)
from tidings.articles.stories import story_sources
from tidings.cli._common import load_settings, open_database
from tidings.cli.sources import add_source
from tidings.config import Settings
from tidings.demo.site import DemoSite
from tidings.store.models import Article, Notification, User
from tidings.worker import Worker

console = Console(highlight=False)


@click.command("demo")
@click.option("--site-port", default=8765, show_default=True, help="Port of the demo news site.")
@click.option("--publish-every", default=5.0, show_default=True,
              help="Seconds between new articles on the demo site.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: run until Ctrl-C).")
def command(site_port: int, publish_every: float, duration: float | None) -> None:
    """Run Tidings against the bundled offline demo news site."""
    # The demo site publishes every few seconds: check it about as often, whatever its
    # back catalogue's dates suggest.
    pace = max(1, int(publish_every))
    settings = dataclasses.replace(
        load_settings(), allow_private_networks=True, min_interval=pace, max_interval=2 * pace
    )
    settings, db = open_database(settings)
    site = DemoSite(publish_every=publish_every)
    base_url = site.start(port=site_port)
    console.print(f"[bold]Demo news site[/bold] at {base_url}")
    with db.session() as session:
        for url in site.feed_urls():
            add_source(session, url)
        reader = demo_reader(session, settings)
    console.print(f"Demo reader [bold]{reader.email}[/bold] (password [bold]{DEMO_PASSWORD}"
                  "[/bold]) follows: " + "; ".join(f"[italic]{q}[/italic]" for q in DEMO_ALERTS))
    stop = _stop_on_signals(duration)
    console.print(f"Watching {len(site.feed_urls())} feeds; data in {settings.data_dir}. "
                  "Ctrl-C stops.\n")
    try:
        with Worker(settings, db, after_store=[show_article, show_alerts]) as worker:
            worker.run(stop, idle_poll=0.5)
    finally:
        site.stop()
    console.print("demo stopped")


def show_article(session: Session, article: Article) -> None:
    """Print an article as it is stored, with its story's size."""
    outlets = story_sources(session, article.story_id) if article.story_id else []
    others = [name for name in outlets if name != article.sitename]
    also = f" [green](also reported by {', '.join(others)})[/green]" if others else ""
    console.print(
        f"[cyan]story {article.story_id}[/cyan] [bold]{article.title}[/bold] "
        f"— {article.sitename or '?'}{', by ' + article.author if article.author else ''}{also}"
    )


DEMO_EMAIL = "reader@demo.tidings.invalid"
DEMO_PASSWORD = "tidings-demo"
DEMO_ALERTS = ('"kim jong un"', "tesla", "climate -politics", "intitle:championship OR final")
DEMO_TOPIC = ("science", "Science", "scientists OR telescope OR species")


def demo_reader(session: Session, settings: Settings) -> User:
    """The demo's reader, with a few quick alerts and a followed topic (made once)."""
    user = find_user(session, DEMO_EMAIL)
    if user is not None:
        return user
    user = create_user(session, DEMO_EMAIL, password=DEMO_PASSWORD)
    for query in DEMO_ALERTS:
        add_alert(session, user, query, settings)
    slug, name, query = DEMO_TOPIC
    if find_topic(session, slug) is None:
        create_topic(session, slug, name, query)
    follow_topic(session, user, slug)
    return user


def show_alerts(session: Session, article: Article) -> None:
    """Print the inbox notifications this article just made (the notifier ran before us)."""
    if article.story_id is None:
        return
    rows = session.scalars(
        select(Notification).where(
            Notification.story_id == article.story_id, Notification.article_id == article.id
        )
    )
    for notification in rows:
        queries = alert_queries(session, notification.alert_ids)
        console.print(
            f"  [bold yellow]Quick Alert[/bold yellow] ({notification.route}) "
            f"matched {', '.join(queries.values()) or 'a topic'}: {notification.snippet or ''}"
        )


def _stop_on_signals(duration: float | None) -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    return stop
