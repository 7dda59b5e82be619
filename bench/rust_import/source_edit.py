"""The edit a box-here advice means, made to Rust source.

Used to check the advice against rustc itself: the tests and
tools/import_fuzz.py box the advised call in a copy of a crate, rebuild,
and compare rustc's new sizes with the prediction. It handles the simple
shapes those sources use (a call whose arguments hold no parentheses),
not Rust in general.
"""

from __future__ import annotations

import re


def box_call(source: str, parent: str, child: str, occurrence: int) -> str:
    """``source`` with the ``occurrence``-th call of ``child(...)`` in async
    fn ``parent``'s body (counted from 0) wrapped in ``Box::pin(...)``."""
    start = re.search(rf"async fn {re.escape(parent)}\b", source).start()
    end = source.index("\n}", start)
    body = source[start:end]
    call = list(re.finditer(rf"\b{re.escape(child)}\(([^()]*)\)", body))[occurrence]
    body = body[:call.start()] + f"Box::pin({call.group(0)})" + body[call.end():]
    return source[:start] + body + source[end:]
