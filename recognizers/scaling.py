"""Width scaling shared by the architectures' ``width_mult`` option."""

from __future__ import annotations

__all__ = ["scaled_channels"]


def scaled_channels(channels: int, width_mult: float) -> int:
    """``channels * width_mult`` rounded, at least 1 (``width_mult=1`` keeps the public sizes)."""
    return max(1, round(channels * width_mult))
