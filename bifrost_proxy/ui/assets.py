"""The dashboard's files (``static/``), read once when the app is made and served from memory.

Each file gets an ETag (a hash of its bytes), so a browser revalidates with ``If-None-Match`` and gets a
304: no disk read on any request, and a new version shows at once after an upgrade.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Mapping

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> Mapping[str, Asset]:
    """Every servable file under ``static/`` by its path there ("dashboard.js", "vendor/uPlot.iife.min.js")."""
    assets: dict[str, Asset] = {}
    root = resources.files("bifrost_proxy.ui") / "static"
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((entry, name + "/"))
                continue
            suffix = "." + entry.name.rpartition(".")[2]
            content_type = CONTENT_TYPES.get(suffix)
            if content_type is None:
                continue  # LICENSE, the refresh script: shipped, not served
            body = entry.read_bytes()
            assets[name] = Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets
