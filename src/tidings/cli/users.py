"""``tidings users``: add readers and admins, list them, change their time settings.

    tidings users add EMAIL [--password-file F] [--admin] [--timezone TZ] [--digest-time HH:MM]
    tidings users list [--json]
    tidings users set EMAIL [--timezone TZ] [--digest-time HH:MM] [--weekly-day DAY]
                            [--quiet-hours 22:00-07:00|off] [--budget N|unlimited]

``account_errors`` and ``reader`` are shared by the other reader commands (alerts, channels,
inbox, topics): every refusal becomes one clear line and a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidings.accounts import (
    KEEP,
    AccountError,
    NotFound,
    create_user,
    list_users,
    quiet_hours_text,
    require_user,
    update_time_settings,
)
from tidings.alerts.query import QueryError
from tidings.alerts.store import AlertLimitError, AlertNotFound
from tidings.cli._common import iso, json_option, open_database, print_rows
from tidings.delivery.timing import WEEKDAYS
from tidings.store.models import Alert, Channel, User


@contextmanager
def account_errors() -> Iterator[None]:
    """Refusals (bad input, unknown reader, bad query, too many alerts) as a ``ClickException``."""
    try:
        yield
    except QueryError as exc:
        raise click.ClickException(f"invalid alert query: {exc}") from exc
    except (AccountError, AlertLimitError, NotFound, AlertNotFound) as exc:
        raise click.ClickException(str(exc)) from exc


def reader(session: Session, email: str) -> User:
    """The reader named on the command line (``NotFound`` → a clear error via ``account_errors``)."""
    return require_user(session, email)


@click.group("users")
def command() -> None:
    """Readers and admins: add them, list them, change their time settings."""


@command.command("add")
@click.argument("email")
@click.option(
    "--password-file",
    type=click.File("r"),
    metavar="F",
    help="Read the password from the first line of F ('-' for stdin). "
    "Without it the user has no password yet.",
)
@click.option("--admin", is_flag=True, help="The user administers this Tidings.")
@click.option("--timezone", default="UTC", show_default=True, metavar="TZ", help="IANA zone.")
@click.option("--digest-time", default="07:30", show_default=True, metavar="HH:MM")
def add(
    email: str, password_file: IO[str] | None, admin: bool, timezone: str, digest_time: str
) -> None:
    """Add a user; prints the new user's id."""
    password = read_password(password_file) if password_file is not None else None
    _, db = open_database()
    with account_errors(), db.session() as session:
        user = create_user(
            session,
            email,
            password=password,
            admin=admin,
            timezone=timezone,
            digest_time=digest_time,
        )
    click.echo(user.id)


def read_password(source: IO[str]) -> str:
    """The first line of the file, without its line ending."""
    return source.readline().rstrip("\r\n")


@command.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every user with their time settings and how many alerts and channels they have."""
    _, db = open_database()
    with db.session() as session:
        alerts, channels = _counts(session, Alert.user_id), _counts(session, Channel.user_id)
        rows = [
            user_row(u, alerts.get(u.id, 0), channels.get(u.id, 0)) for u in list_users(session)
        ]
    print_rows(rows, as_json, describe_user)


def _counts(session: Session, column: Any) -> dict[int, int]:
    rows = session.execute(select(column, func.count()).where(column.is_not(None)).group_by(column))
    return {user_id: count for user_id, count in rows}


def user_row(user: User, alerts: int, channels: int) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "admin": user.is_admin,
        "has_password": bool(user.password_hash),
        "timezone": user.timezone,
        "digest_time": user.digest_time,
        "weekly_day": WEEKDAYS[user.weekly_day],
        "quiet_hours": quiet_hours_text(user),
        "quick_budget_per_hour": user.quick_budget_per_hour,
        "alerts": alerts,
        "channels": channels,
        "created_at": iso(user.created_at),
    }


def describe_user(row: Mapping[str, Any]) -> str:
    admin = " (admin)" if row["admin"] else ""
    return (
        f"{row['id']:>4}  {row['email']}{admin}\n"
        f"      {describe_time_settings(row)};"
        f" {row['alerts']} alert(s), {row['channels']} channel(s)"
    )


def describe_time_settings(row: Mapping[str, Any]) -> str:
    budget = row["quick_budget_per_hour"]
    return (
        f"{row['timezone']}, digest {row['digest_time']} (weekly on {row['weekly_day']}),"
        f" quiet hours {row['quiet_hours'] or 'off'},"
        f" quick budget {'unlimited' if budget is None else f'{budget}/hour'}"
    )


@command.command("set")
@click.argument("email")
@click.option("--timezone", metavar="TZ", help="IANA zone, e.g. Europe/Paris.")
@click.option("--digest-time", metavar="HH:MM", help="Local time of the daily digest.")
@click.option("--weekly-day", metavar="DAY", help="Day of the weekly digest, e.g. monday.")
@click.option("--quiet-hours", metavar="START-END|off", help="e.g. 22:00-07:00, or off.")
@click.option("--budget", metavar="N|unlimited", help="Quick alerts per hour at most.")
def set_command(
    email: str,
    timezone: str | None,
    digest_time: str | None,
    weekly_day: str | None,
    quiet_hours: str | None,
    budget: str | None,
) -> None:
    """Change a user's time settings (only the options given)."""
    changes = {
        "timezone": timezone,
        "digest_time": digest_time,
        "weekly_day": weekly_day,
        "quiet_hours": quiet_hours,
        "quick_budget_per_hour": budget,
    }
    if all(value is None for value in changes.values()):
        raise click.UsageError("nothing to change: give at least one option")
    _, db = open_database()
    with account_errors(), db.session() as session:
        user = reader(session, email)
        update_time_settings(
            session, user, **{k: KEEP if v is None else v for k, v in changes.items()}
        )
        row = user_row(user, 0, 0)
    click.echo(f"{row['email']}: {describe_time_settings(row)}")
