"""`tidings demo` (what `make demo` runs): Tidings with the web app on the offline demo news
site, a demo reader and admin made once per data dir, Quick Alerts arriving while it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.servers import free_port, up
from tests.test_worker_processes import wait_for
from tidings.accounts import find_user, remove_alert, user_alerts, verify_password
from tidings.cli import main
from tidings.cli.demo import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    READER_ALERTS,
    READER_EMAIL,
    READER_PASSWORD,
    TOPICS,
    articles_seen,
    set_up,
)
from tidings.config import Settings
from tidings.demo.site.catalogue import load_articles
from tidings.store.db import Database
from tidings.store.models import Alert, Article, Source, Topic, TopicFollow, User

FEEDS = ["http://127.0.0.1:8765/feed.rss", "http://127.0.0.1:8766/feed.atom"]
SEED_TITLE = "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
LIVE_TITLE = "Ferry carrying 340 people runs aground off Greek island of Paros"


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_demo_set_up_makes_the_accounts_alerts_and_topics_once(
    db: Database, settings: Settings
) -> None:
    with db.session() as session:
        first = set_up(session, settings, FEEDS)
    assert first.new_reader and first.sources_added == 2
    with db.session() as session:
        reader = find_user(session, READER_EMAIL)
        admin = find_user(session, ADMIN_EMAIL)
        assert reader is not None and admin is not None
        assert verify_password(reader.password_hash, READER_PASSWORD) and not reader.is_admin
        assert verify_password(admin.password_hash, ADMIN_PASSWORD) and admin.is_admin
        alerts = user_alerts(session, reader)
        assert [(a.query, a.mode) for a in alerts] == list(READER_ALERTS)
        assert {a.mode for a in alerts} == {"quick", "daily"}
        remove_alert(session, reader, alerts[0].id)  # the reader changes their demo alerts
    before = {model: _count(db, model) for model in (User, Alert, Topic, TopicFollow, Source)}
    assert before[Topic] == before[TopicFollow] == len(TOPICS)

    with db.session() as session:
        again = set_up(session, settings, FEEDS)
    assert not again.new_reader and again.sources_added == 0
    assert again.reader.id == first.reader.id and again.admin.id == first.admin.id
    assert {model: _count(db, model) for model in before} == before  # nothing made twice
    with db.session() as session:
        reader = find_user(session, READER_EMAIL)
        assert reader is not None
        assert [a.query for a in user_alerts(session, reader)] == [
            q for q, _ in READER_ALERTS[1:]
        ]  # kept as they left them


def test_articles_seen_counts_the_demo_site_as_far_as_stored(db: Database) -> None:
    with db.session() as session:
        assert articles_seen(session) == 0
    catalogue = load_articles()
    now = datetime(2025, 3, 1, 12, 0)
    with db.session() as session:
        for number, article in enumerate((catalogue[0], catalogue[30], catalogue[4])):
            session.add(Article(url=f"http://127.0.0.1:8765/{number}", title=article.title,
                                text="...", content_hash=str(number), fetched_at=now,
                                updated_at=now))
        session.add(Article(url="http://elsewhere.example/1", title="Not a demo story",
                            text="...", content_hash="x", fetched_at=now, updated_at=now))
    with db.session() as session:
        assert articles_seen(session) == 31


def test_demo_stops_before_printing_a_url_another_server_answers(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["demo", "--port", str(port), "--data-dir", str(tmp_path / "data")]
        )
    assert result.exit_code == 1
    assert f"cannot serve the web app on 127.0.0.1:{port}: Address already in use" in result.output
    assert "open http" not in result.output and not (tmp_path / "data").exists()


def _demo_env() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "250", "TIDINGS_EXTRACT_PROCESSES": "1"}
    for name in ("TIDINGS_DATABASE_URL", "TIDINGS_BASE_URL", "TIDINGS_DATA_DIR"):
        env.pop(name, None)
    return env


@pytest.mark.slow
def test_make_demo_serves_the_reader_quick_alerts_live_and_runs_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    site_port = free_port(2)
    demo = [sys.executable, "-m", "tidings", "demo", "--data-dir", str(data),
            "--site-port", str(site_port)]

    # --once: set up, check the demo site once, print what arrived, exit.
    once = subprocess.run([*demo, "--once"], env=_demo_env(), capture_output=True, text=True,
                          timeout=120)
    assert once.returncode == 0, once.stderr
    assert f"Reader login: {READER_EMAIL}  password {READER_PASSWORD}" in once.stdout
    assert f"Admin login:  {ADMIN_EMAIL}  password {ADMIN_PASSWORD}" in once.stdout
    assert f"Daily Courier http://127.0.0.1:{site_port}/" in once.stdout
    assert f'Quick Alert to {READER_EMAIL}: {SEED_TITLE} (matched "kim jong un")' in once.stdout
    assert once.stdout.count("\nstory ") >= 20  # each stored article, with its story
    assert LIVE_TITLE not in once.stdout
    assert (data / "tidings.db").exists()

    # Then the real thing, on the same data dir: web app, worker and a site publishing each second.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        proc = subprocess.Popen([*demo, "--port", str(port), "--every", "1"], env=_demo_env(),
                                stdout=out, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: up(f"{base}/healthz"), 60, "the demo's web app to answer")
        reader = httpx.Client(base_url=base, timeout=10)
        login = reader.post("/api/v1/auth/login",
                            json={"email": READER_EMAIL, "password": READER_PASSWORD})
        assert login.status_code == 200, login.text
        alerts = reader.get("/api/v1/alerts").json()
        assert sorted(a["query"] for a in alerts) == sorted(q for q, _ in READER_ALERTS)

        def titles() -> list[str]:
            response = reader.get("/api/v1/notifications", params={"limit": 100})
            assert response.status_code == 200, response.text
            return [item["title"] for item in response.json()["items"]]

        # An article the demo site publishes after the start arrives as a Quick Alert.
        wait_for(lambda: LIVE_TITLE in titles(), 90, "a live Quick Alert in the reader's inbox")
        inbox = titles()
        assert inbox.count(SEED_TITLE) == 1  # the first run's notification, not made twice
        assert len(inbox) == len(set(inbox))

        admin = httpx.Client(base_url=base, timeout=10)
        signed = admin.post("/api/v1/auth/login",
                            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert signed.status_code == 200 and signed.json()["user"]["is_admin"]
        topics = admin.get("/api/v1/admin/topics").json()
        assert sorted(t["slug"] for t in topics) == sorted(slug for slug, *_ in TOPICS)
        assert all(t["followers"] == 1 for t in topics)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's process group
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 0, stderr
    shown = log.read_text()
    assert f"open {base}/" in shown and "Ctrl-C stops it." in shown
    assert f"Reader login: {READER_EMAIL}  password {READER_PASSWORD}  (kept as you left it)" in shown
    assert f"Admin login:  {ADMIN_EMAIL}  password {ADMIN_PASSWORD}" in shown
    assert f"Quick Alert to {READER_EMAIL}: {LIVE_TITLE}" in shown
    assert SEED_TITLE not in shown  # stored by the first run: not news again
    assert shown.rstrip().endswith("demo stopped")
