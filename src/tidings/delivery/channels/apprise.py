"""Apprise URLs: ntfy, Telegram, Slack, Discord, Matrix, … whatever Apprise supports.

Apprise does its own HTTP, so the private-address guard is applied to the URL before it is
handed over: when the plugin posts to the host written in the URL (``json://``, ``ntfy://host``,
``matrix://host`` …) that host must not resolve to a private address unless private networks are
allowed.  Services with a fixed endpoint (Telegram, Discord: the URL's "host" is a token) are not
resolved.
"""

from __future__ import annotations

from typing import Any, Self

import apprise

from tidings.config import Settings
from tidings.delivery.channels.base import Channel, DeliveryError, required
from tidings.delivery.http import AddressRefused, ResolveFailed, check_public_host
from tidings.delivery.message import Message


class InvalidAppriseURL(ValueError):
    """Apprise cannot use this URL, or it points at a private address."""


def apprise_plugin(url: str, settings: Settings) -> Any:
    """The Apprise service for ``url``, checked; raises ``InvalidAppriseURL``."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise InvalidAppriseURL(f"Apprise does not understand {_redacted(url)!r}")
    host = str(getattr(plugin, "host", "") or "")
    if host and not _fixed_endpoint(plugin):
        _check_host(host, settings)
    return plugin


def _fixed_endpoint(plugin: Any) -> bool:
    """True when the service posts to its own fixed https URL, whatever the Apprise URL's host."""
    return str(getattr(type(plugin), "notify_url", "") or "").startswith("https://")


def _check_host(host: str, settings: Settings) -> None:
    try:
        check_public_host(host, settings)
    except ResolveFailed:
        return  # not a resolvable name (a token or an id); Apprise reports if it cannot connect
    except AddressRefused as exc:
        raise InvalidAppriseURL(str(exc)) from exc


def _redacted(url: str) -> str:
    """The scheme only: Apprise URLs carry tokens and passwords."""
    return url.split("://", 1)[0] + "://…"


def apprise_text(message: Message) -> str:
    """The plain-text body chat services show under the title."""
    lines = [" · ".join(p for p in (message.source, message.byline) if p)]
    lines += [message.snippet or message.body, message.url]
    if message.also_reported_by:
        lines.append(f"Also reported by {message.also_reported_by} other sources.")
    return "\n".join(line for line in lines if line)


class AppriseChannel(Channel):
    """One Apprise URL.  Config: ``{"url": "ntfy://ntfy.example.com/news"}``."""

    kind = "apprise"

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        return cls(required(config, "url", cls.kind), settings)

    def send(self, message: Message) -> None:
        try:
            plugin = apprise_plugin(self.url, self.settings)
        except InvalidAppriseURL as exc:
            raise DeliveryError.gone(str(exc)) from exc
        notifier = apprise.Apprise()
        notifier.add(plugin)
        if not notifier.notify(body=apprise_text(message), title=message.title):
            raise DeliveryError.temporary(f"Apprise could not deliver to {_redacted(self.url)}")
