"""systemd's notify protocol without a dependency: each state change is one datagram to ``$NOTIFY_SOCKET``.

The protocol is sd_notify(3): newline-separated ``KEY=VALUE`` assignments in one datagram on an AF_UNIX
socket whose path is in ``$NOTIFY_SOCKET`` ("@name" is an abstract socket). Outside systemd the variable is
unset and every call is a cheap no-op. gunicorn's ``systemd.py`` has the same shape.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Mapping

log = logging.getLogger("bifrost_proxy.systemd")


class Notifier:
    """States a server reports while it runs; subclasses decide where they go (``send``)."""

    def send(self, message: str) -> bool:
        return False

    def notify(self, *assignments: str) -> bool:
        return self.send("\n".join(assignments))

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd tell this reload from an earlier one (systemd.service(5), Type=notify-reload)
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between ``watchdog()`` calls, or None when nobody watches."""
        return None


class SystemdNotifier(Notifier):
    """Talks to the service manager named by the environment (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``)."""

    __slots__ = ("address", "watchdog_usec")

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # Linux abstract namespace
        elif not address.startswith("/"):
            address = ""  # unset, or a vsock address we do not speak
        self.address = address
        self.watchdog_usec = _watchdog_usec(env)

    def send(self, message: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # never stall the event loop on a busy manager; a lost ping is harmless
                sock.connect(self.address)
                sock.send(message.encode())
        except OSError as exc:
            log.warning("could not notify systemd (%s): %s", message.split("\n", 1)[0], exc)
            return False
        return True

    def watchdog_interval(self) -> float | None:
        # systemd's advice: ping at half the timeout
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None


def _watchdog_usec(env: Mapping[str, str]) -> int:
    """``WATCHDOG_USEC`` when it is meant for this process (``WATCHDOG_PID`` unset or ours), else 0."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return 0
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return 0
    return usec if usec > 0 else 0
