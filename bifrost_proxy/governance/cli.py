"""``bifrost-proxy keys create|list|revoke|usage``: virtual keys on the store the config file names.

It works with the server running or not: it opens the same SQLite file (WAL: the server keeps serving) or
the same Redis, writes a key definition at once, and the running server sees it at its next poll of
``keys_version`` (every 0.5 s). A key's value is made here, printed once on stdout, and stored only as its
SHA-256. Exit status: 0 done, 1 refused (no such key, name taken, store unreachable), 2 bad usage or config.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import orjson

from bifrost_proxy.governance.cli_config import CliConfig, CliConfigError, open_cli_store, read_cli_config
from bifrost_proxy.governance.store.base import (Budget, GovernanceStore, ProviderAccess, RateLimit,
                                                 StoreUnavailable, VirtualKeyRecord, Window)
from bifrost_proxy.governance.store.memory import MemoryStore
from bifrost_proxy.governance.windows import parse_duration, window

EXIT_REFUSED = 1
EXIT_USAGE = 2
VALUE_PREFIX = "sk-bf-"  # Bifrost's prefix: its SDK integrations recognise a virtual key by it


class Refused(Exception):
    """The command cannot be done as asked (exit status 1); the message says why and what to do."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="config file naming governance.store (default: as bifrost-proxy finds it)")
    common.add_argument("--store", default=argparse.SUPPRESS,
                        help="sqlite, sqlite:///PATH or redis://HOST:PORT/DB, instead of the config's")
    parser = argparse.ArgumentParser(prog="bifrost-proxy keys", parents=[common],
                                     description="Make, list and revoke virtual keys; show their usage.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="create|list|revoke|usage")
    create = commands.add_parser("create", parents=[common], help="make a key and print its value once")
    create.add_argument("name")
    create.add_argument("--allow", action="append", default=[], type=_allow, metavar="PROVIDER[/GLOB]",
                        help="a provider, or provider/model glob, the key may use (repeat; none = all)")
    create.add_argument("--requests", type=_limit(int, "requests"), metavar="N/DURATION",
                        help="at most N requests per period, e.g. 60/1m")
    create.add_argument("--tokens", type=_limit(int, "tokens"), metavar="N/DURATION",
                        help="at most N tokens (in + out) per period, e.g. 200000/1h")
    create.add_argument("--budget", type=_limit(float, "USD"), metavar="USD/DURATION",
                        help="at most this many US dollars per period, e.g. 50/1M")
    listing = commands.add_parser("list", parents=[common], help="every key, never a value")
    listing.add_argument("--json", action="store_true")
    revoke = commands.add_parser("revoke", parents=[common], help="delete a key and its usage")
    revoke.add_argument("name")
    usage = commands.add_parser("usage", parents=[common], help="a key's usage against its limits")
    usage.add_argument("name")
    usage.add_argument("--json", action="store_true")
    return parser


def _limit(kind: Callable[[str], Any], unit: str) -> Callable[[str], tuple[Any, str]]:
    def parse(text: str) -> tuple[Any, str]:
        amount, _, duration = text.partition("/")
        try:
            number = kind(amount)
        except ValueError:
            number = None
        if number is None or number <= 0 or number != number or number == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r}: write {unit} > 0, a '/', and a duration, e.g. 60/1m")
        try:
            return number, parse_duration(duration)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return parse


