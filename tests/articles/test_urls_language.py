"""Identity URLs and language: the small rules extraction relies on."""

from __future__ import annotations

import pytest

from tidings.articles.language import detect_language, language_from_tag
from tidings.articles.urls import canonical_url, identity_url, is_tracking_param, site_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://WWW.Oneindia.COM:443/International/A.html?utm_source=tw&id=5&fbclid=x&b#top",
            "https://www.oneindia.com/International/A.html?id=5&b",
        ),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a?z=1&a=2", "http://example.com:8080/a?z=1&a=2"),
        (
            "https://ex.com/a?gclid=1&dclid=2&msclkid=3&mc_cid=4&mc_eid=5&igshid=6&_ga=7&yclid=8&ref_src=9&cmpid=10",
            "https://ex.com/a",
        ),
        ("https://ex.com/a?UTM_Campaign=x&q=a%20b&q=c", "https://ex.com/a?q=a%20b&q=c"),
    ],
)
def test_canonical_url_drops_tracking_and_keeps_the_rest_in_order(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_tracking_params_by_name_and_prefix() -> None:
    assert is_tracking_param("utm_anything") and is_tracking_param("FBCLID")
    assert not is_tracking_param("id") and not is_tracking_param("page")


def test_site_of_treats_country_second_levels_as_one_site() -> None:
    assert site_of("https://news.bbc.co.uk/a") == "bbc.co.uk"
    assert site_of("https://m.oneindia.com/a") == "oneindia.com"


def test_identity_url_prefers_the_declared_canonical_on_the_same_site() -> None:
    page = "https://m.oneindia.com/a.html?utm_source=push"
    assert (
        identity_url(page, ["/international/a.html"])
        == "https://m.oneindia.com/international/a.html"
    )
    assert (
        identity_url(page, [None, "https://www.oneindia.com/a.html"])
        == "https://www.oneindia.com/a.html"
    )


def test_identity_url_ignores_home_page_and_foreign_canonicals() -> None:
    page = "https://www.oneindia.com/a.html?fbclid=1"
    assert identity_url(page, ["https://www.oneindia.com/"]) == "https://www.oneindia.com/a.html"
    assert identity_url(page, ["https://other.example/a.html"]) == "https://www.oneindia.com/a.html"
    assert identity_url(page, ["javascript:void(0)"]) == "https://www.oneindia.com/a.html"
    assert identity_url(None, []) is None


def test_language_tags_and_detection() -> None:
    assert language_from_tag("en-IN") == "en"
    assert language_from_tag("pt_BR") == "pt"
    assert language_from_tag("und") is None and language_from_tag("") is None
    assert detect_language("Der Bundestag hat am Donnerstag das neue Gesetz beschlossen.") == "de"
    assert detect_language("Kim Jong") is None
