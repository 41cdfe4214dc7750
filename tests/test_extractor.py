"""The extraction pool: a page whose extraction process dies (a hostile page crashing lxml,
the OOM killer) or that runs past the timeout fails with a temporary error instead of holding
its source's check forever; the pool goes on extracting other pages."""

from __future__ import annotations

import os

import pytest

from tidings.articles.extract import ExtractedArticle, ExtractionError
from tidings.worker import Extractor, extract_and_sign

PAGE = b"<html><head><title>Calm</title></head><body><article><p>" + b"Calm words. " * 40 + (
    b"</p></article></body></html>"
)


def die_on_poison(body: bytes, url: str) -> ExtractedArticle:
    """Extraction that kills its own process on one page, as a segfault would."""
    if b"poison" in body:
        os._exit(70)
    return extract_and_sign(body, url)


def test_a_page_whose_extraction_process_dies_fails_for_now_and_others_go_on() -> None:
    pool = Extractor(1, timeout=3)
    pool.function = die_on_poison
    try:
        lost = pool(b"<html><body>poison</body></html>", "https://news.example/poison")
        with pytest.raises(ExtractionError, match="did not finish in 3 s") as failed:
            lost.result(timeout=60)
        assert getattr(failed.value, "permanent", True) is False  # tried again next check
        fine = pool(PAGE, "https://news.example/calm")  # the pool replaced the dead process
        assert fine.result(timeout=60).title == "Calm"
    finally:
        pool.close()
    assert pool._watchdog is None  # closing stops the watchdog thread too
