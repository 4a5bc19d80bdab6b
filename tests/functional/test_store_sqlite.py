"""The SQLite store on a real file: where it lives, what it writes and when, and a second process (the
``keys`` CLI) working on the same file while the gateway runs."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import orjson
import pytest

from bifrost_proxy.governance.store.base import StoreUnavailable, VirtualKeyRecord, Window
from bifrost_proxy.governance.store.sqlite import SqliteStore, default_sqlite_path, sqlite_path
from bifrost_proxy.governance.store.sqlite_db import Database
from tests.system.conftest import eventually

T0 = 1_750_000_000
FAR = 4_000_000_000


def key(name: str = "team-a", **fields) -> VirtualKeyRecord:
    return VirtualKeyRecord(name=name, value_hash="ef" * 32, **fields)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "deeper" / "governance.db"


@pytest.fixture
async def stores(db_path: Path) -> AsyncIterator[Callable[..., SqliteStore]]:
    opened: list[SqliteStore] = []

    async def open_store(**options) -> SqliteStore:
        store = SqliteStore(str(db_path), **options)
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


def query(path: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


async def test_the_file_is_made_with_its_directories_in_wal_mode(stores, db_path):
    await stores()
    assert db_path.is_file()
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_usage_is_written_in_the_background_without_a_close(stores, db_path):
    store = await stores()
    windows = [Window("requests", 10, T0, FAR), Window("cost", 5, T0, FAR)]
    await store.admit("team-a", windows)
    store.charge("team-a", windows, tokens=0, cost=0.125)
    store.record_requests([{"request_id": "r1", "key": "team-a"}])

    def written() -> bool:
        return len(query(db_path, "SELECT * FROM usage_counters")) == 2 and bool(
            query(db_path, "SELECT * FROM request_log"))

    await eventually(written, timeout=10)  # the flush runs every 0.5 s
    assert sorted(query(db_path, "SELECT key_name, metric, start_at, end_at, used FROM usage_counters")) == [
        ("team-a", "cost", T0, FAR, 0.125), ("team-a", "requests", T0, FAR, 1.0)]
    assert [orjson.loads(r[0]) for r in query(db_path, "SELECT row FROM request_log")] == [
        {"request_id": "r1", "key": "team-a"}]


async def test_a_key_made_by_another_process_is_seen_through_the_version(stores):
    server, cli = await stores(), await stores()
    version = await server.keys_version()
    await cli.put_key(key("made-by-cli"))
    assert await server.keys_version() != version
    assert [k.name for k in await server.load_keys()] == ["made-by-cli"]


async def test_a_key_revoked_by_another_process_loses_its_usage_in_the_server(stores, db_path):
    server = await stores()
    await server.put_key(key())
    windows = [Window("requests", 10, T0, FAR)]
    await server.admit("team-a", windows)
    await server.flush()
    cli = await stores()
    assert await cli.delete_key("team-a") is True
    await server.admit("team-a", windows)  # served before the server's next poll: counted in memory
    await server.flush()  # and written back to the file
    assert await server.load_keys() == []  # the poll: the key is gone
    assert await server.usage("team-a", windows) == (0.0,)
    assert query(db_path, "SELECT * FROM usage_counters") == []
    await server.put_key(key())  # the same name made again starts from nothing
    await server.flush()
    assert (await server.admit("team-a", windows)).used == (1.0,)


async def test_a_failed_write_is_retried_with_nothing_lost(stores, db_path, monkeypatch, caplog):
    store = await stores(flush_interval=3600)  # flushed by hand only
    windows = [Window("requests", 10, T0, FAR)]
    original = Database.write
    failures = []

    def full_disk(self, counters, requests):
        if not failures:
            failures.append(len(counters))
            raise sqlite3.OperationalError("database or disk is full")
        return original(self, counters, requests)

    monkeypatch.setattr(Database, "write", full_disk)
    await store.admit("team-a", windows)
    store.record_requests([{"request_id": "r1"}])
    await store.flush()
    assert failures == [1] and "could not save usage" in caplog.text
    await store.admit("team-a", windows)
    store.record_requests([{"request_id": "r2"}])
    await store.flush()
    assert query(db_path, "SELECT used FROM usage_counters") == [(2.0,)]
    assert [orjson.loads(r[0])["request_id"] for r in query(db_path, "SELECT row FROM request_log ORDER BY id")] == [
        "r1", "r2"]


async def test_ended_counters_and_old_request_rows_are_pruned(stores, db_path):
    store = await stores(request_retention=86400)
    now = time.time()
    await store.admit("team-a", [Window("requests", 10, T0 - 60, T0)])  # a period long over
    await store.admit("team-a", [Window("requests", 10, T0, FAR)])
    store.record_requests([{"request_id": "new"}])
    await store.close()
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO request_log (at, row) VALUES (?, ?)", (now - 2 * 86400, '{"request_id": "old"}'))
    store = await stores(request_retention=86400)
    await store.flush()  # the first flush after opening prunes
    assert query(db_path, "SELECT end_at FROM usage_counters") == [(FAR,)]
    assert [r[0] for r in query(db_path, "SELECT row FROM request_log")] == ['{"request_id":"new"}']


async def test_an_unusable_path_is_reported_with_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = SqliteStore(str(blocker / "governance.db"))
    with pytest.raises(StoreUnavailable, match="cannot open the SQLite governance store .*a-file/governance.db"):
        await store.open()
    await store.close()  # harmless after a failed open


def test_the_default_file_is_in_systemds_state_directory_else_here(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state:{tmp_path}/other")
    assert default_sqlite_path() == f"{tmp_path}/state/governance.db"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.chdir(tmp_path)
    assert default_sqlite_path() == f"{tmp_path}/.bifrost-proxy/governance.db"


def test_store_specs_name_files():
    assert sqlite_path("sqlite:///var/lib/bifrost/gov.db") == "/var/lib/bifrost/gov.db"
    assert sqlite_path("sqlite://gov.db") == "gov.db"
    assert sqlite_path("sqlite") == default_sqlite_path()
    for bad in ("sqlite://", "postgres://x", "sqlite3"):
        with pytest.raises(ValueError, match="sqlite:///PATH"):
            sqlite_path(bad)
