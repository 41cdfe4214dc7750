"""Email over SMTP (``TIDINGS_SMTP_URL``): multipart plain text + HTML, RFC 8058 one-click unsubscribe.

``smtp://user:pass@host:port`` (plain, port 25), ``smtp+starttls://…`` or ``smtp://…?starttls=1``
(STARTTLS, port 587), ``smtps://…`` (implicit TLS, port 465).  Credentials, when given, log in.

The email is written straight to bytes (``compose``, ``Email.as_bytes``): a
``multipart/alternative`` of a plain-text and an HTML part in UTF-8, sent as they are (``8bit``)
when the server takes 8BITMIME and their lines fit, else in quoted-printable; headers folded at
78 characters and RFC 2047-encoded when they are not ASCII.  The ``email`` package's
``EmailMessage`` (``policy=SMTP``) builds the same thing at many times the cost — its header
registry parses and refolds every header — and bounded the digest sender.
"""

from __future__ import annotations

import binascii
import contextlib
import ipaddress
import secrets
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2
import markupsafe

from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.delivery.channels.base import Channel, DeliveryError, required
from tidings.delivery.http import DELIVERY_TIMEOUT
from tidings.delivery.message import DigestStory, Message

DEFAULT_PORTS = {"plain": 25, "starttls": 587, "ssl": 465}
SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}
CRLF = "\r\n"
FOLD_AT = 78  # RFC 5322 2.1.1: header lines SHOULD be at most 78 characters
ADDRESS_HEADERS = frozenset({"From", "To"})
MAX_LINE = 998  # octets, without CRLF (RFC 5322 2.1.1)


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
    return _sender_address(settings.smtp_from, settings.base_url)


@lru_cache(maxsize=16)
def _sender_address(smtp_from: str, base_url: str) -> str:
    if smtp_from:
        return smtp_from
    host = urlsplit(base_url).hostname or "localhost"
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
        auto_reload=False,  # packaged templates do not change under a running process
    )


@lru_cache(maxsize=8)
def template(name: str) -> jinja2.Template:
    """A compiled template, looked up once."""
    return templates().get_template(name)


def render(message: Message, unsubscribe_url: str | None) -> tuple[str, str]:
    """(plain text, HTML) for one message: a story notification from its two templates, a
    digest (a message with ``sections``) by ``render_digest``."""
    context = {
        "m": message,
        "meta": meta_line(message.source, message.byline, message.published),
        "meta_line": meta_line,
        "unsubscribe_url": unsubscribe_url,
    }
    if message.sections:
        return render_digest(message, unsubscribe_url)
    return template("message.txt").render(context), template("message.html").render(context)


# -- Digest bodies ------------------------------------------------------------------------
#
# A digest is ~20 stories in ~300 lines; through Jinja (a context lookup, an attribute lookup
# and a Markup object per value) its two bodies cost about as much as reading, grouping,
# composing and handing the email over together.  They are written here as plain string
# joins instead; every value from the database goes through ``escape_html`` in the HTML body
# (only ``snippet_html``, escaped when it was stored, goes in as it is).

def escape_html(value: object) -> str:
    """``value`` as HTML text or attribute value (double-quoted): ``& < > " '`` escaped, by
    MarkupSafe, as Jinja's autoescape does."""
    return str(markupsafe.escape(value))


def _reported(count: int) -> str:
    return f"Also reported by {count} other source{'s' if count != 1 else ''}."


def _story_text(story: DigestStory) -> str:
    if story.see_section:
        return f"\n* {story.title} (see above, under {story.see_section})\n"
    lines = [f"\n* {story.title}\n"]
    meta = meta_line(story.source, story.byline, story.published)
    if meta:
        lines.append(f"  {meta}\n")
    if story.snippet:
        lines.append(f"  {story.snippet}\n")
    if story.url:
        lines.append(f"  Read it: {story.url}\n")
    if story.also_reported_by:
        lines.append(f"  {_reported(story.also_reported_by)}\n")
    return "".join(lines)


