"""The command line as a user runs it: --check-config, bad configs, bad flags. Exit statuses and output."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import orjson

from tests.system.conftest import gateway_env

SECRET = "sk-system-literal-0123456789"
ENV_SECRET = "sk-system-from-env-9876543210"


def run(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bifrost_proxy", *flags], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=gateway_env(None, env))


def config_file(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "bifrost.yaml"
    path.write_bytes(orjson.dumps(config))
    return str(path)


def test_check_config_prints_the_table_with_key_names_only(tmp_path):
    path = config_file(tmp_path, {"server": {"port": 9123}, "providers": {
        "openai": {"keys": [{"name": "primary", "value": SECRET, "models": ["gpt-4o-mini"]},
                            {"name": "from-env", "value": "env.SYSTEM_TEST_KEY", "weight": 2}]},
        "local-vllm": {"type": "openai", "network_config": {"base_url": "http://127.0.0.1:8000"}}}})
    result = run(tmp_path, "--config", path, "--check-config", env={"SYSTEM_TEST_KEY": ENV_SECRET})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "listen: 0.0.0.0:9123" in out
    assert "key primary: models=gpt-4o-mini" in out and "key from-env: models=*" in out
    assert "local-vllm: type=openai base_url=http://127.0.0.1:8000" in out
    assert SECRET not in out + result.stderr and ENV_SECRET not in out + result.stderr


def test_a_bad_config_exits_2_naming_each_field_without_a_traceback(tmp_path):
    path = config_file(tmp_path, {"server": {"port": "eighty"}, "providers": {
        "openai": {"keys": [{"name": "primary", "value": SECRET, "weight": -1}]},
        "mystery": {"keys": [{"name": "k", "value": SECRET}]}}})
    for flags in (["--check-config"], []):  # the same whether checking or starting
        result = run(tmp_path, "--config", path, *flags)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert f"{path}: server.port: must be an integer >= 0" in lines
        assert any(line.startswith(f"{path}: providers.openai.keys[0].weight: must be a number > 0")
                   for line in lines)
        assert any(line.startswith(f"{path}: providers.mystery.type: required") for line in lines)
        assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
        assert result.stdout == ""


def test_a_missing_env_key_names_the_variable_not_a_value(tmp_path):
    path = config_file(tmp_path, {"providers": {"openai": {"keys": [{"name": "p", "value": "env.NOT_SET_ANYWHERE"}]}}})
    result = run(tmp_path, "--config", path, "--check-config")
    assert result.returncode == 2
    assert "providers.openai.keys[0].value: environment variable NOT_SET_ANYWHERE is not set" in result.stderr


def test_workers_must_be_a_positive_number_and_need_a_fixed_port(tmp_path):
    path = config_file(tmp_path, {"providers": {}})
    result = run(tmp_path, "--config", path, "--workers", "0")
    assert result.returncode == 2 and "--workers: must be a whole number >= 1" in result.stderr
    result = run(tmp_path, "--config", path, "--workers", "2", "--port", "0")
    assert result.returncode == 2 and "--workers needs a fixed port" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_flag(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for flag in ("--config", "--host", "--port", "--log-level", "--log-format", "--workers", "--check-config"):
        assert flag in result.stdout


def test_a_busy_port_is_one_clear_line_and_exit_1(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = config_file(tmp_path, {"server": {"host": "127.0.0.1", "port": port}, "providers": {}})
        for flags in ([], ["--workers", "2"]):
            result = run(tmp_path, "--config", path, *flags)
            assert result.returncode == 1, result.stderr
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
            assert "Traceback" not in result.stderr
