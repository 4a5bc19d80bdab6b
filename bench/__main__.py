"""``python -m bench [--quick] [--out bench/results/latest.md]``: see bench/README.md."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.runner import main
from bench.scenarios import SCENARIOS

ALL_TARGETS = "direct,floor,bifrost,bifrost-gov,bifrost-gov-redis"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark bifrost_proxy against a fake OpenAI upstream reached directly and a minimal "
                    "aiohttp relay (the floor), on this machine; prints one Markdown table.")
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario (CI: proves it works)")
    parser.add_argument("--out", type=Path, help="also write the report here, e.g. bench/results/latest.md")
    parser.add_argument("--targets", default=ALL_TARGETS,
                        help=f"comma-separated, in order (default {ALL_TARGETS}; also bifrost1, bifrost2, "
                             "bifrost-gov-redis)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (S6 = S6a,S6b)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs with taskset")
    parser.add_argument("--wrk", action="store_true", help="run S1 and S5 with wrk when it is installed")
    parser.add_argument("--no-nice", action="store_true",
                        help="keep normal priority (by default the run raises its priority when allowed)")
    return parser.parse_args(argv)


def scenario_list(text: str) -> list[str]:
    wanted = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        expanded = ["S6a", "S6b"] if name.upper() == "S6" else [name[:2].upper() + name[2:]]
        for item in expanded:
            if item not in SCENARIOS:
                raise SystemExit(f"unknown scenario {name!r}: choose from {', '.join(SCENARIOS)}")
            wanted.append(item)
    return [name for name in SCENARIOS if name in wanted]  # always the measuring order


if __name__ == "__main__":
    args = parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    sys.exit(main(targets, scenario_list(args.scenarios), args.quick, not args.no_pin, args.wrk, args.out,
                  not args.no_nice))
