"""``tidings web``: only the web app (pages, REST API, WebSub callbacks); run the work apart
with ``tidings worker`` (any number of each on one PostgreSQL)."""

from __future__ import annotations

import threading

import click
import uvicorn

from tidings.cli._common import open_database
from tidings.cli.serve import stop_on_signals, uvicorn_config


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def command(host: str, port: int) -> None:
    """Serve the web app (run workers apart with `tidings worker`)."""
    settings, db = open_database()
    stop_on_signals(threading.Event())  # a clean exit once the server has stopped
    click.echo(f"web app on http://{host}:{port}/ (API: /api/v1/docs); Ctrl-C stops it", err=True)
    uvicorn.Server(uvicorn_config(settings, db, host, port)).run()
