"""Schemas of every event type on the contract's topics, one module per producer.

These are the published shapes (the contract), shared so that a consumer validates an event
exactly as its producer does. `default_registry()` holds them all.
"""
from __future__ import annotations

import importlib
import pkgutil

from shared.events.registry import EventRegistry

_registry: EventRegistry | None = None


def default_registry() -> EventRegistry:
    global _registry
    if _registry is None:
        registry = EventRegistry()
        for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            module.register(registry)
        _registry = registry
    return _registry
