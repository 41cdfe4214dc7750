"""``tidings web``: the web process (WebSub callbacks; pages and API as they arrive)."""

from __future__ import annotations

import click
import uvicorn

from tidings.cli._common import open_database
from tidings.web.app import create_app


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def command(host: str, port: int) -> None:
    """Serve the web app (run workers apart with `tidings worker`)."""
    settings, db = open_database()
    uvicorn.run(create_app(settings, db), host=host, port=port, log_level="warning")
