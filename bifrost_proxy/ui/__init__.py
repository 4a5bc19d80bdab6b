"""The live dashboard at ``/ui/`` (issue 14): traffic, providers, virtual keys and the recent requests.

``setup_ui(app)`` gives the app its ``Recorder`` (``app[RECORDER]``, fed by the gateway middleware once per
finished request) and its ``Dashboard`` (the page's files, the pages watching), and adds the routes.
To persist rows elsewhere, append a callable to ``app[RECORDER].listeners``: it gets each finished
request's row, the same dict the page shows, on the request path (so queue it; never await there).

What the dashboard reads from governance (issue 12), when ``app[GOVERNANCE]`` is set before startup:
- ``snapshot()`` (or ``async``): per virtual key its ``name``, ``is_active``, ``rate_limit`` and ``budget``
  with Bifrost's field names and current usage (``ui/state.py`` picks the fields it shows);
- ``recent_requests(limit)`` (``async``, optional): stored rows, newest first, to join the table;
- ``admin_key``, unless the config carries ``governance.admin_key`` itself;
- on each request, ``request[VIRTUAL_KEY]`` (the virtual key's name) and ``request[COST_USD]`` for its row.
"""
from __future__ import annotations

from typing import Mapping

from aiohttp import web

from bifrost_proxy.appkeys import DASHBOARD, DRAIN, GOVERNANCE, RECORDER
from bifrost_proxy.ui.assets import Asset, load_assets
from bifrost_proxy.ui.events import Hub
from bifrost_proxy.ui.pages import add_routes
from bifrost_proxy.ui.recorder import Recorder


class Dashboard:
    __slots__ = ("assets", "hub")

    def __init__(self, app: web.Application) -> None:
        self.assets: Mapping[str, Asset] = load_assets()
        self.hub = Hub(app)


async def _close_watchers(app: web.Application) -> None:
    app[DASHBOARD].hub.close_all()


async def _note_governance(app: web.Application) -> None:
    # on_startup runs after every cleanup_ctx has opened its resources, the governance store among them
    app[RECORDER].governed = app.get(GOVERNANCE) is not None


def setup_ui(app: web.Application) -> None:
    app[RECORDER] = Recorder()
    dashboard = app[DASHBOARD] = Dashboard(app)
    app[DRAIN].on_drain.append(dashboard.hub.close_all)  # bifrost-proxy's own shutdown
    app.on_shutdown.append(_close_watchers)  # any other runner's cleanup()
    app.on_startup.append(_note_governance)
    add_routes(app.router)
