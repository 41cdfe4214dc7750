"""An article's identity URL: one spelling per article, whatever link or campaign led to it."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote_plus, urljoin, urlsplit, urlunsplit

# Query parameters that only say how the reader arrived (campaigns, click ids, referrers).
# Every parameter starting with one of TRACKING_PREFIXES is dropped as well.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "ref_src",
        "ref_url",
        "cmpid",
        "s_cid",
        "ncid",
        "ocid",
        "icid",
        "ito",
        "spm",
        "share",
        "smid",
        "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}

# Second-level labels under which registrable domains sit one level deeper (bbc.co.uk).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter only tracks the reader (``utm_source``, ``fbclid`` …)."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The identity spelling of ``url``.

    Lower-case scheme and host, no default port, no fragment, no tracking parameters;
    the other parameters keep their order and values.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    path = parts.path or ("/" if parts.netloc else "")
    return urlunsplit((scheme, _netloc(scheme, parts), path, _without_tracking(parts.query), ""))


def _without_tracking(query: str) -> str:
    """The query string minus tracking parameters; the others stay exactly as written."""
    kept = [
        p for p in query.split("&") if p and not is_tracking_param(unquote_plus(p.split("=", 1)[0]))
    ]
    return "&".join(kept)


def _netloc(scheme: str, parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    return f"{userinfo}@{host}" if userinfo else host


def site_of(url: str) -> str:
    """The registrable part of a URL's host, roughly: ``www.news.bbc.co.uk`` → ``bbc.co.uk``.

    A heuristic without the public-suffix list: the last two labels, or three when the
    second-to-last is a generic second level (``co``, ``com``, ``org`` …) under a country code.
    """
    host = (urlsplit(url).hostname or "").rstrip(".")
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def host_of(url: str) -> str:
    """The URL's host without a leading ``www.``."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    return host.removeprefix("www.")


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in DEFAULT_PORTS and bool(parts.hostname)


def identity_url(page_url: str | None, declared: list[str | None]) -> str | None:
    """The article's identity URL: the first URL the page declares for itself, else ``page_url``.

    A declared URL (``<link rel=canonical>``, ``og:url``) is resolved against ``page_url`` and
    accepted when it is an absolute web URL on the same site as ``page_url`` and is not just the
    site's home page (a common template mistake that would merge every article into one).
    A page read without its URL trusts its own declaration.
    """
    for candidate in declared:
        url = _acceptable(page_url, candidate)
        if url:
            return canonical_url(url)
    return canonical_url(page_url) if page_url else None


def _acceptable(page_url: str | None, candidate: str | None) -> str | None:
    if not candidate or not candidate.strip():
        return None
    url = urljoin(page_url, candidate.strip()) if page_url else candidate.strip()
    if url.startswith("//"):
        url = "https:" + url
    if not is_web_url(url) or urlsplit(url).path in ("", "/"):
        return None
    if page_url and is_web_url(page_url) and site_of(url) != site_of(page_url):
        return None
    return url
