"""Which notify socket and watchdog the environment names (the datagrams themselves: tests/system)."""
from __future__ import annotations

import os

from bifrost_proxy.lifecycle.systemd import SystemdNotifier


def test_outside_systemd_everything_is_a_no_op():
    notifier = SystemdNotifier({})
    assert notifier.address == "" and not notifier.ready() and notifier.watchdog_interval() is None


def test_abstract_socket_names_start_with_a_nul():
    assert SystemdNotifier({"NOTIFY_SOCKET": "@bifrost/notify"}).address == "\0bifrost/notify"
    assert SystemdNotifier({"NOTIFY_SOCKET": "/run/systemd/notify"}).address == "/run/systemd/notify"
    assert SystemdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"}).address == ""


def test_watchdog_pings_at_half_the_timeout_when_meant_for_us():
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval() == 15.0
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval() == 2.0
    assert SystemdNotifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}).watchdog_interval() is None
    assert SystemdNotifier({"WATCHDOG_USEC": "soon"}).watchdog_interval() is None
