"""Which client a request comes from, for the per-client limits (refused credentials, sign-in).

By default it is the TCP peer. Behind a reverse proxy every request's peer is the proxy, so
one client's refused keys would lock every client out; the operator then names the proxies
(``FACELEDGER_TRUSTED_PROXIES``: addresses or networks, comma-separated). For a request from
one of them, the client is the right-most address in ``X-Forwarded-For`` that is not itself a
trusted proxy: each proxy appends the address it saw, so entries to the left of the last
untrusted hop were written by the client and are never believed. A request from any other
peer is its peer, whatever headers it sends.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from ..errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS = 32  # a longer X-Forwarded-For is read only at its right-most 32 entries


@lru_cache(maxsize=16)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """``spec`` ("10.0.0.1, 192.168.0.0/16, ::1") as networks; ConfigError names a bad item."""
    out = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"FACELEDGER_TRUSTED_PROXIES: {item!r} is not an address or "
                              "network") from None
    return tuple(out)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [::1]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 1.2.3.4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


def client_address(peer: str | None, forwarded_for: list[str], trusted: str) -> str:
    """The client's address given the TCP ``peer``, the ``X-Forwarded-For`` header values and
    the trusted proxies' spec (see the module docstring)."""
    if not peer:
        return "unknown"
    networks = trusted_networks(trusted)
    addr = _address(peer)
    if not networks or addr is None or not _trusted(addr, networks):
        return peer
    hops = [h for h in ",".join(forwarded_for).split(",") if h.strip()][-MAX_HOPS:]
    for hop in reversed(hops):
        hop_addr = _address(hop)
        if hop_addr is None:  # not written by a proxy we trust: stop believing here
            return peer
        if not _trusted(hop_addr, networks):
            return str(hop_addr)
    return str(_address(hops[0])) if hops else peer
