"""S1-S6: what each scenario sends, for how long, and which figures it keeps.

Every scenario returns a flat dict of figures (``errors`` and ``error_samples`` always; ``na`` when the
target cannot do it). Comparisons with direct and floor, and the targets, are in ``bench/report.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from bench.client import build_request
from bench.drive import Driver, Measured, percentiles
from bench.payloads import Body
from bench.procs import http_status
from bench.targets import Target

MIB = 1024 * 1024


@dataclass(frozen=True)
class Params:
    s1_conns: int = 64
    s1_warm: float = 2.0
    s1_dur: float = 5.0
    s1_runs: int = 3  # best of: interference from other processes only ever lowers a throughput
    s2_rate: int = 200
    s2_conns: int = 16
    s2_warm: float = 1.0
    s2_dur: float = 20.0
    s3_streams: int = 100
    s3_chunks: int = 100
    s3_delay_ms: int = 10
    s3_rounds: int = 10
    s4_streams: int = 1000
    s4_chunks: int = 40
    s4_delay_ms: int = 250
    s5_conns: int = 64
    s5_count: int = 10_000
    s5_runs: int = 3  # best of
    s5_warm: float = 1.0
    s6_conns: int = 4
    s6_upload_conns: int = 2
    s6_warm: float = 1.0
    s6_dur: float = 8.0


FULL = Params()
# a few seconds each: the whole --quick run stays under ~2 minutes on 2 cores
QUICK = Params(s1_warm=0.5, s1_dur=2.0, s1_runs=1, s2_warm=0.5, s2_dur=2.5, s3_rounds=1, s4_chunks=14,
               s5_count=3000, s5_runs=1, s5_warm=0.5, s6_warm=0.3, s6_dur=1.5)


@dataclass
class Context:
    driver: Driver
    params: Params
    bodies: dict[str, Body]
    idle_rss: int = 0


Scenario = Callable[[Context, Target], Awaitable[dict[str, Any]]]


def spec(target: Target, body: Body, mode: str, connections: int, expect: str = "json", **extra: Any) -> dict[str, Any]:
    return {"port": target.port, "path": body.route, "body_file": str(body.path), "content_type": body.content_type,
            "mode": mode, "connections": connections, "expect": expect, **extra}


def basics(m: Measured) -> dict[str, Any]:
    r = m.result
    p50, p99 = percentiles(r["lat_us"], 0.5, 0.99)
    return {"ok": r["ok"], "errors": r["errors"], "error_samples": r["error_samples"],
            "p50_ms": p50 / 1000, "p99_ms": p99 / 1000}


async def s1_throughput(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    runs = []
    for _ in range(p.s1_runs):
        m = await ctx.driver.run(spec(target, ctx.bodies["chat"], "closed", p.s1_conns, duration=p.s1_dur),
                                 target.pid, p.s1_warm, p.s1_dur, measure_until_exit=False)
        runs.append({**basics(m), "rps": m.result["ok"] / m.window_s,
                     "gw_cpu_pct": 100 * m.gateway.cpu / p.s1_dur, "up_cpu_pct": 100 * m.upstream.cpu / p.s1_dur})
    return best(runs, "rps", max)


def best(runs: list[dict[str, Any]], key: str, pick: Callable) -> dict[str, Any]:
    """The best run's figures; errors of every run count."""
    chosen = dict(pick(runs, key=lambda r: r[key]))
    chosen["errors"] = sum(r["errors"] for r in runs)
    chosen["error_samples"] = [e for r in runs for e in r["error_samples"]][:5]
    chosen["runs"] = [round(r[key], 1) for r in runs]
    return chosen


async def s2_latency(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    m = await ctx.driver.run(spec(target, ctx.bodies["chat"], "open", p.s2_conns, rate=p.s2_rate, duration=p.s2_dur),
                             target.pid, p.s2_warm, p.s2_dur)
    return {**basics(m), "rate": m.result["ok"] / m.window_s, "max_lag_ms": m.result["max_lag_us"] / 1000}


async def s3_streams(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    stream_s = p.s3_chunks * p.s3_delay_ms / 1000
    s = spec(target, ctx.bodies["stream"], "stream", p.s3_streams, "sse", rounds=p.s3_rounds, stagger=stream_s,
             spread_s=(p.s3_chunks - 1) * p.s3_delay_ms / 1000, warmup_body_file=str(ctx.bodies["chat"].path))
    m = await ctx.driver.run(s, target.pid, 0.3, stream_s * (p.s3_rounds + 1))
    t50, t99 = percentiles(m.result["ttfb_us"], 0.5, 0.99)
    return {**basics(m), "ttfb_p50_ms": t50 / 1000, "ttfb_p99_ms": t99 / 1000, "streams": p.s3_streams * p.s3_rounds,
            "incremental": m.result["incremental"], "stream_s": stream_s}


async def s4_memory(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    stream_s = p.s4_chunks * p.s4_delay_ms / 1000
    s = spec(target, ctx.bodies["slow"], "hold", p.s4_streams, "sse", spread_s=(p.s4_chunks - 1) * p.s4_delay_ms / 1000)
    m = await ctx.driver.run(s, target.pid, 0.2, stream_s)
    return {**basics(m), "streams": p.s4_streams, "held": m.result["max_open"], "incremental": m.result["incremental"],
            "rss_peak_mib": m.gateway.peak / MIB, "rss_idle_mib": ctx.idle_rss / MIB, "procs": len(m.gateway.pids)}


async def s5_cpu(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    runs = []
    for _ in range(p.s5_runs):
        m = await ctx.driver.run(spec(target, ctx.bodies["chat"], "closed", p.s5_conns, count=p.s5_count),
                                 target.pid, p.s5_warm, p.s5_count / 1000)
        ok = max(1, m.result["ok"])
        runs.append({**basics(m), "us_per_req": m.gateway.cpu / ok * 1e6, "up_us_per_req": m.upstream.cpu / ok * 1e6,
                     "requests": m.result["ok"]})
    return best(runs, "up_us_per_req" if target.pid is None else "us_per_req", min)


async def large(ctx: Context, target: Target, body: Body, connections: int) -> dict[str, Any]:
    p = ctx.params
    size = body.path.stat().st_size
    status = await http_status(target.port, build_request("POST", body.route, target.port, body.path.read_bytes(),
                                                          body.content_type))
    if status == 404:
        return {"na": f"n/a ({body.route} answers 404)", "errors": 0, "error_samples": []}
    m = await ctx.driver.run(spec(target, body, "closed", connections, duration=p.s6_dur),
                             target.pid, p.s6_warm, p.s6_dur, measure_until_exit=False)
    rps = m.result["ok"] / m.window_s
    return {**basics(m), "rps": rps, "mib_s": rps * size / MIB, "rss_peak_mib": m.gateway.peak / MIB,
            "size_mib": size / MIB, "probe_status": status}


async def s6_big_chat(ctx: Context, target: Target) -> dict[str, Any]:
    return await large(ctx, target, ctx.bodies["big"], ctx.params.s6_conns)


async def s6_upload(ctx: Context, target: Target) -> dict[str, Any]:
    return await large(ctx, target, ctx.bodies["upload"], ctx.params.s6_upload_conns)


# measuring order: S4 (memory) after the CPU runs, and before S6 whose big bodies would inflate its RSS
SCENARIOS: dict[str, Scenario] = {
    "S1": s1_throughput, "S2": s2_latency, "S3": s3_streams, "S5": s5_cpu, "S4": s4_memory,
    "S6a": s6_big_chat, "S6b": s6_upload,
}
