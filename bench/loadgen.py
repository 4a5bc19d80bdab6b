"""The Python load generator: one process, raw asyncio connections (uvloop when installed), keep-alive.

Run by the orchestrator as ``python -m bench.loadgen SPEC.json``. It connects, prints ``READY``, reads the
measurement start time (``time.time()`` seconds) from stdin, warms up until then, measures, and writes its
results as JSON to ``spec["result_file"]``. Every loop is bounded by a count and by ``spec["deadline"]``
(wall clock).

Modes (``spec["mode"]``):
  closed  ``connections`` loops, each sending the next request when its answer is complete, for
          ``duration`` seconds or until ``count`` requests were measured.
  open    requests at a fixed ``rate`` per second scheduled from the start time (open loop): a request
          never waits for another; a free connection is taken or a new one opened.
  stream  ``connections`` loops of ``rounds`` streams each, starts staggered over ``stagger`` seconds.
  hold    ``connections`` streams opened at once (ramped in batches) and held until they end.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import orjson

from bench.client import Connection, Reply, build_request

MAX_ERROR_SAMPLES = 5
OPEN_LOOP_MAX_CONNECTIONS = 512


class Run:
    """Results of one process: latencies in µs, counts, and a few error samples."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.lat_us: list[int] = []
        self.ttfb_us: list[int] = []
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.incremental = 0
        self.open_now = 0
        self.max_open = 0
        self.bytes_in = 0
        self.connections = 0
        self.max_lag_us = 0
        self.t_start = 0
        self.t_stop = 0
        body = Path(spec["body_file"]).read_bytes()
        self.request = build_request("POST", spec["path"], spec["port"], body, spec["content_type"])
        warm = Path(spec.get("warmup_body_file") or spec["body_file"]).read_bytes()
        self.warm_request = build_request("POST", spec["path"], spec["port"], warm,
                                          spec.get("warmup_content_type") or spec["content_type"])
        self.expect = spec.get("expect", "json")  # json | sse | any
        self.deadline_ns = perf_counter_ns() + int((spec["deadline"] - time.time()) * 1e9)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(text[:300])

    def check(self, reply: Reply, sample: bool) -> bool:
        """Status 200; streams end with [DONE]; a sampled body must be valid OpenAI JSON/SSE."""
        if reply.status != 200:
            self.error(f"status {reply.status}: {bytes(reply.body or reply.tail)[:200]!r}")
            return False
        if self.expect == "sse" and not reply.tail.endswith(b"data: [DONE]\n\n"):
            self.error(f"stream did not end with data: [DONE]: ...{reply.tail!r}")
            return False
        if sample and reply.body is not None:
            problem = validate(bytes(reply.body), self.expect)
            if problem:
                self.error(problem)
                return False
        return True

    def record(self, reply: Reply, sample: bool) -> None:
        if not self.check(reply, sample):
            return
        self.ok += 1
        self.bytes_in += reply.nbytes
        self.lat_us.append((reply.t_end - reply.t_send) // 1000)
        if self.expect == "sse":
            self.ttfb_us.append((reply.t_first - reply.t_send) // 1000)
            spread = self.spec.get("spread_s", 0.0)
            # not buffered: the body was spread over at least half the time the upstream took to send it
            if spread and (reply.t_end - reply.t_first) >= spread * 0.5e9:
                self.incremental += 1

    def result(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.errors, "error_samples": self.error_samples,
                "lat_us": self.lat_us, "ttfb_us": self.ttfb_us, "incremental": self.incremental,
                "max_open": self.max_open, "bytes_in": self.bytes_in, "connections": self.connections,
                "window_s": max(0, self.t_stop - self.t_start) / 1e9, "max_lag_us": self.max_lag_us}


def validate(body: bytes, expect: str) -> str | None:
    """None when ``body`` is a well-formed OpenAI answer of the expected kind, else what is wrong."""
    try:
        if expect == "json":
            obj = orjson.loads(body)
            if obj.get("object") != "chat.completion" and "text" not in obj:
                return f"not a chat.completion: {body[:200]!r}"
        elif expect == "sse":
            events = [e for e in body.split(b"\n\n") if e]
            if events[-1] != b"data: [DONE]":
                return "stream does not end with data: [DONE]"
            for event in events[:-1]:
                if not event.startswith(b"data: "):
                    continue  # comments (": ping") are allowed
                if orjson.loads(event[6:]).get("object") != "chat.completion.chunk":
                    return f"not a chat.completion.chunk: {event[:200]!r}"
    except (orjson.JSONDecodeError, AttributeError, IndexError) as exc:
        return f"malformed answer ({exc}): {body[:200]!r}"
    return None


async def one(run: Run, conn: Connection, data: bytes, sample: bool, measured: bool) -> bool:
    """One request on ``conn``; False when the connection is gone."""
    try:
        reply = await conn.send(data, keep_body=sample)
    except ConnectionError as exc:
        if measured:
            run.error(str(exc))
        return False
    if measured:
        run.record(reply, sample)
    elif reply.status != 200:
        run.error(f"warm-up status {reply.status}")
    return not conn.closed


async def reopen(run: Run) -> Connection | None:
    """A new connection after the server closed one; None (and an error) when that fails."""
    try:
        conn = await Connection.open(run.spec["port"])
    except OSError as exc:
        run.error(f"connect failed: {exc}")
        return None
    run.connections += 1
    return conn


async def closed_loop(run: Run, conns: list[Connection], t0: int) -> None:
    spec = run.spec
    end = min(t0 + int(spec.get("duration", 3600) * 1e9), run.deadline_ns)
    budget = [spec.get("count") or 1 << 62]

    async def worker(conn: Connection) -> None:
        sample = True
        while perf_counter_ns() < t0:  # warm-up: not recorded
            if not await one(run, conn, run.warm_request, False, False):
                if (conn := await reopen(run)) is None:
                    return
        while budget[0] > 0 and perf_counter_ns() < end:
            budget[0] -= 1
            if not await one(run, conn, run.request, sample, True):
                if (conn := await reopen(run)) is None:
                    return
            sample = False
        conn.close()

    run.t_start = t0
    await asyncio.gather(*(worker(c) for c in conns))
    run.t_stop = perf_counter_ns()


async def open_loop(run: Run, conns: list[Connection], t0: int) -> None:
    spec = run.spec
    rate = float(spec["rate"])
    count = int(spec.get("count") or rate * spec["duration"])
    free = list(conns)
    tasks: set[asyncio.Task] = set()

    async def fire(data: bytes, measured: bool, sample: bool) -> None:
        conn = free.pop() if free else await reopen(run)
        if conn is None:
            return
        if await one(run, conn, data, sample, measured):
            free.append(conn)

    async def schedule(start: int, n: int, data: bytes, measured: bool) -> None:
        interval = 1e9 / rate
        for i in range(n):
            due = start + int(i * interval)
            now = perf_counter_ns()
            if now > run.deadline_ns:
                break
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            elif measured:
                run.max_lag_us = max(run.max_lag_us, (now - due) // 1000)
            if len(tasks) >= OPEN_LOOP_MAX_CONNECTIONS:
                run.error("open loop: too many requests in flight, the target cannot keep up")
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.ensure_future(fire(data, measured, measured and i < len(conns)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    warm_n = max(0, int((t0 - perf_counter_ns()) / 1e9 * rate))
    await schedule(perf_counter_ns(), warm_n, run.warm_request, False)
    run.t_start = max(t0, perf_counter_ns())
    await schedule(run.t_start, count, run.request, True)
    if tasks:
        await asyncio.wait(tasks, timeout=max(0.1, (run.deadline_ns - perf_counter_ns()) / 1e9))
    run.t_stop = perf_counter_ns()
    for conn in free:
        conn.close()


async def stream_loop(run: Run, conns: list[Connection], t0: int) -> None:
    spec = run.spec
    rounds = int(spec.get("rounds", 1))
    stagger = int(spec.get("stagger", 0.0) * 1e9 / max(1, len(conns)))

    async def worker(i: int, conn: Connection) -> None:
        # a short non-stream request first opens the gateway's upstream connection
        if not await one(run, conn, run.warm_request, False, False) and (conn := await reopen(run)) is None:
            return
        start = t0 + i * stagger
        if start > perf_counter_ns():
            await asyncio.sleep((start - perf_counter_ns()) / 1e9)
        for r in range(rounds):
            if perf_counter_ns() > run.deadline_ns:
                run.error("deadline reached before all streams ran")
                break
            if not await one(run, conn, run.request, r == 0, True):
                if (conn := await reopen(run)) is None:
                    return
        conn.close()

    run.t_start = t0
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    run.t_stop = perf_counter_ns()


async def hold_streams(run: Run, t0: int) -> None:
    """Opens ``connections`` streams in batches (a burst of 1,000 SYNs overflows small backlogs)."""
    spec = run.spec
    batch = int(spec.get("batch", 50))

    async def stream(sample: bool) -> None:
        try:
            conn = await Connection.open(spec["port"])
            run.connections += 1
            future = conn.send(run.request, keep_body=sample, notify_first=True)
            await asyncio.wait([future, conn.first], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[list-item]
            run.open_now += 1
            run.max_open = max(run.max_open, run.open_now)
            try:
                reply = await future
            finally:
                run.open_now -= 1
            run.record(reply, sample)
            conn.close()
        except (ConnectionError, OSError) as exc:
            run.error(f"{type(exc).__name__}: {exc}")

    if t0 > perf_counter_ns():
        await asyncio.sleep((t0 - perf_counter_ns()) / 1e9)
    run.t_start = perf_counter_ns()
    tasks = []
    for i in range(int(spec["connections"])):
        tasks.append(asyncio.ensure_future(stream(i == 0)))
        if i % batch == batch - 1:
            await asyncio.sleep(0.01)
    timeout = max(0.1, (run.deadline_ns - perf_counter_ns()) / 1e9)
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
        run.error("stream still open at the deadline")
    run.t_stop = perf_counter_ns()


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    run = Run(spec)
    loop = asyncio.get_running_loop()
    conns: list[Connection] = []
    if spec["mode"] != "hold":
        conns = list(await asyncio.gather(*(Connection.open(spec["port"])
                                            for _ in range(int(spec["connections"])))))
        run.connections = len(conns)
    print("READY", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    t0 = perf_counter_ns() + int((float(line) - time.time()) * 1e9)
    mode = spec["mode"]
    if mode == "closed":
        await closed_loop(run, conns, t0)
    elif mode == "open":
        await open_loop(run, conns, t0)
    elif mode == "stream":
        await stream_loop(run, conns, t0)
    elif mode == "hold":
        await hold_streams(run, t0)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return run.result()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m bench.loadgen SPEC.json  (written by python -m bench)")
    spec = json.loads(Path(args[0]).read_text())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main_async(spec))
    else:
        result = uvloop.run(main_async(spec))
    # results go to a file: a megabyte written to the stdout pipe came out cut short now and then
    out = Path(spec["result_file"])
    out.with_suffix(".tmp").write_text(json.dumps(result))
    out.with_suffix(".tmp").replace(out)


if __name__ == "__main__":
    main()
