"""The demo's content: outlets (site name and chrome) and articles, read from bundled JSON files.

Each article is one file in ``articles/``; the file name's numeric prefix is its place in the
publication order. ``outlets.json`` describes each outlet's name and the clutter its pages carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).parent
ARTICLES_DIR = SITE_DIR / "articles"
OUTLETS_FILE = SITE_DIR / "outlets.json"


@dataclass(frozen=True)
class ScriptedUpdate:
    """An update in place: ``after`` publication steps past the article's own, paragraphs are added."""

    after: int
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class DemoArticle:
    """One article as written, before it is published at some time by some outlet."""

    slug: str
    outlet: str
    section: str
    title: str
    author: str
    dek: str
    paragraphs: tuple[str, ...]
    tags: tuple[str, ...] = ()
    caption: str = ""
    syndicated_from: str = ""
    update: ScriptedUpdate | None = None

    @property
    def path(self) -> str:
        """The article's URL path on its outlet: ``/<section>/<slug>``."""
        return f"/{self.section}/{self.slug}"


@dataclass(frozen=True)
class BodyBlock:
    """A call-to-action an outlet puts between the paragraphs of every article."""

    after: int
    text: str = ""
    link: str = ""


@dataclass(frozen=True)
class Popup:
    """A dialog in the page's chrome (cookie consent, notification settings, ...)."""

    ident: str
    title: str
    body: str = ""
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outlet:
    """A news site: its name, sections and the chrome wrapped around every article."""

    key: str
    name: str
    tagline: str
    accent: str
    primary_feed: str
    sections: tuple[str, ...]
    alert_bar: tuple[str, ...]
    app_banner: str
    sidebar_titles: tuple[str, ...]
    also_read_label: str
    body_blocks: tuple[BodyBlock, ...]
    popups: tuple[Popup, ...]
    footer_links: tuple[str, ...]
    footer_note: str
    articles: tuple[DemoArticle, ...] = field(default=(), repr=False)


def _article(data: dict[str, Any]) -> DemoArticle:
    update = data.get("update")
    return DemoArticle(
        slug=data["slug"],
        outlet=data["outlet"],
        section=data["section"],
        title=data["title"],
        author=data["author"],
        dek=data["dek"],
        paragraphs=tuple(data["paragraphs"]),
        tags=tuple(data.get("tags", ())),
        caption=data.get("caption", ""),
        syndicated_from=data.get("syndicated_from", ""),
        update=ScriptedUpdate(update["after"], tuple(update["paragraphs"])) if update else None,
    )


def _outlet(data: dict[str, Any], articles: tuple[DemoArticle, ...]) -> Outlet:
    return Outlet(
        key=data["key"],
        name=data["name"],
        tagline=data["tagline"],
        accent=data["accent"],
        primary_feed=data["primary_feed"],
        sections=tuple(data["sections"]),
        alert_bar=tuple(data["alert_bar"]),
        app_banner=data["app_banner"],
        sidebar_titles=tuple(data["sidebar_titles"]),
        also_read_label=data["also_read_label"],
        body_blocks=tuple(BodyBlock(**block) for block in data["body_blocks"]),
        popups=tuple(
            Popup(**{**p, "buttons": tuple(p.get("buttons", ()))}) for p in data["popups"]
        ),
        footer_links=tuple(data["footer_links"]),
        footer_note=data["footer_note"],
        articles=tuple(a for a in articles if a.outlet == data["key"]),
    )


@cache
def load_articles() -> tuple[DemoArticle, ...]:
    """Every bundled article, in publication order (the order of their file names)."""
    files = sorted(ARTICLES_DIR.glob("*.json"))
    return tuple(_article(json.loads(f.read_text(encoding="utf-8"))) for f in files)


@cache
def load_outlets() -> tuple[Outlet, ...]:
    """Every bundled outlet, each with its own articles."""
    articles = load_articles()
    raw = json.loads(OUTLETS_FILE.read_text(encoding="utf-8"))
    return tuple(_outlet(entry, articles) for entry in raw)


def outlet_named(name: str) -> Outlet:
    """The outlet whose name (``"Daily Courier"``) or key (``"daily-courier"``) is given."""
    for outlet in load_outlets():
        if name in (outlet.name, outlet.key):
            return outlet
    known = ", ".join(o.name for o in load_outlets())
    raise ValueError(f"unknown demo outlet {name!r}; known outlets: {known}")
