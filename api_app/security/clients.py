"""The client address: the direct peer, or what `X-Forwarded-For` says when the peer is a trusted proxy."""

import ipaddress
from functools import lru_cache

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(scope: Scope, trusted_proxies: tuple[str, ...]) -> str:
    """Walk `X-Forwarded-For` from the right while the hop is a trusted proxy; the first untrusted hop
    is the client (so a client cannot forge its address by sending the header itself)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    trusted = networks(trusted_proxies)
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        address = hop
        if not _trusted(hop, trusted):
            break
    return address[:64]
