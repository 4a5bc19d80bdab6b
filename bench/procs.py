"""Processes of a run: CPU pinning, spawning, readiness, and CPU/RSS read from /proc (Linux).

CPU time is utime+stime from ``/proc/PID/stat`` summed over a process and its descendants (a gateway
with workers); RSS is ``/proc/PID/statm`` resident pages, summed the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator, Sequence

from bench.client import Connection

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
STOP_GRACE_S = 5.0
REPO = Path(__file__).resolve().parent.parent  # children run `python -m bench.*` / `-m bifrost_proxy` from here


@dataclass(frozen=True)
class Pinning:
    """Which CPUs run the gateway, the fake upstream and the load generator."""

    gateway: tuple[int, ...]
    upstream: tuple[int, ...]
    loadgen: tuple[int, ...]
    enabled: bool

    def describe(self) -> str:
        if not self.enabled:
            return ("not pinned (one CPU, or taskset missing, or --no-pin): the gateway shares CPUs with "
                    "the fake upstream and the load generator")
        return (f"gateway on CPU {fmt_cpus(self.gateway)}; fake upstream on CPU {fmt_cpus(self.upstream)}; "
                f"load generator on CPU {fmt_cpus(self.loadgen)} (taskset). Figures are per gateway core.")


def fmt_cpus(cpus: Sequence[int]) -> str:
    return ",".join(map(str, cpus))


def plan_cpus(pin: bool = True) -> Pinning:
    """One core for the gateway, the rest for the upstream and the load generator (sharing if only one)."""
    if hasattr(os, "sched_getaffinity"):
        cpus = tuple(sorted(os.sched_getaffinity(0)))
    else:
        cpus = tuple(range(os.cpu_count() or 1))
    if not pin or len(cpus) < 2 or shutil.which("taskset") is None:
        return Pinning(cpus, cpus, cpus, False)
    rest = cpus[1:]
    if len(rest) < 3:
        return Pinning(cpus[:1], rest, rest, True)
    n_up = max(1, len(rest) // 3)
    return Pinning(cpus[:1], rest[:n_up], rest[n_up:], True)


def pinned(cmd: list[str], cpus: Sequence[int], pin: bool) -> list[str]:
    return ["taskset", "-c", fmt_cpus(cpus), *cmd] if pin else cmd


def set_affinity(pids: Sequence[int], cpus: Sequence[int]) -> None:
    """Moves running processes (every thread) to ``cpus``: direct gives the upstream the gateway's CPU."""
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def moved(pids: Sequence[int], cpus: Sequence[int]) -> Iterator[None]:
    """Runs the block with ``pids`` on ``cpus``, then puts each back where it was."""
    before = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            before[pid] = os.sched_getaffinity(pid)
    set_affinity(pids, cpus)
    try:
        yield
    finally:
        for pid, old in before.items():
            set_affinity([pid], sorted(old))


def busy_seconds() -> float:
    """CPU time every process of the machine used since boot (user, nice, system, irq, softirq)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / TICK


def own_seconds() -> float:
    """CPU time of this process and its reaped children (load generators, stopped gateways)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """The share of the machine that processes other than ours used over a window.

    Ours = this process, its reaped children (load generators, stopped gateways) and the live trees of
    ``roots`` (the fake upstream, until it is reaped too)."""

    def __init__(self, cpus: int, roots: Sequence[int]) -> None:
        self.cpus = max(1, cpus)
        self.roots = roots
        self.busy0 = self.ours0 = self.t0 = 0.0

    def ours(self) -> float:
        return own_seconds() + cpu_seconds([pid for root in self.roots for pid in tree_pids(root)])

    def start(self) -> "OtherLoad":
        self.busy0, self.ours0, self.t0 = busy_seconds(), self.ours(), time.monotonic()
        return self

    def share(self) -> float:
        other = (busy_seconds() - self.busy0) - (self.ours() - self.ours0)
        return max(0.0, other) / (max(1e-9, time.monotonic() - self.t0) * self.cpus)


def raise_nofile() -> None:
    """Child setup: 1,000 streams through a gateway need ~2,000 descriptors."""
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def spawn(cmd: list[str], log: Path, stdin: bool = False, stdout: bool = False) -> asyncio.subprocess.Process:
    """A child process with its stderr in ``log`` (shown when something fails)."""
    with open(log, "ab") as err:
        return await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL, stderr=err,
            preexec_fn=raise_nofile, start_new_session=True, cwd=REPO)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process (it stops its own workers), SIGKILL what is left of its tree after a grace."""
    if proc.returncode is not None:
        return
    tree = tree_pids(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except asyncio.TimeoutError:
        pass
    for pid in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)


def tree_pids(root: int) -> list[int]:
    """``root`` and its descendants (children, grandchildren) from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / TICK


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE
        except (OSError, IndexError):
            continue
    return total


class Meter:
    """CPU seconds of a process tree between ``start()`` and ``stop()``, and its RSS peak meanwhile."""

    def __init__(self, roots: Sequence[int], sample_s: float = 0.02) -> None:
        self.roots = list(roots)
        self.sample_s = sample_s
        self.pids: list[int] = []
        self.cpu0 = self.cpu = 0.0
        self.peak = 0
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        if not self.roots:
            return
        self.pids = [pid for root in self.roots for pid in tree_pids(root)]
        self.cpu0 = cpu_seconds(self.pids)
        self.peak = rss_bytes(self.pids)
        self.task = asyncio.ensure_future(self.sample())

    async def sample(self) -> None:
        while True:
            await asyncio.sleep(self.sample_s)
            self.peak = max(self.peak, rss_bytes(self.pids))

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def stop(self) -> None:
        if not self.roots:
            return
        self.cancel()
        self.peak = max(self.peak, rss_bytes(self.pids))
        self.cpu = cpu_seconds(self.pids) - self.cpu0


async def http_status(port: int, request: bytes, timeout: float = 30.0) -> int:
    """The status of one request on a new connection, or 0 when it fails."""
    try:
        conn = await asyncio.wait_for(Connection.open(port), timeout)
        try:
            reply = await asyncio.wait_for(conn.send(request), timeout)
        finally:
            conn.close()
    except (OSError, asyncio.TimeoutError):
        return 0
    return reply.status


async def wait_ready(port: int, proc: asyncio.subprocess.Process | None, timeout: float = 30.0) -> None:
    """Polls GET /health until 200; raises if the process died or the time ran out."""
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before answering GET /health")
        if await http_status(port, request, 2.0) == 200:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"GET /health on port {port} did not answer 200 within {timeout:.0f} s")


@contextlib.asynccontextmanager
async def running(cmd: list[str], log: Path, port: int, pin_cpus: Sequence[int],
                  pin: bool) -> AsyncIterator[asyncio.subprocess.Process]:
    """A server process, pinned, ready (GET /health == 200), stopped at exit."""
    proc = await spawn(pinned(cmd, pin_cpus, pin), log)
    try:
        try:
            await wait_ready(port, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{' '.join(cmd[:4])}...: {exc}\n{tail(log)}") from None
        yield proc
    finally:
        await stop(proc)


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def python() -> str:
    return sys.executable
