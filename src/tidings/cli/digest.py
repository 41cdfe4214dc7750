"""``tidings digest``: build (and send) readers' digests from the command line.

    tidings digest --now [--user EMAIL] [--mode daily|weekly]

``--now`` builds each reader's digest (or that reader's) at once, whatever the hour; like a
scheduled one it covers what came since that reader's previous digest, so the next scheduled
digest starts where this one ended.  Without ``--now`` only the digests that are due are built,
as the worker would.  Then the delivery sender hands the digests' emails and push summaries over.
"""

from __future__ import annotations

import os
import socket

import click

from tidings.accounts import find_user
from tidings.cli._common import open_database
from tidings.clock import utcnow
from tidings.config import Settings
from tidings.delivery.digests import DigestReport, DigestScheduler
from tidings.delivery.timing import DigestMode
from tidings.store.db import Database


@click.command("digest")
@click.option(
    "--now", "now", is_flag=True, help="Send each reader's digest now, whatever the hour."
)
@click.option("--user", "email", metavar="EMAIL", help="Only this reader.")
@click.option(
    "--mode",
    type=click.Choice(["daily", "weekly"]),
    default="daily",
    show_default=True,
    help="Which digest --now builds.",
)
def command(now: bool, email: str | None, mode: DigestMode) -> None:
    """Build readers' digests and send them (email, one push summary, an inbox entry)."""
    settings, db = open_database()
    worker_id = f"cli:{socket.gethostname()}:{os.getpid()}"
    scheduler = DigestScheduler(settings, db, clock=utcnow, worker_id=worker_id)
    only = [reader_id(db, email)] if email else None
    report = scheduler.send_now(only, mode) if now else scheduler.build(utcnow(), only=only)
    click.echo(describe(report))
    sent = send_deliveries(settings, db, worker_id)
    click.echo(f"delivery sender: {sent} delivery(ies) handled")


def reader_id(db: Database, email: str) -> int:
    with db.session() as session:
        found = find_user(session, email)  # emails are stored lower-cased
        if found is None:
            raise click.ClickException(f"no reader with the email {email!r}")
        return found.id


def describe(report: DigestReport) -> str:
    """ "digests: 3 built for 2 reader(s), 14 notification(s); 1 empty, not sent"."""
    return (
        f"digests: {report.built} built, {report.sent} sent to {len(report.readers)} reader(s),"
        f" {report.notifications} notification(s); {report.empty} empty, not sent"
    )


def send_deliveries(settings: Settings, db: Database, worker_id: str) -> int:
    """Run the delivery sender over every delivery that is due (ours included)."""
    from tidings.delivery.outbox import DeliveryWorker

    with DeliveryWorker(settings, db, clock=utcnow, worker_id=worker_id) as sender:
        return sender.run_due()
