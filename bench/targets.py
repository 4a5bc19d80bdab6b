"""The things measured: ``direct`` (the fake upstream itself), ``floor`` and ``bifrost_proxy`` w=1/w=2.

Each target is started pinned to the gateway CPU(s), waited for (GET /health == 200), measured, and
stopped before the next one starts, so targets never compete for a core.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

from bench.procs import Pinning, free_port, pinned, python, running

GATEWAY_CONFIG = """\
# written by python -m bench: one OpenAI-compatible provider pointing at the fake upstream
providers:
  openai:
    keys: [{{name: bench, value: sk-bench}}]
    network_config: {{base_url: "http://127.0.0.1:{port}"}}
"""
# bifrost+gov: the load generator's "Authorization: Bearer sk-bench" is a virtual key with request and token
# limits and a budget, so every request is authenticated, admitted against its limits and charged (issue 12's
# gateway with "every feature on", issue 15). The limits are far out of reach: the run measures, never refuses.
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
STORES = {"bifrost-gov": ("bifrost+gov w=1", "sqlite"), "bifrost-gov-redis": ("bifrost+gov redis w=1", "redis")}


@dataclass(frozen=True)
class TargetSpec:
    name: str           # column header: direct, floor, bifrost w=1, bifrost w=2
    kind: str           # direct | floor | bifrost
    workers: int = 1
    unavailable: str = ""  # why it is not measured ("n/a (no --workers)")
    store: str = ""  # bifrost+gov: the governance store (sqlite, redis); "" = governance off


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
        elif name in STORES:  # one worker: the SQLite store counts in one process
            label, store = STORES[name]
            reason = "n/a (bifrost_proxy does not start)" if help_text.startswith("error") else ""
            if store == "redis" and not reason and shutil.which("redis-server") is None:
                reason = "n/a (redis-server not installed)"
            out.append(TargetSpec(label, "bifrost", 1, reason, store))
        else:
            raise SystemExit(f"unknown target {name!r}: use direct, floor, bifrost, bifrost1, bifrost2, "
                             f"{', '.join(STORES)}")
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
    if spec.kind == "floor":
        cmd = [python(), "-m", "bench.floor", "--upstream", f"http://127.0.0.1:{upstream_port}", "--port", str(port)]
    else:
        config = workdir / f"bifrost{'-' + spec.store if spec.store else ''}.yaml"
        text = GATEWAY_CONFIG.format(port=upstream_port)
        cmd = [python(), "-m", "bifrost_proxy", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "info"]
        if has_workers_flag:
            cmd += ["--workers", str(spec.workers)]
    async with contextlib.AsyncExitStack() as stack:
        if spec.kind == "bifrost" and spec.store:
            store = f"sqlite:///{workdir / f'governance-{port}.db'}"
            if spec.store == "redis":  # on the load generator's CPUs, never the gateway's
                store = stack.enter_context(redis_server(workdir, pinning.loadgen, pinning.enabled))
            text += GOVERNANCE_CONFIG.format(store=store)
        if spec.kind == "bifrost":
            config.write_text(text)
        proc = await stack.enter_async_context(running(cmd, log, port, cpus, pinning.enabled))
        yield Target(spec, port, proc.pid, cpus)


@contextlib.contextmanager
def redis_server(workdir: Path, cpus: tuple[int, ...], pin: bool) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (no persistence); yields its URL."""
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(pinned([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(workdir)], cpus, pin),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


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
