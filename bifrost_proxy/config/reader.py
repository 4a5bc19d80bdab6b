"""Reading a config's raw data into typed fields, collecting every problem with its field path.

Used by ``load.py`` and by the sections that live in their own modules (``governance.py``).
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping


class Reader:
    """Collects problems while reading typed fields, so one run reports them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.disabled: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {kind(value)}")
            return {}
        return value

    def unknown(self, data: dict[str, Any], known: set[str], path: str) -> None:
        for name in data:
            if name not in known:
                # Bifrost config.json files carry many sections we do not serve; tolerate, but say so
                self.warnings.append(f"{path}.{name}: unknown field, ignored" if path else f"{name}: unknown field, ignored")

    def number(self, data: dict[str, Any], name: str, path: str, default: float, *, minimum: float = 0.0,
               strict: bool = False, integer: bool = False) -> float:
        value = data.get(name, default)
        if value is None:
            return default
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if integer and ok and value != int(value):
            ok = False
        if ok and (value > minimum if strict else value >= minimum):
            return int(value) if integer else float(value)
        what = "an integer" if integer else "a number"
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        self.fail(f"{path}.{name}", f"must be {what} {bound}")
        return default

    def boolean(self, data: dict[str, Any], name: str, path: str, default: bool) -> bool:
        value = data.get(name, default)
        if isinstance(value, bool):
            return value
        self.fail(f"{path}.{name}", "must be true or false")
        return default

    def string(self, data: dict[str, Any], name: str, path: str, default: str = "", *, secret: bool = False) -> str:
        value = data.get(name, default)
        if value is None:
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not secret:
            value = str(value)
        if not isinstance(value, str):
            self.fail(f"{path}.{name}", f"must be a string, not {kind(value)}")
            return default
        return self.resolve(value, f"{path}.{name}")

    def resolve(self, value: str, path: str) -> str:
        """``env.NAME`` reads the environment now; anything else is a literal."""
        if value.startswith("env."):
            var = value[4:]
            resolved = self.env.get(var)
            if resolved is None or resolved == "":
                self.fail(path, f"environment variable {var} is not set")
                return ""
            return resolved
        return value

    def resolve_tree(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.resolve(value, path)
        if isinstance(value, dict):
            return MappingProxyType({str(k): self.resolve_tree(v, f"{path}.{k}") for k, v in value.items()})
        if isinstance(value, list):
            return tuple(self.resolve_tree(v, f"{path}[{i}]") for i, v in enumerate(value))
        return value

    def string_list(self, data: dict[str, Any], name: str, path: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = data.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{path}.{name}", "must be a list of non-empty strings")
            return default
        return tuple(value)

    def string_map(self, data: dict[str, Any], name: str, path: str) -> Mapping[str, str]:
        value = data.get(name)
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
            self.fail(f"{path}.{name}", "must be a mapping of names to strings")
            return MappingProxyType({})
        return MappingProxyType({str(k): self.resolve(str(v), f"{path}.{name}.{k}") for k, v in value.items()})


def kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__)
