"""The demo outlets' HTML pages: home, section and article pages in realistic news-site chrome.

Every page carries what real news pages carry around (and inside) an article: an alerts bar,
an app banner, navigation, sidebars of other headlines, a rotating "Also read" link after the
article, a footer, cookie and notification pop-ups, and call-to-action blocks between the
article's paragraphs that repeat on every article of the outlet — the clutter that extraction
and per-source boilerplate learning must remove.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

from tidings.demo.site.catalogue import BodyBlock, Outlet, Popup
from tidings.demo.site.timeline import Publication

HOME_LIMIT = 24
SIDEBAR_LIMIT = 5


@dataclass(frozen=True)
class PageContext:
    """What every page of one outlet is rendered from, at one moment."""

    outlet: Outlet
    base_url: str
    edition: list[Publication]
    canonical_of: Callable[[Publication], str]

    def url(self, path: str) -> str:
        return self.base_url + path

    def in_section(self, section: str) -> list[Publication]:
        return [p for p in self.edition if p.article.section == section]


def section_title(section: str) -> str:
    return section.replace("-", " ").title()


def human_date(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}, {moment:%H:%M} UTC"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def feed_links(ctx: PageContext, section: str = "") -> str:
    """``<link rel="alternate">`` to every feed of the outlet (and the section's, if any)."""
    name = escape(ctx.outlet.name)
    links = [
        ("application/rss+xml", f"{name} — Latest news (RSS)", "/feed.rss"),
        ("application/atom+xml", f"{name} — Latest news (Atom)", "/feed.atom"),
        ("application/feed+json", f"{name} — Latest news (JSON Feed)", "/feed.json"),
    ]
    if section:
        title = f"{name} — {escape(section_title(section))}"
        links.append(("application/rss+xml", title, f"/section/{section}/feed.rss"))
    return "\n".join(
        f'<link rel="alternate" type="{kind}" title="{title}" href="{ctx.url(path)}">'
        for kind, title, path in links
    )


def _style(outlet: Outlet) -> str:
    return (
        "<style>body{font-family:Georgia,serif;margin:0;color:#222}"
        f".alert-bar,.masthead{{background:{outlet.accent};color:#fff;padding:6px 16px}}"
        ".layout{display:flex;gap:24px;padding:16px}main{flex:3}aside{flex:1}"
        ".main-nav ul{display:flex;gap:12px;list-style:none;padding:8px 16px;margin:0}"
        ".modal,.cookie-consent{position:fixed;bottom:0;background:#fff;border:1px solid #ccc}"
        "</style>"
    )


def _head(
    ctx: PageContext, title: str, description: str, canonical: str, extra: str, section: str = ""
) -> str:
    site = escape(ctx.outlet.name)
    return f"""<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} | {site}</title>
<meta name="description" content="{escape(description)}">
<link rel="canonical" href="{escape(canonical)}">
<meta property="og:site_name" content="{site}">
<meta property="og:title" content="{escape(title)}">
<meta property="og:description" content="{escape(description)}">
<meta property="og:url" content="{escape(canonical)}">
<meta property="og:locale" content="en_US">
{extra}
{feed_links(ctx, section)}
{_style(ctx.outlet)}
</head>"""


def _alert_bar(outlet: Outlet) -> str:
    first, button, *rest = outlet.alert_bar
    extra = "".join(f'<span class="alert-bar-item">{escape(text)}</span>' for text in rest)
    return (
        f'<div class="alert-bar" id="quick-alerts"><span>{escape(first)}</span>'
        f'<button type="button" class="allow-btn">{escape(button)}</button>{extra}</div>'
    )


def _masthead(outlet: Outlet) -> str:
    return (
        f'<header class="masthead"><a class="brand" href="/">{escape(outlet.name)}</a>'
        f'<p class="tagline">{escape(outlet.tagline)}</p>'
        f'<div class="app-download"><a href="/app">{escape(outlet.app_banner)}</a></div></header>'
    )


def _nav(outlet: Outlet) -> str:
    items = ['<li><a href="/">Home</a></li>'] + [
        f'<li><a href="/section/{s}/">{escape(section_title(s))}</a></li>' for s in outlet.sections
    ]
    return f'<nav class="main-nav" role="navigation"><ul>{"".join(items)}</ul></nav>'


def _headline_list(title: str, publications: Iterable[Publication]) -> str:
    items = "".join(
        f'<li><a href="{p.path}">{escape(p.article.title)}</a></li>' for p in publications
    )
    return f'<section class="widget"><h2>{escape(title)}</h2><ul>{items}</ul></section>'


def _sidebar(ctx: PageContext, exclude: str = "") -> str:
    others = [p for p in ctx.edition if p.path != exclude]
    trending_title, popular_title = ctx.outlet.sidebar_titles[:2]
    trending = others[:SIDEBAR_LIMIT]
    popular = sorted(others, key=lambda p: zlib.crc32(p.article.slug.encode()))[:SIDEBAR_LIMIT]
    return (
        '<aside class="sidebar">'
        + _headline_list(trending_title, trending)
        + _headline_list(popular_title, popular)
        + "</aside>"
    )


def _footer(outlet: Outlet) -> str:
    links = "".join(
        f'<li><a href="/{quote(text.lower().replace(" ", "-"))}">{escape(text)}</a></li>'
        for text in outlet.footer_links
    )
    return (
        f'<footer class="site-footer"><ul class="footer-links">{links}</ul>'
        f"<p>{escape(outlet.footer_note)}</p></footer>"
    )


def _popup(popup: Popup) -> str:
    buttons = "".join(f'<button type="button">{escape(b)}</button>' for b in popup.buttons)
    body = f"<p>{escape(popup.body)}</p>" if popup.body else ""
    return (
        f'<div class="modal" id="{escape(popup.ident)}" role="dialog">'
        f'<div class="modal-title">{escape(popup.title)} <span class="close">X</span></div>'
        f"{body}{buttons}</div>"
    )


def _page(ctx: PageContext, head: str, main: str, exclude: str = "", body_class: str = "") -> str:
    popups = "\n".join(_popup(p) for p in ctx.outlet.popups)
    return f"""<!DOCTYPE html>
<html lang="en">
{head}
<body class="{body_class}">
{_alert_bar(ctx.outlet)}
{_masthead(ctx.outlet)}
{_nav(ctx.outlet)}
<div class="layout">
<main id="main">
{main}
</main>
{_sidebar(ctx, exclude)}
</div>
{_footer(ctx.outlet)}
{popups}
</body>
</html>
"""


def _teaser(publication: Publication, link_query: str = "") -> str:
    article = publication.article
    return (
        f'<li class="teaser-item"><a href="{article.path}{link_query}">'
        f"<h3>{escape(article.title)}</h3></a>"
        f'<p class="dek">{escape(article.dek)}</p>'
        f'<p class="meta">{escape(article.author)} · '
        f'<time datetime="{iso(publication.published_at)}">'
        f"{human_date(publication.published_at)}</time></p></li>"
    )


def render_home(ctx: PageContext) -> str:
    """The front page: the latest articles, newest first."""
    query = f"?utm_source={ctx.outlet.key}&utm_medium=homepage"
    items = "".join(_teaser(p, query) for p in ctx.edition[:HOME_LIMIT])
    main = f'<h1 class="page-title">Latest news</h1><ul class="story-list">{items}</ul>'
    head = _head(ctx, ctx.outlet.name, ctx.outlet.tagline, ctx.url("/"), _website_meta())
    return _page(ctx, head, main, body_class="home")


def render_section(ctx: PageContext, section: str) -> str:
    """A section front: that section's articles, newest first."""
    title = section_title(section)
    items = "".join(_teaser(p) for p in ctx.in_section(section))
    main = f'<h1 class="page-title">{escape(title)}</h1><ul class="story-list">{items}</ul>'
    canonical = ctx.url(f"/section/{section}/")
    description = f"{title} news from {ctx.outlet.name}"
    head = _head(ctx, title, description, canonical, _website_meta(), section)
    return _page(ctx, head, main, body_class="section")


def render_message(ctx: PageContext, title: str, message: str) -> str:
    """A page with no article: not found, members only."""
    main = f'<h1 class="page-title">{escape(title)}</h1><p class="notice">{escape(message)}</p>'
    head = _head(ctx, title, message, ctx.url("/"), _website_meta())
    return _page(ctx, head, main, body_class="message")


def _website_meta() -> str:
    return '<meta property="og:type" content="website">'


def _article_meta(ctx: PageContext, publication: Publication) -> str:
    article = publication.article
    tags = "\n".join(f'<meta property="article:tag" content="{escape(t)}">' for t in article.tags)
    return f"""<meta property="og:type" content="article">
<meta name="author" content="{escape(article.author)}">
<meta property="article:published_time" content="{iso(publication.published_at)}">
<meta property="article:modified_time" content="{iso(publication.modified_at)}">
<meta property="article:section" content="{escape(section_title(article.section))}">
{tags}
<script type="application/ld+json">{_json_ld(ctx, publication)}</script>"""


def _json_ld(ctx: PageContext, publication: Publication) -> str:
    article = publication.article
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.dek,
        "datePublished": iso(publication.published_at),
        "dateModified": iso(publication.modified_at),
        "author": [{"@type": "Person", "name": article.author}],
        "publisher": {"@type": "Organization", "name": ctx.outlet.name},
        "mainEntityOfPage": ctx.canonical_of(publication),
        "articleSection": section_title(article.section),
        "inLanguage": "en",
    }
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _also_read(ctx: PageContext, publication: Publication) -> Publication | None:
    """A different headline for each article: the "Also read" link rotates."""
    others = [p for p in ctx.edition if p.path != publication.path]
    if not others:
        return None
    return others[zlib.crc32(publication.article.slug.encode()) % len(others)]


