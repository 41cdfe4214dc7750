"""Storage: the database is the system of record and the work queue."""

from tidings.store.db import Database

__all__ = ["Database"]
