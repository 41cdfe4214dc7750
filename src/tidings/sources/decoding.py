"""Content-Encoding decoders that never produce more than a small piece at a time.

httpx decompresses a whole network chunk at once; a 64 KB gzip chunk can become 64 MB and a
brotli chunk far more.  These decoders hand out at most ``PIECE`` bytes per step, so the
fetcher can stop the moment the decoded body passes its size cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

PIECE = 64 * 1024


class DecodingError(Exception):
    """A body that is not valid for its Content-Encoding, or an encoding we do not speak."""


class Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class Zlib:
    """gzip (``wbits=31``) or deflate: zlib-wrapped, or raw as some servers send it."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._z = zlib.decompressobj(31 if gzip else 15)
        self._first = True

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._drain(data)
        except zlib.error as exc:
            if self._gzip or not self._first:
                raise DecodingError(f"invalid {'gzip' if self._gzip else 'deflate'} body") from exc
            self._z = zlib.decompressobj(-15)  # raw deflate
            self._first = False
            yield from self.decode(data)

    def _drain(self, data: bytes) -> Iterator[bytes]:
        piece = self._z.decompress(data, PIECE)
        self._first = False
        yield piece
        while self._z.unconsumed_tail:
            yield self._z.decompress(self._z.unconsumed_tail, PIECE)

    def finish(self) -> Iterator[bytes]:
        yield self._z.flush()


class Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            yield self._d.process(data, output_buffer_limit=PIECE)
            while not self._d.can_accept_more_data():
                yield self._d.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            raise DecodingError("invalid brotli body") from exc

    def finish(self) -> Iterator[bytes]:
        return iter(())


class Chain:
    """Several encodings, applied in the order listed, are undone in reverse."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._decoders):
            yield data
            return
        for piece in self._decoders[index].decode(data):
            yield from self._through(index + 1, piece)

    def finish(self) -> Iterator[bytes]:
        for index, decoder in enumerate(self._decoders):
            for piece in decoder.finish():
                yield from self._through(index + 1, piece)


def decoder_for(content_encoding: str | None) -> Decoder:
    """The decoder for a Content-Encoding header value (e.g. ``gzip`` or ``gzip, br``)."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    decoders = [_one(name) for name in reversed(names) if name != "identity"]
    if not decoders:
        return Identity()
    return decoders[0] if len(decoders) == 1 else Chain(decoders)


def _one(name: str) -> Decoder:
    if name in ("gzip", "x-gzip"):
        return Zlib(gzip=True)
    if name == "deflate":
        return Zlib(gzip=False)
    if name == "br":
        return Brotli()
    raise DecodingError(f"unsupported content encoding {name!r}")