def _also_read_aside(ctx: PageContext, publication: Publication) -> str:
    """The rotating "Also read" link, in an ``<aside>`` after the article, as real sites mark
    it up: another story's headline is not this story's text (inside the body it made alerts
    match articles that only linked to a matching story)."""
    other = _also_read(ctx, publication)
    if other is None:
        return ""
    label = escape(ctx.outlet.also_read_label)
    title = escape(other.article.title)
    return (
        f'<aside class="also-read"><strong>{label}:</strong> '
        f'<a href="{other.path}">{title}</a></aside>'
    )


def _body_block(block: BodyBlock) -> str:
    text = escape(block.text)
    return (
        f'<p><a href="{escape(block.link)}"><strong>{text}</strong></a></p>'
        if block.link
        else f"<p><strong>{text}</strong></p>"
    )


def _block_positions(blocks: tuple[BodyBlock, ...], count: int) -> dict[int, list[BodyBlock]]:
    """Where each block goes: after paragraph ``after`` (negative counts from the end), always
    between two paragraphs."""
    positions: dict[int, list[BodyBlock]] = {}
    for block in blocks:
        after = block.after if block.after > 0 else count + block.after
        after = max(1, min(after, count - 1))
        positions.setdefault(after, []).append(block)
    return positions


def _story_body(ctx: PageContext, publication: Publication) -> str:
    paragraphs = publication.paragraphs
    positions = _block_positions(ctx.outlet.body_blocks, len(paragraphs))
    parts: list[str] = []
    for number, paragraph in enumerate(paragraphs, start=1):
        parts.append(f"<p>{escape(paragraph)}</p>")
        parts.extend(_body_block(b) for b in positions.get(number, []))
    return "\n".join(parts)


