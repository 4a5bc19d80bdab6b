"""One Markdown table: each figure next to direct's, as a ratio or an added delay, and met/not met per target.

``results[target_name]`` is ``{"na": reason}`` or ``{scenario: figures}`` (see ``bench/scenarios.py``).
"""
from __future__ import annotations

import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

Results = dict[str, dict[str, Any]]
NA = "n/a"


def num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.{digits}f}"


def ms(x: float | None) -> str:
    return num(x, 2 if x is not None and abs(x) < 10 else 1)


def added(x: float | None, ref: float | None) -> str:
    if x is None or ref is None or math.isnan(x) or math.isnan(ref):
        return "—"
    return f"{x - ref:+.2f}"


def fig(results: Results, target: str, scenario: str, key: str) -> float | None:
    row = results.get(target, {}).get(scenario)
    if not isinstance(row, dict) or "na" in row or key not in row:
        return None
    return row[key]


class Table:
    """Rows of cells; a bifrost cell also records whether its row's target was met."""

    def __init__(self, results: Results, targets: list[str], cores: dict[str, int]) -> None:
        self.results = results
        self.targets = targets
        self.cores = cores
        self.bifrost = [t for t in targets if t.startswith("bifrost")]
        self.rows: list[list[str]] = []

    def na(self, target: str, scenario: str) -> str | None:
        """The reason a cell has no figure, or None."""
        entry = self.results.get(target, {})
        if "na" in entry:
            return entry["na"]
        row = entry.get(scenario)
        if row is None:
            return "not run"
        return row.get("na")

    def row(self, label: str, metric: str, scenario: str, cell: Callable[[str], str], goal: str = "",
            met: Callable[[str], bool | None] | None = None) -> None:
        if all(self.na(target, scenario) == "not run" for target in self.targets):
            return
        cells, verdicts = [], []
        for target in self.targets:
            reason = self.na(target, scenario)
            cells.append(reason if reason else cell(target))
        for target in self.bifrost:
            if met is None:
                verdicts.append("")
                continue
            verdict = None if self.na(target, scenario) else met(target)
            verdicts.append(NA if verdict is None else "met" if verdict else "**not met**")
        self.rows.append([label, metric, *cells, goal, *verdicts])

    def markdown(self) -> str:
        head = ["scenario", "metric", *self.targets, "target (bifrost, per gateway core)",
                *(f"{t}: met?" for t in self.bifrost)]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def build_table(results: Results, targets: list[str], cores: dict[str, int]) -> Table:
    t = Table(results, targets, cores)
    f = lambda target, s, k: fig(results, target, s, k)  # noqa: E731
    d = "direct"

    def vs_floor(target: str, scenario: str, key: str) -> str:
        x, ref = f(target, scenario, key), f("floor", scenario, key)
        if target == "floor" or x is None or not ref:
            return ""
        return f" ({x / ref:.2f}x floor)"

    def per_core(target: str, x: float | None) -> float | None:
        return None if x is None else x / max(1, cores.get(target, 1))

    def ratios(target: str, s: str) -> str:
        x, ref, floor = per_core(target, f(target, s, "rps")), f(d, s, "rps"), f("floor", s, "rps")
        out = [f"{x / ref:.2f}x direct"] if x and ref and target != d else []
        if x and floor and target.startswith("bifrost"):
            out.append(f"{x / floor:.2f}x floor")
        return f" ({', '.join(out)})" if out else ""

    def throughput(s: str) -> Callable[[str], str]:
        def cell(target: str) -> str:
            x = f(target, s, "rps")
            text = num(x)
            if cores.get(target, 1) > 1:
                text += f" ({num(per_core(target, x))}/core)"
            return text + ratios(target, s)
        return cell

    # issue 15: at least the floor's throughput and at most its CPU per request (stretch: 1.3x and 0.8x)
    t.row("S1 throughput, non-stream, 64 conns", "req/s", "S1", throughput("S1"), ">= 1.0x floor",
          lambda b: ratio_ok(per_core(b, f(b, "S1", "rps")), f("floor", "S1", "rps"), 1.0, higher=True))
    t.row("S1", "latency p50 / p99 ms", "S1", lambda x: f"{ms(f(x, 'S1', 'p50_ms'))} / {ms(f(x, 'S1', 'p99_ms'))}")

    def added_cell(s: str, k50: str, k99: str) -> Callable[[str], str]:
        def cell(target: str) -> str:
            if target == d or f(d, s, k50) is None:
                return f"{ms(f(d, s, k50))} / {ms(f(d, s, k99))}"
            return f"{added(f(target, s, k50), f(d, s, k50))} / {added(f(target, s, k99), f(d, s, k99))}"
        return cell

    def added_ok(s: str, k50: str, k99: str, max50: float, max99: float) -> Callable[[str], bool | None]:
        def met(b: str) -> bool | None:
            x50, x99, r50, r99 = f(b, s, k50), f(b, s, k99), f(d, s, k50), f(d, s, k99)
            if None in (x50, x99, r50, r99):
                return None
            return x50 - r50 <= max50 and x99 - r99 <= max99
        return met

    rate = num(f(d, "S2", "rate")) if f(d, "S2", "rate") else "200"
    t.row(f"S2 added latency, open loop {rate} req/s", "p50 / p99 ms (others: added to direct's)", "S2",
          added_cell("S2", "p50_ms", "p99_ms"), "added p50 <= 1.5 ms, p99 <= 3 ms",
          added_ok("S2", "p50_ms", "p99_ms", 1.5, 3.0))
    t.row("S3 100 streams x 100 chunks, 10 ms apart", "TTFB p50 / p99 ms (others: added)", "S3",
          added_cell("S3", "ttfb_p50_ms", "ttfb_p99_ms"), "added p50 <= 2 ms, p99 <= 5 ms",
          added_ok("S3", "ttfb_p50_ms", "ttfb_p99_ms", 2.0, 5.0))

    def incremental(target: str) -> str:
        n, total = f(target, "S3", "incremental"), f(target, "S3", "streams")
        return f"{num(n)}/{num(total)}; first byte {ms(f(target, 'S3', 'ttfb_p50_ms'))} ms into a " \
               f"{num(f(target, 'S3', 'stream_s'), 1)} s stream"
    t.row("S3", "streams delivered incrementally (not buffered)", "S3", incremental, "all streams incremental",
          lambda b: None if f(b, "S3", "streams") is None else
          f(b, "S3", "incremental") == f(b, "S3", "streams") and not f(b, "S3", "errors"))

    def per_worker(target: str, key: str) -> float | None:
        x, workers = f(target, "S4", key), f(target, "S4", "workers")
        return None if x is None else x / max(1, workers or 1)

    def held(target: str) -> str:
        text = f"{num(f(target, 'S4', 'held'))}/{num(f(target, 'S4', 'streams'))} held"
        if target == d:
            return text
        text += f", {num(f(target, 'S4', 'rss_peak_mib'), 1)} MiB" + vs_floor(target, "S4", "rss_peak_mib")
        if (f(target, "S4", "procs") or 1) > 1:
            text += (f" ({num(f(target, 'S4', 'procs'))} processes; "
                     f"{num(per_worker(target, 'rss_peak_mib'), 1)} per worker)")
        return text
    t.row("S4 1,000 slow streams open at once", "streams held / gateway RSS peak", "S4", held,
          "1,000 held, RSS peak <= 100 MiB (per worker)",
          lambda b: None if f(b, "S4", "held") is None else
          f(b, "S4", "held") >= f(b, "S4", "streams") and per_worker(b, "rss_peak_mib") <= 100)
    t.row("S4", "gateway RSS idle, MiB", "S4",
          lambda x: "— (no gateway)" if x == d
          else num(f(x, "S4", "rss_idle_mib"), 1) + vs_floor(x, "S4", "rss_idle_mib"))

    def cpu(target: str) -> str:
        if target == d:
            return f"— (upstream: {num(f(d, 'S5', 'up_us_per_req'))})"
        return num(f(target, "S5", "us_per_req")) + vs_floor(target, "S5", "us_per_req")
    t.row("S5 gateway CPU per request (non-stream)", "µs/request (utime+stime)", "S5", cpu, "<= 1.0x floor",
          lambda b: ratio_ok(f(b, "S5", "us_per_req"), f("floor", "S5", "us_per_req"), 1.0, higher=False))

    if any(x.startswith("bifrost+gov") for x in targets):  # issue 12: governance on costs <= 10 % CPU
        def gov_ratio(target: str) -> float | None:
            x, ref = f(target, "S5", "us_per_req"), f("bifrost w=1", "S5", "us_per_req")
            return x / ref if target.startswith("bifrost+gov") and x is not None and ref else None

        # the 10 % is the SQLite store's target; Redis is shown for what its round trip adds
        t.row("S5 governance on (virtual key, 3 limits, budget)", "CPU per request over bifrost w=1", "S5",
              lambda x: "—" if gov_ratio(x) is None else f"{100 * (gov_ratio(x) - 1):+.1f}%", "<= +10% (SQLite)",
              lambda b: None if gov_ratio(b) is None or "redis" in b else gov_ratio(b) <= 1.10)

    def big(s: str) -> Callable[[str], str]:
        def cell(target: str) -> str:
            text = f"{num(f(target, s, 'rps'), 1)} req/s = {num(f(target, s, 'mib_s'))} MiB/s{ratios(target, s)}"
            return text if target == d else text + f"; RSS peak {num(f(target, s, 'rss_peak_mib'), 1)} MiB"
        return cell
    t.row("S6 1 MiB chat request, 4 conns", "throughput; gateway RSS peak", "S6a", big("S6a"))
    t.row("S6 8 MiB WAV transcription upload, 2 conns", "throughput; gateway RSS peak", "S6b", big("S6b"))

    def failures(target: str) -> str:
        entry = results.get(target, {})
        return str(sum(v.get("errors", 0) for v in entry.values() if isinstance(v, dict)))
    t.row("all", "failed requests (should be 0)", "S1", failures)
    return t


def ratio_ok(x: float | None, ref: float | None, bound: float, higher: bool) -> bool | None:
    if x is None or not ref:
        return None
    return x / ref >= bound if higher else x / ref <= bound


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = os.cpu_count()  # not the affinity: the orchestrator pins itself
    return f"{model}, {cpus} CPUs, {platform.system()} {platform.release()}"


def versions() -> str:
    out = [f"Python {platform.python_version()}"]
    for dist in ("aiohttp", "uvloop", "orjson"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    try:
        from bifrost_proxy import __version__
        out.append(f"bifrost_proxy {__version__}")
    except ImportError:
        out.append("bifrost_proxy (not importable)")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    if commit:
        out.append(f"git {commit}")
    return ", ".join(out)


def render(results: Results, targets: list[str], cores: dict[str, int], header: list[str], notes: list[str]) -> str:
    table = build_table(results, targets, cores)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# bifrost_proxy benchmark ({stamp})", "", *(f"- {h}" for h in header), "", table.markdown(), ""]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
