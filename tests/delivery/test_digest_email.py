"""A digest email's bodies (written by ``render_digest``, not a template) received and parsed by
the test suite's SMTP server: hostile text stays text in the HTML, and arrives intact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.smtpserver import Mailbox, _start, smtp_url
from tidings.delivery.channels import DeliveryError, make_channel
from tidings.delivery.channels.email import (
    EmailChannel,
    escape_html,
    render_digest,
    shared_smtp,
)
from tidings.delivery.message import DigestSection, DigestStory, Message

UNSUBSCRIBE = "https://tidings.example/unsubscribe/1.digest.x?a=1&b=2"
HOSTILE = 'Kim <script>alert(1)</script> & "Assad" \'s <img src=x onerror=alert(2)>'
HOSTILE_URL = 'https://news.example/a?x=1&y="><script>alert(3)</script>'


def digest(**changes: object) -> Message:
    shown = DigestStory(
        title=HOSTILE,
        url=HOSTILE_URL,
        source="<b>Oneindia</b>",
        byline="O'Brien & Co",
        published=datetime(2024, 2, 29, 22, 0, tzinfo=UTC),
        snippet="Assad < Kim & more",
        snippet_html="<mark>Assad</mark> &lt; Kim &amp; more",
        also_reported_by=1,
    )
    plain_only = DigestStory(title="Plain <i>snippet</i>", snippet="1 < 2 & 3 > 2")
    see = DigestStory(title=HOSTILE, url=HOSTILE_URL, see_section="\u201c<svg onload=x>\u201d")
    fields: dict[str, object] = {
        "tag": "digest-7",
        "title": "Your daily digest: 2 stories",
        "body": "2 new stories for your alerts <u>",
        "url": "https://tidings.example/inbox",
        "kind": "digest",
        "sections": (
            DigestSection("\u201c<svg onload=x>\u201d", (shown, plain_only)),
            DigestSection("World & <b>news</b>", (see,)),
        ),
        "unsubscribe_url": UNSUBSCRIBE,
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


class Elements(HTMLParser):
    """The element names and the text of an HTML document, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    elements.close()
    return elements


def test_hostile_titles_urls_and_headings_stay_text_in_the_digest_html(
    smtp_server, channel_settings
):
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    EmailChannel("reader@example.com", settings).send(digest())
    [email] = smtp_server.messages
    assert email.get_content_type() == "multipart/alternative"
    html = email.get_body(preferencelist=("html",)).get_content()
    plain = email.get_body(preferencelist=("plain",)).get_content()
    elements = parsed(html)
    assert not {"script", "img", "svg", "b", "i", "u"} & set(elements.tags)
    assert elements.tags.count("mark") == 1  # the stored snippet_html, and nothing else
    text = "".join(elements.text)
    assert text.count(HOSTILE) == 2 and "\u201c<svg onload=x>\u201d" in text
    assert "World & <b>news</b>" in text and "O'Brien & Co" in text and "<b>Oneindia</b>" in text
    assert "Plain <i>snippet</i>" in text and "1 < 2 & 3 > 2" in text
    assert elements.hrefs == [
        HOSTILE_URL,
        HOSTILE_URL,
        "https://tidings.example/inbox",
        UNSUBSCRIBE,
    ]
    # The plain text says the same, unescaped.
    assert plain.count(HOSTILE) == 2 and f"Read it: {HOSTILE_URL}" in plain
    assert "== World & <b>news</b> ==" in plain
    assert f"* {HOSTILE} (see above, under \u201c<svg onload=x>\u201d)" in plain
    assert "Also reported by 1 other source." in plain
    assert plain.splitlines()[-2:] == [
        "Your inbox: https://tidings.example/inbox",
        f"Unsubscribe: {UNSUBSCRIBE}",
    ]


def test_digest_bodies_without_links_or_summary():
    plain, html = render_digest(digest(body="", url="", unsubscribe_url=""), None)
    assert "Unsubscribe" not in plain + html and "Your inbox" not in plain + html
    assert plain.startswith("Your daily digest: 2 stories\n\n== ")
    assert plain.endswith("\n-- \nTidings news alerts\n")
    assert html.endswith("Tidings news alerts</p>\n</body></html>\n")


def test_escape_html_escapes_what_could_open_markup_or_close_an_attribute():
    assert escape_html("<a href='x'>\"&amp;\"</a>") == (
        "&lt;a href=&#39;x&#39;&gt;&#34;&amp;amp;&#34;&lt;/a&gt;"
    )
    assert escape_html(3) == "3" and escape_html("plain") == "plain"


def test_a_line_of_a_lone_period_cannot_end_the_data_early(smtp_server, channel_settings):
    """Lines starting with a period are doubled on the wire (RFC 5321 4.5.2): a title of
    "." lines cannot end the message early and smuggle in another SMTP transaction."""
    settings = replace(channel_settings, smtp_url=smtp_url(smtp_server))
    smuggled = ".\nMAIL FROM:<evil@example.com>\nRCPT TO:<victim@example.com>\nDATA\n.."
    story = DigestStory(title=smuggled, snippet=".leading period")
    channel = EmailChannel("reader@example.com", settings)
    channel.send(digest(sections=(DigestSection(".section", (story,)),)))
    channel.send(digest(title="second"))
    assert [m["Subject"] for m in smtp_server.messages] == [
        "Your daily digest: 2 stories",
        "second",
    ]
    assert smtp_server.envelopes == [("tidings@localhost", ["reader@example.com"])] * 2
    plain = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    plain = plain.replace("\r\n", "\n")
    assert f"* {smuggled}\n" in plain
    assert "  .leading period\n" in plain and "== .section ==" in plain


class PipeliningMailbox(Mailbox):
    """The test server, offering PIPELINING (RFC 2920): aiosmtpd reads commands a line at a
    time, so commands that arrive together are answered in order."""

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def pipelining_server() -> Iterator[Mailbox]:
    mailbox = PipeliningMailbox(reject={"gone@example.com": "550 5.1.1 No such user"})
    controller = _start(mailbox, None, False, {})
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()


def test_pipelined_hand_over_sends_and_a_refusal_leaves_the_session_usable(
    pipelining_server, channel_settings
):
    settings = replace(channel_settings, smtp_url=smtp_url(pipelining_server))
    sent = make_channel("email", {"address": "reader@example.com"}, settings)
    sent.send(digest(title="first"))
    assert shared_smtp(settings)._local.smtp.has_extn("pipelining")
    with pytest.raises(DeliveryError) as refused:
        make_channel("email", {"address": "gone@example.com"}, settings).send(digest())
    assert refused.value.permanent and "550" in str(refused.value)
    sent.send(digest(title="second", sections=(DigestSection(".", (DigestStory("."),)),)))
    shared_smtp(settings).close()
    assert [m["Subject"] for m in pipelining_server.messages] == ["first", "second"]
    assert pipelining_server.envelopes == [("tidings@localhost", ["reader@example.com"])] * 2
    plain = pipelining_server.messages[1].get_body(preferencelist=("plain",)).get_content()
    assert "\n== . ==\n" in plain.replace("\r\n", "\n")
