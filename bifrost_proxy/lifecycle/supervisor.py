"""``--workers N``: N serving processes sharing one port (SO_REUSEPORT), watched by this parent.

The parent does not serve. It forks the workers and tells systemd READY=1 once all of them listen. It
forwards SIGTERM/SIGINT (each worker drains, then exits) and SIGHUP (after validating the file itself: an
invalid file is logged once and goes no further; RELOADING=1 ... READY=1 spans the workers' reloads). It
restarts a worker that dies, at most ``MAX_RESTARTS`` times per ``RESTART_WINDOW`` (then it stops and exits 1
so that systemd's ``Restart=`` takes over), and with a watchdog it kills a worker whose heartbeat stopped.
Signal handlers only wake the loop (``signal.set_wakeup_fd``); one loop acts, as in uvicorn's
``supervisors/multiprocess.py``. Workers report over a pipe with the notify protocol's own words.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

from bifrost_proxy.config import Config, ConfigError
from bifrost_proxy.lifecycle.shutdown import CUT_TIMEOUT
from bifrost_proxy.lifecycle.systemd import Notifier

log = logging.getLogger("bifrost_proxy.supervisor")
MAX_RESTARTS = 10
RESTART_WINDOW = 60.0
KILL_MARGIN = 5.0  # beyond grace + cut time, before SIGKILL
RELOAD_TIMEOUT = 30.0
HEARTBEAT = 1.0  # seconds between a worker's heartbeats (shorter with a short watchdog)
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

Serve = Callable[[Config, Notifier], None]


class PipeNotifier(Notifier):
    """A worker's notifier: its states go to the parent, which speaks to systemd for all workers."""

    def __init__(self, conn: Connection, interval: float) -> None:
        self.conn = conn
        self.interval = interval
        self.parent = os.getppid()
        self.orphaned = False

    def send(self, message: str) -> bool:
        try:
            self.conn.send_bytes(message.encode())  # a few bytes: one atomic write on the non-blocking pipe
        except BlockingIOError:
            return False  # the parent is busy; a heartbeat is best effort
        except OSError:
            self._orphan()
            return False
        return True

    def watchdog(self) -> bool:
        if os.getppid() != self.parent:
            self._orphan()
            return False
        return super().watchdog()

    def watchdog_interval(self) -> float | None:
        return self.interval

    def _orphan(self) -> None:
        # the supervisor is gone: drain and stop as if it had asked, rather than serve unsupervised
        if not self.orphaned:
            self.orphaned = True
            log.error("the supervisor (pid %d) is gone; stopping", self.parent)
            os.kill(os.getpid(), signal.SIGTERM)


@dataclass(slots=True, eq=False)
class Worker:
    process: Any  # multiprocessing.Process
    conn: Connection  # the parent's reading end
    seen: float  # monotonic time of its last message
    generation: int  # the config generation it runs (bumped by every accepted reload)
    ready: bool = False
    killed: bool = False


