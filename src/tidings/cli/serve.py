"""``tidings serve``: web app and worker in one process — the one command for a small install.

The worker loop runs in a thread beside the web server; Ctrl-C or SIGTERM stops the server,
then the worker finishes its pass and stops.  For more, run ``tidings web`` and
``tidings worker`` apart.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
import uvicorn

from tidings.cli._common import open_database
from tidings.config import Settings
from tidings.store.db import Database
from tidings.web.app import create_app
from tidings.worker import Worker


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def command(host: str, port: int) -> None:
    """Serve the web app and run the worker in one process."""
    settings, db = open_database()
    with Worker(settings, db) as worker:
        click.echo(
            f"Tidings on http://{host}:{port}/ with worker {worker.worker_id}; Ctrl-C stops it",
            err=True,
        )
        serve_with_worker(settings, db, worker, host, port)
    click.echo("stopped", err=True)


# Open event streams (SSE) never end by themselves: on Ctrl-C or SIGTERM the server waits this
# long for requests in flight, then closes what is left (browsers reconnect by themselves).
GRACEFUL_SHUTDOWN_SECONDS = 3


# uvicorn[standard]'s event loop and HTTP parser (uvloop, httptools; both C): ~0.1 ms less CPU
# a request than asyncio's loop and h11 (benchmarks/web.py, the static baseline).
LOOP, HTTP = "uvloop", "httptools"


def uvicorn_config(settings: Settings, db: Database, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, db),
        host=host,
        port=port,
        loop=LOOP,
        http=HTTP,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def serve_with_worker(
    settings: Settings, db: Database, worker: Worker, host: str, port: int
) -> None:
    """Serve the web app on ``host:port`` with ``worker`` running in a thread beside it, until
    Ctrl-C or SIGTERM stops both (``tidings demo`` runs its Tidings this way too)."""
    server = uvicorn.Server(uvicorn_config(settings, db, host, port))
    stop = threading.Event()
    stop_on_signals(stop)
    thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
    thread.start()
    try:
        server.run()
    finally:
        stop.set()
        thread.join()


def stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop``.  The web server answers them first (it takes the
    signals while it runs, then hands each back to these handlers), so both stop cleanly."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
