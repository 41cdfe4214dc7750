"""What the matcher reads (``MatchArticle``) and what it answers (``Match``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from tidings.alerts.query import normalize_host, normalize_language


@dataclass(frozen=True)
class MatchArticle:
    """The fields of an article that alerts look at."""

    id: int | str
    title: str
    text: str
    url: str | None = None
    language: str | None = None


class Match(NamedTuple):
    """An alert that matched an article, and the terms and phrases that matched (to highlight).

    A named tuple: the engine makes thousands per article, and they sort by alert id.
    """

    alert_id: int
    terms: tuple[str, ...]


def url_host_path(url: str | None) -> tuple[str, str]:
    """The normalised host and lower-case path of an article URL (``("", "")`` if none)."""
    if not url:
        return "", ""
    try:
        parts = urlsplit(url.strip() if "://" in url else "//" + url.strip())
    except ValueError:
        return "", ""
    return normalize_host(parts.netloc), parts.path.lower()


def site_matches(site_host: str, site_path: str, host: str, path: str) -> bool:
    """DESIGN.md: host equal or a subdomain; path prefix on whole segments."""
    if not host or not (host == site_host or host.endswith("." + site_host)):
        return False
    return not site_path or path == site_path or path.startswith(site_path + "/")


def language_matches(code: str, language: str | None) -> bool:
    """``lang:en`` matches ``en`` and ``en-GB``; ``lang:en-gb`` only ``en-GB`` and narrower."""
    if not language:
        return False
    language = normalize_language(language)
    return language == code or language.startswith(code + "-")
