"""Delivery channels: one small class per kind behind one interface, found through one registry.

Adding a channel: a module here with a ``Channel`` subclass (``kind``, ``from_config``, ``send``
raising ``DeliveryError``), one line in ``CHANNELS``, and a test against a real local receiver.
"""

from __future__ import annotations

from typing import Any

from tidings.config import Settings
from tidings.delivery.channels.apprise import AppriseChannel
from tidings.delivery.channels.base import Channel, DeliveryError
from tidings.delivery.channels.email import EmailChannel
from tidings.delivery.channels.inbox import InboxChannel
from tidings.delivery.channels.webhook import WebhookChannel
from tidings.delivery.channels.webpush import WebPushChannel
from tidings.delivery.message import Message

CHANNELS: dict[str, type[Channel]] = {
    channel.kind: channel
    for channel in (WebPushChannel, EmailChannel, AppriseChannel, WebhookChannel, InboxChannel)
}

TEST_TITLE = "Test notification from Tidings"


def make_channel(kind: str, config: dict[str, Any], settings: Settings) -> Channel:
    """The channel of ``kind`` built from its stored ``config``; ``ValueError`` for an unknown kind."""
    try:
        channel_class = CHANNELS[kind]
    except KeyError:
        raise ValueError(f"unknown channel kind {kind!r}; known: {', '.join(CHANNELS)}") from None
    return channel_class.from_config(config, settings)


def message_for_test(url: str = "") -> Message:
    """The message behind "send a test notification"."""
    return Message(
        tag="test",
        title=TEST_TITLE,
        body="If you can read this, Tidings can reach you here.",
        url=url,
        source="Tidings",
        snippet="If you can read this, Tidings can reach you here.",
        kind="test",
    )


def send_test(channel: Channel, url: str = "") -> None:
    """Send a test notification on ``channel``; raises ``DeliveryError`` like any send."""
    channel.send(message_for_test(url))


__all__ = ["CHANNELS", "Channel", "DeliveryError", "Message", "make_channel", "send_test"]
