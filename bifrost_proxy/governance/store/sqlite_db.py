"""The SQL of the SQLite store. Every method runs in the store's one worker thread, never on the event loop.

One file, WAL mode: the gateway writes usage in batches while the ``keys`` CLI, another process, reads and
writes key definitions; ``busy_timeout`` makes either wait for the other's short transaction instead of
failing. Every change to a key bumps ``store_meta.keys_version`` in the same transaction, which is how a
running gateway notices the CLI's work.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

from bifrost_proxy.governance.store.codec import record_from_json, record_to_json
from bifrost_proxy.governance.store.base import VirtualKeyRecord

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
SCHEMA = """
CREATE TABLE IF NOT EXISTS virtual_keys (
    name TEXT PRIMARY KEY, id TEXT NOT NULL, value_hash TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage_counters (
    key_name TEXT NOT NULL, metric TEXT NOT NULL, start_at INTEGER NOT NULL, end_at INTEGER NOT NULL,
    used REAL NOT NULL, PRIMARY KEY (key_name, metric, start_at)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_counters_end ON usage_counters (end_at);
CREATE TABLE IF NOT EXISTS request_log (id INTEGER PRIMARY KEY, at REAL NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS request_log_at ON request_log (at);
INSERT OR IGNORE INTO store_meta VALUES ('keys_version', 0);
"""
BUMP_VERSION = "UPDATE store_meta SET value = value + 1 WHERE name = 'keys_version'"
UPSERT_COUNTER = """INSERT INTO usage_counters VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (key_name, metric, start_at) DO UPDATE SET used = excluded.used, end_at = excluded.end_at"""

Counter = tuple[str, str, int, int, float]  # key name, metric, window start, window end, used


class Database:
    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit: every write below is one explicit transaction
        self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a power cut may lose the last commit only
        # idempotent statements, each its own transaction: two processes opening a new file race harmlessly
        self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def keys_version(self) -> int:
        row = self.db.execute("SELECT value FROM store_meta WHERE name = 'keys_version'").fetchone()
        return int(row[0]) if row else 0

    def load_keys(self) -> list[VirtualKeyRecord]:
        return [record_from_json(r[0]) for r in self.db.execute("SELECT record FROM virtual_keys ORDER BY name")]

    def put_key(self, record: VirtualKeyRecord) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO virtual_keys VALUES (?, ?, ?, ?)",
                            (record.name, record.id, record.value_hash, record_to_json(record).decode()))
            self.db.execute(BUMP_VERSION)

    def delete_key(self, name: str) -> bool:
        with self.transaction():
            deleted = self.db.execute("DELETE FROM virtual_keys WHERE name = ?", (name,)).rowcount > 0
            self.db.execute("DELETE FROM usage_counters WHERE key_name = ?", (name,))
            if deleted:
                self.db.execute(BUMP_VERSION)
        return deleted

    def forget_counters(self, names: Iterable[str]) -> None:
        with self.transaction():
            self.db.executemany("DELETE FROM usage_counters WHERE key_name = ?", [(n,) for n in names])

    def live_counters(self, now: float) -> list[Counter]:
        return self.db.execute("SELECT key_name, metric, start_at, end_at, used FROM usage_counters "
                               "WHERE end_at > ?", (now,)).fetchall()

    def newest_requests(self, limit: int) -> list[str]:
        """The newest ``limit`` rows' JSON, oldest first."""
        rows = self.db.execute("SELECT row FROM request_log ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in reversed(rows)]

    def write(self, counters: list[Counter], requests: list[tuple[float, str]]) -> None:
        with self.transaction():
            self.db.executemany(UPSERT_COUNTER, counters)
            self.db.executemany("INSERT INTO request_log (at, row) VALUES (?, ?)", requests)

    def prune(self, counters_before: float, requests_before: float) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM usage_counters WHERE end_at < ?", (counters_before,))
            self.db.execute("DELETE FROM request_log WHERE at < ?", (requests_before,))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an error: takes the write lock up front, so a
    busy database makes us wait (busy_timeout) instead of failing halfway."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