def _story_html(story: DigestStory) -> str:
    title = escape_html(story.title)
    if story.url:
        title = f'<a href="{escape_html(story.url)}">{title}</a>'
    if story.see_section:
        see = escape_html(story.see_section)
        return f'<p style="color: #555;">{title} \u2014 see above, under {see}.</p>\n'
    parts = ['<div style="margin: 0 0 1.2em 0;">\n<h3 style="font-size: 1em; margin: 0;">']
    parts += [title, "</h3>\n"]
    meta = meta_line(story.source, story.byline, story.published)
    if meta:
        parts.append(f'<p style="color: #555; margin: 0.2em 0;">{escape_html(meta)}</p>')
    if story.snippet_html:  # escaped when stored, with the matched terms in <mark>
        parts.append(f'<p style="margin: 0.2em 0;">{story.snippet_html}</p>')
    elif story.snippet:
        parts.append(f'<p style="margin: 0.2em 0;">{escape_html(story.snippet)}</p>')
    if story.also_reported_by:
        reported = _reported(story.also_reported_by)
        parts.append(f'<p style="color: #555; margin: 0.2em 0;">{reported}</p>')
    parts.append("</div>\n")
    return "".join(parts)


def render_digest(message: Message, unsubscribe_url: str | None) -> tuple[str, str]:
    """(plain text, HTML) of a digest email: the title, the summary line, then each section's
    heading and stories (a story shown in full under its first alert is listed by title, with
    a pointer, under the others), and the footer with the inbox and unsubscribe links."""
    text = [f"{message.title}\n"]
    title = escape_html(message.title)
    html = [
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        '<body style="font-family: sans-serif; max-width: 40em; margin: auto;">\n'
        f'<h1 style="font-size: 1.3em;">{title}</h1>\n'
    ]
    if message.body:
        text.append(f"{message.body}\n")
        html.append(f'<p style="color: #555;">{escape_html(message.body)}</p>')
    for section in message.sections:
        text.append(f"\n== {section.heading} ==\n")
        html.append(
            '<h2 style="font-size: 1.1em; border-bottom: 1px solid #ddd;">'
            f"{escape_html(section.heading)}</h2>\n"
        )
        text += map(_story_text, section.stories)
        html += map(_story_html, section.stories)
    text.append("\n-- \nTidings news alerts\n")
    html.append('<hr><p style="color: #777; font-size: 0.9em;">Tidings news alerts')
    if message.url:
        text.append(f"Your inbox: {message.url}\n")
        html.append(f' \u00b7 <a href="{escape_html(message.url)}">Your inbox</a>')
    if unsubscribe_url:
        text.append(f"Unsubscribe: {unsubscribe_url}\n")
        html.append(f' \u00b7 <a href="{escape_html(unsubscribe_url)}">Unsubscribe</a>')
    html.append("</p>\n</body></html>\n")
    return "".join(text), "".join(html)


@lru_cache(maxsize=4096)
def meta_line(source: str, byline: str, published: datetime | None) -> str:
    """ "Oneindia · by Shubham · 2018-06-03 09:30 UTC" (the parts that are known; remembered:
    a story goes to many readers)."""
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

    def send(self, email: Email | EmailMessage) -> None:
        """Hand ``email`` over (ours, or the ``email`` package's); a kept session found closed
        is reopened and tried once more."""
        reused = getattr(self._local, "smtp", None) is not None
        try:
            hand_over(self._session(), email)
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            if not reused:
                raise
            hand_over(self._session(), email)

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


