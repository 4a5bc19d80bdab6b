"""``bifrost-proxy``: parse flags, load and validate the config, then serve (or just check it)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from bifrost_proxy import __version__
from bifrost_proxy.config import Config, ConfigError, load_config, load_default_config
from bifrost_proxy.observability.logging import config_secrets, setup_logging

DEFAULT_CONFIG = Path("conf/bifrost.yaml")
EXIT_BAD_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bifrost-proxy", description="OpenAI-compatible AI gateway.",
                                     epilog="bifrost-proxy keys --help: make, list and revoke virtual keys")
    parser.add_argument("--config", help="YAML or JSON config file (default: $BIFROST_CONFIG, else "
                                         "conf/bifrost.yaml if present, else built-in defaults)")
    parser.add_argument("--host", help="listen address (default: server.host, else 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default: server.port, else 8080)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="serving processes sharing the port (SO_REUSEPORT), supervised by this one (default 1)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the config, print the provider table, and exit 0 (valid) or 2")
    parser.add_argument("--version", action="version", version=f"bifrost-proxy {__version__}")
    return parser


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {value!r}")
    return number


def config_path(flag: str | None) -> str | None:
    if flag:
        return flag
    env = os.environ.get("BIFROST_CONFIG")
    if env:
        return env
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None


def load(path: str | None) -> Config:
    return load_config(path) if path else load_default_config()


def describe(config: Config, host: str, port: int) -> str:
    """The resolved provider table. Keys are shown by name only, never by value."""
    lines = [f"config: {config.source}", f"listen: {host}:{port}", "providers:"]
    if not config.providers:
        lines.append("  (none)")
    for p in config.providers.values():
        lines.append(f"  {p.name}: type={p.type} base_url={p.network.base_url or '(per key)'} "
                     f"timeout={p.network.default_request_timeout:g}s retries={p.network.max_retries} "
                     f"concurrency={p.concurrency} buffer={p.buffer_size}")
        for k in p.keys:
            aliases = f" aliases={','.join(k.aliases)}" if k.aliases else ""
            lines.append(f"    key {k.name}: models={','.join(k.models)} weight={k.weight:g}{aliases}")
    if config.governance.active or config.governance.virtual_keys:
        from bifrost_proxy.governance.startup import describe_governance

        lines.extend(describe_governance(config))
    lines.extend(f"warning: {w}" for w in config.warnings)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["keys"]:  # the virtual-key subcommands have their own parser
        from bifrost_proxy.governance.cli import main as keys_main

        return keys_main(argv[1:])
    args = build_parser().parse_args(argv)
    path = config_path(args.config)
    try:
        config = load(path)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_BAD_CONFIG
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    if args.check_config:
        print(describe(config, host, port))
        return 0
    if args.workers > 1 and port == 0:
        print("--workers needs a fixed port: with port 0 each worker would listen on a different one",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    from bifrost_proxy.governance.startup import check_workers, warn_if_open, warn_on_reload

    problem = check_workers(config, args.workers)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_BAD_CONFIG
    redact = setup_logging(args.log_level, args.log_format, config_secrets(config))
    import logging

    for warning in config.warnings:
        logging.getLogger("bifrost_proxy.config").warning("%s: %s", config.source, warning)
    warn_if_open(config, host)
    reload_config = (lambda: load(path)) if path else None

    def on_config(new: Config) -> None:
        redact.update(config_secrets(new))  # a reload's new keys are masked too
        warn_on_reload(config, new)

    if args.workers == 1:
        from bifrost_proxy.server import run

        run(config, host, port, reload_config, on_config=on_config)
        return 0
    return _supervise(args.workers, config, host, port, reload_config, on_config)


def _supervise(workers: int, config: Config, host: str, port: int, reload_config: Callable[[], Config] | None,
               on_config: Callable[[Config], None]) -> int:
    """``--workers N``: the supervisor forks N servers that share the port."""
    import shutil
    import tempfile

    # prometheus-client picks its multiprocess mode when first imported: set it up before the app is
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="bifrost-metrics-", dir=os.environ.get("RUNTIME_DIRECTORY"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from bifrost_proxy.lifecycle.supervisor import Supervisor
    from bifrost_proxy.lifecycle.systemd import Notifier, SystemdNotifier
    from bifrost_proxy.server import run

    def serve(worker_config: Config, notifier: Notifier) -> None:
        run(worker_config, host, port, reload_config, notifier=notifier, reuse_port=True, on_config=on_config)

    def on_reload() -> Config:
        assert reload_config is not None
        new = reload_config()
        on_config(new)
        return new

    try:
        return Supervisor(workers, serve, config, on_reload if reload_config else None, SystemdNotifier()).run()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
