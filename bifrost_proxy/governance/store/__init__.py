"""Where virtual keys and their usage live: ``base.py`` is the protocol, one module per store.

``governance.store`` picks one:
- ``sqlite`` (default): ``governance.db`` in ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``), else in
  ``./.bifrost-proxy/``; ``sqlite:///var/lib/g.db`` names the file (``sqlite://g.db``: relative to the
  working directory). One process: counters live in its memory.
- ``redis://HOST:PORT/DB`` (or ``rediss://``, ``unix://``): shared by every instance and worker.
- ``memory``: nothing persisted (tests, and a gateway that wants limits without state across restarts).
The SQLite and Redis modules are imported only when chosen, so their dependencies load only then; the
server and the ``keys`` CLI read a spec with the same functions (``store/sqlite.py: sqlite_path``).
"""
from __future__ import annotations

import os
from pathlib import Path

from bifrost_proxy.governance.store.base import GovernanceStore

STORE_HELP = "use sqlite, sqlite:///PATH, redis://HOST:PORT/DB or memory"


def check_store_spec(spec: str) -> str | None:
    """Why ``spec`` names no store, or None."""
    if spec in ("sqlite", "memory"):
        return None
    if spec.startswith("sqlite://"):
        return None if spec[len("sqlite://"):] else "sqlite:// needs a file path after it (sqlite:///var/lib/g.db)"
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return None
    return f"unknown store {spec.split('://')[0][:100]!r}"


def store_kind(spec: str) -> str:
    """``sqlite``, ``redis`` or ``memory``: which kind of store ``spec`` names."""
    if spec.startswith("sqlite"):
        return "sqlite"
    return "memory" if spec == "memory" else "redis"


def open_store(spec: str, state_dir: str | os.PathLike[str] | None = None) -> GovernanceStore:
    """The store ``spec`` names, constructed but not yet opened (``await store.open()`` does that).

    ``state_dir`` replaces the default directory of a plain ``sqlite`` spec ($STATE_DIRECTORY, else
    ./.bifrost-proxy).
    """
    problem = check_store_spec(spec)
    if problem:
        raise ValueError(f"governance.store: {problem}; {STORE_HELP}")
    kind = store_kind(spec)
    if kind == "memory":
        from bifrost_proxy.governance.store.memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from bifrost_proxy.governance.store.sqlite import SqliteStore, sqlite_path

        path = str(Path(state_dir) / "governance.db") if spec == "sqlite" and state_dir is not None \
            else sqlite_path(spec)
        return SqliteStore(path)
    from bifrost_proxy.governance.store.redis import RedisStore

    return RedisStore(spec)


def describe_store(spec: str) -> str:
    """``spec`` fit for a log line: a Redis URL's password is replaced by ``***``."""
    scheme, sep, rest = spec.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return spec
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return f"{scheme}://{user}:***@{host}"


def store_secret(spec: str) -> str | None:
    """The password a Redis URL holds, so that logs can mask it; None when it holds none."""
    scheme, sep, rest = spec.partition("://")
    userinfo, at, _ = rest.rpartition("@")
    if not sep or not at:
        return None
    password = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
    return password or None
