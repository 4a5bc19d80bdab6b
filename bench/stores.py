"""``python -m bench.stores [-n N] [--redis URL]``: what each governance store costs one request.

A request with governance on calls the store three times: ``admit`` (before the upstream call),
``charge`` and ``record_requests`` (after it). This runs that sequence N times, one request after the
other, against each store, and reports the process CPU per request, the best of three rounds
(``time.process_time``: every thread, so the SQLite writer's batches count; each round ends with a flush),
and the wall time of ``admit`` (p50/p99: for Redis, the round trip a request waits for). Without
``--redis`` a ``redis-server`` on a free loopback port is started, and stopped, when one is installed.
No timing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bifrost_proxy.governance.store.base import GovernanceStore, Window
from bifrost_proxy.governance.store.memory import MemoryStore
from bifrost_proxy.governance.store.sqlite import SqliteStore

FAR = 4_000_000_000
ROUNDS = 3


async def measure(store: GovernanceStore, requests: int) -> tuple[float, float, float]:
    """(CPU µs per request, admit p50 ms, admit p99 ms)."""
    windows = [Window("requests", 10**9, 0, FAR), Window("tokens", 10**12, 0, FAR), Window("cost", 10**9, 0, FAR)]
    row = {"request_id": "0" * 32, "key": "bench", "provider": "openai", "model": "gpt-4o-mini", "status": 200,
           "tokens_in": 12, "tokens_out": 30, "duration_ms": 1.2}
    await store.open()
    waits = []
    best = float("inf")
    flush = getattr(store, "flush", None)
    for _ in range(ROUNDS):  # the best of three: other processes on the machine only ever add
        cpu = time.process_time()
        for _ in range(requests):
            started = time.perf_counter()
            await store.admit("bench", windows)
            waits.append(time.perf_counter() - started)
            store.charge("bench", windows, 42, 0.0000198)
            store.record_requests([row])
        if flush is not None:
            await flush()  # what the background task wrote meanwhile, plus the rest
        best = min(best, time.process_time() - cpu)
    await store.close()
    waits.sort()
    return best / requests * 1e6, waits[len(waits) // 2] * 1e3, waits[int(len(waits) * 0.99)] * 1e3


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", directory], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    process.kill()
    return None


async def run(requests: int, redis_url: str | None, directory: str) -> list[str]:
    lines = ["| store | CPU per request (admit + charge + row), µs | admit wait p50 / p99, ms |", "|---|---|---|"]
    stores: list[tuple[str, GovernanceStore]] = [
        ("memory", MemoryStore()), ("sqlite", SqliteStore(str(Path(directory) / "bench.db")))]
    if redis_url:
        from bifrost_proxy.governance.store.redis import RedisStore

        stores.append(("redis (loopback)", RedisStore(redis_url, prefix=f"bench:{time.time_ns()}:")))
    for name, store in stores:
        cpu, p50, p99 = await measure(store, requests)
        lines.append(f"| {name} | {cpu:.1f} | {p50:.3f} / {p99:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stores", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=20_000, help="requests per round")
    parser.add_argument("--redis", help="a Redis to measure against (default: start redis-server if installed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as directory:
        server = None if args.redis else start_redis(directory)
        url = args.redis or (server[1] if server else None)
        if url is None:
            print("redis-server not installed: Redis is not measured", file=sys.stderr)
        try:
            print("\n".join(asyncio.run(run(args.requests, url, directory))))
        finally:
            if server:
                server[0].terminate()
                server[0].wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
