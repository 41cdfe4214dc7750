"""Tidings: self-hosted news alerts."""

__version__ = "0.1.0"
