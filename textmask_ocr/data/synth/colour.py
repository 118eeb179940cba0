"""Colours as float RGB in [0, 1], and their luminance (Rec. 601 weights on the stored values)."""

from __future__ import annotations

import numpy as np

#: Luminance weights of R, G, B (ITU-R BT.601, as Pillow's ``convert("L")`` uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Luminance in [0, 1] of ``(..., 3)`` float RGB values in [0, 1]."""
    return np.asarray(rgb, dtype=np.float32) @ LUMA_WEIGHTS


def colour_with_luminance(rng: np.random.Generator, target: float) -> np.ndarray:
    """A random (3,) RGB colour whose luminance is exactly ``target`` (clipped to [0, 1]).

    A random hue and saturation is drawn, then scaled towards black (to darken) or towards white
    (to lighten): both moves change luminance linearly, so the target is met exactly.
    """
    target = float(np.clip(target, 0.0, 1.0))
    colour = rng.random(3).astype(np.float32)
    current = float(luminance(colour))
    if target <= current:
        return colour * (target / current) if current > 0 else np.zeros(3, np.float32)
    return 1.0 - (1.0 - colour) * ((1.0 - target) / (1.0 - current))


def contrasting_luminance(rng: np.random.Generator, background: float, contrast: float) -> float:
    """A luminance ``contrast`` away from ``background``: darker or lighter, whichever fits.

    When both directions fit, one is drawn at random; when neither fits fully, the larger room
    is used (the contrast is then that room, at least 0.5).
    """
    room_dark, room_light = background, 1.0 - background
    if min(room_dark, room_light) >= contrast:
        darker = bool(rng.random() < 0.5)
    else:
        darker = room_dark >= room_light
    return (
        background - min(contrast, room_dark) if darker else background + min(contrast, room_light)
    )
