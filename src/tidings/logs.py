"""Structured logs with stable keys (``source_id``, ``article_id``, ``alert_id``, ``channel``…).

Call ``log.info("source checked", extra={"source_id": 3, "new": 2})``; the formatter appends
the extra keys as ``key=value`` so logs stay greppable and machine-readable.
"""

from __future__ import annotations

import logging

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if not extras:
            return base
        return base + " " + " ".join(f"{k}={_quote(v)}" for k, v in sorted(extras.items()))


def _quote(value: object) -> str:
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def configure(level: str = "WARNING") -> None:
    """Log to stderr at ``level`` (``TIDINGS_LOG_LEVEL``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("tidings")
    root.handlers[:] = [handler]
    root.setLevel(level)
