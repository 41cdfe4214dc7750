"""What every command needs: settings checked at start, the database migrated, clean errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from tidings import logs
from tidings.alerts.store import MODES
from tidings.config import ConfigError, Settings
from tidings.store.db import Database


def load_settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    logs.configure(settings.log_level)
    return settings


def open_database(settings: Settings | None = None) -> tuple[Settings, Database]:
    """Settings from the environment and the database, migrated to the latest schema."""
    settings = settings or load_settings()
    try:
        return settings, Database.from_settings(settings)
    except Exception as exc:  # connection refused, bad URL, permissions…
        raise click.ClickException(
            f"cannot open the database {settings.sqlalchemy_url!r}: {exc}"
        ) from exc


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit UTC offset (stored times are naive UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def print_json_lines(rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    as_json: bool,
    describe: Callable[[Mapping[str, Any]], str],
    *,
    empty: str | None = None,
) -> None:
    """A list command's output: one JSON object per line with ``--json``, else ``describe`` of
    each row (``empty`` when there are none and it is given)."""
    if as_json:
        print_json_lines(rows)
        return
    if not rows and empty is not None:
        click.echo(empty)
    for row in rows:
        click.echo(describe(row))


# Options several commands share.
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
user_option = click.option("--user", "email", required=True, metavar="EMAIL", help="The reader.")
mode_option = click.option(
    "--mode",
    type=click.Choice(MODES),
    default="quick",
    show_default=True,
    help="quick: notify now; daily/weekly: in the digest.",
)
