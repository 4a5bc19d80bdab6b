"""S1 and S5 with wrk (https://github.com/wg/wrk) instead of the Python load generator: ``--wrk``.

wrk is used only when asked and installed (Debian: ``apt-get install wrk``). It runs closed loop like
S1 and S5 do; S5 with wrk is time-bound, so its CPU figure is divided by the requests wrk counted.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any

from bench.procs import Meter, pinned
from bench.scenarios import Context
from bench.targets import Target

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
wrk.headers["Authorization"] = "Bearer sk-bench"
local f = assert(io.open("{path}", "rb"))
wrk.body = f:read("*a")
f:close()
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse(text: str) -> dict[str, Any]:
    """Requests, req/s, p50/p99 (ms) and failures from ``wrk --latency`` output."""
    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        return float(m[1]) * UNITS[m[2]] if m else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx[1]) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    requests = int(total[1]) if total else 0
    return {"requests": requests, "rps": float(rps[1]) if rps else 0.0, "p50_ms": latency("50"),
            "p99_ms": latency("99"), "errors": errors, "ok": requests - errors,
            "error_samples": [f"wrk: {errors} non-2xx or socket errors"] if errors else []}


async def wrk(ctx: Context, target: Target, seconds: float, meter: bool) -> tuple[dict[str, Any], Meter, Meter]:
    body = ctx.bodies["chat"]
    script = ctx.driver.workdir / "post.lua"
    script.write_text(LUA.format(content_type=body.content_type, path=body.path))
    pinning = ctx.driver.pinning
    threads = max(1, len(pinning.loadgen))
    cmd = pinned(["wrk", f"-t{threads}", f"-c{ctx.params.s1_conns}", f"-d{max(1, round(seconds))}s", "--latency",
                  "-s", str(script), f"http://127.0.0.1:{target.port}{body.route}"], pinning.loadgen, pinning.enabled)
    gateway = Meter([target.pid] if target.pid else [])
    upstream = Meter(ctx.driver.upstream_pids)
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    if meter:
        gateway.start()
        upstream.start()
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + 60)
    if meter:
        gateway.stop()
        upstream.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.decode(errors='replace')[-500:]}")
    return parse(out.decode(errors="replace")), gateway, upstream


async def s1_wrk(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    await wrk(ctx, target, p.s1_warm, meter=False)
    figures, gateway, upstream = await wrk(ctx, target, p.s1_dur, meter=True)
    return {**figures, "gw_cpu_pct": 100 * gateway.cpu / p.s1_dur, "up_cpu_pct": 100 * upstream.cpu / p.s1_dur}


async def s5_wrk(ctx: Context, target: Target) -> dict[str, Any]:
    p = ctx.params
    await wrk(ctx, target, p.s5_warm, meter=False)
    figures, gateway, upstream = await wrk(ctx, target, max(2.0, p.s1_dur / 2), meter=True)
    ok = max(1, figures["ok"])
    return {**figures, "us_per_req": gateway.cpu / ok * 1e6, "up_us_per_req": upstream.cpu / ok * 1e6}


SCENARIOS = {"S1": s1_wrk, "S5": s5_wrk}
