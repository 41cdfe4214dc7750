"""A local SMTP server (aiosmtpd) that receives real mail and parses it with the ``email`` package.

Options: ``users`` turns on AUTH; ``tls`` (a ``TlsFiles``) offers STARTTLS and
requires it, or with ``implicit_tls=True`` speaks TLS from the first byte (smtps).  Recipients in
``reject`` are refused with their SMTP reply (e.g. ``"550 5.1.1 No such user"``).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass
class Mailbox:
    """What the server received: parsed messages, their envelopes and who logged in."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    secure_sessions: list[bool] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.secure_sessions.append(tls)
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        if self.users.get(login) != password:
            return AuthResult(success=False, handled=False)
        self.logins.append(login)
        return AuthResult(success=True)


class _EphemeralController(Controller):
    """aiosmtpd's Controller, listening on a port the OS picks."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def running_smtp_server(
    *,
    users: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
    implicit_tls: bool = False,
    reject: dict[str, str] | None = None,
) -> Iterator[Mailbox]:
    mailbox = Mailbox(reject=dict(reject or {}), users=dict(users or {}))
    options: dict[str, Any] = {}
    if users:  # AUTH offered (over plain text only when there is no TLS to offer)
        options.update(authenticator=mailbox.authenticate, auth_require_tls=bool(tls))
    if tls and not implicit_tls:
        options.update(tls_context=tls.server_context(), require_starttls=True)
    controller = _start(mailbox, tls, implicit_tls, options)
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()


def _start(
    mailbox: Mailbox, tls: TlsFiles | None, implicit_tls: bool, options: dict[str, Any]
) -> Controller:
    controller = _EphemeralController(
        mailbox,
        hostname="127.0.0.1",
        port=0,
        ssl_context=tls.server_context() if tls and implicit_tls else None,
        **options,
    )
    controller.start()
    return controller


def smtp_url(mailbox: Mailbox, scheme: str = "smtp", credentials: str = "", query: str = "") -> str:
    """The ``TIDINGS_SMTP_URL`` that reaches ``mailbox``."""
    userinfo = f"{credentials}@" if credentials else ""
    suffix = f"?{query}" if query else ""
    return f"{scheme}://{userinfo}{mailbox.host}:{mailbox.port}{suffix}"
