"""Go's stack-doubling rule, worked out by hand for go_stack's model side
(tests/test_validate_go.py); shares no code with bench/validate/go.py or
strategies/go_stack.py."""

from __future__ import annotations

HEAD, START, GUARD = 64, 2048, 928  # the model's frame header; Go's stackMin and stackGuard


def hand_rule(depth: int, locals_: int):
    """(final stack, bytes of frames on it, the stack it last grew from):
    level_depth first, each level 64 + locals (8-aligned) + a pointer to
    its child (the leaf: a 16-byte io); a push whose frame and the guard
    do not fit doubles the stack until they do."""
    frames = [HEAD + (locals_ + 7) // 8 * 8 + (16 if level == 0 else 8) for level in range(depth, -1, -1)]
    cap, used, old = START, 0, 0
    for size in frames:
        if used + size + GUARD > cap:
            old = cap
            while used + size + GUARD > cap:
                cap *= 2
        used += size
    return cap, used, old
