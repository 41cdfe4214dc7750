"""Which addresses the private-network guard refuses."""

from __future__ import annotations

import pytest

from tidings.sources.network import (
    AddressGuard,
    AddressRefused,
    ResolveFailed,
    is_private,
    parse_address,
)

PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.0.0.5", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:c0a8:0101::1", "fe80::1%eth0",
]  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_loopback_link_local_multicast_reserved_and_mapped_are_private(
    address: str,
) -> None:
    assert is_private(parse_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_global_unicast_is_public(address: str) -> None:
    assert not is_private(parse_address(address))


def test_any_private_address_among_several_answers_refuses_the_host() -> None:
    guard = AddressGuard(allow_private=False, resolver=lambda h, p: ["8.8.8.8", "10.1.2.3"])
    with pytest.raises(AddressRefused, match="resolves to private address 10.1.2.3"):
        guard.addresses("mixed.example", 443)


def test_allowing_private_networks_still_resolves_through_the_resolver() -> None:
    guard = AddressGuard(allow_private=True, resolver=lambda h, p: ["10.1.2.3"])
    assert guard.addresses("intranet.example", 80) == ["10.1.2.3"]


def test_an_unresolvable_host_is_a_resolve_failure() -> None:
    guard = AddressGuard(allow_private=False)
    with pytest.raises(ResolveFailed, match="cannot resolve"):
        guard.addresses("no-such-host.invalid", 80)
