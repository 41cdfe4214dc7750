"""Email against a real local SMTP server (aiosmtpd) that parses what it receives."""

from __future__ import annotations

import socket
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest

from tests.delivery.messages import assad_message
from tests.smtpserver import running_smtp_server, smtp_url
from tidings.delivery.channels import TEST_TITLE, DeliveryError, make_channel, send_test
from tidings.delivery.channels.email import EmailChannel, SmtpServer, sender_address

UNSUBSCRIBE = "https://tidings.example/unsubscribe/9f8e7d"


def parts(email):
    plain = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    return plain, html


def test_email_is_multipart_plain_and_html_with_one_click_unsubscribe(
    smtp_server, channel_settings
):
    settings = replace(
        channel_settings, smtp_url=smtp_url(smtp_server), smtp_from="alerts@tidings.example"
    )
    channel = EmailChannel("reader@example.com", settings, unsubscribe_url=UNSUBSCRIBE)
    message = assad_message()
    channel.send(message)
    [email] = smtp_server.messages
    assert email.get_content_type() == "multipart/alternative"
    assert email["Subject"] == message.title
    assert email["To"] == "reader@example.com"
    assert "alerts@tidings.example" in email["From"]
    assert smtp_server.envelopes == [("alerts@tidings.example", ["reader@example.com"])]
    assert (
        email["List-Unsubscribe"]
        == f"<{UNSUBSCRIBE}>, <mailto:alerts@tidings.example?subject=unsubscribe>"
    )
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = parts(email)
    assert message.title in plain and message.url in plain and message.snippet in plain
    assert "Also reported by 2 other sources." in plain and "assad kim" in plain
    assert plain.replace("\r\n", "\n").rstrip().endswith(f"alerts\nUnsubscribe: {UNSUBSCRIBE}")
    assert "<mark>Assad</mark>" in html and f'href="{message.url}"' in html
    assert f'href="{UNSUBSCRIBE}"' in html


def test_email_html_escapes_the_article_text(smtp_server, channel_settings):
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    channel = EmailChannel("reader@example.com", settings)
    channel.send(assad_message(title="Kim <script>alert(1)</script> & Assad", alerts=["<b>x</b>"]))
    plain, html = parts(smtp_server.messages[0])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; Assad" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "Kim <script>alert(1)</script> & Assad" in plain


def test_non_ascii_title_and_text_arrive_intact_and_a_line_break_cannot_add_a_header(
    smtp_server, channel_settings
):
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    title = "Kim Jong-un reçoit Assad à Pyongyang — « visite historique » du président syrien\nBcc: x@evil.example"
    snippet = "Le président syrien Bachar el-Assad a été reçu… à Pyongyang"
    EmailChannel("reader@example.com", settings).send(assad_message(title=title, snippet=snippet))
    [email] = smtp_server.messages
    assert email["Subject"] == title.replace("\n", " ") and email["Bcc"] is None
    assert smtp_server.envelopes[0][1] == ["reader@example.com"]
    plain, html = parts(email)
    assert snippet in plain and "Kim Jong-un reçoit Assad" in html
    # The server takes 8BITMIME: UTF-8 text goes as it is, not encoded.
    assert {part["Content-Transfer-Encoding"] for part in email.iter_parts()} == {"8bit"}


def test_composed_email_headers_are_folded_and_bodies_encoded_when_they_must_be(channel_settings):
    long_word = "x" * 2000  # a line no SMTP server must be sent as it is (RFC 5321: 998 octets)
    title = " ".join(["A long title about Assad and Kim"] * 4)
    message = assad_message(title=title, snippet=f"Assad {long_word} Kim")
    email = EmailChannel("reader@example.com", channel_settings, unsubscribe_url=UNSUBSCRIBE)
    composed = email.compose(message)
    for eight_bit, encodings in (
        (True, ["quoted-printable", "8bit"]),  # the plain text has the long line, the HTML not
        (False, ["quoted-printable", "quoted-printable"]),
    ):
        data = composed.as_bytes(eight_bit)
        assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
        assert max(map(len, data.split(b"\r\n"))) <= 998
        header = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert max(map(len, header)) <= 78 and len(header) > 10  # folded
        parsed = BytesParser(policy=policy.default).parsebytes(data)
        assert parsed["Subject"] == title
        assert parsed["List-Unsubscribe"].startswith(f"<{UNSUBSCRIBE}>, <mailto:")
        assert [part["Content-Transfer-Encoding"] for part in parsed.iter_parts()] == encodings
        plain, html = parts(parsed)
        assert f"Assad {long_word} Kim" in plain and "<mark>Assad</mark>" in html


def test_email_without_unsubscribe_url_has_no_list_headers(smtp_server, channel_settings):
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    make_channel("email", {"address": "reader@example.com"}, settings).send(assad_message())
    [email] = smtp_server.messages
    assert email["List-Unsubscribe"] is None and email["List-Unsubscribe-Post"] is None
    assert email["From"] == "Tidings <tidings@localhost>"


