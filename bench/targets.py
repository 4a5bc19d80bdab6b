"""The things measured: ``direct`` (the fake upstream itself), ``floor`` and ``bifrost_proxy`` w=1/w=2.

Each target is started pinned to the gateway CPU(s), waited for (GET /health == 200), measured, and
stopped before the next one starts, so targets never compete for a core.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from bench.procs import Pinning, free_port, pinned, python, running, spawn, stop

GATEWAY_CONFIG = """\
# written by python -m bench: one OpenAI-compatible provider pointing at the fake upstream
providers:
  openai:
    keys: [{{name: bench, value: sk-bench}}]
    network_config: {{base_url: "http://127.0.0.1:{port}"}}
"""
# bifrost+gov: the load generator's "Authorization: Bearer sk-bench" is a virtual key with request and token
# limits and a budget, so every request is authenticated, admitted against three limits and charged
GOVERNANCE_CONFIG = """\
governance:
  enabled: true
  store: "{store}"
  virtual_keys:
    - name: bench
      value: sk-bench
      provider_configs: [{{provider: openai, allowed_models: ["*"]}}]
      rate_limit: {{request_max_limit: 1000000000, request_reset_duration: 1d,
                   token_max_limit: 1000000000000, token_reset_duration: 1d}}
      budget: {{max_limit: 1000000000, reset_duration: 1M}}
pricing:
  "openai/*": {{input: 0.15, output: 0.60}}   # the bench's model names (gpt-4o-mini-c100-d10, whisper-1)