def hand_over(smtp: smtplib.SMTP, email: Email | EmailMessage) -> None:
    if isinstance(email, EmailMessage):
        smtp.send_message(email)
    else:
        email.send_on(smtp)


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

    def compose(self, message: Message) -> Email:
        """The whole email: headers, a plain-text part and an HTML alternative, as bytes."""
        sender = sender_address(self.settings)
        headers = [
            ("Subject", message.title),
            ("From", f"Tidings <{sender}>"),
            ("To", self.address),
            ("Date", email_date(self.clock())),
            ("Message-ID", make_msgid("tidings", domain=sender.rpartition("@")[2])),
            ("Auto-Submitted", "auto-generated"),
        ]
        unsubscribe_url = message.unsubscribe_url or self.unsubscribe_url
        if unsubscribe_url:
            headers += [
                ("List-Unsubscribe", f"<{unsubscribe_url}>, <mailto:{sender}?subject=unsubscribe>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
        plain, html = render(message, unsubscribe_url)
        return Email(
            sender, self.address, header_block(headers), crlf_lines(plain), crlf_lines(html)
        )

    def send(self, message: Message) -> None:
        if not self.settings.smtp_url:
            raise DeliveryError.temporary("email is not configured: set TIDINGS_SMTP_URL")
        try:
            email = self.compose(message)
            self._hand_over(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise refused(self.address, exc) from exc
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise DeliveryError.temporary(f"SMTP handover failed: {exc!r}") from exc

    def _hand_over(self, email: Email) -> None:
        if self.connections is not None:
            self.connections.send(email)
            return
        server = SmtpServer.parse(self.settings.smtp_url)
        with server.open(self.ssl_context, self.timeout) as smtp:
            email.send_on(smtp)


@dataclass(frozen=True)
class Email:
    """A composed email: envelope sender and recipient, its headers (without the MIME ones) and
    the two bodies, UTF-8 with CRLF line ends.  ``as_bytes`` writes the message."""

    sender: str
    recipient: str
    head: bytes
    plain: bytes
    html: bytes

    @property
    def international(self) -> bool:
        """Addresses beyond ASCII need the server's SMTPUTF8 (RFC 6531)."""
        return not (self.sender.isascii() and self.recipient.isascii())

    def as_bytes(self, eight_bit: bool = True) -> bytes:
        """The message: ``multipart/alternative`` of the plain text and the HTML (RFC 2046).

        With ``eight_bit`` (the server takes 8BITMIME, RFC 6152) a body goes as it is when its
        lines fit (at most 998 octets, no NUL); otherwise, and always without ``eight_bit``, in
        quoted-printable.
        """
        parts = [text_part(self.plain, "plain", eight_bit), text_part(self.html, "html", eight_bit)]
        boundary = f"=_tidings_{secrets.token_hex(16)}"
        while any(boundary.encode("ascii") in part for part in parts):  # an 8-bit body might
            boundary = f"=_tidings_{secrets.token_hex(16)}"
        mime = f"MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative;{CRLF}"
        mime += f' boundary="{boundary}"'
        delimiter = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
        closing = f"{CRLF}--{boundary}--{CRLF}".encode("ascii")
        return (
            self.head
            + mime.encode("ascii")
            + CRLF.encode("ascii")
            + delimiter.join([b"", *parts])
            + closing
        )

    def send_on(self, smtp: smtplib.SMTP) -> None:
        """Hand the email over on ``smtp``: what ``smtplib.SMTP.sendmail`` does for one
        recipient (the same replies checked, the same exceptions, ``RSET`` after a refusal),
        with two savings: the data phase's dot-stuffing is one ``bytes.replace`` instead of
        ``sendmail``'s regular expression over the whole message (~50 µs for a digest), and
        to a server that offers PIPELINING (RFC 2920) ``MAIL``, ``RCPT`` and ``DATA`` go in
        one write, their replies read after it: two round trips per email instead of four."""
        smtp.ehlo_or_helo_if_needed()
        eight_bit = smtp.does_esmtp and smtp.has_extn("8bitmime")
        options = ["BODY=8BITMIME"] if eight_bit else []
        if self.international:
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        data = self.as_bytes(eight_bit)
        if smtp.does_esmtp and smtp.has_extn("size"):
            options.append(f"size={len(data)}")
        if smtp.does_esmtp and smtp.has_extn("pipelining") and not self.international:
            (code, reply), recipient, (data_code, data_reply) = self._pipelined(smtp, options)
        else:
            code, reply = smtp.mail(self.sender, options)
            recipient = smtp.rcpt(self.recipient) if code == 250 else (503, b"")
            data_code, data_reply = smtp.docmd("DATA") if recipient[0] in (250, 251) else (0, b"")
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, self.sender)
        if recipient[0] not in (250, 251):
            _abandon(smtp, recipient[0])
            raise smtplib.SMTPRecipientsRefused({self.recipient: recipient})
        if data_code != 354:
            raise smtplib.SMTPDataError(data_code, data_reply)
        smtp.send(dot_stuffed(data) + b".\r\n")
        code, reply = smtp.getreply()
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)

    def _pipelined(
        self, smtp: smtplib.SMTP, options: list[str]
    ) -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        """``MAIL``, ``RCPT`` and ``DATA`` in one write; their three replies.  A server that
        accepted ``DATA`` although the sender or recipient was refused gets an empty message
        ended at once (it has nobody to deliver it to) and is reset by the caller."""
        extra = " " + " ".join(options) if options else ""
        commands = (
            f"mail FROM:{smtplib.quoteaddr(self.sender)}{extra}\r\n"
            f"rcpt TO:{smtplib.quoteaddr(self.recipient)}\r\n"
            "data\r\n"
        )
        if commands.count("\r") != 3 or commands.count("\n") != 3:
            raise ValueError("command line breaks in an address are not allowed")
        smtp.send(commands.encode("ascii"))
        mail, recipient, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        refused = mail[0] != 250 or recipient[0] not in (250, 251)
        if refused and data[0] == 354:
            smtp.send(b".\r\n")
            smtp.getreply()
            data = (0, b"")
        return mail, recipient, data


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: a closing server (421) is closed, any other is reset (``RSET``)."""
    if code == 421:
        smtp.close()
    else:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()


def dot_stuffed(data: bytes) -> bytes:
    """``data`` (lines ending in CRLF) for the DATA phase (RFC 5321 4.5.2): a line starting
    with a period gets another."""
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\n.", b"\n..") if b"\n." in data else data


def email_date(now: datetime) -> str:
    """The ``Date`` header's value for ``now`` (whole seconds: a sender writes many emails a
    second, and the last second's is remembered)."""
    return _email_date(now.replace(microsecond=0))


@lru_cache(maxsize=1)
def _email_date(second: datetime) -> str:
    return format_datetime(second)


def header_block(headers: list[tuple[str, str]]) -> bytes:
    """The header lines, each ending in CRLF (UTF-8 only in an address beyond ASCII)."""
    return "".join(header_line(name, value) + CRLF for name, value in headers).encode("utf-8")


def crlf_lines(text: str) -> bytes:
    """``text`` in UTF-8 with every line ended by CRLF (no bare CR or LF is left)."""
    data = text.encode("utf-8")
    if b"\r" in data:
        return b"\r\n".join(data.splitlines()) + b"\r\n"
    data = data.replace(b"\n", b"\r\n")  # the usual case, in one pass
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def text_part(body: bytes, subtype: str, eight_bit: bool) -> bytes:
    """One UTF-8 text body part: ``7bit``/``8bit`` as it is when allowed and its lines fit,
    else quoted-printable (``binascii.b2a_qp``: lines of at most 76 characters)."""
    if body.isascii() and fits_unencoded(body):
        encoding = "7bit"
    elif eight_bit and fits_unencoded(body):
        encoding = "8bit"
    else:
        body, encoding = binascii.b2a_qp(body, istext=True), "quoted-printable"
    headers = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
    headers += f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}"
    return headers.encode("ascii") + body


