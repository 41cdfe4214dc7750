"""``tidings channels``: where a reader's alerts go.

    tidings channels add --user EMAIL email ADDRESS | apprise URL | webhook URL | webpush JSON
    tidings channels list --user EMAIL [--json]
    tidings channels test --user EMAIL ID
    tidings channels remove --user EMAIL ID

A webhook channel gets its own signing secret, printed once when it is added: the receiver
checks ``X-Tidings-Signature: sha256=<HMAC-SHA256 of the body>`` with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from tidings.accounts import (
    USER_CHANNEL_KINDS,
    add_channel,
    channel_target,
    remove_channel,
    user_channel,
    user_channels,
)
from tidings.cli._common import iso, json_option, open_database, print_rows, user_option
from tidings.cli.users import account_errors, reader
from tidings.config import Settings
from tidings.delivery.channels import DeliveryError, make_channel, send_test
from tidings.store.db import Database
from tidings.store.models import Channel


@click.group("channels")
def command() -> None:
    """A reader's channels: e-mail, Apprise URLs, webhooks, push devices."""


@command.command("add")
@user_option
@click.argument("kind", type=click.Choice(USER_CHANNEL_KINDS))
@click.argument("target")
def add(email: str, kind: str, target: str) -> None:
    """Add a channel: email ADDRESS, apprise URL, webhook URL, or webpush SUBSCRIPTION-JSON."""
    settings, db = open_database()
    with account_errors(), db.session() as session:
        channel = add_channel(session, reader(session, email), kind, target, settings)
    click.echo(f"added channel {channel.id} ({channel.kind} {channel_target(channel)})")
    if channel.kind == "webhook":
        click.echo(f"signing secret (shown only now): {channel.config['secret']}")
        click.echo("each POST carries X-Tidings-Signature: sha256=<HMAC-SHA256 of the body>")


@command.command("list")
@user_option
@json_option
def list_command(email: str, as_json: bool) -> None:
    """The reader's channels (secrets and Apprise tokens are not shown)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        rows = [channel_row(c) for c in user_channels(session, reader(session, email))]
    print_rows(rows, as_json, describe_channel)


def describe_channel(row: Mapping[str, Any]) -> str:
    state = "enabled" if row["enabled"] else "disabled"
    error = f"\n       last error: {row['last_error']}" if row["last_error"] else ""
    return f"{row['id']:>5}  {row['kind']:<8} {state:<9} {row['target']}{error}"


def channel_row(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "kind": channel.kind,
        "target": channel_target(channel),
        "enabled": channel.enabled,
        "last_error": channel.last_error,
        "last_seen_at": iso(channel.last_seen_at),
        "created_at": iso(channel.created_at),
    }


@command.command("test")
@user_option
@click.argument("channel_id", metavar="ID", type=int)
def test(email: str, channel_id: int) -> None:
    """Send a test notification on channel ID and say whether it arrived."""
    settings, db = open_database()
    with account_errors(), db.session() as session:
        channel = user_channel(session, reader(session, email), channel_id)
        kind, config, target = channel.kind, dict(channel.config), channel_target(channel)
    error = send_test_notification(kind, config, settings)
    record_test(db, channel_id, error)
    if error is not None:
        raise click.ClickException(f"test notification on channel {channel_id} failed: {error}")
    click.echo(f"test notification sent on channel {channel_id} ({kind} {target})")


def send_test_notification(kind: str, config: dict[str, Any], settings: Settings) -> str | None:
    """None when the channel took the test notification; otherwise what went wrong."""
    try:
        send_test(make_channel(kind, config, settings), settings.base_url)
    except DeliveryError as exc:
        lasting = "permanent" if exc.permanent else "temporary"
        return f"{exc} ({lasting})"
    except ValueError as exc:  # a stored config the channel cannot use
        return str(exc)
    return None


def record_test(db: Database, channel_id: int, error: str | None) -> None:
    """The channel's ``last_error`` is what its last test said (cleared when it worked)."""
    with db.session() as session:
        channel = session.get(Channel, channel_id)
        if channel is not None:
            channel.last_error = error


@command.command("remove")
@user_option
@click.argument("channel_id", metavar="ID", type=int)
def remove(email: str, channel_id: int) -> None:
    """Remove the reader's channel ID (its pending deliveries go with it)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        remove_channel(session, reader(session, email), channel_id)
    click.echo(f"removed channel {channel_id}")
