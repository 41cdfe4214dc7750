"""``tidings demo`` (what ``make demo`` runs): the first run of Tidings, offline.

Tidings on SQLite in ``./tidings-data`` (or ``--data-dir``), serving the web app and running
the worker in one process as ``tidings serve`` does, watching the bundled offline demo news
site (two fictional outlets on 127.0.0.1).  The data dir gets a demo admin, who made two
publisher topics, and a demo reader with a few quick and daily alerts who follows both topics;
their logins are printed.  The demo site publishes a new article every ``--every`` seconds,
so Quick Alerts keep arriving in the reader's inbox in the browser (and in the terminal).

Running it again on the same data dir adds nothing twice: the accounts, alerts and topics are
made once (later runs leave them as the reader left them) and the stored articles stay; the
demo site starts past the articles this data dir has already seen, so what it publishes next
is news to Tidings too.  ``--once`` sets up, checks the feeds once, prints what arrived and
exits (no web server).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidings.accounts import (
    add_alert,
    create_topic,
    create_user,
    find_topic,
    find_user,
    follow_topic,
)
from tidings.articles.stories import story_sources
from tidings.cli._common import load_settings, open_database
from tidings.cli.serve import serve_with_worker
from tidings.cli.sources import add_source
from tidings.config import Settings, env_name
from tidings.demo.site import DemoSite
from tidings.demo.site.catalogue import load_articles
from tidings.store.db import Database
from tidings.store.models import Alert, Article, Notification, Topic, User
from tidings.worker import Worker

console = Console(highlight=False)

READER_EMAIL = "reader@demo.tidings.invalid"
READER_PASSWORD = "tidings-demo"
ADMIN_EMAIL = "admin@demo.tidings.invalid"
ADMIN_PASSWORD = "tidings-admin"
# (query, mode): the quick ones match stories already on the demo site (the inbox is not empty
# at first) and stories it publishes while you watch.
READER_ALERTS = (
    ('"kim jong un"', "quick"),
    ("tesla", "quick"),
    ("intitle:record", "quick"),
    ("ferry OR earthquake OR wildfires", "quick"),
    ("intitle:wins OR intitle:win", "quick"),
    ("climate -politics", "daily"),
    ('"interest rates" OR inflation', "daily"),
)
# (slug, name, query, description): the demo admin's publisher topics; the reader follows both.
TOPICS = (
    ("science", "Science", "scientists OR telescope OR quantum",
     "Discoveries, space and the people behind them"),
    ("tech", "Technology", 'smartphone OR chips OR "start-up" OR startup',
     "Gadgets, chips and the companies that make them"),
)


@dataclass(frozen=True)
class DemoAccounts:
    """What the demo's setup found or made."""

    reader: User
    admin: User
    new_reader: bool
    sources_added: int


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the web app.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port of the web app.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo's SQLite database lives (default: TIDINGS_DATA_DIR, "
                   "else ./tidings-data).")
@click.option("--every", default=20.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between new articles on the demo news site.")
@click.option("--site-port", default=8765, show_default=True, type=int,
              help="Port of the demo news site's first outlet (the second gets the next one).")
@click.option("--once", is_flag=True,
              help="Set up, check the demo site once, print what arrived and exit (no web app).")
def command(
    host: str, port: int, data_dir: Path | None, every: float, site_port: int, once: bool
) -> None:
    """Tidings on SQLite with the offline demo news site: open the printed URL and log in."""
    if not once:
        _refuse_port_in_use(host, port)
    settings, db = open_database(demo_settings(load_settings(), host, port, every, data_dir))
    with db.session() as session:
        seen = articles_seen(session)
    site = DemoSite(publish_every=every, seen=seen)
    try:
        site.start(port=site_port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve the demo news site on port {site_port}: {exc} (try --site-port)"
        ) from exc
    try:
        with db.session() as session:
            accounts = set_up(session, settings, site.feed_urls())
            _print_banner(session, settings, site, accounts, once)
        if once:
            with Worker(settings, db, after_store=[show_article, AlertPrinter(db)]) as worker:
                reports = worker.run_once()
            stored = sum(report.new_articles for report in reports)
            errors = [report.error for report in reports if report.error]
            console.print(f"\nChecked {len(reports)} feeds: {stored} new articles stored"
                          + (f"; errors: {'; '.join(errors)}" if errors else "."))
            return
        with Worker(settings, db, after_store=[AlertPrinter(db)]) as worker:
            serve_with_worker(settings, db, worker, host, port)
        console.print("demo stopped")
    finally:
        site.stop()


def _refuse_port_in_use(host: str, port: int) -> None:
    """Stop before printing a URL that another server (often another demo) answers."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve the web app on {host}:{port}: "
            f"{os.strerror(exc.errno) if exc.errno else exc} "
            "(is another Tidings running? try --port)"
        ) from exc


def demo_settings(
    settings: Settings, host: str, port: int, every: float, data_dir: Path | None
) -> Settings:
    """The demo's Tidings: always SQLite in the data dir (never a TIDINGS_DATABASE_URL the shell
    happens to carry), fetching from loopback, checking the demo site several times per new
    article (cheap: it answers 304 when nothing changed), its public URL the one served."""
    check = max(1, round(every / 5))
    base_url = settings.base_url
    if env_name("base_url") not in os.environ:
        base_url = f"http://{_browsable(host)}:{port}"
    return dataclasses.replace(
        settings,
        data_dir=data_dir if data_dir is not None else settings.data_dir,
        database_url="",
        allow_private_networks=True,
        min_interval=check,
        max_interval=check,
        base_url=base_url,
    )


def _browsable(host: str) -> str:
    """The address to open in a browser for a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def articles_seen(session: Session) -> int:
    """How far into the demo site's publication order this data dir has read: one past the
    last demo article it stored (0 on a first run)."""
    titles = [article.title for article in load_articles()]
    stored = set(session.scalars(select(Article.title).where(Article.title.in_(set(titles)))))
    return max((index + 1 for index, title in enumerate(titles) if title in stored), default=0)