def fits_unencoded(body: bytes) -> bool:
    """Lines (ended by CRLF, as ``crlf_lines`` writes them) of at most 998 octets and no NUL
    (RFC 5322 2.1.1, RFC 6152).  Scanned a window at a time: from the start of a line, the
    last line feed within 999 octets past it ends every line that starts before it; none there
    means a line too long (or the last, unterminated, one)."""
    if b"\0" in body:
        return False
    start, size = 0, len(body)
    while size - start > MAX_LINE:
        end = body.rfind(b"\n", start, start + MAX_LINE + 2)
        if end < 0:
            return False
        start = end + 1
    return True


def header_line(name: str, value: str) -> str:
    """``Name: value``, folded before words that would pass 78 characters (RFC 5322 2.2.3);
    a value beyond ASCII as RFC 2047 encoded words.  Line breaks in the value become spaces:
    an article's title cannot inject a header.  An address beyond ASCII stays UTF-8 (it needs
    SMTPUTF8, see ``Email.international``)."""
    if len(name) + len(value) + 2 <= FOLD_AT and value.isascii() and value.isprintable():
        return f"{name}: {value}"  # the usual case: one short line, nothing to fold or encode
    value = " ".join(value.splitlines())
    if not value.isascii() and name not in ADDRESS_HEADERS:
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep=CRLF)
    lines, line, words = [], f"{name}:", 0
    for word in value.split(" "):
        if word and words and len(line) + 1 + len(word) > FOLD_AT:
            lines.append(line)
            line, words = "", 0
        line += f" {word}"
        words += 1
    return CRLF.join([*lines, line])


def refused(address: str, exc: smtplib.SMTPRecipientsRefused) -> DeliveryError:
    """A 5xx refusal of the recipient is permanent (no such mailbox); a 4xx one is not."""
    code, reply = next(iter(exc.recipients.values()), (450, b""))
    detail = f"SMTP server refused {address}: {code} {reply.decode('utf-8', 'replace')}"
    if 500 <= code < 600:
        return DeliveryError.gone(detail)
    return DeliveryError.temporary(detail)
