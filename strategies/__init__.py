"""Strategies: policy, one small module each, found through a registry.

The built-ins are the strategies docs/design.md compares (their rules
are docs/model.md's); third-party packages add more through the
``pinbench.strategies`` entry-point group (the entry point names a
``Strategy`` instance or class). A built-in strategy is its module here plus
its line in :data:`BUILTIN`; everything else (figures, tables, diagrams,
validation) reads the registry.
"""

from __future__ import annotations

from ..model.errors import UsageError
from . import always_heap, anchor_box, dotnet, fiber, go_stack, halo, loom, pinbox, rc, swift_slab
from .base import BOTTOM_UP, OPTION_SEPARATOR, TOP_DOWN, Option, Strategy
from ..model.layout import Layout

ENTRY_POINT_GROUP = "pinbench.strategies"
BUILTIN = {s.name: s for s in (always_heap.STRATEGY, anchor_box.STRATEGY, pinbox.STRATEGY, rc.STRATEGY,
                               halo.STRATEGY, go_stack.STRATEGY, loom.STRATEGY, dotnet.STRATEGY,
                               swift_slab.STRATEGY, fiber.STRATEGY)}
# What the others' times are divided by where pinbench gives ratios (validate's
# model and native time ratios): the whole task in one allocation.
TIME_REFERENCE = pinbox.STRATEGY.name


def available() -> dict[str, Strategy]:
    """Every strategy: the built-ins first, then the plug-ins, by name."""
    # Imported here: reading the installed packages' entry points is a third
    # of this package's import, and a timing worker asks for a built-in.
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue  # a plug-in cannot shadow a built-in
        if not _selectable(ep.name):
            raise UsageError(
                f"strategy plug-in '{ep.name}' ({ep.value}) has a name -s cannot select (no "
                f"'{OPTION_SEPARATOR}', ',' or spaces, and not 'all'); rename its entry point or uninstall "
                "that package"
            )
        try:
            obj = ep.load()
            strategy = obj() if isinstance(obj, type) else obj
        except Exception as exc:  # a broken plug-in must not break the tool
            raise UsageError(
                f"strategy plug-in '{ep.name}' ({ep.value}) failed to load: {type(exc).__name__}: {exc}; "
                "fix or uninstall that package"
            ) from None
        if not isinstance(strategy, Strategy):
            raise UsageError(
                f"strategy plug-in '{ep.name}' ({ep.value}) is not a pinbench Strategy; "
                "subclass pinbench.strategies.Strategy"
            )
        if strategy.name != ep.name:
            strategy.name = ep.name
        found[ep.name] = strategy
    return found


def _selectable(name: str) -> bool:
    """Whether ``-s NAME`` can name it: a comma separates strategies and
    OPTION_SEPARATOR its options; 'all' means every strategy."""
    return bool(name) and name != "all" and not any(c in name for c in (OPTION_SEPARATOR, ",")) \
        and not any(c.isspace() for c in name)


# Colours and markers for strategies that declare none (plug-ins, or names in
# a results folder whose plug-in is not installed here), handed out in the
# order they are first asked for, skipping those a declared strategy uses:
# the Okabe-Ito colours, then Paul Tol's muted ones: sixteen strategies get
# sixteen distinct colours (and fifteen distinct markers) before any repeats.
PALETTE = (
    "#E69F00", "#56B4E9", "#000000", "#999933", "#882255", "#44AA99",
    "#332288", "#88CCEE", "#117733", "#DDCC77", "#AA4499", "#661100",
    "#D55E00", "#CC79A7", "#0072B2", "#009E73",
)
MARKERS = ("v", "P", "X", "*", "h", "<", ">", "p", "d", "H", "8", "o", "s", "D", "^")
_assigned: dict = {}  # (attribute, name) -> what that strategy got


def _declared(attribute: str) -> dict:
    return {name: getattr(s, attribute) for name, s in BUILTIN.items() if getattr(s, attribute)}


def _installed() -> dict:
    """Every strategy, for its declared look; a broken plug-in must not stop a figure."""
    try:
        return available()
    except UsageError:
        return dict(BUILTIN)


def _look(name: str, attribute: str, choices: tuple) -> str:
    declared = _declared(attribute)
    if name in declared:
        return declared[name]
    key = (attribute, name)
    if key not in _assigned:
        own = getattr(_installed().get(name), attribute, None)
        given = [v for (a, _), v in _assigned.items() if a == attribute]
        free = [c for c in choices if c not in declared.values() and c not in given]
        _assigned[key] = own or (free[0] if free else choices[len(given) % len(choices)])
    return _assigned[key]


def color_of(name: str) -> str:
    """The colour of a strategy, the same in every figure and on the page."""
    return _look(name, "color", PALETTE)


def marker_of(name: str) -> str:
    """The marker of a strategy in line figures."""
    return _look(name, "marker", MARKERS)


def get(name: str) -> Strategy:
    """A strategy by name, options included: ``fiber`` or ``fiber:stack=131072``."""
    base, sep, settings = name.partition(OPTION_SEPARATOR)
    # A plug-in cannot shadow a built-in: a built-in's name needs no plug-in looked up.
    strategies = BUILTIN if base in BUILTIN else available()
    if base not in strategies:
        raise UsageError(
            f"unknown strategy '{base}'; choose one of: {', '.join(strategies)}"
        )
    return strategies[base].configured(settings) if sep else strategies[base]


__all__ = [
    "UsageError", "BOTTOM_UP", "TOP_DOWN", "Option", "Strategy", "Layout", "available", "get", "color_of", "marker_of",
    "ENTRY_POINT_GROUP",
]
