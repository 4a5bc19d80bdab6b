"""The real client address behind trusted reverse proxies (``server.trusted_proxies``).

``X-Forwarded-For`` is only believed when the peer that sent it is a configured proxy: anyone can send the
header, so an untrusted peer's claim is ignored. The list is read from the right (the hop nearest to us),
skipping trusted proxies, and the first address that is not one is the client: nginx's
``real_ip_recursive on`` rule.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Iterable

from aiohttp import web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS = 32  # a longer header is someone's game, not a proxy chain


@lru_cache(maxsize=8)  # one entry per config: the tuple is immutable and reloads are rare
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses and CIDRs as networks; invalid entries are skipped (config validation reports them)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def parse_address(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[::1]:443" as some proxies write it
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "1.2.3.4:5678"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


def is_trusted(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def real_client(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str | None:
    """The client's address: ``peer`` itself unless it is a trusted proxy that forwarded the request."""
    if not trusted or not forwarded_for or peer is None:
        return peer
    networks = trusted_networks(trusted)
    current = parse_address(peer)
    if current is None or not is_trusted(current, networks):
        return peer
    hops = forwarded_for.split(",")[-MAX_HOPS:]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # garbage: the last good address is the best we know
        current = address
        if not is_trusted(address, networks):
            break
    return str(current)


def client_address(request: web.Request, trusted: tuple[str, ...]) -> str | None:
    """The address to log for ``request`` (see ``real_client``)."""
    if not trusted:
        return request.remote
    # several X-Forwarded-For headers are one list, in order (RFC 9110 5.3)
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    return real_client(request.remote, forwarded, trusted)
