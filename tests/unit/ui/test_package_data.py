"""Every file of the dashboard ships in the package: setup.cfg's package_data covers all of static/."""
from __future__ import annotations

import configparser
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
UI = REPO / "bifrost_proxy" / "ui"


def test_package_data_covers_every_file_the_dashboard_serves_or_ships():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["bifrost_proxy.ui"].split(",")]
    files = [p.relative_to(UI).as_posix() for p in (UI / "static").rglob("*") if p.is_file()]
    assert "static/vendor/uPlot.iife.min.js" in files and "static/vendor/uPlot.LICENSE" in files
    # setuptools globs do not cross "/": each folder needs its own pattern
    missing = [f for f in files if not any(fnmatch(f, p) and f.count("/") == p.count("/") for p in patterns)]
    assert not missing, f"add these to [options.package_data] in setup.cfg: {missing}"
