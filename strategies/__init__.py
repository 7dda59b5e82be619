"""Strategies: policy, one small module each, found through a registry.

The four built-ins are the contract of DESIGN.md; third-party packages add
more through the ``pinbench.strategies`` entry-point group (the entry point
names a ``Strategy`` instance or class).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ..model.errors import UsageError
from . import always_heap, anchor_box, pinbox, rc
from .base import BOTTOM_UP, TOP_DOWN, Strategy
from ..model.layout import Layout

ENTRY_POINT_GROUP = "pinbench.strategies"
BUILTIN = {s.name: s for s in (always_heap.STRATEGY, anchor_box.STRATEGY, pinbox.STRATEGY, rc.STRATEGY)}


def available() -> dict[str, Strategy]:
    """Every strategy: the built-ins first, then the plug-ins, by name."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue  # a plug-in cannot shadow a built-in
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the tool
            raise UsageError(
                f"strategy plug-in '{ep.name}' ({ep.value}) failed to load: {exc}; "
                "fix or uninstall that package"
            ) from None
        strategy = obj() if isinstance(obj, type) else obj
        if not isinstance(strategy, Strategy):
            raise UsageError(
                f"strategy plug-in '{ep.name}' ({ep.value}) is not a pinbench Strategy; "
                "subclass pinbench.strategies.Strategy"
            )
        if strategy.name != ep.name:
            strategy.name = ep.name
        found[ep.name] = strategy
    return found


def get(name: str) -> Strategy:
    strategies = available()
    if name not in strategies:
        raise UsageError(
            f"unknown strategy '{name}'; choose one of: {', '.join(strategies)}"
        )
    return strategies[name]


__all__ = ["UsageError", "BOTTOM_UP", "TOP_DOWN", "Strategy", "Layout", "available", "get", "ENTRY_POINT_GROUP"]
