"""``tidings topics``: curated alerts readers follow (a publisher's sections and beats).

    tidings topics add SLUG NAME QUERY [--description TEXT]
    tidings topics list [--json]
    tidings topics follow --user EMAIL SLUG [--mode quick|daily|weekly]
    tidings topics unfollow --user EMAIL SLUG

A topic's query is stored as an alert of the topic, so every matching engine picks it up from
the alert change log; its matches go to every follower, quick or in their digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from tidings.accounts import (
    create_topic,
    follow_topic,
    list_topics,
    topic_followers,
    topic_query,
    unfollow_topic,
)
from tidings.cli._common import (
    iso,
    json_option,
    mode_option,
    open_database,
    print_rows,
    user_option,
)
from tidings.cli.users import account_errors, reader


@click.group("topics")
def command() -> None:
    """Curated topics readers follow: add, list, follow, unfollow."""


@command.command("add")
@click.argument("slug")
@click.argument("name")
@click.argument("query")
@click.option("--description", help="A sentence about the topic, for readers.")
def add(slug: str, name: str, query: str, description: str | None) -> None:
    """Add topic SLUG called NAME, matching QUERY."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        topic = create_topic(session, slug, name, query, description=description)
    click.echo(f"added topic {topic.slug} ({topic.id}): {query}")


@command.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every topic with its query and how many readers follow it."""
    _, db = open_database()
    with db.session() as session:
        rows = [
            {
                "id": t.id,
                "slug": t.slug,
                "name": t.name,
                "description": t.description,
                "query": topic_query(session, t),
                "followers": topic_followers(session, t),
                "created_at": iso(t.created_at),
            }
            for t in list_topics(session)
        ]
    print_rows(rows, as_json, describe_topic)


def describe_topic(row: Mapping[str, Any]) -> str:
    return f"{row['slug']:<20} {row['followers']:>6} follower(s)  {row['name']}: {row['query']}"


@command.command("follow")
@user_option
@click.argument("slug")
@mode_option
def follow(email: str, slug: str, mode: str) -> None:
    """The reader follows topic SLUG (again: changes the mode)."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        user = reader(session, email)
        follow_topic(session, user, slug, mode=mode)
        address = user.email
    click.echo(f"{address} follows {slug} ({mode})")


@command.command("unfollow")
@user_option
@click.argument("slug")
def unfollow(email: str, slug: str) -> None:
    """The reader stops following topic SLUG."""
    _, db = open_database()
    with account_errors(), db.session() as session:
        user = reader(session, email)
        followed = unfollow_topic(session, user, slug)
        address = user.email
    click.echo(
        f"{address} no longer follows {slug}" if followed else f"{address} was not following {slug}"
    )
