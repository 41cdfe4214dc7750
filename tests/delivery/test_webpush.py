"""Web Push against a local push service that verifies VAPID and decrypts like a browser's would."""

from __future__ import annotations

import base64
import json
import socket
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.delivery.messages import assad_message
from tests.pushreceiver import PushReceiver
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.delivery.channels import TEST_TITLE, DeliveryError, make_channel, send_test
from tidings.delivery.channels.webpush import (
    PAYLOAD_LIMIT,
    PUSH_LIMIT,
    InvalidEndpoint,
    WebPushChannel,
    check_push_endpoint,
    push_payload,
)
from tidings.delivery.http import shared_http
from tidings.delivery.vapid import VapidKeys, contact_for


def subscribed_channel(
    receiver: PushReceiver, settings: Settings, **config: object
) -> tuple[WebPushChannel, str]:
    keys = VapidKeys.load_or_create(settings.data_dir)
    subscription = receiver.subscribe(keys.application_server_key)
    channel = make_channel("webpush", {**subscription.to_json(), **config}, settings)
    assert isinstance(channel, WebPushChannel)
    return channel, subscription.path


def test_push_arrives_encrypted_and_decrypts_to_the_payload(push_receiver, channel_settings):
    channel, path = subscribed_channel(push_receiver, channel_settings)
    message = assad_message()
    channel.send(message)
    [push] = push_receiver.received
    assert push.path == path
    assert push.payload == message.to_payload()
    assert push.payload["tag"] == "1234"
    assert message.title.encode() not in push.body  # encrypted on the wire
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.vapid_claims["aud"] == push_receiver.base_url


def test_push_carries_ttl_urgency_and_topic(push_receiver, channel_settings):
    default, _ = subscribed_channel(push_receiver, channel_settings)
    short, _ = subscribed_channel(push_receiver, channel_settings, ttl=600)
    default.send(assad_message())
    short.send(assad_message(tag="77", urgency="high"))
    first, second = push_receiver.received
    assert (first.headers["ttl"], first.headers["urgency"], first.headers["topic"]) == (
        "86400",
        "normal",
        "1234",
    )
    assert (second.headers["ttl"], second.headers["urgency"], second.headers["topic"]) == (
        "600",
        "high",
        "77",
    )


def test_huge_snippet_is_shortened_so_the_push_fits_4kb(push_receiver, channel_settings):
    channel, _ = subscribed_channel(push_receiver, channel_settings)
    huge = "Пхеньян Assad Kim 金正恩 " * 2000
    message = assad_message(snippet=huge, snippet_html=f"<mark>{huge}</mark>", body=huge)
    channel.send(message)
    [push] = push_receiver.received
    assert len(push.body) <= PUSH_LIMIT
    assert (
        len(json.dumps(push.payload, ensure_ascii=False, separators=(",", ":")).encode())
        <= PAYLOAD_LIMIT
    )
    assert push.payload["tag"] == "1234"
    assert push.payload["title"] == message.title and push.payload["url"] == message.url
    assert push.payload["snippet_html"] == ""
    assert push.payload["snippet"].endswith("…") and huge.startswith(push.payload["snippet"][:-1])