def set_up(session: Session, settings: Settings, feed_urls: list[str]) -> DemoAccounts:
    """The demo site's feeds as sources, the demo admin and their topics, the demo reader with
    alerts and follows; each made only when missing."""
    added = sum(add_source(session, url)[1] for url in feed_urls)
    admin = find_user(session, ADMIN_EMAIL)
    if admin is None:
        admin = create_user(session, ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True)
    for slug, name, query, description in TOPICS:
        if find_topic(session, slug) is None:
            create_topic(session, slug, name, query, description=description)
    reader = find_user(session, READER_EMAIL)
    new_reader = reader is None
    if reader is None:
        reader = create_user(session, READER_EMAIL, password=READER_PASSWORD)
        for query, mode in READER_ALERTS:
            add_alert(session, reader, query, settings, mode=mode)
        for slug, *_ in TOPICS:
            follow_topic(session, reader, slug)
    return DemoAccounts(reader, admin, new_reader, added)


def _print_banner(
    session: Session, settings: Settings, site: DemoSite, accounts: DemoAccounts, once: bool
) -> None:
    url = settings.base_url.rstrip("/") + "/"
    reader = accounts.reader
    alerts = session.scalars(select(Alert).where(Alert.user_id == reader.id).order_by(Alert.id))
    topics = session.scalars(select(Topic).order_by(Topic.slug))
    timeline = site.timeline
    if once:
        console.print("[bold]Tidings demo[/bold] — one check of the demo news site, then exit")
    else:
        console.print(f"\n[bold]Tidings demo[/bold] — open [bold underline]{url}[/bold underline]")
    console.print(
        f"  Reader login: [bold]{reader.email}[/bold]  password [bold]{READER_PASSWORD}[/bold]"
        + ("" if accounts.new_reader else "  (kept as you left it)")
    )
    console.print(f"  Admin login:  [bold]{accounts.admin.email}[/bold]  password "
                  f"[bold]{ADMIN_PASSWORD}[/bold]")
    console.print("  The reader's alerts: " + "; ".join(
        f"[italic]{alert.query}[/italic] ({alert.mode})" for alert in alerts
    ))
    console.print("  Topics by the admin: " + ", ".join(topic.name for topic in topics))
    outlets = ", ".join(f"{name} {base}/" for name, base in site.base_urls.items())
    console.print(f"  Demo news site: {outlets}")
    every = f"{timeline.step.total_seconds():g} s"
    console.print(
        f"  {timeline.initial} of its {len(timeline.articles)} articles are out; "
        + (f"a new one every {every}, then an update in place every {every}"
           if timeline.live_count else
           f"this data dir has seen them all: an update in place every {every} (new articles "
           "again in a new data dir)")
    )
    console.print(f"  Data: {settings.sqlalchemy_url.removeprefix('sqlite:///')}")
    if not once:
        console.print("[bold]Ctrl-C stops it.[/bold]\n")


def show_article(session: Session, article: Article) -> None:
    """Print an article as it is stored, with its story's size."""
    outlets = story_sources(session, article.story_id) if article.story_id else []
    others = [name for name in outlets if name != article.sitename]
    also = f" [green](also reported by {', '.join(others)})[/green]" if others else ""
    console.print(
        f"[cyan]story {article.story_id}[/cyan] [bold]{article.title}[/bold] "
        f"— {article.sitename or '?'}{', by ' + article.author if article.author else ''}{also}"
    )


class AlertPrinter:
    """An ``after_store`` hook that prints each notification an article makes, once (the
    notifier ran before it, in the same transaction).  An article stored again, updated or
    not, makes none, and what the data dir held before the demo started is not shown."""

    def __init__(self, db: Database) -> None:
        with db.session() as session:
            self.after = session.scalar(select(func.max(Notification.id))) or 0
        self.printed: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self, session: Session, article: Article) -> None:
        if article.story_id is None:
            return
        rows = session.execute(
            select(Notification, User.email)
            .join(User, User.id == Notification.user_id)
            .where(
                Notification.story_id == article.story_id,
                Notification.article_id == article.id,
                Notification.id > self.after,
            )
            .order_by(Notification.id)
        )
        for notification, email in rows:
            with self.lock:
                if notification.id in self.printed:
                    continue
                self.printed.add(notification.id)
            kind = "Quick Alert" if notification.route == "quick" else "for the digest"
            console.print(
                f"  [bold yellow]{kind}[/bold yellow] to {email}: [bold]{article.title}[/bold] "
                f"(matched {', '.join(matched(session, notification.alert_ids))})"
            )


def matched(session: Session, alert_ids: list[int]) -> list[str]:
    """What each alert is, for a person: its query, or the topic it belongs to."""
    rows = session.execute(
        select(Alert.query, Topic.name)
        .outerjoin(Topic, Topic.id == Alert.topic_id)
        .where(Alert.id.in_(set(alert_ids)))
        .order_by(Alert.id)
    )
    return [f"topic {topic}" if topic else query for query, topic in rows]
