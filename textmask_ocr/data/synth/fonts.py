"""Fonts for synthetic text: Pillow's built-in scalable font plus TrueType/OpenType files.

A :class:`FontFace` names a font (a file, or Pillow's built-in face) and loads it at any pixel
size, cached per process. :func:`find_fonts` collects the faces of a folder, or of the standard
system font folders, keeping only those that draw every character labels can contain
(:data:`REQUIRED_CHARACTERS`); symbol and script fonts that would render boxes are left out.
"""

from __future__ import annotations

import functools
import logging
import os
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from textmask_ocr.errors import InputError

logger = logging.getLogger(__name__)

#: Characters every usable font must draw: the characters synthetic labels are made of.
REQUIRED_CHARACTERS = string.ascii_letters + string.digits
#: Font file suffixes searched for (lower case; ``.ttc`` collections load their first face).
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
#: A code point no text font maps: whatever a font draws for it is its "missing glyph" box.
_UNMAPPED_CODE_POINT = chr(0x10FFFD)
#: The pixel size at which fonts are checked for missing glyphs.
_PROBE_SIZE = 24


@dataclass(frozen=True)
class FontFace:
    """A font that can be loaded at any pixel size.

    Attributes:
        path: the font file, or ``None`` for Pillow's built-in scalable face
            (``ImageFont.load_default(size=...)``).
    """

    path: str | None = None

    @property
    def name(self) -> str:
        """The file name, or ``"pillow-default"`` for the built-in face."""
        return Path(self.path).name if self.path is not None else "pillow-default"

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at ``size`` pixels (em height), cached per process."""
        return _load_font(self.path, int(size))


@functools.lru_cache(maxsize=1024)
def _load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        font = ImageFont.load_default(size=size)
        if not isinstance(font, ImageFont.FreeTypeFont):
            raise InputError("Pillow was built without FreeType: its built-in font cannot scale")
        return font
    return ImageFont.truetype(path, size)


def builtin_face() -> FontFace | None:
    """Pillow's built-in scalable face, or ``None`` when this Pillow has no FreeType support."""
    face = FontFace(None)
    try:
        face.load(_PROBE_SIZE)
    except InputError:
        return None
    return face


def system_font_dirs() -> list[Path]:
    """The standard font folders of Linux/BSD (XDG), macOS and Windows that exist here."""
    home = Path.home()
    data_home = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    candidates = [Path(folder) / "fonts" for folder in [data_home, *data_dirs.split(":")] if folder]
    candidates.append(home / ".fonts")
    if sys.platform == "darwin":
        candidates += [
            home / "Library" / "Fonts",
            Path("/Library/Fonts"),
            Path("/System/Library/Fonts"),
        ]
    windows_dir = os.environ.get("WINDIR")
    if windows_dir:
        candidates.append(Path(windows_dir) / "Fonts")
    unique: dict[Path, None] = {}
    for folder in candidates:
        if folder.is_dir():
            unique.setdefault(folder.resolve(), None)
    return list(unique)


def font_files(folders: Iterable[Path]) -> list[Path]:
    """Every font file under ``folders`` (recursively), resolved, deduplicated and sorted."""
    found: set[Path] = set()
    for folder in folders:
        for path in folder.rglob("*"):
            if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                found.add(path.resolve())
    return sorted(found)


def draws_required_characters(face: FontFace) -> bool:
    """Whether ``face`` loads and draws a visible, real glyph for every required character.

    A glyph is missing when it renders empty or identical to the font's box for an unmapped code
    point (FreeType draws glyph 0 for every character a font lacks).
    """
    try:
        font = face.load(_PROBE_SIZE)
        missing = _glyph_bitmap(font, _UNMAPPED_CODE_POINT)
        for character in REQUIRED_CHARACTERS:
            bitmap = _glyph_bitmap(font, character)
            if bitmap == missing or not any(bitmap):
                return False
    except (OSError, ValueError) as error:
        logger.debug("%s: cannot be used (%s)", face.name, error)
        return False
    return True


def _glyph_bitmap(font: ImageFont.FreeTypeFont, character: str) -> bytes:
    canvas = Image.new("L", (3 * _PROBE_SIZE, 3 * _PROBE_SIZE))
    ImageDraw.Draw(canvas).text(
        (_PROBE_SIZE // 2, _PROBE_SIZE // 2), character, font=font, fill=255
    )
    return canvas.tobytes()


def find_fonts(font_dir: str | os.PathLike[str] | None = None) -> tuple[FontFace, ...]:
    """The faces synthetic text is drawn with: the built-in face plus usable font files.

    Args:
        font_dir: a folder searched recursively for font files; ``None`` searches the standard
            system font folders (:func:`system_font_dirs`).

    Returns:
        the built-in face (when Pillow has FreeType) followed by the usable font files, sorted by
        path, so the same folders give the same order (and the same samples for a seed).

    Raises:
        InputError: ``font_dir`` is not a folder, or holds no usable font; or no font at all.
    """
    if font_dir is not None:
        folder = Path(font_dir)
        if not folder.is_dir():
            raise InputError(f"--fonts {font_dir}: no such folder")
        files = font_files([folder])
    else:
        files = font_files(system_font_dirs())
    usable = [
        face for face in (FontFace(str(path)) for path in files) if draws_required_characters(face)
    ]
    if font_dir is not None and not usable:
        raise InputError(
            f"--fonts {font_dir}: no usable font ({', '.join(FONT_SUFFIXES)} drawing "
            "A-Z, a-z and 0-9) in this folder"
        )
    builtin = builtin_face()
    faces = ((builtin,) if builtin is not None else ()) + tuple(usable)
    if not faces:
        raise InputError("no usable font: Pillow lacks FreeType and no font files were found")
    return faces