@pytest.mark.parametrize("size", [0, 3000, 4000, 10_000, 100_000])
@pytest.mark.parametrize("text", ["a", "é", "金", '"\\\n', "🗞"])
def test_push_payload_never_exceeds_the_limit(size, text):
    message = assad_message(
        title=text * size,
        snippet=text * size,
        body=text * size,
        byline=text * (size // 10),
        alerts=[text * 50] * (size // 50),
        url="https://example.com/" + "a" * min(size, 2000),
    )
    encoded = push_payload(message)
    assert len(encoded) <= PAYLOAD_LIMIT
    assert json.loads(encoded)["tag"] == "1234"
    if (
        len(json.dumps(message.to_payload(), ensure_ascii=False, separators=(",", ":")).encode())
        <= PAYLOAD_LIMIT
    ):
        assert json.loads(encoded) == message.to_payload()


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_a_permanent_error(push_receiver, channel_settings, status):
    channel, path = subscribed_channel(push_receiver, channel_settings)
    push_receiver.answer(path, status)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert caught.value.permanent
    assert str(status) in str(caught.value)


def test_rate_limited_push_is_temporary_with_retry_after_seconds(push_receiver, channel_settings):
    channel, path = subscribed_channel(push_receiver, channel_settings)
    push_receiver.answer(path, 429, {"Retry-After": "120"})
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent
    assert caught.value.retry_after == 120


def test_retry_after_as_http_date_is_counted_from_the_clock(push_receiver, channel_settings):
    channel, path = subscribed_channel(push_receiver, channel_settings)
    retry_at = datetime(2026, 10, 21, 7, 28, tzinfo=UTC)
    channel.clock = FrozenClock(retry_at - timedelta(seconds=90))
    push_receiver.answer(path, 503, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent
    assert caught.value.retry_after == 90


def test_server_error_without_retry_after_is_temporary(push_receiver, channel_settings):
    channel, path = subscribed_channel(push_receiver, channel_settings)
    push_receiver.answer(path, 500)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent and caught.value.retry_after is None


def test_push_signed_with_another_vapid_key_is_refused(push_receiver, channel_settings, tmp_path):
    other = VapidKeys.load_or_create(tmp_path / "other")
    subscription = push_receiver.subscribe(other.application_server_key)
    channel = make_channel("webpush", subscription.to_json(), channel_settings)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert caught.value.permanent
    assert push_receiver.received == []
    assert push_receiver.refused[0][1] == 403


def test_http_endpoint_is_refused_unless_private_networks_are_allowed(push_receiver, tmp_path):
    strict = Settings.from_env({}, data_dir=tmp_path / "data")
    lenient = replace(strict, allow_private_networks=True)
    endpoint = push_receiver.subscribe().endpoint
    with pytest.raises(InvalidEndpoint):
        check_push_endpoint(endpoint, strict)
    check_push_endpoint(endpoint, lenient)
    with pytest.raises(InvalidEndpoint):
        check_push_endpoint("http://93.184.215.14/push/abc", lenient)  # public host, plain http
    with pytest.raises(InvalidEndpoint):
        check_push_endpoint("ftp://127.0.0.1/push", lenient)
    with pytest.raises(InvalidEndpoint, match="private"):
        check_push_endpoint("https://127.0.0.1/push/abc", strict)
    check_push_endpoint("https://93.184.215.14/push/abc", strict)


def test_refused_endpoint_is_a_permanent_error_and_nothing_is_sent(push_receiver, tmp_path):
    strict = Settings.from_env({}, data_dir=tmp_path / "data")
    subscription = push_receiver.subscribe()
    channel = make_channel("webpush", subscription.to_json(), strict)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert caught.value.permanent
    assert push_receiver.received == [] and push_receiver.refused == []


def test_vapid_keys_are_made_once_with_mode_0600_and_reused(tmp_path):
    first = VapidKeys.load_or_create(tmp_path / "data")
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    second = VapidKeys.load_or_create(tmp_path / "data")
    assert second.application_server_key == first.application_server_key
    point = base64.urlsafe_b64decode(first.application_server_key + "=")
    assert len(point) == 65 and point[0] == 4
    assert "=" not in first.application_server_key
    assert (
        VapidKeys.load_or_create(tmp_path / "new").application_server_key
        != first.application_server_key
    )


def test_loose_key_file_mode_is_tightened(tmp_path):
    keys = VapidKeys.load_or_create(tmp_path)
    keys.path.chmod(0o644)
    VapidKeys.load_or_create(tmp_path)
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600


def test_send_test_on_push(push_receiver, channel_settings):
    channel, _ = subscribed_channel(push_receiver, channel_settings)
    send_test(channel)
    [push] = push_receiver.received
    assert push.payload["title"] == TEST_TITLE and push.payload["kind"] == "test"


def test_one_http_client_is_shared_by_all_channels(push_receiver, channel_settings):
    first, _ = subscribed_channel(push_receiver, channel_settings)
    second, _ = subscribed_channel(push_receiver, channel_settings)
    assert first.http is second.http is shared_http(channel_settings)


def test_unreachable_push_service_is_temporary(channel_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subscription = PushReceiver(base_url=f"http://127.0.0.1:{port}").subscribe()
    channel = make_channel("webpush", subscription.to_json(), channel_settings)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("base_url", "sender", "contact"),
    [
        ("https://news.example.org", "", "https://news.example.org"),
        ("http://127.0.0.1:8080", "alerts@news.example.org", "mailto:alerts@news.example.org"),
        ("http://127.0.0.1:8080", "", "mailto:tidings@localhost"),
    ],
)
def test_vapid_contact(base_url, sender, contact):
    assert contact_for(base_url, sender) == contact


def test_a_payload_at_the_limit_encrypts_to_exactly_4096_bytes(push_receiver, channel_settings):
    channel, _ = subscribed_channel(push_receiver, channel_settings)
    room = PAYLOAD_LIMIT - len(push_payload(assad_message(snippet="")))
    message = assad_message(snippet="a" * room)
    assert len(push_payload(message)) == PAYLOAD_LIMIT
    channel.send(message)
    [push] = push_receiver.received
    assert len(push.body) == PUSH_LIMIT
    assert push.payload == message.to_payload()  # nothing had to be cut


def test_vapid_token_is_signed_once_per_push_service_and_renewed_at_half_its_life(tmp_path):
    keys = VapidKeys.load_or_create(tmp_path)
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    contact = "mailto:alerts@news.example.org"
    first = keys.authorization("https://push.example/a", contact, now)
    assert keys.authorization("https://push.example/b", contact, now + timedelta(hours=5)) == first
    other_service = keys.authorization("https://other.example/a", contact, now)
    assert other_service != first
    renewed = keys.authorization("https://push.example/a", contact, now + timedelta(hours=6))
    assert renewed != first
    earlier = keys.authorization("https://push.example/a", contact, now - timedelta(hours=1))
    assert earlier not in (first, renewed)  # a clock set back never gets a token past 12 h


def test_pushes_to_one_service_share_a_token_the_receiver_accepts(push_receiver, channel_settings):
    first, _ = subscribed_channel(push_receiver, channel_settings)
    second, _ = subscribed_channel(push_receiver, channel_settings)
    first.send(assad_message())
    second.send(assad_message(tag="77"))
    one, two = push_receiver.received
    assert one.headers["authorization"] == two.headers["authorization"]
    assert one.vapid_claims["exp"] > datetime.now(UTC).timestamp() + 6 * 3600


def test_subscription_without_usable_keys_is_a_permanent_error(push_receiver, channel_settings):
    subscription = push_receiver.subscribe().to_json()
    for keys in ({**subscription["keys"], "p256dh": "AAAA"}, {**subscription["keys"], "auth": ""}):
        channel = make_channel("webpush", {**subscription, "keys": keys}, channel_settings)
        with pytest.raises(DeliveryError) as caught:
            channel.send(assad_message())
        assert caught.value.permanent
    assert push_receiver.received == []
