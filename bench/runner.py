"""One benchmark run: the fake upstream, then each target in turn through every scenario, then the report."""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import wrk
from bench.drive import Driver
from bench.payloads import write_bodies
from bench.procs import OtherLoad, Pinning, moved, plan_cpus, rss_bytes, tree_pids
from bench.report import machine, render, versions
from bench.scenarios import FULL, QUICK, SCENARIOS, Context, Params
from bench.targets import TargetSpec, bifrost_help, plan_targets, started, upstream


NICE = -10


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def summary(figures: dict[str, Any]) -> str:
    if "na" in figures:
        return figures["na"]
    keys = ("rps", "p50_ms", "p99_ms", "ttfb_p50_ms", "ttfb_p99_ms", "held", "rss_peak_mib", "us_per_req", "errors")
    return ", ".join(f"{k}={figures[k]:.4g}" for k in keys if isinstance(figures.get(k), (int, float)))


async def measure(ctx: Context, spec: TargetSpec, upstream_port: int, has_workers: bool, wrk_path: str | None,
                  scenarios: list[str], results: dict[str, dict[str, Any]], cores: dict[str, int]) -> None:
    """Starts one target, runs every scenario against it, stops it."""
    pinning = ctx.driver.pinning
    async with started(spec, upstream_port, pinning, ctx.driver.workdir, has_workers) as target:
        # unpinned, nothing is per core: the figures are shown as they are
        cores[spec.name] = max(1, len(target.cpus)) if pinning.enabled else 1
        ctx.idle_rss = rss_bytes(tree_pids(target.pid)) if target.pid else 0
        results[spec.name] = {}
        for name in scenarios:
            run_one = wrk.SCENARIOS[name] if wrk_path and name in wrk.SCENARIOS else SCENARIOS[name]
            try:
                figures = await run_one(ctx, target)
            except RuntimeError as exc:  # a load generator that failed: the next scenario may still run
                figures = {"na": "n/a (failed, see notes)", "errors": 1, "error_samples": [str(exc)[:300]]}
            figures.setdefault("workers", spec.workers)
            results[spec.name][name] = figures
            say(f"{spec.name:12} {name:4} {summary(figures)}")


def raise_priority(nice: bool) -> str:
    """Every process of the run inherits this process's priority: higher, when allowed, so that other
    processes on a shared machine disturb the figures less."""
    if not nice:
        return "normal (--no-nice)"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    except (OSError, AttributeError):
        return "normal (raising it needs root or CAP_SYS_NICE)"
    return f"nice {NICE} for every process of the run (--no-nice: normal)"


