"""The startup rules: who may reach an ungoverned gateway, workers and a process-local store, reloads."""
from __future__ import annotations

import logging

import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.governance.headers import reset_text
from bifrost_proxy.governance.startup import check_workers, is_loopback, warn_if_open, warn_on_reload

PROVIDERS = {"openai": {"keys": [{"name": "k", "value": "sk-provider-unit-1"}]}}


def config(**governance):
    return parse_config({"providers": PROVIDERS, "governance": governance}, "<t>", {})


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("127.0.0.5", True), ("0.0.0.0", False),
                                            ("::", False), ("10.0.0.7", False), ("gateway.internal", False)])
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_an_open_address_without_governance_is_warned_about_once(caplog):
    caplog.set_level(logging.WARNING, logger="bifrost_proxy.governance")
    warn_if_open(config(), "127.0.0.1")
    warn_if_open(config(enabled=True, store="memory"), "0.0.0.0")
    assert not caplog.records
    warn_if_open(config(), "0.0.0.0")
    assert len(caplog.records) == 1 and "anyone who reaches this address" in caplog.records[0].getMessage()


@pytest.mark.parametrize("store, refused", [("sqlite", True), ("sqlite://g.db", True), ("memory", True),
                                            ("redis://127.0.0.1:6379/0", False)])
def test_workers_need_a_shared_store(store, refused):
    problem = check_workers(config(enabled=True, store=store), 2)
    assert (problem is not None) is refused
    if refused:
        assert "redis://HOST:PORT/DB" in problem and "\n" not in problem
    assert check_workers(config(enabled=True, store=store), 1) is None
    assert check_workers(config(), 4) is None  # governance off: nothing to count


def test_turning_governance_on_by_reload_says_a_restart_is_needed(caplog):
    caplog.set_level(logging.ERROR, logger="bifrost_proxy.governance")
    warn_on_reload(config(), config(enabled=True, store="memory"))
    assert "restart the gateway" in caplog.text and "not checked" in caplog.text
    caplog.clear()
    warn_on_reload(config(enabled=True, store="memory"), config(enabled=True, store="memory", admin_key="x" * 20))
    assert not caplog.records


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (60, "1m0s"), (360, "6m0s"), (3723, "1h2m3s"),
                                           (-3, "0s"), (86400 * 31, "744h0m0s")])
def test_reset_texts_in_openais_style(seconds, text):
    assert reset_text(seconds) == text
