"""The commands: ``tidings tokens`` (a printed token signs API requests in; only a hash is
kept) and ``tidings serve`` as a real process — web app and worker in one — taking a reader from
sign-up to an alert matched on a local news site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.newsroom import Newsroom
from tests.servers import free_port, up
from tests.test_worker_processes import wait_for
from tidings.cli import main
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import ApiToken
from tidings.web.app import create_app


def cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    env = {"TIDINGS_DATA_DIR": str(tmp_path)}
    cli(env, "users", "add", "reader@example.com")
    token = cli(env, "tokens", "create", "--user", "reader@example.com", "--name", "script").strip()
    assert token.startswith("tid_")
    settings = Settings.from_env({}, data_dir=tmp_path)
    db = Database.from_settings(settings)
    with db.session() as session:
        assert token not in {row.token_hash for row in session.scalars(select(ApiToken))}
    app = create_app(settings, db)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/settings").json()["email"] == "reader@example.com"
        listed = cli(env, "tokens", "list", "--user", "reader@example.com", "--json")
        assert '"name": "script"' in listed and token not in listed
        token_id = listed.split('"id": ')[1].split(",")[0]
        cli(env, "tokens", "revoke", "--user", "reader@example.com", token_id)
        assert client.get("/api/v1/settings").status_code == 401
    failed = CliRunner().invoke(main, ["tokens", "create", "--user", "nobody@example.com"], env=env)
    assert failed.exit_code != 0 and "nobody@example.com" in failed.output


@contextmanager
def serving(
    tmp_path: Path, port: int, commands: list[list[str]], database_url: str | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``tidings COMMAND…`` processes sharing one data dir and database (the embedded SQLite
    unless ``database_url``), each in its own process group; killed if still running."""
    env = dict(os.environ)
    env.update(
        TIDINGS_DATA_DIR=str(tmp_path / "data"),
        TIDINGS_BASE_URL=f"http://127.0.0.1:{port}",
        TIDINGS_ALLOW_PRIVATE_NETWORKS="1",
        TIDINGS_EXTRACT_PROCESSES="1",
    )
    env.pop("TIDINGS_DATABASE_URL", None)
    if database_url:
        env["TIDINGS_DATABASE_URL"] = database_url
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tidings", *command],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for command in commands
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def signed_up_with_an_alert(base: str, room: Newsroom) -> tuple[httpx.Client, str]:
    """Sign up (the first account: an admin) and follow a word of the news site's first page;
    the signed-in client and the word."""
    wait_for(lambda: up(f"{base}/healthz"), 30, "the web app to answer")
    client = httpx.Client(base_url=base, timeout=60)
    signed = client.post(
        "/api/v1/auth/signup", json={"email": "me@example.com", "password": "a good password"}
    )
    assert signed.status_code == 201 and signed.json()["user"]["is_admin"]
    client.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
    word = next(iter(room.pages.values())).title.split()[0].lower()
    assert client.post("/api/v1/alerts", json={"query": word}).status_code == 201
    return client, word


def add_the_feed(client: httpx.Client, room: Newsroom) -> None:
    assert client.post("/api/v1/admin/sources", json={"url": room.feed_urls()[0]}).status_code == 201


def notified(client: httpx.Client, room: Newsroom, word: str) -> None:
    """The inbox has the article the alert matched on the news site."""
    wait_for(lambda: client.get("/api/v1/notifications").json()["items"], 60, "a notification")
    item = client.get("/api/v1/notifications").json()["items"][0]
    assert item["url"].startswith(room.base_url) and word in item["terms"]


def stop_cleanly(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""


@pytest.mark.slow
def test_serve_runs_web_and_worker_in_one_process(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        Newsroom.generate(1, 3).serve() as room,
        serving(tmp_path, port, [["serve", "--port", str(port)]]) as [proc],
    ):
        client, word = signed_up_with_an_alert(base, room)
        add_the_feed(client, room)
        notified(client, room, word)
        # an open live-update stream (a browser's inbox tab) must not keep Ctrl-C from stopping
        with client.stream("GET", "/api/v1/events", timeout=60) as stream:
            first = next(stream.iter_lines())
            assert first.startswith(("event:", "id:", ":", "data:")), first
            stop_cleanly(proc)


@pytest.mark.slow
@pytest.mark.postgres
def test_web_and_worker_run_apart_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    """The scale-out: ``tidings web`` and ``tidings worker`` as separate processes sharing a
    PostgreSQL — the worker's notification reaches the web's inbox and its open live stream."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    commands = [["web", "--port", str(port)], ["worker"]]
    with (
        Newsroom.generate(1, 3).serve() as room,
        serving(tmp_path, port, commands, postgres_url) as [web, worker],
    ):
        client, word = signed_up_with_an_alert(base, room)
        with client.stream("GET", "/api/v1/events") as stream:
            lines = (line for line in stream.iter_lines() if line.startswith("event:"))
            assert next(lines) == "event: unread"  # the stream is set up
            add_the_feed(client, room)  # the worker process fetches it and notifies
            assert next(lines) == "event: notification"  # live, from the other process
        notified(client, room, word)
        stop_cleanly(worker)
        stop_cleanly(web)


@pytest.mark.parametrize("command", ["serve", "web"])
def test_serve_and_web_listen_on_localhost_8080_unless_told(command: str) -> None:
    found = main.get_command(click.Context(main), command)
    assert found is not None
    options = {param.name: param.default for param in found.params}
    assert (options["host"], options["port"]) == ("127.0.0.1", 8080)
    shown = CliRunner().invoke(main, [command, "--help"]).output
    assert "127.0.0.1" in shown and "8080" in shown
