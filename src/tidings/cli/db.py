"""``tidings db upgrade``: apply database migrations (also done automatically on start)."""

from __future__ import annotations

import click

from tidings.cli._common import load_settings
from tidings.store.db import Database


@click.group("db")
def command() -> None:
    """Database maintenance."""


@command.command("upgrade")
def upgrade() -> None:
    """Apply all migrations to the configured database."""
    settings = load_settings()
    db = Database.from_settings(settings, upgrade=False)
    db.upgrade()
    click.echo(f"database at {db.engine.url.render_as_string(hide_password=True)} is up to date")