def _figure(caption: str) -> str:
    if not caption:
        return ""
    return (
        '<figure class="lead-image"><img src="/static/lead.jpg" alt="" width="800" height="450">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _byline(publication: Publication) -> str:
    article = publication.article
    author_path = "/author/" + quote(article.author.lower().replace(" ", "-"))
    updated = ""
    if publication.modified_at > publication.published_at:
        updated = (
            f' | Updated: <time datetime="{iso(publication.modified_at)}">'
            f"{human_date(publication.modified_at)}</time>"
        )
    return (
        f'<div class="byline">By <a rel="author" href="{author_path}">{escape(article.author)}</a>'
        f' | <time datetime="{iso(publication.published_at)}" class="published">'
        f"{human_date(publication.published_at)}</time>{updated}</div>"
    )


def render_article(ctx: PageContext, publication: Publication) -> str:
    """An article page: the story with its byline, dates and the outlet's clutter around it."""
    article = publication.article
    section = article.section
    main = f"""<article class="story">
<p class="kicker"><a href="/section/{section}/">{escape(section_title(section))}</a></p>
<h1 class="headline">{escape(article.title)}</h1>
<p class="standfirst">{escape(article.dek)}</p>
{_byline(publication)}
{_figure(article.caption)}
<div class="story-body" itemprop="articleBody">
{_story_body(ctx, publication)}
</div>
<div class="tags-links">Tags: {", ".join(escape(t) for t in article.tags)}</div>
<div class="share-buttons">Share this story: Facebook · X · WhatsApp · Email</div>
</article>
{_also_read_aside(ctx, publication)}"""
    meta = _article_meta(ctx, publication)
    canonical = ctx.canonical_of(publication)
    head = _head(ctx, article.title, article.dek, canonical, meta, section)
    return _page(ctx, head, main, exclude=publication.path, body_class="article-page")
