"""The inbox as a channel: sending is a no-op by design.

Every notification is written to the reader's inbox when it is made (the inbox row *is* the
notification), whatever channels the reader has.  This class exists so that "inbox" is one more
kind in the registry and routing, the test action and the CLI treat all channels alike.
"""

from __future__ import annotations

from typing import Any, Self

from tidings.config import Settings
from tidings.delivery.channels.base import Channel
from tidings.delivery.message import Message


class InboxChannel(Channel):
    """The reader's in-app inbox.  Config: ``{}``."""

    kind = "inbox"

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        return cls()

    def send(self, message: Message) -> None:
        """Nothing to do: the notification row is already in the inbox."""
