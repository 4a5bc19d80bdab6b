"""Real processes: the gateway started the way users start it, and a datagram socket playing systemd.

``launch(config, *flags)`` writes the config, starts ``python -m bifrost_proxy`` on a free port with
``NOTIFY_SOCKET`` pointing at a ``NotifySocket`` and waits for READY=1 (readiness by the protocol itself,
not by polling). Every process still running at the end of a test is stopped, its workers too.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(pid: int) -> set[int]:
    """Live (not zombie) children of ``pid``, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            children.add(int(entry.name))
    return children


class NotifySocket:
    """The service manager's end of sd_notify: a bound AF_UNIX datagram socket ("@name": abstract)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.messages: list[str] = []
        self._read = 0

    async def expect(self, assignment: str, timeout: float = START_TIMEOUT) -> str:
        """The next datagram not yet looked at that holds ``assignment`` (e.g. "READY=1")."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                while self._read < len(self.messages):
                    message = self.messages[self._read]
                    self._read += 1
                    if assignment in message.split("\n"):
                        return message
                self.messages.append((await loop.sock_recv(self.sock, 4096)).decode())

    def drain(self) -> list[str]:
        """Every datagram that arrived so far, read without waiting."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            Path(self.address).unlink(missing_ok=True)


@dataclass
class Gateway:
    process: asyncio.subprocess.Process
    port: int
    notify: NotifySocket
    log_path: Path
    config_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_log(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def write_config(self, config: dict[str, Any]) -> None:
        write_config(self.config_path, config, self.port)

    async def exit_status(self, timeout: float = 30.0) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)


def write_config(path: Path, config: dict[str, Any], port: int) -> None:
    config = {**config, "server": {"host": "127.0.0.1", "port": port, **config.get("server", {})}}
    path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))  # JSON is YAML


def gateway_env(notify: NotifySocket | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_SOCKET", "WATCHDOG_", "PROMETHEUS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify.address
    env.update(extra or {})
    return env


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Gateway] = []
    sockets: list[NotifySocket] = []

    async def start(config: dict[str, Any], *flags: str, env: dict[str, str] | None = None,
                    notify_address: str | None = None, argv: Callable[[Path], list[str]] | None = None,
                    wait_ready: bool = True) -> Gateway:
        """``argv(config_path)``, when given, is the command line instead of ``python -m bifrost_proxy``."""
        n = len(started)
        port = free_port()
        config_path = tmp_path / f"bifrost-{n}.yaml"
        write_config(config_path, config, port)
        notify = NotifySocket(notify_address or f"@bifrost-test-{uuid.uuid4().hex}")
        sockets.append(notify)
        log_path = tmp_path / f"gateway-{n}.log"
        command = argv(config_path) if argv else [sys.executable, "-m", "bifrost_proxy", "--config",
                                                  str(config_path), *flags]
        with open(log_path, "wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=gateway_env(notify, env), cwd=tmp_path)
        gateway = Gateway(process, port, notify, log_path, config_path)
        started.append(gateway)
        if wait_ready:
            await ready(gateway)
        return gateway

    yield start
    for gateway in started:
        await stop(gateway)
    for notify in sockets:
        notify.close()


async def ready(gateway: Gateway) -> str:
    """READY=1, or a failure that shows the gateway's log if it exited first."""
    is_ready = asyncio.ensure_future(gateway.notify.expect("READY=1"))
    exited = asyncio.ensure_future(gateway.process.wait())
    done, _ = await asyncio.wait({is_ready, exited}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if is_ready not in done:
        is_ready.cancel()
        raise AssertionError(f"no READY=1 (exit status {gateway.process.returncode}):\n{gateway.log()}")
    return is_ready.result()


async def stop(gateway: Gateway) -> None:
    if gateway.process.returncode is not None:
        return
    workers = child_pids(gateway.pid)
    gateway.signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(gateway.process.wait(), 10)
    except TimeoutError:
        gateway.process.kill()
        await gateway.process.wait()
    for pid in workers:  # only left if the supervisor had to be killed
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def eventually(check, timeout: float = 10.0, interval: float = 0.02):
    """Poll ``check()`` (sync or async) until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(interval)
