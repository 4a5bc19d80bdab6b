"""X-Forwarded-For is believed only from trusted proxies, read from the right."""
from __future__ import annotations

import pytest

from bifrost_proxy.lifecycle.forwarded import parse_address, real_client, trusted_networks

TRUSTED = ("127.0.0.1", "10.0.0.0/8", "::1")


@pytest.mark.parametrize("peer, header, expected", [
    ("203.0.113.7", "198.51.100.1", "203.0.113.7"),            # an untrusted peer's claim is ignored
    ("127.0.0.1", "198.51.100.1", "198.51.100.1"),             # nginx on this host
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),   # two trusted hops
    ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),    # a spoofed leftmost entry stays ignored
    ("127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9"),           # all trusted: the leftmost
    ("127.0.0.1", "garbage, 10.1.2.3", "10.1.2.3"),            # garbage stops the walk at the last good one
    ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),      # dual-stack socket
    ("::1", "[2001:db8::1]:443", "2001:db8::1"),
    ("127.0.0.1", "198.51.100.1:5555", "198.51.100.1"),
])
def test_real_client(peer, header, expected):
    assert real_client(peer, header, TRUSTED) == expected


def test_nothing_trusted_means_the_peer():
    assert real_client("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"


def test_invalid_entries_are_skipped():
    assert [str(n) for n in trusted_networks(("10.0.0.0/8", "not-an-ip", "192.168.1.5"))] == [
        "10.0.0.0/8", "192.168.1.5/32"]


def test_parse_address_rejects_names():
    assert parse_address("proxy.internal") is None
    assert str(parse_address(" 192.0.2.1 ")) == "192.0.2.1"
