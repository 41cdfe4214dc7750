"""Group commit: work items from many threads, handed to one thread in batches.

A transaction has a fixed cost (begin, a few bookkeeping statements, commit) that dwarfs one
article's own writes, so a worker stores its extracted pages together: every page that is
ready, from all the sources it is checking, in one transaction.  ``Batches`` is the meeting
point.  Producers say a page is on its way (``expect``) and hand it over when it is ready
(``put``); the storing thread ``take``s a batch when

* ``most`` items are ready, or
* nothing else is on its way (the end of a pass: no reason to wait), or
* the first item has waited ``linger`` seconds (a bound on the added latency).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batches(Generic[T]):
    """Thread-safe: any number of producers, one consumer."""

    def __init__(
        self, *, most: int, linger: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.most, self.linger = most, linger
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._ready: list[T] = []
        self._first_ready_at = 0.0
        self._on_the_way = 0
        self._closed = False

    def expect(self) -> None:
        """One more item is on its way: a batch may wait (a little) for it."""
        with self._changed:
            self._on_the_way += 1

    def put(self, item: T) -> None:
        """Hand over an item that ``expect`` announced."""
        with self._changed:
            self._on_the_way -= 1
            self._ready.append(item)
            if len(self._ready) == 1:
                self._first_ready_at = self._monotonic()
            if len(self._ready) == 1 or len(self._ready) >= self.most or not self._on_the_way:
                self._changed.notify()  # the consumer waits for one of these only

    def take(self) -> list[T] | None:
        """The next batch (waiting for one), or None once closed and drained."""
        with self._changed:
            while not self._ready and not self._closed:
                self._changed.wait()
            while not self._full_or_due():
                self._changed.wait(self._first_ready_at + self.linger - self._monotonic())
            batch, self._ready = self._ready[: self.most], self._ready[self.most :]
            if self._ready:
                self._first_ready_at = self._monotonic()
            return batch or None

    def close(self) -> None:
        """No more items: ``take`` returns what is left, then None."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _full_or_due(self) -> bool:
        return (
            not self._ready
            or self._closed
            or len(self._ready) >= self.most
            or not self._on_the_way
            or self._monotonic() >= self._first_ready_at + self.linger
        )