"""


def governance_store(workdir: Path) -> str:
    """The SQLite store when this checkout has it (the issue's target), else the in-memory one (same hot path:
    SQLite keeps its counters in a MemoryStore and writes them in the background)."""
    if importlib.util.find_spec("bifrost_proxy.governance.store.sqlite") is not None:
        return f"sqlite:///{workdir / 'governance.db'}"
    return "memory"


@dataclass(frozen=True)
class TargetSpec:
    name: str           # column header: direct, floor, bifrost w=1, bifrost w=2
    kind: str           # direct | floor | bifrost
    workers: int = 1
    unavailable: str = ""  # why it is not measured ("n/a (no --workers)")
    governance: str = ""  # "sqlite" or "redis": every request carries a virtual key with limits and a budget


@dataclass
class Target:
    spec: TargetSpec
    port: int
    pid: int | None     # the gateway process (None for direct)
    cpus: tuple[int, ...]


def bifrost_help() -> str:
    try:
        out = subprocess.run([python(), "-m", "bifrost_proxy", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"error: {exc}"
    return out.stdout if out.returncode == 0 else f"error: {out.stderr.strip()[-300:]}"


def plan_targets(wanted: list[str]) -> list[TargetSpec]:
    """The targets in measuring order; bifrost w=2 is n/a while ``bifrost-proxy --help`` lacks --workers."""
    out = []
    help_text = bifrost_help() if any(w.startswith("bifrost") for w in wanted) else ""
    for name in wanted:
        if name == "direct":
            out.append(TargetSpec("direct", "direct"))
        elif name == "floor":
            out.append(TargetSpec("floor", "floor"))
        elif name in ("bifrost", "bifrost1", "bifrost2"):
            for workers in ((1, 2) if name == "bifrost" else (int(name[-1]),)):
                reason = ""
                if help_text.startswith("error"):
                    reason = "n/a (bifrost_proxy does not start)"
                elif workers > 1 and "--workers" not in help_text:
                    reason = "n/a (no --workers)"
                out.append(TargetSpec(f"bifrost w={workers}", "bifrost", workers, reason))
        elif name == "bifrost-gov":  # one worker: a SQLite store counts in one process
            reason = "n/a (bifrost_proxy does not start)" if help_text.startswith("error") else ""
            out.append(TargetSpec("bifrost+gov w=1", "bifrost", 1, reason, governance="sqlite"))
        elif name == "bifrost-gov-redis":  # the same key on a Redis store: one round trip per request
            reason = "n/a (bifrost_proxy does not start)" if help_text.startswith("error") else \
                "" if shutil.which("redis-server") else "n/a (redis-server not installed)"
            out.append(TargetSpec("bifrost+gov/redis w=1", "bifrost", 1, reason, governance="redis"))
        else:
            raise SystemExit(f"unknown target {name!r}: use direct, floor, bifrost, bifrost1, bifrost2, bifrost-gov, "
                             "bifrost-gov-redis")
    return out


def gateway_cpus(spec: TargetSpec, pinning: Pinning) -> tuple[int, ...]:
    """w workers get w cores when the machine has them to spare, else they share the gateway core."""
    if not pinning.enabled or spec.workers <= 1:
        return pinning.gateway
    spare = [c for c in pinning.upstream + pinning.loadgen if c not in pinning.gateway]
    if len(spare) >= spec.workers + 1:  # keep at least 2 CPUs for the upstream and the load generator
        return pinning.gateway + tuple(spare[:spec.workers - 1])
    return pinning.gateway


@contextlib.asynccontextmanager
async def started(spec: TargetSpec, upstream_port: int, pinning: Pinning, workdir: Path,
                  has_workers_flag: bool) -> AsyncIterator[Target]:
    if spec.kind == "direct":
        yield Target(spec, upstream_port, None, ())
        return
    port = free_port()
    cpus = gateway_cpus(spec, pinning)
    log = workdir / f"{spec.kind}-{spec.workers}.log"
    async with contextlib.AsyncExitStack() as stack:
        if spec.kind == "floor":
            cmd = [python(), "-m", "bench.floor", "--upstream", f"http://127.0.0.1:{upstream_port}", "--port", str(port)]
        else:
            config = workdir / (f"bifrost-gov-{spec.governance}.yaml" if spec.governance else "bifrost.yaml")
            text = GATEWAY_CONFIG.format(port=upstream_port)
            if spec.governance == "sqlite":
                text += GOVERNANCE_CONFIG.format(store=governance_store(workdir))
            elif spec.governance == "redis":
                redis_port = await stack.enter_async_context(redis_server(pinning, workdir))
                text += GOVERNANCE_CONFIG.format(store=f"redis://127.0.0.1:{redis_port}/0")
            config.write_text(text)
            cmd = [python(), "-m", "bifrost_proxy", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "info"]
            if has_workers_flag:
                cmd += ["--workers", str(spec.workers)]
        proc = await stack.enter_async_context(running(cmd, log, port, cpus, pinning.enabled))
        yield Target(spec, port, proc.pid, cpus)


@contextlib.asynccontextmanager
async def redis_server(pinning: Pinning, workdir: Path) -> AsyncIterator[int]:
    """A throwaway redis-server (no persistence) on the upstream's CPUs, for bifrost+gov/redis."""
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(workdir)]
    proc = await spawn(pinned(cmd, pinning.upstream, pinning.enabled), workdir / "redis.log")
    try:
        for _ in range(500):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.01)
        yield port
    finally:
        await stop(proc)


@contextlib.asynccontextmanager
async def upstream(pinning: Pinning, workdir: Path) -> AsyncIterator[tuple[int, list[int]]]:
    """The fake upstream: one process per upstream CPU sharing one port (SO_REUSEPORT)."""
    port = free_port()
    n = len(pinning.upstream) if pinning.enabled else 1
    cmd = [python(), "-m", "bench.upstream", "--port", str(port)] + (["--reuse-port"] if n > 1 else [])
    async with contextlib.AsyncExitStack() as stack:
        pids = []
        for i in range(n):
            cpus = pinning.upstream[i:i + 1] if n > 1 else pinning.upstream
            proc = await stack.enter_async_context(running(cmd, workdir / "upstream.log", port, cpus, pinning.enabled))
            pids.append(proc.pid)
        yield port, pids
