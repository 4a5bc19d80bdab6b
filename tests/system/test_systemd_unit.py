"""conf/bifrost-proxy.service: systemd accepts it, and its commands do what systemd will make them do.

No systemd runs in CI, so the test plays its part: it starts ExecStart with the EnvironmentFile's variables,
NOTIFY_SOCKET and WATCHDOG_USEC (from WatchdogSec), runs ExecReload with $MAINPID, and stops the service with
SIGTERM to the main process (KillMode=mixed), checking the notifications at each step.
"""
from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRETS
from tests.system.conftest import REPO

UNIT = REPO / "conf" / "bifrost-proxy.service"
INSTALLED_BINARY = "/opt/bifrost-proxy/bin/bifrost-proxy"
INSTALLED_CONFIG = "/etc/bifrost-proxy/bifrost.yaml"
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


def unit() -> dict[str, list[str]]:
    """``Section.Key`` -> values, in order (systemd allows a key more than once)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.setdefault(f"{section}.{key}", []).append(value)
    return entries


def this_python(command: str, config: Path | None = None) -> list[str]:
    """The unit's command with the installed console script replaced by this interpreter running the package."""
    argv = shlex.split(command)
    assert argv[0] == INSTALLED_BINARY
    argv = [sys.executable, "-m", "bifrost_proxy", *argv[1:]]
    return [str(config) if a == INSTALLED_CONFIG and config else a for a in argv]


def environment_file(path: Path) -> dict[str, str]:
    """The subset of systemd's EnvironmentFile= syntax the README asks for: KEY=value lines, # comments."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip().strip('"')
    return env


def test_the_unit_asks_for_what_production_needs():
    u = unit()
    assert u["Service.Type"] == ["notify"] and u["Service.NotifyAccess"] == ["main"]
    assert u["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert u["Service.EnvironmentFile"] == ["/etc/bifrost-proxy/env"]
    assert u["Service.KillMode"] == ["mixed"] and u["Service.Restart"] == ["on-failure"]
    assert int(u["Service.TimeoutStopSec"][0]) > 30  # more than server.shutdown_grace_seconds' default
    assert int(u["Service.WatchdogSec"][0]) > 0
    for hardening in ("DynamicUser", "NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert u[f"Service.{hardening}"] == ["yes"], hardening
    assert u["Service.ProtectSystem"] == ["strict"]
    assert u["Service.CapabilityBoundingSet"] == [""]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    u = unit()
    copy = tmp_path / "bifrost-proxy.service"
    text = UNIT.read_text().replace(u["Service.ExecStart"][0], shlex.join(this_python(u["Service.ExecStart"][0])))
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


async def test_exec_start_reload_and_stop_as_systemd_runs_them(launch, fake_openai, http, tmp_path):
    u = unit()
    env_file = tmp_path / "env"
    env_file.write_text(f"# keys, readable by root only\nOPENAI_API_KEY={TEST_SECRETS[2]}\n")
    config = {"providers": {"openai": {"keys": [{"name": "primary", "value": "env.OPENAI_API_KEY"}],
                                       "network_config": {"base_url": fake_openai.base_url}}}}
    watchdog_usec = str(int(u["Service.WatchdogSec"][0]) * 1_000_000)
    gw = await launch(config, argv=lambda path: this_python(u["Service.ExecStart"][0], path),
                      env={**environment_file(env_file), "WATCHDOG_USEC": watchdog_usec})
    await gw.notify.expect("WATCHDOG=1", timeout=5)  # the first ping goes out at once
    async with http.post(f"{gw.base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
    assert fake_openai.calls[-1].key == TEST_SECRETS[2]  # the key came from the EnvironmentFile
    first_line = gw.log().splitlines()[0]
    assert first_line.startswith("{")  # --log-format json, as the unit asks

    reload = shlex.split(u["Service.ExecReload"][0].replace("$MAINPID", str(gw.pid)))
    assert subprocess.run(reload, timeout=10).returncode == 0
    await gw.notify.expect("RELOADING=1")
    await gw.notify.expect("READY=1")

    gw.signal(signal.SIGTERM)  # KillMode=mixed: SIGTERM to the main process only
    await gw.notify.expect("STOPPING=1")
    assert await gw.exit_status(timeout=int(u["Service.TimeoutStopSec"][0])) == 0
    assert TEST_SECRETS[2] not in gw.log()
