"""``server.run`` picks its event-loop runner first, then runs the server outside any ``except`` block."""
from __future__ import annotations

import asyncio
import sys

import pytest

from bifrost_proxy import server


@pytest.mark.parametrize("uvloop_installed", [False, True])
def test_exceptions_of_the_running_server_carry_no_import_error_as_their_context(monkeypatch, uvloop_installed):
    if uvloop_installed:
        pytest.importorskip("uvloop")
    else:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # "import uvloop" raises ImportError
    contexts = []

    async def serve(config, host, port, reload_config=None, **options):
        try:
            raise RuntimeError("something the server logs")
        except RuntimeError as exc:
            contexts.append(exc.__context__)

    monkeypatch.setattr(server, "serve", serve)
    server.run(None, "127.0.0.1", 0)  # type: ignore[arg-type]
    assert contexts == [None]


def test_the_runner_is_asyncio_run_without_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert server.loop_runner() is asyncio.run
