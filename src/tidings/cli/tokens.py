"""``tidings tokens``: API bearer tokens for scripts.

    tidings tokens create --user EMAIL [--name NAME]   prints the token (only a hash is kept)
    tidings tokens list --user EMAIL [--json]
    tidings tokens revoke --user EMAIL ID

Send it as ``Authorization: Bearer <token>`` to the REST API under ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from tidings.cli._common import iso, json_option, open_database, print_rows, user_option
from tidings.cli.users import account_errors, reader
from tidings.clock import utcnow
from tidings.web.security import create_api_token, revoke_api_token, user_api_tokens


@click.group("tokens")
def command() -> None:
    """API tokens: create, list and revoke a reader's bearer tokens."""


@command.command("create")
@user_option
@click.option("--name", default="", help="What the token is for (shown in lists).")
def create(email: str, name: str) -> None:
    """Print a new token for the reader (it is shown only now)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        _, token = create_api_token(session, reader(session, email), name, utcnow())
    click.echo(token)


@command.command("list")
@user_option
@json_option
def list_command(email: str, as_json: bool) -> None:
    """The reader's tokens (never the tokens themselves)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "created_at": iso(t.created_at),
                "last_used_at": iso(t.last_used_at),
            }
            for t in user_api_tokens(session, reader(session, email).id)
        ]
    print_rows(rows, as_json, describe_token)


def describe_token(row: Mapping[str, Any]) -> str:
    return (
        f"{row['id']:>5}  {row['name'] or '-':<20} created {row['created_at']}"
        f"  last used {row['last_used_at'] or 'never'}"
    )


@command.command("revoke")
@user_option
@click.argument("token_id", metavar="ID", type=int)
def revoke(email: str, token_id: int) -> None:
    """Revoke the reader's token ID: it stops working at once."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        if not revoke_api_token(session, reader(session, email).id, token_id):
            raise click.ClickException(f"{email} has no token {token_id}")
    click.echo(f"revoked token {token_id}")