def _allow(text: str) -> str:
    if not text.partition("/")[0].strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write PROVIDER or PROVIDER/MODEL-GLOB, e.g. openai/gpt-4o*")
    return text.strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bifrost_proxy.cli import config_path  # the main CLI's rule: --config, $BIFROST_CONFIG, conf/bifrost.yaml

    try:
        config = read_cli_config(config_path(getattr(args, "config", None)))
        spec = getattr(args, "store", None) or config.store
        store = open_cli_store(spec)
    except CliConfigError as exc:
        print(f"bifrost-proxy keys: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        asyncio.run(_run(args, config, spec, store))
    except (Refused, StoreUnavailable) as exc:
        print(f"bifrost-proxy keys: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:  # `keys list | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit cannot fail
    return 0


async def _run(args: argparse.Namespace, config: CliConfig, spec: str, store: GovernanceStore) -> None:
    path = getattr(store, "path", None)
    if args.command != "create" and path is not None and not Path(path).exists():
        store = MemoryStore()  # nothing made yet: reading must not create the file (and its directory)
    await store.open()
    try:
        if args.command == "create":
            await _create(args, config, spec, store)
        elif args.command == "list":
            _print_list(await _all_keys(config, store), args.json)
        elif args.command == "revoke":
            await _revoke(args.name, config, store)
        else:
            await _usage(args.name, config, store, args.json)
    finally:
        await store.close()


async def _create(args: argparse.Namespace, config: CliConfig, spec: str, store: GovernanceStore) -> None:
    name = args.name.strip()
    if not name or not name.isprintable():
        raise Refused(f"{args.name!r} is not a key name: use printable characters")
    if name in config.keys:
        raise Refused(f"{name!r} is declared in the config file; pick another name")
    if any(k.name == name for k in await store.load_keys()):
        raise Refused(f"a key named {name!r} exists; revoke it first or pick another name")
    value = VALUE_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    requests, tokens, budget = args.requests, args.tokens, args.budget
    rate = None if requests is None and tokens is None else RateLimit(
        request_max_limit=requests[0] if requests else None, request_reset_duration=requests[1] if requests else None,
        token_max_limit=tokens[0] if tokens else None, token_reset_duration=tokens[1] if tokens else None)
    await store.put_key(VirtualKeyRecord(
        name=name, value_hash=hashlib.sha256(value.encode()).hexdigest(), id=str(uuid.uuid4()),
        provider_configs=_provider_configs(args.allow), rate_limit=rate,
        budget=Budget(budget[0], budget[1]) if budget else None, created_at=now, updated_at=now))
    print(value)
    where = getattr(store, "path", None) or getattr(store, "where", spec)
    print(f"created key {name!r} in {where}: its value is printed above this once; store it now", file=sys.stderr)


def _provider_configs(allow: list[str]) -> tuple[ProviderAccess, ...]:
    models: dict[str, list[str] | None] = {}  # provider -> globs, None = every model
    for entry in allow:
        provider, _, glob = entry.partition("/")
        if not glob or glob == "*" or models.get(provider, []) is None:
            models[provider] = None
        else:
            models.setdefault(provider, []).append(glob)  # type: ignore[union-attr]
    return tuple(ProviderAccess(p, tuple(g or ())) for p, g in models.items())


async def _revoke(name: str, config: CliConfig, store: GovernanceStore) -> None:
    stored = next((k for k in await store.load_keys() if k.name == name), None)
    if name in config.keys or (stored is not None and stored.source == "config"):
        raise Refused(f"{name!r} is declared in the config file: remove it there (and reload the server)")
    if not await store.delete_key(name):
        raise Refused(f"no key named {name!r}")
    print(f"revoked key {name!r}", file=sys.stderr)


async def _all_keys(config: CliConfig, store: GovernanceStore) -> list[VirtualKeyRecord]:
    stored = {k.name: k for k in await store.load_keys()}
    return sorted({**config.keys, **stored}.values(), key=lambda k: k.name)


def _print_list(keys: list[VirtualKeyRecord], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps([_describe(k) for k in keys], option=orjson.OPT_INDENT_2).decode())
        return
    if not keys:
        print("no virtual keys yet: bifrost-proxy keys create NAME", file=sys.stderr)
        return
    rows = [("NAME", "ACTIVE", "SOURCE", "ALLOW", "REQUESTS", "TOKENS", "BUDGET")]
    for k in keys:
        rate = k.rate_limit or RateLimit()
        rows.append((k.name, "yes" if k.is_active else "no", k.source, _allowed(k.provider_configs),
                     _per(rate.request_max_limit, rate.request_reset_duration),
                     _per(rate.token_max_limit, rate.token_reset_duration),
                     _per(k.budget and f"${k.budget.max_limit:g}", k.budget and k.budget.reset_duration)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


async def _usage(name: str, config: CliConfig, store: GovernanceStore, as_json: bool) -> None:
    key = next((k for k in await _all_keys(config, store) if k.name == name), None)
    if key is None:
        raise Refused(f"no key named {name!r}")
    now = time.time()
    limits = _limits(key)
    windows = [Window(metric, limit, *window(duration, now)) for metric, limit, duration in limits]
    used = await store.usage(name, windows)
    if as_json:
        print(orjson.dumps({**_describe(key), "usage": [
            {"metric": w.metric, "max_limit": w.limit, "reset_duration": d, "current_usage": u,
             "period_start": _iso(w.start), "resets_at": _iso(w.end)}
            for w, (_, _, d), u in zip(windows, limits, used)]}, option=orjson.OPT_INDENT_2).decode())
        return
    print(f"{name} ({'active' if key.is_active else 'inactive'}, {key.source})")
    if not windows:
        print("  no rate limit or budget")
    for w, (_, _, duration), u in zip(windows, limits, used):
        amount = f"${u:.4f} / ${w.limit:g}" if w.metric == "cost" else f"{u:g} / {w.limit:g}"
        label = "budget" if w.metric == "cost" else w.metric
        print(f"  {label:<8}  {amount} per {duration}, resets {_iso(w.end)}")


def _limits(key: VirtualKeyRecord) -> list[tuple[str, float, str]]:
    """(metric, limit, duration) of each limit the key has, durations the CLI can compute a period for."""
    rate = key.rate_limit or RateLimit()
    found = [("requests", rate.request_max_limit, rate.request_reset_duration),
             ("tokens", rate.token_max_limit, rate.token_reset_duration),
             ("cost", key.budget and key.budget.max_limit, key.budget and key.budget.reset_duration)]
    limits = []
    for metric, limit, duration in found:
        try:
            if limit is not None and duration:
                limits.append((metric, float(limit), parse_duration(duration)))
        except ValueError:
            continue  # the server reports a bad duration in the config; here it is simply not shown
    return limits


def _describe(key: VirtualKeyRecord) -> dict[str, Any]:
    """Bifrost's virtual-key fields, without the value (never stored) or its hash."""
    rate, budget = key.rate_limit, key.budget
    return {"id": key.id, "name": key.name, "is_active": key.is_active, "source": key.source,
            "provider_configs": [{"provider": p.provider, "allowed_models": list(p.allowed_models)}
                                 for p in key.provider_configs],
            "rate_limit": None if rate is None else {
                "request_max_limit": rate.request_max_limit, "request_reset_duration": rate.request_reset_duration,
                "token_max_limit": rate.token_max_limit, "token_reset_duration": rate.token_reset_duration},
            "budget": None if budget is None else {"max_limit": budget.max_limit,
                                                   "reset_duration": budget.reset_duration},
            "created_at": _iso(key.created_at) if key.created_at else None}


def _allowed(access: tuple[ProviderAccess, ...]) -> str:
    if not access:
        return "*"
    return ",".join(p.provider if not p.allowed_models else ",".join(f"{p.provider}/{m}" for m in p.allowed_models)
                    for p in access)


def _per(limit: Any, duration: str | None) -> str:
    return f"{limit}/{duration}" if limit is not None and duration else "-"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

