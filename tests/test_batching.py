"""Group commit's meeting point: when a batch is handed over, and what is in it."""

from __future__ import annotations

import threading

from tidings.batching import Batches


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def first_of_two_taken(
    batches: Batches[str],
) -> tuple[threading.Thread, list[list[str] | None]]:
    """Two items expected, "first" put, and a thread taking a batch: the thread and what it
    takes (once it has)."""
    batches.expect()
    batches.expect()
    batches.put("first")
    taken: list[list[str] | None] = []
    taker = threading.Thread(target=lambda: taken.append(batches.take()))
    taker.start()
    return taker, taken


def test_nothing_else_on_its_way_hands_over_what_is_ready_at_once() -> None:
    batches: Batches[str] = Batches(most=10, linger=3600, monotonic=Clock())
    for _ in "abc":
        batches.expect()
    for item in "abc":
        batches.put(item)
    assert batches.take() == ["a", "b", "c"]


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() -> None:
    batches: Batches[int] = Batches(most=2, linger=3600, monotonic=Clock())
    for _ in range(4):
        batches.expect()
    for item in range(3):
        batches.put(item)
    assert batches.take() == [0, 1]
    batches.put(3)
    assert batches.take() == [2, 3]


def test_a_ready_item_waits_for_others_on_their_way_but_only_for_linger_seconds() -> None:
    clock = Clock()
    batches: Batches[str] = Batches(most=10, linger=0.25, monotonic=clock)
    taker, taken = first_of_two_taken(batches)
    taker.join(0.05)
    assert taker.is_alive()  # the second is on its way, and the first has not waited long
    clock.now += 0.25  # now it has: the taker's next look hands it over
    taker.join(5)
    assert taken == [["first"]]
    batches.put("second")
    assert batches.take() == ["second"]


def test_the_item_on_its_way_joins_the_batch_when_it_comes_in_time() -> None:
    batches: Batches[str] = Batches(most=10, linger=3600, monotonic=Clock())
    taker, taken = first_of_two_taken(batches)
    batches.put("second")
    taker.join(5)
    assert taken == [["first", "second"]]


def test_close_hands_over_what_is_left_then_none() -> None:
    batches: Batches[str] = Batches(most=10, linger=3600, monotonic=Clock())
    batches.expect()
    batches.expect()
    batches.put("ready")
    batches.close()
    assert batches.take() == ["ready"]
    assert batches.take() is None
