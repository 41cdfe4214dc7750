"""Real local receivers for the delivery channels: a push service, an SMTP server, a webhook sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hookreceiver import HookReceiver, running_hook_receiver
from tests.pushreceiver import PushReceiver, running_push_receiver
from tests.smtpserver import Mailbox, TlsFiles, running_smtp_server, self_signed_certificate
from tidings.config import Settings


@pytest.fixture
def channel_settings(tmp_path: Path) -> Settings:
    """Settings for channel tests: their own data dir, private networks allowed (receivers are local)."""
    return Settings.from_env({}, data_dir=tmp_path / "data", allow_private_networks=True)


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    with running_push_receiver() as receiver:
        yield receiver


@pytest.fixture
def hook_receiver() -> Iterator[HookReceiver]:
    with running_hook_receiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    with running_smtp_server(reject={"gone@example.com": "550 5.1.1 No such user"}) as mailbox:
        yield mailbox


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return self_signed_certificate(tmp_path)
