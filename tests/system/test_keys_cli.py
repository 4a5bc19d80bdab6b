"""``bifrost-proxy keys ...`` run as users run it (a subprocess), on the store its config names, while a
store opened in this process plays the running server."""
from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from bifrost_proxy.governance.store.base import VirtualKeyRecord, Window
from bifrost_proxy.governance.store.redis import RedisStore
from bifrost_proxy.governance.store.sqlite import SqliteStore
from bifrost_proxy.governance.windows import window
from tests.system.conftest import gateway_env

REDIS_PASSWORD = "redis-cli-pa55word-5ecret"


async def keys(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the CLI off the event loop, so a store open in this test keeps flushing meanwhile."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bifrost_proxy", "keys", *args], cwd=cwd, capture_output=True,
        text=True, timeout=60, env=gateway_env(None, env))


def write_config(tmp_path: Path, governance: dict) -> str:
    path = tmp_path / "bifrost.yaml"
    path.write_bytes(orjson.dumps({"governance": governance}))
    return str(path)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


async def test_create_prints_the_value_once_and_stores_only_its_hash(tmp_path):
    db = tmp_path / "keys.db"
    config = write_config(tmp_path, {"store": f"sqlite://{db}"})
    made = ok(await keys(tmp_path, "create", "team-a", "--config", config, "--allow", "openai/gpt-4o*",
                         "--allow", "openai/o3", "--allow", "anthropic", "--requests", "60/1m",
                         "--tokens", "200000/1h", "--budget", "12.5/1M"))
    value = made.stdout.strip()
    assert made.stdout == value + "\n" and value.startswith("sk-bf-") and len(value) > 40
    assert "shown" not in made.stdout and "this once" in made.stderr and value not in made.stderr
    listed = ok(await keys(tmp_path, "list", "--config", config))
    assert "team-a" in listed.stdout and "openai/gpt-4o*,openai/o3,anthropic" in listed.stdout
    assert "60/1m" in listed.stdout and "200000/1h" in listed.stdout and "$12.5/1M" in listed.stdout
    described = orjson.loads(ok(await keys(tmp_path, "list", "--json", "--config", config)).stdout)
    assert described == [{
        "id": described[0]["id"], "name": "team-a", "is_active": True, "source": "api",
        "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o*", "o3"]},
                             {"provider": "anthropic", "allowed_models": []}],
        "rate_limit": {"request_max_limit": 60, "request_reset_duration": "1m",
                       "token_max_limit": 200000, "token_reset_duration": "1h"},
        "budget": {"max_limit": 12.5, "reset_duration": "1M"}, "created_at": described[0]["created_at"]}]
    everything = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert value.encode() not in everything + (listed.stdout + listed.stderr).encode()
    assert hashlib.sha256(value.encode()).hexdigest().encode() in db.read_bytes()


async def test_a_running_server_sees_keys_made_and_revoked_by_the_cli(tmp_path):
    db = tmp_path / "state" / "governance.db"
    server = SqliteStore(str(db))
    await server.open()
    try:
        version = await server.keys_version()
        value = ok(await keys(tmp_path, "create", "svc", "--store", f"sqlite://{db}", "--requests", "5/1h")).stdout
        assert await server.keys_version() != version  # what the server polls every 0.5 s
        [record] = await server.load_keys()
        assert record.name == "svc" and record.value_hash == hashlib.sha256(value.strip().encode()).hexdigest()
        assert record.rate_limit is not None and record.rate_limit.request_max_limit == 5

        start, end = window("1h", time.time())
        windows = [Window("requests", 5, start, end)]
        await server.admit("svc", windows)
        await server.admit("svc", windows)
        await server.flush()  # what the server does every 0.5 s
        usage = orjson.loads(ok(await keys(tmp_path, "usage", "svc", "--json", "--store", f"sqlite://{db}")).stdout)
        assert [(u["metric"], u["current_usage"], u["max_limit"]) for u in usage["usage"]] == [("requests", 2.0, 5.0)]

        version = await server.keys_version()
        ok(await keys(tmp_path, "revoke", "svc", "--store", f"sqlite://{db}"))
        assert await server.keys_version() != version
        assert await server.load_keys() == []
        assert await server.usage("svc", windows) == (0.0,)
    finally:
        await server.close()


async def test_usage_shows_each_limit_against_its_period(tmp_path):
    db = tmp_path / "g.db"
    ok(await keys(tmp_path, "create", "team-b", "--store", f"sqlite://{db}", "--tokens", "1000/1d",
                  "--budget", "2/1M"))
    server = SqliteStore(str(db))
    await server.open()
    now = time.time()
    windows = [Window("tokens", 1000, *window("1d", now)), Window("cost", 2, *window("1M", now))]
    server.charge("team-b", windows, tokens=640, cost=0.75)
    await server.close()
    shown = ok(await keys(tmp_path, "usage", "team-b", "--store", f"sqlite://{db}")).stdout.splitlines()
    assert shown[0] == "team-b (active, api)"
    assert shown[1].split(", resets")[0] == "  tokens    640 / 1000 per 1d"
    assert shown[2].split(", resets")[0] == "  budget    $0.7500 / $2 per 1M"


