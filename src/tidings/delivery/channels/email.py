"""Email over SMTP (``TIDINGS_SMTP_URL``): multipart plain text + HTML, RFC 8058 one-click unsubscribe.

``smtp://user:pass@host:port`` (plain, port 25), ``smtp+starttls://…`` or ``smtp://…?starttls=1``
(STARTTLS, port 587), ``smtps://…`` (implicit TLS, port 465).  Credentials, when given, log in.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2

from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.delivery.channels.base import Channel, DeliveryError, required
from tidings.delivery.http import DELIVERY_TIMEOUT
from tidings.delivery.message import Message

DEFAULT_PORTS = {"plain": 25, "starttls": 587, "ssl": 465}
SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand mail over, parsed from ``TIDINGS_SMTP_URL``."""

    host: str
    port: int
    security: str  # "plain" | "starttls" | "ssl"
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        security = SCHEMES.get(parts.scheme)
        if security is None or not parts.hostname:
            raise ValueError(
                f"TIDINGS_SMTP_URL={url!r}: expected smtp://, smtp+starttls:// or smtps://host"
            )
        if security == "plain" and parse_qs(parts.query).get("starttls", ["0"])[0] in {"1", "true"}:
            security = "starttls"
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[security],
            security=security,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )

    def open(self, context: ssl.SSLContext, timeout: float) -> smtplib.SMTP:
        """A connected, secured and (when credentials are given) logged-in SMTP session."""
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def sender_address(settings: Settings) -> str:
    """``TIDINGS_SMTP_FROM``, or tidings@ the host of the base URL."""
    if settings.smtp_from:
        return settings.smtp_from
    host = urlsplit(settings.base_url).hostname or "localhost"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"tidings@{host}"
    return "tidings@localhost"  # an address literal makes a poor mail domain


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tidings.delivery", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def render(message: Message, unsubscribe_url: str | None) -> tuple[str, str]:
    """(plain text, HTML) for one message; a digest (a message with ``sections``) is grouped."""
    context = {
        "m": message,
        "meta": meta_line(message.source, message.byline, message.published),
        "meta_line": meta_line,
        "unsubscribe_url": unsubscribe_url,
    }
    name = "digest" if message.sections else "message"
    env = templates()
    return (
        env.get_template(f"{name}.txt").render(context),
        env.get_template(f"{name}.html").render(context),
    )


def meta_line(source: str, byline: str, published: datetime | None) -> str:
    """ "Oneindia · by Shubham · 2018-06-03 09:30 UTC" (the parts that are known)."""
    when = published.strftime("%Y-%m-%d %H:%M %Z").strip() if published else ""
    return " · ".join(part for part in (source, f"by {byline}" if byline else "", when) if part)


class SmtpConnections:
    """SMTP sessions kept open and reused across messages, one per thread.

    Opening a session (TCP, EHLO, STARTTLS, AUTH) costs more than handing over a message, so
    a sender of many emails keeps it.  A session the server has since closed is reopened once.
    """

    def __init__(self, server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float) -> None:
        self.server, self.ssl_context, self.timeout = server, ssl_context, timeout
        self._local = threading.local()

    def send(self, email: EmailMessage) -> None:
        """Hand ``email`` over; a kept session found closed is reopened and tried once more."""
        reused = getattr(self._local, "smtp", None) is not None
        try:
            self._session().send_message(email)
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            if not reused:
                raise
            self._session().send_message(email)

    def _session(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is None:
            smtp = self._local.smtp = self.server.open(self.ssl_context, self.timeout)
        return smtp

    def _drop(self) -> None:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        """Quit this thread's session (other threads' sessions close with their sockets)."""
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()


_shared_lock = threading.Lock()
_shared: dict[str, SmtpConnections] = {}


def shared_smtp(settings: Settings) -> SmtpConnections:
    """The process's reusable sessions to ``TIDINGS_SMTP_URL`` (what stored channels send with)."""
    with _shared_lock:
        connections = _shared.get(settings.smtp_url)
        if connections is None:
            server = SmtpServer.parse(settings.smtp_url)
            context = ssl.create_default_context()
            connections = _shared[settings.smtp_url] = SmtpConnections(
                server, context, DELIVERY_TIMEOUT
            )
        return connections


class EmailChannel(Channel):
    """One email address.  Config: ``{"address": …, "unsubscribe_url": …}`` (the URL is optional)."""

    kind = "email"

    def __init__(
        self,
        address: str,
        settings: Settings,
        *,
        unsubscribe_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock = utcnow,
        timeout: float = DELIVERY_TIMEOUT,
        connections: SmtpConnections | None = None,
    ) -> None:
        self.address = address
        self.connections = connections
        self.settings = settings
        self.unsubscribe_url = unsubscribe_url
        self._ssl_context = ssl_context  # made when first needed: loading CAs takes milliseconds
        self.clock = clock
        self.timeout = timeout

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        address = required(config, "address", cls.kind)
        connections = None
        with contextlib.suppress(ValueError):  # a bad URL is reported when sending
            connections = shared_smtp(settings) if settings.smtp_url else None
        return cls(
            address,
            settings,
            unsubscribe_url=config.get("unsubscribe_url"),
            connections=connections,
        )

    def compose(self, message: Message) -> EmailMessage:
        """The whole email: headers, a plain-text part and an HTML alternative."""
        sender = sender_address(self.settings)
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = f"Tidings <{sender}>"
        email["To"] = self.address
        email["Date"] = format_datetime(self.clock())
        email["Message-ID"] = make_msgid("tidings", domain=sender.rpartition("@")[2])
        email["Auto-Submitted"] = "auto-generated"
        unsubscribe_url = message.unsubscribe_url or self.unsubscribe_url
        if unsubscribe_url:
            email["List-Unsubscribe"] = (
                f"<{unsubscribe_url}>, <mailto:{sender}?subject=unsubscribe>"
            )
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        plain, html = render(message, unsubscribe_url)
        email.set_content(plain)
        email.add_alternative(html, subtype="html")
        return email

    def send(self, message: Message) -> None:
        if not self.settings.smtp_url:
            raise DeliveryError.temporary("email is not configured: set TIDINGS_SMTP_URL")
        email = self.compose(message)
        try:
            self._hand_over(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise refused(self.address, exc) from exc
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise DeliveryError.temporary(f"SMTP handover failed: {exc!r}") from exc

    def _hand_over(self, email: EmailMessage) -> None:
        if self.connections is not None:
            self.connections.send(email)
            return
        server = SmtpServer.parse(self.settings.smtp_url)
        with server.open(self.ssl_context, self.timeout) as smtp:
            smtp.send_message(email)


def refused(address: str, exc: smtplib.SMTPRecipientsRefused) -> DeliveryError:
    """A 5xx refusal of the recipient is permanent (no such mailbox); a 4xx one is not."""
    code, reply = next(iter(exc.recipients.values()), (450, b""))
    detail = f"SMTP server refused {address}: {code} {reply.decode('utf-8', 'replace')}"
    if 500 <= code < 600:
        return DeliveryError.gone(detail)
    return DeliveryError.temporary(detail)
