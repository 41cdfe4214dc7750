"""The one interface every channel implements, and the one error type it raises."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar, Self

from tidings.config import Settings
from tidings.delivery.http import Reply, parse_retry_after
from tidings.delivery.message import Message


class DeliveryError(Exception):
    """A send failed.

    ``permanent``: the target is gone or refuses us for good (drop the push subscription,
    disable the channel).  Otherwise it is temporary: retry with backoff, waiting at least
    ``retry_after`` seconds when the target said so.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after

    @classmethod
    def temporary(cls, message: str, retry_after: float | None = None) -> DeliveryError:
        return cls(message, permanent=False, retry_after=retry_after)

    @classmethod
    def gone(cls, message: str) -> DeliveryError:
        return cls(message, permanent=True)


class Channel(ABC):
    """One way to reach a reader.  ``kind`` is its name in ``CHANNELS`` and in stored rows.

    A channel is built from its stored config with ``from_config`` and sends one ``Message``;
    it returns on success and raises ``DeliveryError`` otherwise.
    """

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        """Build the channel from what was stored when the reader added it."""

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``DeliveryError``."""


def required(config: dict[str, Any], key: str, kind: str) -> Any:
    """``config[key]``, or a ``ValueError`` that says which channel lacks what."""
    value = config.get(key)
    if not value:
        raise ValueError(f"a {kind} channel needs {key!r} in its config")
    return value


def check_reply(reply: Reply, now: datetime, target: str) -> None:
    """Map an HTTP reply to success or a ``DeliveryError`` (the same rule for push and webhooks).

    2xx is delivered; 429 and 5xx are temporary (honouring ``Retry-After``); anything else —
    404/410 gone, other 4xx refusals, redirects we do not follow — is permanent.
    """
    if 200 <= reply.status < 300:
        return
    detail = f"{target} answered {reply.status}"
    if reply.status == 429 or reply.status >= 500:
        retry_after = parse_retry_after(reply.headers.get("retry-after"), now)
        raise DeliveryError.temporary(detail, retry_after)
    raise DeliveryError.gone(detail)
