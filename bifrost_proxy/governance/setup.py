"""Wire governance into an app: the ``Governance`` object, its store's lifetime, the admin API, the headers."""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.appkeys import GOVERNANCE
from bifrost_proxy.config.schema import Config
from bifrost_proxy.governance.enforce import Governance
from bifrost_proxy.governance.headers import on_prepare
from bifrost_proxy.governance.store import open_store
from bifrost_proxy.governance.sync import governance_ctx


def add_governance(app: web.Application, config: Config) -> Governance:
    """Called by ``make_app`` when ``governance.enabled`` or an admin key is set."""
    governance = Governance(config, open_store(config.governance.store))
    app[GOVERNANCE] = governance
    app.cleanup_ctx.append(governance_ctx)
    app.on_response_prepare.append(on_prepare)
    return governance  # the admin API's routes are in routes.py, with every other route