async def test_keys_declared_in_the_config_are_read_only_here(tmp_path):
    db = tmp_path / "g.db"
    config = write_config(tmp_path, {
        "store": f"sqlite://{db}",
        "budgets": [{"id": "budget-team", "max_limit": 50, "reset_duration": "1M"}],
        "virtual_keys": [{"id": "vk-1", "name": "from-config", "value": "env.NOT_READ_BY_THE_CLI",
                          "budget_id": "budget-team", "is_active": False,
                          "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o*"]}]}]})
    for args in (("create", "from-config"), ("revoke", "from-config")):
        refused = await keys(tmp_path, *args, env={"BIFROST_CONFIG": config})  # found as the server finds it
        assert refused.returncode == 1 and "declared in the config file" in refused.stderr
    listed = ok(await keys(tmp_path, "list", env={"BIFROST_CONFIG": config})).stdout
    assert "from-config  no      config  openai/gpt-4o*" in listed
    usage = ok(await keys(tmp_path, "usage", "from-config", env={"BIFROST_CONFIG": config})).stdout
    assert "from-config (inactive, config)" in usage and "$0.0000 / $50 per 1M" in usage


async def test_a_config_key_the_server_stored_is_not_revoked_without_the_config(tmp_path):
    db = tmp_path / "g.db"
    server = SqliteStore(str(db))
    await server.open()
    await server.put_key(VirtualKeyRecord(name="declared", value_hash="00" * 32, source="config"))
    await server.close()
    refused = await keys(tmp_path, "revoke", "declared", "--store", f"sqlite://{db}")
    assert refused.returncode == 1 and "declared in the config file" in refused.stderr
    assert "declared  yes     config" in ok(await keys(tmp_path, "list", "--store", f"sqlite://{db}")).stdout


async def test_reading_commands_on_a_store_not_made_yet_create_nothing(tmp_path):
    listed = ok(await keys(tmp_path, "list"))
    assert listed.stdout == "" and "no virtual keys yet" in listed.stderr
    missing = await keys(tmp_path, "usage", "nobody")
    assert missing.returncode == 1 and "no key named 'nobody'" in missing.stderr
    assert not (tmp_path / ".bifrost-proxy").exists()


async def test_the_default_store_is_in_the_state_directory(tmp_path):
    state = tmp_path / "state"
    ok(await keys(tmp_path, "create", "k", env={"STATE_DIRECTORY": str(state)}))
    assert (state / "governance.db").is_file() and not (tmp_path / ".bifrost-proxy").exists()
    ok(await keys(tmp_path, "create", "here"))
    assert (tmp_path / ".bifrost-proxy" / "governance.db").is_file()


@pytest.mark.parametrize("args, message", [
    (("create", "k", "--requests", "lots/1m"), "argument --requests: 'lots/1m': write requests > 0"),
    (("create", "k", "--tokens", "100"), "argument --tokens: '100': "),  # no duration
    (("create", "k", "--budget", "5/1q"), "argument --budget: '5/1q': "),
    (("create", "k", "--allow", "/gpt-4o"), "argument --allow: '/gpt-4o': write PROVIDER"),
    (("revoke",), "the following arguments are required: name"),
    (("rotate", "k"), "invalid choice: 'rotate'"),
    (("list", "--store", "postgres://db/x"), "unknown store 'postgres'"),
    (("list", "--store", "memory"), "the CLI cannot reach them"),
    (("list", "--config", "does-not-exist.yaml"), "does-not-exist.yaml: cannot read the config file"),
])
async def test_bad_usage_exits_2_with_a_message(tmp_path, args, message):
    result = await keys(tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


async def test_the_redis_store_named_by_the_config(tmp_path, redis_server):
    config = write_config(tmp_path, {"store": redis_server.url(3)})
    value = ok(await keys(tmp_path, "create", "shared", "--config", config, "--budget", "1/1d")).stdout.strip()
    server = RedisStore(redis_server.url(3))
    await server.open()
    try:
        [record] = await server.load_keys()
        assert record.name == "shared" and record.value_hash == hashlib.sha256(value.encode()).hexdigest()
        assert "shared" in ok(await keys(tmp_path, "list", "--config", config)).stdout
        ok(await keys(tmp_path, "revoke", "shared", "--config", config))
        assert await server.load_keys() == []
    finally:
        await server.close()


async def test_an_unreachable_redis_exits_1_without_its_password(tmp_path, redis_server):
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    redis_server.stop()
    result = await keys(tmp_path, "list", "--store", url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Redis governance store at 127.0.0.1:{redis_server.port}/0 is unavailable" in result.stderr
    assert REDIS_PASSWORD not in result.stderr + result.stdout
