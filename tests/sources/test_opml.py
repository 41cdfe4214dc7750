"""OPML import and export."""

from __future__ import annotations

import pytest

from tidings.sources.opml import OpmlError, OpmlOutline, parse_opml, render_opml

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My feeds</title></head>
  <body>
    <outline text="News" title="News">
      <outline type="rss" text="Oneindia" title="Oneindia News"
               xmlUrl="https://news.example/feed.rss" htmlUrl="https://news.example/"/>
      <outline text="Asia">
        <outline type="rss" text="Asia Bulletin" xmlurl="https://asia.example/rss10.rdf"/>
      </outline>
    </outline>
    <outline type="rss" text="Duplicate" xmlUrl="https://news.example/feed.rss"/>
    <outline text="A folder with no feeds"/>
    <outline type="rss" text="Caf&#233; &amp; Co" xmlUrl="https://cafe.example/atom?x=1&amp;y=2"/>
  </body>
</opml>
"""


def test_nested_outlines_are_read_in_order_once_each() -> None:
    assert parse_opml(READER_EXPORT) == [
        OpmlOutline("https://news.example/feed.rss", "Oneindia News", "https://news.example/"),
        OpmlOutline("https://asia.example/rss10.rdf", "Asia Bulletin", None),
        OpmlOutline("https://cafe.example/atom?x=1&y=2", "Café & Co", None),
    ]


def test_round_trip_keeps_urls_titles_and_site_urls() -> None:
    outlines = [
        OpmlOutline("https://news.example/feed.rss", "Oneindia <News> & \"More\"",
                    "https://news.example/"),
        OpmlOutline("https://asia.example/feed?a=1&b=2", None, None),
        OpmlOutline("https://hindi.example/feed", "हिंदी समाचार", None),
    ]  # fmt: skip
    text = render_opml(outlines)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert parse_opml(text.encode("utf-8")) == [
        outlines[0],
        OpmlOutline("https://asia.example/feed?a=1&b=2", "https://asia.example/feed?a=1&b=2"),
        outlines[2],
    ]


def test_empty_export_is_valid_opml() -> None:
    assert parse_opml(render_opml([]).encode()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "invalid OPML"),
        (b"<opml><body><outline", "invalid OPML"),
        (b"<rss version='2.0'><channel/></rss>", "not an OPML file"),
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
         b'<opml><body><outline xmlUrl="https://x.example/&b;"/></body></opml>', "entity"),
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b'<opml><body><outline text="&x;" xmlUrl="https://x.example/"/></body></opml>', "entity"),
    ],
    ids=["empty", "truncated", "not-opml", "entity-bomb", "external-entity"],
)  # fmt: skip
def test_bad_opml_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message):
        parse_opml(data)


def test_opml_error_is_a_value_error_for_the_cli() -> None:
    assert issubclass(OpmlError, ValueError)
