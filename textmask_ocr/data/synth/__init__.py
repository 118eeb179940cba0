"""Synthetic training data with exact ground truth: word crops and scenes with text masks.

Real training sets cannot ship with the library, so it draws its own: words from a built-in
English list and random alphanumerics, in Pillow's built-in font and the system's (or given)
fonts, on procedural or user-picture backgrounds, warped, decorated and degraded. Every geometric
transform is applied identically to the glyph coverage, so the pixel-level mask is exact; word
polygons come from the same transform.

- Word crops: :func:`generate_word` -> :class:`WordSample`; :func:`iter_word_records` yields
  LMDB records (parallel, deterministic per ``(seed, index)``).
- Scenes: :func:`generate_scene` -> :class:`Scene` (image, pixel mask, region mask, polygons);
  :func:`iter_scene_files` yields the encoded files of the scene-folder layout.
- Writing to disk: :mod:`textmask_ocr.data.synth.writers` (``write_synth_words``,
  ``write_synth_scenes``), used by ``textmask-ocr synth words|scenes``.
"""

from __future__ import annotations

from textmask_ocr.data.synth.appearance import PaintStyle
from textmask_ocr.data.synth.assets import SynthAssets, default_assets
from textmask_ocr.data.synth.crops import (
    WordSample,
    WordStyle,
    generate_word,
    iter_word_records,
    word_record,
)
from textmask_ocr.data.synth.effects import ImageEffects
from textmask_ocr.data.synth.fonts import FontFace, find_fonts
from textmask_ocr.data.synth.parallel import check_run, sample_rng
from textmask_ocr.data.synth.scenes import (
    Scene,
    SceneConfig,
    WordPolygon,
    generate_scene,
    iter_scene_files,
    iter_scenes,
)
from textmask_ocr.data.synth.words import LabelMix, load_word_list, sample_label

__all__ = [
    "FontFace",
    "ImageEffects",
    "LabelMix",
    "PaintStyle",
    "Scene",
    "SceneConfig",
    "SynthAssets",
    "WordPolygon",
    "WordSample",
    "WordStyle",
    "check_run",
    "default_assets",
    "find_fonts",
    "generate_scene",
    "generate_word",
    "iter_scene_files",
    "iter_scenes",
    "iter_word_records",
    "load_word_list",
    "sample_label",
    "sample_rng",
    "word_record",
]
