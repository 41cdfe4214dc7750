"""The docs stay honest: every setting and every command is in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tidings.cli import COMMANDS, main
from tidings.config import documented_settings

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("variable", [name for name, _, _ in documented_settings()])
def test_every_setting_is_documented_in_the_readme(variable: str) -> None:
    assert f"`{variable}`" in README


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    assert f"tidings {command}" in README


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_readme_gives_the_two_commands_first() -> None:
    first_section = README.split("\n## ")[1]
    assert "make demo" in first_section and "make test" in first_section
