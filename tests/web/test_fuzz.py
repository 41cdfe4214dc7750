"""schemathesis against the OpenAPI document: valid and invalid requests to every operation,
signed in as an admin with a bearer token, find no server error (5xx).

The examples are derandomized (the same ones each run) and bounded per operation, so the test
stays well under a minute per database.  The admin owns an alert, a channel and notifications
with small ids, so generated ids often reach real rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode

from tests.smtpserver import running_smtp_server, smtp_url
from tests.web.conftest import add_reader
from tests.web.news import Newsdesk
from tidings.accounts import create_topic
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import ApiToken
from tidings.web.app import create_app
from tidings.web.security import token_hash

EXAMPLES = 6
TOKEN = "tid_fuzzing-admin-token"


@pytest.fixture
def mailing_app(web_settings: Settings, db: Database, clock: FrozenClock) -> Iterator[FastAPI]:
    """The app with e-mail configured (a real local SMTP server), so every route can work."""
    with running_smtp_server() as mailbox:
        settings = dataclasses.replace(web_settings, smtp_url=smtp_url(mailbox))
        yield create_app(settings, db, clock=clock)


@pytest.fixture
def fuzzed(mailing_app: FastAPI) -> FastAPI:
    app = mailing_app
    admin = add_reader(app, "admin@example.com", admin=True)
    client = admin.client()
    client.post("/api/v1/alerts", json={"query": "assad"})
    client.post("/api/v1/channels", json={"kind": "email", "target": admin.email})
    Newsdesk(app).arrive()
    web = app.state.web
    with web.db.session() as session:
        create_topic(session, "korea", "Korea", "korea", clock=web.clock)
        # a high id, so that DELETE /tokens/{id} with generated ids leaves the fuzzer signed in
        session.add(
            ApiToken(
                id=10**9,
                token_hash=token_hash(TOKEN),
                user_id=admin.id,
                name="fuzz",
                created_at=web.clock().replace(tzinfo=None),
            )
        )
    add_reader(app, "other@example.com")
    return app


def test_no_operation_answers_a_server_error(fuzzed: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzzed)
    schema.config.max_stream_events = 1  # GET /events never ends: its first event will do
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    failures: list[str] = []
    answered: set[str] = set()  # operations that answered 2xx at least once
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz(operation, mode, answered)
    assert not failures, "\n".join(failures)
    assert len(answered) >= len(operations) // 2, "the fuzzer hardly got past validation or auth"


def fuzz(operation: object, mode: GenerationMode, answered: set[str]) -> list[str]:
    failures: list[str] = []

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        if response.status_code < 300:
            answered.add(f"{case.method} {case.path}")
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} → {response.status_code}: "
                f"{case.as_curl_command()}\n{response.text[:300]}"
            )

    run()
    return failures
