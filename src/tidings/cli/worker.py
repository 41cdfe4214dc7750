"""``tidings worker``: run the pipeline until stopped (Ctrl-C or SIGTERM stops it cleanly)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from tidings.cli._common import open_database
from tidings.worker import Worker


@click.command("worker")
def command() -> None:
    """Check sources as they fall due until stopped."""
    settings, db = open_database()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with Worker(settings, db) as worker:
        click.echo(f"worker {worker.worker_id} running; Ctrl-C stops it", err=True)
        worker.run(stop)
    click.echo("worker stopped", err=True)
