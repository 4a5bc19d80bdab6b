"""The dashboard's access rules as pure functions: sessions, loopback-only, the admin key as credentials."""
from __future__ import annotations

import pytest

from bifrost_proxy.ui.auth import SESSION_SECONDS, is_local, key_matches, session_token, valid_session

KEY = "admin-test-5ecret"
NOW = 1_800_000_000.0


def test_a_session_is_valid_until_it_expires_and_only_for_the_key_that_signed_it():
    token = session_token(KEY, NOW)
    assert KEY not in token
    assert valid_session(KEY, token, NOW)
    assert valid_session(KEY, token, NOW + SESSION_SECONDS - 1)
    assert not valid_session(KEY, token, NOW + SESSION_SECONDS + 1)
    assert not valid_session("another-admin-key", token, NOW)  # a new admin key ends every session


@pytest.mark.parametrize("token", [None, "", "garbage", "1.2.3", "x.abc", "99999999999999.abc",
                                   f"{int(NOW) + 60}.{'0' * 64}"])
def test_a_forged_or_malformed_session_is_refused(token):
    assert not valid_session(KEY, token, NOW)


def test_a_session_whose_expiry_was_pushed_out_is_refused():
    expiry, signature = session_token(KEY, NOW).split(".")
    assert not valid_session(KEY, f"{int(expiry) + 10**6}.{signature}", NOW)


def test_the_admin_key_must_match_exactly():
    assert key_matches(KEY, KEY)
    assert not key_matches(KEY, KEY + " ")
    assert not key_matches(KEY, "")
    assert not key_matches(KEY, "\udcff")  # undecodable bytes never raise


@pytest.mark.parametrize("peer,forwarded,local", [
    ("127.0.0.1", [], True),
    ("::1", [], True),
    ("::ffff:127.0.0.1", [], True),
    ("127.0.0.2", [], True),
    ("192.0.2.7", [], False),
    (None, [], False),
    ("", [], False),
    # a proxy on this host passing on a remote client: not local, whatever the proxy's own address
    ("127.0.0.1", ["203.0.113.9"], False),
    ("127.0.0.1", ["127.0.0.1, 203.0.113.9"], False),
    ("127.0.0.1", ["127.0.0.1", "::1"], True),
    ("127.0.0.1", ["not-an-address"], False),
    ("127.0.0.1", [",".join(["127.0.0.1"] * 40)], False),
    # a remote client claiming to be local is still remote
    ("198.51.100.1", ["127.0.0.1"], False),
])
def test_loopback_only_means_every_address_on_the_way_is_loopback(peer, forwarded, local):
    assert is_local(peer, forwarded) is local

