"""``python -m tests.soak --requests 10000``: the soak run on demand; exit status 1 unless nothing was lost."""
from __future__ import annotations

import argparse
import asyncio
import sys

from tests.soak.run import SoakSettings, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of requests with injected faults")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's loop")
    args = parser.parse_args(argv)
    settings = SoakSettings(requests=args.requests, concurrency=args.concurrency, fault_rate=args.fault_rate,
                            seed=args.seed)
    if args.uvloop:
        import uvloop

        report = uvloop.run(run_soak(settings))
    else:
        report = asyncio.run(run_soak(settings))
    print(report.render())
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