class Supervisor:
    def __init__(self, count: int, serve: Serve, config: Config, reload_config: Callable[[], Config] | None,
                 notifier: Notifier) -> None:
        self.count = count
        self.serve = serve
        self.config = config
        self.reload_config = reload_config
        self.notifier = notifier
        self.workers: dict[int, Worker] = {}
        self.generation = 0
        self.started = False  # every worker of the first start was ready once
        self.stopping_at: float | None = None
        self.killed_all = False
        self.reload_waiting: set[int] = set()
        self.reload_deadline: float | None = None
        self.restarts: deque[float] = deque()
        self.exit_code = 0
        self.ping = notifier.watchdog_interval()  # our own pings to systemd
        self.worker_timeout = 2 * self.ping if self.ping else None  # = WATCHDOG_USEC
        self.heartbeat = min(HEARTBEAT, self.worker_timeout / 4) if self.worker_timeout else HEARTBEAT
        self.next_ping = 0.0
        self.context = multiprocessing.get_context("fork")  # the config is in memory; nothing to re-import
        self.wake_r, self.wake_w = socket.socketpair()

    def run(self) -> int:
        """Start the workers and supervise them until they stopped; returns the exit status."""
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        previous_fd = signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, _wake_only) for sig in FORWARDED}
        log.info("supervisor %d starting %d workers", os.getpid(), self.count)
        try:
            for _ in range(self.count):
                self._spawn()
            while self.workers or self.stopping_at is None:
                self._step()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            self.wake_r.close()
            self.wake_w.close()
        log.info("supervisor stopped")
        return self.exit_code

    def _step(self) -> None:
        watched: list[Any] = [self.wake_r]
        for worker in self.workers.values():
            watched += [worker.conn, worker.process.sentinel]
        ready = wait(watched, timeout=self._timeout(time.monotonic()))
        for signum in self._signals():
            self._on_signal(signum)
        for worker in list(self.workers.values()):
            if worker.conn in ready:
                self._read(worker)
        for worker in list(self.workers.values()):
            if worker.process.sentinel in ready:
                self._reap(worker)
        self._timers(time.monotonic())

    def _signals(self) -> list[int]:
        received = []
        while True:
            try:
                data = self.wake_r.recv(64)
            except BlockingIOError:
                return received
            if not data:
                return received
            received.extend(data)  # the wakeup fd carries each signal's number as one byte

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._reload()
        elif signum in (signal.SIGTERM, signal.SIGINT) and self.stopping_at is None:
            log.info("%s: stopping", signal.Signals(signum).name)
            self._stop(signum)

    def _stop(self, signum: int) -> None:
        self.stopping_at = time.monotonic()
        self.notifier.stopping()
        for worker in self.workers.values():
            _send(worker, signum)

    def _reload(self) -> None:
        if self.stopping_at is not None:
            return
        self.notifier.reloading()
        if self.reload_config is None:
            log.warning("SIGHUP ignored: no config file to reload (started with built-in defaults)")
            self.notifier.ready()
            return
        try:
            self.config = self.reload_config()
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", "; ".join(exc.lines()))
            self.notifier.ready("config reload failed; running config kept")
            return
        self.generation += 1
        for worker in self.workers.values():
            if worker.ready:
                self._reload_worker(worker)
        self.reload_deadline = time.monotonic() + RELOAD_TIMEOUT
        self._reload_progress()

    def _reload_worker(self, worker: Worker) -> None:
        worker.generation = self.generation
        self.reload_waiting.add(worker.process.pid)
        _send(worker, signal.SIGHUP)

    def _reload_progress(self) -> None:
        if self.reload_deadline is not None and not self.reload_waiting:
            self.reload_deadline = None
            log.info("all workers reloaded the config from %s", self.config.source)
            self.notifier.ready("reloaded")

    def _read(self, worker: Worker) -> None:
        pid = worker.process.pid
        try:
            while worker.conn.poll():
                message = worker.conn.recv_bytes().decode(errors="replace")
                worker.seen = time.monotonic()
                if "READY=1" in message.split("\n"):
                    self._on_ready(worker, pid)
        except (EOFError, OSError):
            pass  # it died; its sentinel tells

    def _on_ready(self, worker: Worker, pid: int) -> None:
        if worker.ready:  # the end of a reload
            self.reload_waiting.discard(pid)
            self._reload_progress()
            return
        worker.ready = True
        log.debug("worker %d ready", pid)
        if worker.generation < self.generation:
            self._reload_worker(worker)  # forked before a reload was accepted
        if not self.started and len(self.workers) == self.count and all(w.ready for w in self.workers.values()):
            self.started = True
            log.info("%d workers ready", self.count)
            self.notifier.ready(f"{self.count} workers ready")

    def _reap(self, worker: Worker) -> None:
        process = worker.process
        process.join()
        pid, how = process.pid, _exit_description(process.exitcode)
        del self.workers[pid]
        worker.conn.close()
        self.reload_waiting.discard(pid)
        _forget_metrics(pid)
        if self.stopping_at is not None:
            log.info("worker %d stopped (%s)", pid, how)
            return
        if not self.started and not worker.ready:
            log.error("worker %d exited (%s) before it was ready; stopping", pid, how)
            self.exit_code = 1
            self._stop(signal.SIGTERM)
            return
        now = time.monotonic()
        self.restarts.append(now)
        while self.restarts and self.restarts[0] < now - RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) > MAX_RESTARTS:
            log.error("workers died %d times within %g s (last: %d, %s); giving up", len(self.restarts),
                      RESTART_WINDOW, pid, how)
            self.exit_code = 1
            self._stop(signal.SIGTERM)
            return
        log.warning("worker %d exited unexpectedly (%s); starting another", pid, how)
        self._spawn()
        self._reload_progress()

    def _timers(self, now: float) -> None:
        if self.ping and now >= self.next_ping:
            self.notifier.watchdog()
            self.next_ping = now + self.ping
        if self.worker_timeout and self.stopping_at is None:
            for worker in self.workers.values():
                if worker.ready and not worker.killed and now - worker.seen > self.worker_timeout:
                    log.error("worker %d sent no heartbeat for %g s; killing it", worker.process.pid,
                              self.worker_timeout)
                    worker.killed = True
                    _send(worker, signal.SIGKILL)
        if self.reload_deadline is not None and now >= self.reload_deadline:
            log.warning("workers %s did not confirm the reload within %g s", sorted(self.reload_waiting),
                        RELOAD_TIMEOUT)
            self.reload_waiting.clear()
            self._reload_progress()
        if self.stopping_at is not None and not self.killed_all and now >= self._kill_at():
            self.killed_all = True
            log.error("workers %s still running after the grace period; killing them", sorted(self.workers))
            for worker in self.workers.values():
                _send(worker, signal.SIGKILL)

    def _kill_at(self) -> float:
        assert self.stopping_at is not None
        return self.stopping_at + self.config.server.shutdown_grace_seconds + CUT_TIMEOUT + KILL_MARGIN

    def _timeout(self, now: float) -> float | None:
        deadlines = [self.next_ping if self.ping else None, self.reload_deadline,
                     self._kill_at() if self.stopping_at is not None else None]
        if self.worker_timeout:
            deadlines.append(now + self.heartbeat)
        pending = [d for d in deadlines if d is not None]
        return max(0.0, min(pending) - now) if pending else None

    def _spawn(self) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=self._worker_main, args=(writer, self.config),
                                       name="bifrost-proxy worker")
        process.start()
        writer.close()
        self.workers[process.pid] = Worker(process, reader, time.monotonic(), self.generation)

    def _worker_main(self, conn: Connection, config: Config) -> None:
        """In the forked child: drop the parent's signal plumbing and pipes, then serve."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # until the loop handles it: a reload before then is covered by the parent (Worker.generation)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.wake_r.close()
        self.wake_w.close()
        for other in self.workers.values():
            other.conn.close()  # so that our pipe's only reader is the parent: its death is an EPIPE
        os.set_blocking(conn.fileno(), False)
        self.serve(config, PipeNotifier(conn, self.heartbeat))


def _wake_only(signum: int, frame: Any) -> None:
    """A Python-level handler must exist for the wakeup fd to be written; the loop does the work."""


def _send(worker: Worker, signum: int) -> None:
    try:
        os.kill(worker.process.pid, signum)
    except ProcessLookupError:
        pass


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _forget_metrics(pid: int) -> None:
    # prometheus-client multiprocess mode: a dead worker's live gauges must not count any more
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
