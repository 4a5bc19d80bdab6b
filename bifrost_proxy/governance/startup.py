"""Startup checks about who may reach the gateway (``cli.py`` calls them before serving).

- A gateway listening beyond loopback with governance off spends the operator's provider keys for anyone
  who reaches it: one warning says so.
- ``--workers N`` with a SQLite (or memory) store would keep N separate sets of counters, so every limit
  would silently be N times what the config says: refuse, naming the store that shares counters.
"""
from __future__ import annotations

import ipaddress
import logging

from bifrost_proxy.config.schema import Config
from bifrost_proxy.governance.store import store_kind

log = logging.getLogger("bifrost_proxy.governance")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def warn_if_open(config: Config, host: str) -> None:
    if not config.governance.enabled and not is_loopback(host):
        log.warning("listening on %s with governance off: anyone who reaches this address can use every "
                    "configured provider key; set governance.enabled with virtual keys, or listen on 127.0.0.1 "
                    "behind a proxy that authenticates", host)


def check_workers(config: Config, workers: int) -> str | None:
    """One line when ``--workers`` cannot keep the limits global, else None."""
    governance = config.governance
    if workers > 1 and governance.active and store_kind(governance.store) != "redis":
        return (f"--workers {workers} with governance.store {governance.store!r} would count each worker's "
                "requests apart (every limit x N): use governance.store: redis://HOST:PORT/DB, or one worker")
    return None


def warn_on_reload(old: Config, new: Config) -> None:
    """Governance is set up when the gateway starts: turning it on or off needs a restart."""
    if new.governance.active != old.governance.active:
        log.error("governance was turned %s in the reloaded config: restart the gateway to apply it (until then "
                  "virtual keys are %s)", "on" if new.governance.active else "off",
                  "still checked" if old.governance.active else "not checked")


def describe_governance(config: Config) -> list[str]:
    """``--check-config``'s governance lines: keys by name, never by value."""
    from bifrost_proxy.governance.store import describe_store

    governance = config.governance
    lines = [f"governance: {'on' if governance.enabled else 'off'} (store {describe_store(governance.store)}, "
             f"admin API {'on' if governance.admin_key else 'off'})"]
    for key in governance.virtual_keys:
        parts = [] if key.is_active else ["inactive"]
        if key.provider_configs:
            parts.append("providers=" + ",".join(p.provider + (f"[{','.join(p.allowed_models)}]" if p.allowed_models
                                                               else "") for p in key.provider_configs))
        rate = key.rate_limit
        if rate is not None and rate.request_max_limit:
            parts.append(f"requests={rate.request_max_limit}/{rate.request_reset_duration}")
        if rate is not None and rate.token_max_limit:
            parts.append(f"tokens={rate.token_max_limit}/{rate.token_reset_duration}")
        if key.budget is not None:
            parts.append(f"budget=${key.budget.max_limit:g}/{key.budget.reset_duration}")
        lines.append(f"  virtual key {key.name}: {' '.join(parts) or 'every model, no limits'}")
    return lines
