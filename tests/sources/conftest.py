"""Fixtures for the sources tests: the local HTTP server and fetchers configured for tests."""

from __future__ import annotations

from tests.httpserver import http_server

__all__ = ["http_server"]
