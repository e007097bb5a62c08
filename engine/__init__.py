"""AgentFlow's engine. `engine.connect()` runs in-process on Ray; `engine.HTTPClient` talks to a service.

Both are imported on first use, so `import engine` (and every plain module of
the engine) stays free of Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.ray.driver import Client, connect
    from engine.sdk.http_client import HTTPClient

__all__ = ["Client", "HTTPClient", "connect"]

_LAZY = {"connect": "engine.ray.driver", "Client": "engine.ray.driver", "HTTPClient": "engine.sdk.http_client"}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "errors":  # `engine.errors.NotFound` after a bare `import engine`
        return importlib.import_module("engine.errors")
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
