"""Governance in the gateway as users start it: a Bifrost config.json enforcing, SIGHUP, the startup rules."""
from __future__ import annotations

import signal
import subprocess
import sys

import aiohttp
import orjson

from tests.conftest import TEST_SECRETS, openai_config
from tests.system.conftest import eventually, gateway_env

TEAM_A, TEAM_B, ADMIN = TEST_SECRETS[3], TEST_SECRETS[4], TEST_SECRETS[5]
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


def bifrost_json(base_url: str) -> dict:
    """A Bifrost config.json (its field names and its governance block) pointed at the fake upstream."""
    config = openai_config(base_url)
    config["client"] = {"enforce_auth_on_inference": True}
    config["governance"] = {
        "store": "memory",  # this gateway's addition; Bifrost's files get the default (sqlite)
        "rate_limits": [{"id": "rl-2", "request_max_limit": 2, "request_reset_duration": "1d"}],
        "virtual_keys": [
            {"id": "vk-a", "name": "team-a", "value": "env.VK_TEAM_A", "is_active": True, "rate_limit_id": "rl-2",
             "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"], "key_ids": ["*"],
                                   "weight": 1}]},
            {"id": "vk-b", "name": "team-b", "value": "env.VK_TEAM_B", "is_active": False}],
        "auth_config": {"is_enabled": True, "admin_username": "admin", "admin_password": "env.BIFROST_ADMIN"},
    }
    return config


ENV = {"VK_TEAM_A": TEAM_A, "VK_TEAM_B": TEAM_B, "BIFROST_ADMIN": ADMIN}


async def post(http: aiohttp.ClientSession, base: str, key: str | None, model: str = "openai/gpt-4o-mini") -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": model}, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_a_bifrost_config_json_loads_and_enforces(launch, fake_openai, http):
    gw = await launch(bifrost_json(fake_openai.base_url), env=ENV)
    assert await post(http, gw.base, None) == 401
    assert await post(http, gw.base, TEAM_B) == 401  # is_active: false
    assert await post(http, gw.base, TEAM_A, "openai/gpt-4o") == 403  # outside provider_configs
    assert [await post(http, gw.base, TEAM_A) for _ in range(3)] == [200, 200, 429]  # rate_limit_id: 2 a day
    async with http.get(f"{gw.base}/api/governance/virtual-keys/team-a", headers={"Authorization": aiohttp.encode_basic_auth("admin", ADMIN)}) as resp:
        shown = (await resp.json())["virtual_key"]
    assert shown["rate_limit"]["request_current_usage"] == 2 and shown["source"] == "config"
    assert all(TEAM_A not in c.body.__repr__() and TEAM_A not in repr(c.headers) for c in fake_openai.calls)
    log = gw.log()
    assert not any(secret in log for secret in (TEAM_A, TEAM_B, ADMIN))
    assert "governance off" not in log


async def test_sighup_applies_a_changed_key_within_a_second(launch, fake_openai, http):
    config = bifrost_json(fake_openai.base_url)
    gw = await launch(config, env=ENV)
    assert await post(http, gw.base, TEAM_B) == 401
    config["governance"]["virtual_keys"][1]["is_active"] = True
    del config["governance"]["virtual_keys"][0]  # team-a leaves the config: revoked
    gw.write_config(config)
    gw.signal(signal.SIGHUP)
    await gw.notify.expect("READY=1")
    assert await eventually(lambda: _status_is(http, gw.base, TEAM_B, 200), timeout=2.0)
    assert await post(http, gw.base, TEAM_A) == 401


async def _status_is(http, base, key, status) -> bool:
    return await post(http, base, key) == status


async def test_open_to_the_world_without_governance_logs_one_warning(launch, fake_openai):
    config = openai_config(fake_openai.base_url)
    config["server"] = {"host": "0.0.0.0"}
    gw = await launch(config)
    assert gw.log().count("with governance off: anyone who reaches this address can use every configured") == 1
    gw_local = await launch(openai_config(fake_openai.base_url))
    assert "governance off" not in gw_local.log()


def test_workers_with_a_process_local_store_refuse_to_start_naming_redis(tmp_path):
    for store in ("sqlite", "sqlite://gov.db", "memory"):
        config = openai_config("http://127.0.0.1:9")
        config["governance"] = {"enabled": True, "store": store, "virtual_keys": [{"name": "a", "value": TEAM_A}]}
        path = tmp_path / "bifrost.json"
        path.write_bytes(orjson.dumps({**config, "server": {"host": "127.0.0.1", "port": 18089}}))
        result = subprocess.run([sys.executable, "-m", "bifrost_proxy", "--config", str(path), "--workers", "2"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60, env=gateway_env(None))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "redis://HOST:PORT/DB" in lines[0] and "--workers 2" in lines[0]
        assert not (tmp_path / ".bifrost-proxy").exists() and not (tmp_path / "gov.db").exists()


def test_check_config_shows_keys_by_name_only(tmp_path):
    path = tmp_path / "bifrost.json"
    path.write_bytes(orjson.dumps(bifrost_json("http://127.0.0.1:9")))
    result = subprocess.run([sys.executable, "-m", "bifrost_proxy", "--config", str(path), "--check-config"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=gateway_env(None, ENV))
    assert result.returncode == 0, result.stderr
    assert "governance: on (store memory, admin API on)" in result.stdout
    assert "virtual key team-a: providers=openai[gpt-4o-mini] requests=2/1d" in result.stdout
    assert "virtual key team-b: inactive" in result.stdout
    assert not any(s in result.stdout + result.stderr for s in (TEAM_A, TEAM_B, ADMIN))


def test_the_unit_gives_the_sqlite_store_a_state_directory_and_nginx_keeps_the_admin_api_local():
    from tests.system.test_systemd_unit import unit
    from tests.system.conftest import REPO

    assert unit()["Service.StateDirectory"] == ["bifrost-proxy"]  # systemd passes it as $STATE_DIRECTORY
    site = (REPO / "conf" / "nginx" / "bifrost.conf").read_text()
    block = site[site.index("location /api/ {"):]
    block = block[:block.index("}")]
    assert "allow 127.0.0.1;" in block and "allow ::1;" in block and "deny all;" in block
