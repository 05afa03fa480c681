"""Judging a timeline of calls, as a server that enforces a rate limit would see it."""

from __future__ import annotations


def max_in_window(starts: list[float], window: float) -> int:
    """The most calls that started within any `window` seconds."""
    ordered = sorted(starts)
    return max((sum(1 for t in ordered[i:] if t < s + window) for i, s in enumerate(ordered)), default=0)


def max_concurrency(calls: list[tuple[float, float]]) -> int:
    """The most calls in flight at one moment (a call ending as another starts does not overlap it)."""
    events = sorted([(end, -1) for _, end in calls] + [(start, 1) for start, _ in calls])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak
