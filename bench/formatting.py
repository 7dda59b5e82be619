"""Every number and parameter as text, in one place (like pyperf's
``_formatter``): the terminal tables, the figures, the report page, compare
and validate all format through these functions, so a value reads the same
wherever it is shown. Imports nothing from the rest of pinbench.
"""

from __future__ import annotations

import math
import re

_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_int(text) -> int:
    """A whole number typed as ASCII digits (surrounding blanks allowed).
    Python's int() also takes full-width or Arabic-Indic digits and
    underscores ('１２', '1_000'), which no one means on a command line."""
    raw = str(text).strip()
    if not _WHOLE.fullmatch(raw):
        raise ValueError(f"'{text}' is not a whole number")
    return int(raw)


def parse_float(text) -> float:
    """A decimal number typed in ASCII (12, 0.5, 1e3): not '１.５', 'nan' or 'inf'."""
    raw = str(text).strip()
    if not _DECIMAL.fullmatch(raw):
        raise ValueError(f"'{text}' is not a number")
    return float(raw)


def param_text(value) -> str:
    """A parameter value as typed on the command line: true, 4, 10."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def params_text(params: dict) -> str:
    """``depth=4 borrow=10``."""
    return " ".join(f"{k}={param_text(v)}" for k, v in params.items())


def compact(value) -> str:
    """A number short enough for a terminal table cell: 9, 1.11, 1240, 2.3M."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(value) >= limit:
            return _three_digits(value / limit) + suffix
    if float(value).is_integer():
        return str(int(value))
    return _three_digits(value)


def _three_digits(value: float) -> str:
    """Three significant digits, trailing zeros kept so columns line up."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def count(value) -> str:
    """Three significant digits, thousands separated (figures and the
    report page): 9, 1.10, 1,160, 2.3M."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:#.3g}" if abs(value) >= 1 else f"{value:.2g}"


def grouped(value, digits: int = 3) -> str:
    """Whole numbers in full with thousands separated, fractions to
    ``digits`` significant digits (validate's tables): 1,160, 0.123."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return f"{int(value):,}"


def exact(value) -> str:
    """A metric value as compared: whole numbers in full, others to four
    significant digits, or one decimal from 10,000 up (instructions per
    task: 15459.1, not 1.546e+04) (compare's tables)."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(int(value))


def signed(value) -> str:
    """A difference as compared: :func:`exact` with its sign (+12, -0.5, +21600.3)."""
    return ("+" if value >= 0 else "") + exact(value)


_TIME_UNITS = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"))


def time_unit(max_ns: float, micro: str = "µs") -> tuple:
    """(divisor, unit) that shows ``max_ns`` with at most four digits."""
    for scale, unit in _TIME_UNITS:
        if max_ns >= scale:
            return scale, (micro if unit == "µs" else unit)
    return 1.0, "ns"


def duration(ns, unit=None, micro: str = "µs") -> str:
    """A duration given in ns, three significant digits, in ``unit`` (a
    :func:`time_unit` pair) or the unit that suits it: 412 ns, 1.25 µs."""
    if ns is None:
        return "-"
    scale, name = unit or time_unit(ns, micro)
    return f"{ns / scale:.3g} {name}"


def format_ns(value) -> str:
    """A duration in ns for terminal text (ASCII "us")."""
    return duration(value, micro="us")


def duration_text(seconds: float) -> str:
    """A wall-clock duration as a person says it: ``40 s``, ``4 min``, ``1 h 20 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60} min"