def test_refused_recipient_is_permanent_on_5xx_and_temporary_on_4xx(channel_settings):
    refusals = {
        "gone@example.com": "550 5.1.1 No such user",
        "full@example.com": "452 4.2.2 Mailbox full",
    }
    with running_smtp_server(reject=refusals) as mailbox:
        settings = replace(channel_settings, smtp_url=smtp_url(mailbox))
        with pytest.raises(DeliveryError) as gone:
            EmailChannel("gone@example.com", settings).send(assad_message())
        with pytest.raises(DeliveryError) as full:
            EmailChannel("full@example.com", settings).send(assad_message())
    assert gone.value.permanent and "550" in str(gone.value)
    assert not full.value.permanent and "452" in str(full.value)
    assert mailbox.messages == []


def test_unreachable_smtp_server_is_temporary(channel_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = replace(channel_settings, smtp_url=f"smtp://127.0.0.1:{port}")
    with pytest.raises(DeliveryError) as caught:
        EmailChannel("reader@example.com", settings).send(assad_message())
    assert not caught.value.permanent


def test_email_without_smtp_url_is_temporary(channel_settings):
    with pytest.raises(DeliveryError, match="TIDINGS_SMTP_URL") as caught:
        EmailChannel("reader@example.com", channel_settings).send(assad_message())
    assert not caught.value.permanent


def test_auth_logs_in_with_the_url_credentials(channel_settings):
    with running_smtp_server(users={"alice": "s3cr:et"}) as mailbox:
        settings = replace(
            channel_settings, smtp_url=smtp_url(mailbox, credentials="alice:s3cr%3Aet")
        )
        EmailChannel("reader@example.com", settings).send(assad_message())
    assert mailbox.logins == ["alice"]
    assert len(mailbox.messages) == 1


def test_wrong_password_is_temporary_and_sends_nothing(channel_settings):
    with running_smtp_server(users={"alice": "right"}) as mailbox:
        settings = replace(channel_settings, smtp_url=smtp_url(mailbox, credentials="alice:wrong"))
        with pytest.raises(DeliveryError) as caught:
            EmailChannel("reader@example.com", settings).send(assad_message())
    assert not caught.value.permanent
    assert mailbox.messages == [] and mailbox.logins == []


@pytest.mark.parametrize(("scheme", "query"), [("smtp+starttls", ""), ("smtp", "starttls=1")])
def test_starttls_with_auth(channel_settings, tls_files, scheme, query):
    with running_smtp_server(users={"alice": "pw"}, tls=tls_files) as mailbox:
        url = smtp_url(mailbox, scheme=scheme, credentials="alice:pw", query=query)
        settings = replace(channel_settings, smtp_url=url)
        channel = EmailChannel(
            "reader@example.com", settings, ssl_context=tls_files.client_context()
        )
        channel.send(assad_message())
    assert mailbox.secure_sessions == [True]
    assert mailbox.logins == ["alice"]


def test_starttls_refuses_an_untrusted_certificate(channel_settings, tls_files):
    with running_smtp_server(tls=tls_files) as mailbox:
        settings = replace(channel_settings, smtp_url=smtp_url(mailbox, scheme="smtp+starttls"))
        with pytest.raises(DeliveryError) as caught:
            EmailChannel("reader@example.com", settings).send(assad_message())
    assert not caught.value.permanent
    assert mailbox.messages == []


def test_smtps_implicit_tls(channel_settings, tls_files):
    with running_smtp_server(tls=tls_files, implicit_tls=True) as mailbox:
        settings = replace(channel_settings, smtp_url=smtp_url(mailbox, scheme="smtps"))
        channel = EmailChannel(
            "reader@example.com", settings, ssl_context=tls_files.client_context()
        )
        channel.send(assad_message())
    assert mailbox.secure_sessions == [True]
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, "plain")),
        (
            "smtp://u:p%40ss@mail.example.com:2525",
            SmtpServer("mail.example.com", 2525, "plain", "u", "p@ss"),
        ),
        ("smtp://mail.example.com?starttls=1", SmtpServer("mail.example.com", 587, "starttls")),
        (
            "smtp+starttls://u:p@mail.example.com",
            SmtpServer("mail.example.com", 587, "starttls", "u", "p"),
        ),
        ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, "ssl")),
    ],
)
def test_smtp_url_forms(url, expected):
    assert SmtpServer.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com"])
def test_bad_smtp_url_is_refused(url):
    with pytest.raises(ValueError, match="TIDINGS_SMTP_URL"):
        SmtpServer.parse(url)


def test_send_test_on_email(smtp_server, channel_settings):
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    send_test(make_channel("email", {"address": "reader@example.com"}, settings))
    [email] = smtp_server.messages
    assert email["Subject"] == TEST_TITLE
    assert "Tidings can reach you here" in parts(email)[0]


@pytest.mark.parametrize(
    ("base_url", "smtp_from", "sender"),
    [
        ("https://news.example.org", "", "tidings@news.example.org"),
        ("http://127.0.0.1:8080", "", "tidings@localhost"),
        ("http://[::1]:8080", "", "tidings@localhost"),
        ("https://news.example.org", "alerts@example.org", "alerts@example.org"),
    ],
)
def test_sender_address(channel_settings, base_url, smtp_from, sender):
    assert (
        sender_address(replace(channel_settings, base_url=base_url, smtp_from=smtp_from)) == sender
    )
