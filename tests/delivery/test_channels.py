"""The channel registry and the one interface every channel shares."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.delivery.messages import assad_message
from tidings.delivery.channels import CHANNELS, Channel, make_channel, send_test
from tidings.delivery.channels.inbox import InboxChannel
from tidings.delivery.message import Message

CONFIGS = {
    "webpush": {"endpoint": "https://push.example.com/abc", "keys": {"p256dh": "x", "auth": "y"}},
    "email": {"address": "reader@example.com"},
    "apprise": {"url": "ntfy://ntfy.example.com/news"},
    "webhook": {"url": "https://hooks.example.com/t", "secret": "s"},
    "inbox": {},
}


def test_registry_has_every_channel_under_its_kind():
    assert set(CHANNELS) == {"webpush", "email", "apprise", "webhook", "inbox"}
    for kind, channel_class in CHANNELS.items():
        assert channel_class.kind == kind and issubclass(channel_class, Channel)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_make_channel_builds_each_kind_from_its_config(kind, channel_settings):
    channel = make_channel(kind, CONFIGS[kind], channel_settings)
    assert isinstance(channel, CHANNELS[kind])


@pytest.mark.parametrize("kind", ["webpush", "email", "apprise", "webhook"])
def test_missing_config_says_what_is_missing(kind, channel_settings):
    with pytest.raises(ValueError, match=f"a {kind} channel needs"):
        make_channel(kind, {}, channel_settings)


def test_unknown_kind_is_refused(channel_settings):
    with pytest.raises(ValueError, match="unknown channel kind 'pager'"):
        make_channel("pager", {}, channel_settings)


def test_inbox_send_is_a_no_op(channel_settings):
    channel = make_channel("inbox", {}, channel_settings)
    assert isinstance(channel, InboxChannel)
    assert channel.send(assad_message()) is None
    send_test(channel)


def test_payload_is_json_ready():
    payload = assad_message().to_payload()
    assert payload["published"] == datetime(2018, 6, 3, 9, 30, tzinfo=UTC).isoformat()
    assert payload["alerts"] == ["assad kim", '"kim jong-un"']
    assert Message(tag="1", title="t").to_payload()["published"] is None


@pytest.mark.parametrize(("field", "value"), [("kind", "loud"), ("urgency", "urgent")])
def test_message_refuses_unknown_kind_or_urgency(field, value):
    with pytest.raises(ValueError, match=value):
        Message(tag="1", title="t", **{field: value})
