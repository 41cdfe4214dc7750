"""Huge pages for the index's heap: which mappings are marked, and that asking is harmless."""

from __future__ import annotations

from tidings.alerts.hugepages import HUGE_PAGE, anonymous_regions, use_huge_pages

MAPS = """\
55d0c0000000-55d0c0600000 r-xp 00000000 fd:01 123  /usr/bin/python3.11
55d0c0800000-55d0c1000000 rw-p 00000000 00:00 0    [heap]
7f0000100000-7f0000900000 rw-p 00000000 00:00 0
7f0000a00000-7f0000b00000 rw-p 00000000 00:00 0
7f0001000000-7f0001400000 rw-p 00000000 fd:01 456  /tmp/data.bin
7ffc00000000-7ffc00400000 rw-p 00000000 00:00 0    [stack]
7f0002000000-7f0002400000 r--p 00000000 00:00 0
"""


def test_only_private_anonymous_writable_memory_is_marked_in_whole_huge_pages():
    assert anonymous_regions(MAPS) == [
        (0x55D0C0800000, 0x800000),  # the heap, aligned already
        (0x7F0000200000, 0x600000),  # 1 MiB in at each end: the aligned part
    ]  # the 1 MiB mapping is too small; files, the stack and read-only memory are left
    for start, length in anonymous_regions(MAPS):
        assert start % HUGE_PAGE == 0 and length % HUGE_PAGE == 0


def test_asking_for_huge_pages_keeps_the_heap_as_it_was():
    kept = [bytes([n % 251]) * 4096 for n in range(2048)]  # 8 MiB of live objects
    marked = use_huge_pages()
    assert marked >= 0
    assert all(block == bytes([n % 251]) * 4096 for n, block in enumerate(kept))
