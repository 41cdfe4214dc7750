"""``tidings alerts``: a reader's standing alerts.

    tidings alerts add --user EMAIL QUERY [--mode quick|daily|weekly] [--channel ID]...
    tidings alerts list --user EMAIL [--json]
    tidings alerts remove --user EMAIL ID

A query is checked by the alert parser before it is stored; a bad one is refused with the
parser's message and the column where it went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from tidings.accounts import add_alert, remove_alert, user_alerts
from tidings.cli._common import (
    iso,
    json_option,
    mode_option,
    open_database,
    print_rows,
    user_option,
)
from tidings.cli.users import account_errors, reader
from tidings.store.models import Alert


@click.group("alerts")
def command() -> None:
    """A reader's standing alerts: add, list, remove."""


@command.command("add")
@user_option
@click.argument("query")
@mode_option
@click.option(
    "--channel",
    "channels",
    type=int,
    multiple=True,
    metavar="ID",
    help="Deliver on this channel only (repeat for several; default: all).",
)
def add(email: str, query: str, mode: str, channels: tuple[int, ...]) -> None:
    """Add an alert for QUERY (see the alert syntax in the README)."""
    settings, db = open_database()
    with account_errors(), db.session() as session:
        alert = add_alert(
            session, reader(session, email), query, settings, mode=mode, channels=list(channels)
        )
    click.echo(f"added alert {alert.id} ({alert.mode}): {alert.query}")


@command.command("list")
@user_option
@json_option
def list_command(email: str, as_json: bool) -> None:
    """The reader's alerts: id, query, mode, channels, created."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        rows = [alert_row(alert) for alert in user_alerts(session, reader(session, email))]
    print_rows(rows, as_json, describe_alert)


def describe_alert(row: Mapping[str, Any]) -> str:
    channels = ", ".join(map(str, row["channels"])) if row["channels"] else "all"
    return f"{row['id']:>5}  {row['mode']:<6} channels: {channels:<8} {row['query']}"


def alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "query": alert.query,
        "mode": alert.mode,
        "channels": alert.channels,
        "created_at": iso(alert.created_at),
    }


@command.command("remove")
@user_option
@click.argument("alert_id", metavar="ID", type=int)
def remove(email: str, alert_id: int) -> None:
    """Remove the reader's alert ID."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        remove_alert(session, reader(session, email), alert_id)
    click.echo(f"removed alert {alert_id}")
