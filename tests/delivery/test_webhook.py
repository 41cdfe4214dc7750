"""Webhooks against a local receiver that checks the HMAC signature over the raw body."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from tests.delivery.messages import assad_message
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.delivery.channels import TEST_TITLE, DeliveryError, make_channel, send_test
from tidings.delivery.channels.webhook import (
    SIGNATURE_HEADER,
    WebhookChannel,
    generate_secret,
    sign,
    verify,
)
from tidings.delivery.http import OutboundHTTP

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def webhook(receiver, settings, path="/hook", secret=None, **options):
    secret = secret or generate_secret()
    receiver.expect_signature(path, secret)
    channel = make_channel("webhook", {"url": receiver.url(path), "secret": secret}, settings)
    assert isinstance(channel, WebhookChannel)
    channel.clock = FrozenClock(NOW)
    return channel, secret


def test_webhook_body_is_the_documented_payload_and_signed(hook_receiver, channel_settings):
    channel, secret = webhook(hook_receiver, channel_settings)
    message = assad_message()
    channel.send(message)
    [post] = hook_receiver.accepted("/hook")
    assert post.json() == {
        **message.to_payload(),
        "event": "notification.quick",
        "sent_at": NOW.isoformat(),
    }
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-tidings-event"] == "notification.quick"
    assert verify(post.body, secret, post.headers["x-tidings-signature"])
    assert post.headers["x-tidings-signature"].startswith("sha256=")
    assert "Tidings" in post.headers["user-agent"]


def test_tampered_body_is_rejected_by_the_receiver(hook_receiver, channel_settings):
    channel, secret = webhook(hook_receiver, channel_settings)
    channel.send(assad_message())
    [original] = hook_receiver.posts
    tampered = original.body.replace(b'"also_reported_by":2', b'"also_reported_by":3')
    assert tampered != original.body
    signature = original.headers["x-tidings-signature"]
    reply = httpx.post(
        hook_receiver.url("/hook"), content=tampered, headers={SIGNATURE_HEADER: signature}
    )
    assert reply.status_code == 401
    assert [post.accepted for post in hook_receiver.posts] == [True, False]
    assert not verify(tampered, secret, signature)


def test_webhook_signed_with_another_secret_is_refused_permanently(hook_receiver, channel_settings):
    hook_receiver.expect_signature("/hook", "the receiver's secret")
    channel = WebhookChannel(
        hook_receiver.url("/hook"), "another secret", http=OutboundHTTP(channel_settings)
    )
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert caught.value.permanent and "401" in str(caught.value)
    assert hook_receiver.accepted("/hook") == []


@pytest.mark.parametrize("status", [410, 400, 404, 301])
def test_gone_or_refusing_webhook_is_permanent(hook_receiver, channel_settings, status):
    channel, _ = webhook(hook_receiver, channel_settings)
    hook_receiver.answer("/hook", status, {"Location": "https://elsewhere.example/"})
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert caught.value.permanent


@pytest.mark.parametrize(("status", "retry_after"), [(429, 30.0), (503, 5.0), (500, None)])
def test_busy_webhook_is_temporary_with_retry_after(
    hook_receiver, channel_settings, status, retry_after
):
    channel, _ = webhook(hook_receiver, channel_settings)
    headers = {"Retry-After": str(int(retry_after))} if retry_after else {}
    hook_receiver.answer("/hook", status, headers)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent
    assert caught.value.retry_after == retry_after


def test_silent_webhook_times_out_as_temporary(channel_settings):
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        channel = WebhookChannel(url, "secret", http=OutboundHTTP(channel_settings, timeout=0.2))
        with pytest.raises(DeliveryError) as caught:
            channel.send(assad_message())
    assert not caught.value.permanent


def test_private_webhook_is_refused_unless_allowed(hook_receiver, tmp_path):
    strict = Settings.from_env({}, data_dir=tmp_path)
    channel = WebhookChannel(hook_receiver.url("/hook"), "secret", http=OutboundHTTP(strict))
    with pytest.raises(DeliveryError, match="private") as caught:
        channel.send(assad_message())
    assert caught.value.permanent
    assert hook_receiver.posts == []
    allowed = OutboundHTTP(replace(strict, allow_private_networks=True))
    WebhookChannel(hook_receiver.url("/hook"), "secret", http=allowed).send(assad_message())
    assert len(hook_receiver.posts) == 1


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "http:///hook"])
def test_webhook_url_must_be_http(url, channel_settings):
    with pytest.raises(ValueError, match="webhook URL"):
        make_channel("webhook", {"url": url, "secret": "s"}, channel_settings)


def test_secrets_are_long_and_distinct():
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) >= 40 for s in secrets)


def test_signature_is_hmac_sha256_of_the_exact_bytes():
    # RFC 4231 test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?")
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign(b"what do ya want for nothing?", "Jefe") == f"sha256={expected}"


def test_send_test_on_webhook(hook_receiver, channel_settings):
    channel, _ = webhook(hook_receiver, channel_settings)
    send_test(channel)
    [post] = hook_receiver.accepted("/hook")
    assert post.json()["title"] == TEST_TITLE and post.json()["event"] == "notification.test"