@dataclass
class Outcome:
    """What a run gathered, for the report."""

    names: list[str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    cores: dict[str, int] = field(default_factory=dict)
    disturbed: dict[str, float] = field(default_factory=dict)  # other processes' share while a target ran
    header: list[str] = field(default_factory=list)


async def run(targets: list[str], scenarios: list[str], quick: bool, pin: bool, use_wrk: bool,
              nice: bool = True) -> tuple[str, bool]:
    """The report, and whether every request of every target succeeded."""
    params: Params = QUICK if quick else FULL
    pinning: Pinning = plan_cpus(pin)
    priority = raise_priority(nice)
    specs = plan_targets(targets)
    ncpu = len(set(pinning.gateway + pinning.upstream + pinning.loadgen))
    if pinning.enabled:  # the orchestrator's own sampling must not steal from the gateway's core
        os.sched_setaffinity(0, pinning.loadgen)
    has_workers = any(s.kind == "bifrost" for s in specs) and "--workers" in bifrost_help()
    wrk_path = shutil.which("wrk") if use_wrk else None
    out = Outcome([s.name for s in specs])
    started_at, load0 = time.monotonic(), load_average()
    whole = OtherLoad(ncpu, ()).start()  # every process of ours is reaped before it is read
    with tempfile.TemporaryDirectory(prefix="bifrost-bench-") as tmp:
        workdir = Path(tmp)
        bodies = write_bodies(workdir, (params.s3_chunks, params.s3_delay_ms), (params.s4_chunks, params.s4_delay_ms))
        async with upstream(pinning, workdir) as (upstream_port, upstream_pids):
            procs = len(pinning.loadgen) if pinning.enabled else 1
            ctx = Context(Driver(workdir, pinning, procs, upstream_pids), params, bodies)
            for spec in specs:
                if spec.unavailable:
                    out.results[spec.name] = {"na": spec.unavailable}
                    continue
                # direct: the upstream takes the gateway's CPU, so it sees the same topology minus the relay
                place = moved(upstream_pids, pinning.gateway) if spec.kind == "direct" and pinning.enabled \
                    else contextlib.nullcontext()
                window = OtherLoad(ncpu, upstream_pids).start()
                try:
                    with place:
                        await measure(ctx, spec, upstream_port, has_workers, wrk_path, scenarios, out.results,
                                      out.cores)
                except RuntimeError as exc:
                    say(f"{spec.name}: {exc}")
                    out.results[spec.name] = {"na": "n/a (failed to start)",
                                              "failed": {"errors": 1, "error_samples": [str(exc)[:300]]}}
                out.disturbed[spec.name] = window.share()
    out.header = [
        f"mode: {'--quick (a few seconds per scenario)' if quick else 'full'}; run took "
        f"{time.monotonic() - started_at:.0f} s; load average at start {load0}",
        f"machine: {machine()}", f"software: {versions()}", f"pinning: {pinning.describe()}", f"priority: {priority}",
        "load generator: " + (f"wrk ({wrk_path}) for S1 and S5, bench/loadgen.py for the rest" if wrk_path else
                              f"bench/loadgen.py (Python, raw asyncio{', uvloop' if has_uvloop() else ''}; "
                              f"{procs} process(es))"),
        f"fake upstream: bench/upstream.py (raw asyncio protocol{', uvloop' if has_uvloop() else ''})"]
    notes = ["--wrk asked but wrk is not installed: the Python load generator ran S1 and S5 (see bench/README.md)"
             ] if use_wrk and not wrk_path else []
    notes += method_notes(params, out.results)
    if whole.share() > 0.05:
        notes.append(f"**other processes used {100 * whole.share():.0f}% of the machine during this run: figures "
                     "are noisier than on a quiet machine** (while each target ran: "
                     + ", ".join(f"{t} {100 * x:.0f}%" for t, x in out.disturbed.items()) + ")")
    ok = True
    for target, entry in out.results.items():
        for name, figures in entry.items():
            if isinstance(figures, dict) and figures.get("errors"):
                ok = False
                samples = "; ".join(figures.get("error_samples", [])[:3])
                notes.append(f"**{target} {name}: {figures['errors']} failed requests**, e.g. {samples}")
    return render(out.results, out.names, out.cores, out.header, notes), ok


def method_notes(p: Params, results: dict[str, dict[str, Any]]) -> list[str]:
    notes = [
        f"S1: closed loop, {p.s1_conns} keep-alive connections, {p.s1_warm:g} s warm-up then {p.s1_dur:g} s"
        + (f", best of {p.s1_runs} runs. " if p.s1_runs > 1 else ". ") +
        f"S2: open loop at {p.s2_rate} req/s for {p.s2_dur:g} s, latency from send to last byte. "
        f"S3: {p.s3_streams} concurrent streams x {p.s3_chunks} chunks {p.s3_delay_ms} ms apart, starts staggered over "
        f"one stream, {p.s3_rounds} round(s); TTFB = first body byte; incremental = body spread over >= half the "
        f"upstream's sending time. S4: {p.s4_streams} streams of {p.s4_chunks} chunks {p.s4_delay_ms} ms apart opened "
        f"at once; RSS = sum over the gateway's process tree, sampled every 20 ms. S5: {p.s5_count:,} requests, "
        f"{p.s5_conns} connections" + (f", best of {p.s5_runs} runs" if p.s5_runs > 1 else "")
        + f". S6: {p.s6_dur:g} s each.",
        "direct = the load generator talks to the fake upstream itself (pinned: on the gateway's CPU): the "
        "physical limit of this machine and load generator. floor = bench/floor.py, an aiohttp relay with no "
        "features (parse JSON, forward with one ClientSession, relay chunk by chunk).",
    ]
    for name, unit in (("S1", "req/s"), ("S5", "µs/request")):
        spread = [f"{t} {' / '.join(f'{x:,.0f}' for x in r[name]['runs'])}" for t, r in results.items()
                  if isinstance(r.get(name), dict) and len(r[name].get("runs", ())) > 1]
        if spread:
            notes.append(f"{name} every run ({unit}; the best is in the table): " + "; ".join(spread))
    busy = [f"{t} {r['S1']['up_cpu_pct']:.0f}%" for t, r in results.items()
            if isinstance(r.get("S1"), dict) and "up_cpu_pct" in r["S1"]]
    gw = [f"{t} {r['S1']['gw_cpu_pct']:.0f}%" for t, r in results.items()
          if isinstance(r.get("S1"), dict) and r["S1"].get("gw_cpu_pct")]
    if busy:
        notes.append("CPU busy during S1 (100% = one core): fake upstream " + ", ".join(busy)
                     + ("; gateway " + ", ".join(gw) if gw else ""))
    return notes


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def main(targets: list[str], scenarios: list[str], quick: bool, pin: bool, use_wrk: bool,
         out: Path | None, nice: bool = True) -> int:
    report, ok = asyncio.run(run(targets, scenarios, quick, pin, use_wrk, nice))
    print(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        say(f"wrote {out}")
    return 0 if ok else 1
