"""The ``tidings`` command.

Each sub-command lives in its own module and exports ``command`` (a click command or group).
``COMMANDS`` is the registry: adding a command is one line here and one module.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, str] = {
    "db": "tidings.cli.db",
    "extract": "tidings.cli.extract",
    "sources": "tidings.cli.sources",
    "articles": "tidings.cli.articles",
    "fetch": "tidings.cli.fetch",
    "worker": "tidings.cli.worker",
    "web": "tidings.cli.web",
    "serve": "tidings.cli.serve",
    "tokens": "tidings.cli.tokens",
    "demo": "tidings.cli.demo",
    "match": "tidings.cli.match",
    "users": "tidings.cli.users",
    "alerts": "tidings.cli.alerts",
    "channels": "tidings.cli.channels",
    "inbox": "tidings.cli.inbox",
    "topics": "tidings.cli.topics",
    "digest": "tidings.cli.digest",
}


class LazyGroup(click.Group):
    """Imports a sub-command's module only when it is used, so ``tidings extract`` stays quick."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(module).command
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="tidings")
def main() -> None:
    """Tidings: self-hosted news alerts."""
