"""The client address used by the per-client limits, with and without trusted proxies."""

from __future__ import annotations

import pytest

from faceledger.api.client_address import client_address, trusted_networks
from faceledger.errors import ConfigError


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_sends():
    assert client_address("203.0.113.5", ["10.9.9.9"], "") == "203.0.113.5"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_forward():
    assert client_address("203.0.113.5", ["10.9.9.9"], "192.0.2.1") == "203.0.113.5"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client():
    # the client wrote "1.1.1.1" itself; the proxy appended the address it really saw
    assert client_address("192.0.2.1", ["1.1.1.1, 198.51.100.7"], "192.0.2.1") \
        == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right():
    got = client_address("10.0.0.2", ["1.1.1.1", "198.51.100.7, 10.0.0.1"], "10.0.0.0/24")
    assert got == "198.51.100.7"


def test_garbage_where_a_proxy_should_have_written_stops_belief():
    assert client_address("192.0.2.1", ["198.51.100.7, not-an-ip"], "192.0.2.1") \
        == "192.0.2.1"


def test_ports_and_ipv6_are_read():
    assert client_address("::1", ["[2001:db8::5]:4711"], "::1") == "2001:db8::5"
    assert client_address("127.0.0.1", ["198.51.100.7:80"], "127.0.0.1") == "198.51.100.7"


def test_no_header_from_a_trusted_proxy_is_the_proxy():
    assert client_address("192.0.2.1", [], "192.0.2.1") == "192.0.2.1"


def test_a_bad_proxy_list_names_the_item():
    with pytest.raises(ConfigError, match="'10.0.0.300'"):
        trusted_networks("10.0.0.1, 10.0.0.300")
