"""The files synthetic data is drawn with: fonts and (optional) background pictures."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from textmask_ocr.data.synth.backgrounds import find_background_images
from textmask_ocr.data.synth.fonts import FontFace, find_fonts


@dataclass(frozen=True)
class SynthAssets:
    """Fonts and background pictures, found once and shared (picklable) with worker processes.

    Attributes:
        fonts: the faces words are drawn with, drawn uniformly.
        backgrounds: paths of user pictures to crop backgrounds from (may be empty).
    """

    fonts: tuple[FontFace, ...]
    backgrounds: tuple[str, ...] = ()

    @classmethod
    def find(
        cls,
        font_dir: str | os.PathLike[str] | None = None,
        background_dir: str | os.PathLike[str] | None = None,
        *,
        package_fonts: bool = True,
    ) -> SynthAssets:
        """Pillow's built-in face plus the fonts of ``font_dir`` (default: the system's fonts and,
        with ``package_fonts``, those of installed Python packages), and the pictures of
        ``background_dir`` (default: none).

        Raises:
            InputError: a folder is missing or holds nothing usable.
        """
        backgrounds = find_background_images(background_dir) if background_dir is not None else ()
        return cls(find_fonts(font_dir, package_fonts=package_fonts), backgrounds)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary (font file names, picture count) for ``meta.json`` files."""
        return {
            "fonts": [face.name for face in self.fonts],
            "background_images": len(self.backgrounds),
        }


@functools.lru_cache(maxsize=2)
def default_assets(*, package_fonts: bool = True) -> SynthAssets:
    """The built-in face, the system's fonts and (with ``package_fonts``) those of installed
    Python packages; no background pictures. Found once per process."""
    return SynthAssets.find(package_fonts=package_fonts)
