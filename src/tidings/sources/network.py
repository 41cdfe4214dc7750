"""The private-network guard and the transport that connects only to addresses it checked.

Every host name is resolved once by ``AddressGuard`` (``getaddrinfo``, or an injected resolver in
tests), each address is checked, and the answer is cached for a short while.  The ``Fetcher``
asks the guard before every request (every redirect hop included), and ``PinnedTransport``
opens each new connection to one of the *same* cached, checked addresses — so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach a private address.
TLS still uses the URL's host name for SNI and certificate checks, and the Host header is
untouched: only the TCP connect is pinned.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

RESOLVE_TTL = 60.0  # seconds a checked DNS answer is reused


class AddressRefused(Exception):
    """A host resolves to an address outbound requests may not reach."""

    def __init__(self, host: str, address: str) -> None:
        what = (
            "is a private address" if host == address else f"resolves to private address {address}"
        )
        super().__init__(f"refused: {host} {what} (set TIDINGS_ALLOW_PRIVATE_NETWORKS=1 to allow)")
        self.host, self.address = host, address


class ResolveFailed(Exception):
    """A host name does not resolve."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for host (IPv4 and IPv6), in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveFailed(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_private(address: IPAddress) -> bool:
    """True for any address that is not globally routable unicast (IPv4-mapped IPv6 unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_private(mapped)
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def parse_address(raw: str) -> IPAddress:
    return ipaddress.ip_address(raw.split("%", 1)[0])  # drop an IPv6 zone id


class AddressGuard:
    """Resolves host names, refuses private addresses (unless allowed), caches checked answers."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        ttl: float = RESOLVE_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolver or system_resolver
        self._ttl, self._monotonic = ttl, monotonic
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for host:port; raises AddressRefused or ResolveFailed."""
        key = (host.lower().strip("[]"), port)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        checked = self._check(key[0], self._lookup(key[0], port))
        with self._lock:
            self._cache[key] = (now + self._ttl, checked)
        return checked

    def _lookup(self, host: str, port: int) -> list[str]:
        try:
            return [str(parse_address(host))]  # an IP literal needs no DNS
        except ValueError:
            return self._resolve(host, port)

    def _check(self, host: str, addresses: list[str]) -> list[str]:
        if not addresses:
            raise ResolveFailed(f"cannot resolve {host}: no addresses")
        if not self.allow_private:
            for raw in addresses:
                if is_private(parse_address(raw)):
                    raise AddressRefused(host, raw)
        return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, but every TCP connection goes to an address the guard checked."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self._guard.addresses(host, port):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, list(socket_options or [])
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for outbound fetches")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore errors as httpx errors, most specific first.
_ERRORS: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


@contextmanager
def as_httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's (the guard's own pass through)."""
    try:
        yield
    except httpcore.ConnectionNotAvailable as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def guarded_pool(
    guard: AddressGuard, *, max_connections: int | None, keep_alive: int, expiry: float = 5.0
) -> httpcore.ConnectionPool:
    """An httpcore pool whose connections go only to addresses ``guard`` checked (TLS verified
    against the URL's host, no proxies from the environment); ``keep_alive`` idle connections
    kept at most, each for ``expiry`` seconds."""
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=keep_alive,
        keepalive_expiry=expiry,
        network_backend=GuardedBackend(guard),
    )


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose connections go through ``GuardedBackend``."""

    def __init__(self, guard: AddressGuard, *, max_connections: int = 100) -> None:
        self._pool = guarded_pool(guard, max_connections=max_connections, keep_alive=20)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
