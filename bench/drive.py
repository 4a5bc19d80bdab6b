"""Drive the load generator processes and meter the gateway and the upstream over the same window.

Each load generator connects and says READY; then all get one start time, warm up until it, and measure
from it. CPU and RSS of the gateway (and the upstream) are read at that start time and at the end.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import Meter, Pinning, pinned, python, spawn, tail

SPAWN_TIMEOUT_S = 30.0


@dataclass
class Measured:
    """One load run: the merged load generator results and what the meters saw over the window."""

    result: dict[str, Any]
    gateway: Meter
    upstream: Meter

    @property
    def window_s(self) -> float:
        return float(self.result["window_s"]) or 1e-9


@dataclass
class Driver:
    workdir: Path
    pinning: Pinning
    procs: int
    upstream_pids: list[int]
    seq: Any = field(default_factory=itertools.count)

    async def run(self, spec: dict[str, Any], gateway_pid: int | None, warmup_s: float, expected_s: float,
                  measure_until_exit: bool = True) -> Measured:
        """Runs ``spec`` split over the load generator processes; meters stop at ``t0 + expected_s``
        unless ``measure_until_exit`` (count-bound runs, streams)."""
        n = max(1, min(self.procs, int(spec.get("connections", 1))))
        procs = []
        deadline = time.time() + SPAWN_TIMEOUT_S + warmup_s + expected_s + 30.0
        log = self.workdir / "loadgen.log"
        result_files = []
        for part in split(spec, n):
            seq = next(self.seq)
            part["deadline"] = deadline
            part["result_file"] = str(self.workdir / f"result-{seq}.json")
            result_files.append(Path(part["result_file"]))
            path = self.workdir / f"spec-{seq}.json"
            path.write_text(json.dumps(part))
            cmd = pinned([python(), "-m", "bench.loadgen", str(path)], self.pinning.loadgen, self.pinning.enabled)
            procs.append(await spawn(cmd, log, stdin=True, stdout=True))
        gateway, upstream = Meter([gateway_pid] if gateway_pid else []), Meter(self.upstream_pids)
        try:
            for proc in procs:
                line = await asyncio.wait_for(proc.stdout.readline(), SPAWN_TIMEOUT_S)  # type: ignore[union-attr]
                if line.strip() != b"READY":
                    raise RuntimeError(f"load generator failed to start: {line!r}\n{tail(log)}")
            t0 = time.time() + warmup_s
            for proc in procs:
                proc.stdin.write(f"{t0!r}\n".encode())  # type: ignore[union-attr]
                await proc.stdin.drain()  # type: ignore[union-attr]
            await asyncio.sleep(max(0.0, t0 - time.time()))
            gateway.start()
            upstream.start()
            outputs = asyncio.gather(*(proc.communicate() for proc in procs))
            if not measure_until_exit:
                await asyncio.sleep(max(0.0, t0 + expected_s - time.time()))
                gateway.stop()
                upstream.stop()
            await asyncio.wait_for(outputs, max(1.0, deadline + 10 - time.time()))
            if measure_until_exit:
                gateway.stop()
                upstream.stop()
        finally:
            gateway.cancel()
            upstream.cancel()
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        parsed = []
        for proc, result_file in zip(procs, result_files):
            if proc.returncode != 0 or not result_file.exists():
                raise RuntimeError(f"load generator exited with {proc.returncode}\n{tail(log)}")
            parsed.append(json.loads(result_file.read_text()))
            result_file.unlink()
        return Measured(merge(parsed), gateway, upstream)


def split(spec: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``spec`` for each of ``n`` processes: connections, rate and count divided between them."""
    parts = []
    for i in range(n):
        part = dict(spec)
        for key in ("connections", "count"):
            if spec.get(key):
                part[key] = spec[key] // n + (1 if i < spec[key] % n else 0)
        if spec.get("rate"):
            part["rate"] = spec["rate"] / n
        parts.append(part)
    return parts


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"lat_us": [], "ttfb_us": [], "error_samples": []}
    for r in results:
        for key in ("ok", "errors", "incremental", "max_open", "bytes_in", "connections"):
            out[key] = out.get(key, 0) + r[key]
        out["lat_us"] += r["lat_us"]
        out["ttfb_us"] += r["ttfb_us"]
        out["error_samples"] += r["error_samples"]
        out["window_s"] = max(out.get("window_s", 0.0), r["window_s"])
        out["max_lag_us"] = max(out.get("max_lag_us", 0), r["max_lag_us"])
    return out


def percentiles(values: list[int], *qs: float) -> list[float]:
    """The ``qs`` quantiles (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return [float("nan")] * len(qs)
    ordered = sorted(values)
    n = len(ordered)
    return [float(ordered[min(n - 1, max(0, -int(-q * n) - 1))]) for q in qs]
