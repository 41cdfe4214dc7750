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
def serving(tmp_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update(
        TIDINGS_DATA_DIR=str(tmp_path / "data"),
        TIDINGS_BASE_URL=f"http://127.0.0.1:{port}",
        TIDINGS_ALLOW_PRIVATE_NETWORKS="1",
        TIDINGS_EXTRACT_PROCESSES="1",
    )
    env.pop("TIDINGS_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_serve_runs_web_and_worker_in_one_process(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Newsroom.generate(1, 3).serve() as room, serving(tmp_path, port) as proc:
        wait_for(lambda: up(f"{base}/healthz"), 30, "tidings serve to answer")
        client = httpx.Client(base_url=base, timeout=10)
        signed = client.post(
            "/api/v1/auth/signup", json={"email": "me@example.com", "password": "a good password"}
        )
        assert signed.status_code == 201 and signed.json()["user"]["is_admin"]
        client.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
        word = next(iter(room.pages.values())).title.split()[0].lower()
        assert client.post("/api/v1/alerts", json={"query": word}).status_code == 201
        feed = room.feed_urls()[0]
        assert client.post("/api/v1/admin/sources", json={"url": feed}).status_code == 201
        wait_for(lambda: client.get("/api/v1/notifications").json()["items"], 60, "a notification")
        item = client.get("/api/v1/notifications").json()["items"][0]
        assert item["url"].startswith(room.base_url) and word in item["terms"]
        # an open live-update stream (a browser's inbox tab) must not keep Ctrl-C from stopping
        with client.stream("GET", "/api/v1/events", timeout=60) as stream:
            first = next(stream.iter_lines())
            assert first.startswith(("event:", "id:", ":", "data:")), first
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
