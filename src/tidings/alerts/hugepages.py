"""Back a big, long-lived heap (the alert index) with 2 MiB pages where Linux allows it.

The alert index is hundreds of megabytes of small objects (~900 MB at a million alerts), and
matching an article reaches a few thousand of them scattered all over it: nearly every one is a
TLB miss as well as a cache miss, and on a virtual machine a TLB miss walks two levels of page
tables.  With 4 KiB pages the TLB covers a few megabytes; with 2 MiB pages it covers gigabytes.

Python's allocator never asks for huge pages, and with the usual setting of transparent huge
pages (``madvise``) the kernel gives them only to memory marked for them.  ``use_huge_pages``
marks the process's anonymous memory (``MADV_HUGEPAGE``: what the heap grows into later may
get them too) and, on Linux 6.1 and later, has it collapsed into huge pages at once
(``MADV_COLLAPSE``), instead of by ``khugepaged`` over minutes.  Anywhere else (another OS,
an older kernel, THP disabled) it does what it can and changes nothing else: it is only about
speed, never about what is matched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20


def anonymous_regions(maps: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private anonymous writable mappings in ``maps`` (the
    text of ``/proc/self/maps``), as (start, length), each at least one huge page."""
    regions = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p":
            continue
        if len(fields) > 5 and fields[5] != "[heap]":
            continue  # a file, the stack, vdso…
        start, end = (int(part, 16) for part in fields[0].split("-"))
        start = -(-start // HUGE_PAGE) * HUGE_PAGE
        end = end // HUGE_PAGE * HUGE_PAGE
        if end - start >= HUGE_PAGE:
            regions.append((start, end - start))
    return regions


def use_huge_pages(*, collapse: bool = True) -> int:
    """Mark this process's anonymous memory for huge pages and (``collapse``) move what is
    there into them now.  Returns the bytes marked (0 where this is not Linux or fails)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps") as maps:
            regions = anonymous_regions(maps.read())
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return 0
    madvise = libc.madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    marked = 0
    for start, length in regions:
        if madvise(start, length, MADV_HUGEPAGE) != 0:
            continue  # THP off (or unknown here): nothing more to ask
        marked += length
        if collapse:
            madvise(start, length, MADV_COLLAPSE)  # best effort: EINVAL before Linux 6.1
    return marked
