"""Which config file to read: ``--config``, else ``$BIFROST_CONFIG``, else ``conf/bifrost.yaml`` when it exists.

The rule of the gateway's CLI and of ``bifrost-proxy keys`` alike (its own module, so neither CLI imports
the other).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG = Path("conf/bifrost.yaml")


def config_path(flag: str | None) -> str | None:
    if flag:
        return flag
    env = os.environ.get("BIFROST_CONFIG")
    if env:
        return env
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None
