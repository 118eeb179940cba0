"""Fonts for synthetic text: Pillow's built-in scalable font plus TrueType/OpenType files.

A :class:`FontFace` names a font (a file, or Pillow's built-in face) and loads it at any pixel
size, cached per process. :func:`find_fonts` collects the faces of a folder, or of the standard
system font folders and the font files that installed Python packages ship (the ``fonts`` extra
installs a dozen families), keeping only those that draw every character labels can contain
(:data:`REQUIRED_CHARACTERS`); symbol and script fonts that would render boxes are left out.
:func:`sample_face` draws a family uniformly, then one of its styles, so that a family shipped
in sixteen weights is not sixteen times as frequent as one shipped in a single weight.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from textmask_ocr.data.synth.words import LABEL_CHARACTERS, LABEL_PUNCTUATION
from textmask_ocr.errors import InputError

logger = logging.getLogger(__name__)

#: Characters every usable font must draw: the characters synthetic labels are made of.
REQUIRED_CHARACTERS = LABEL_CHARACTERS
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

    @property
    def family(self) -> str:
        """The family name the font file declares (e.g. ``"DejaVu Sans"``)."""
        return self.load(_PROBE_SIZE).getname()[0] or self.name


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


def package_font_files() -> list[Path]:
    """The font files shipped inside installed Python distributions, resolved and sorted.

    Font packages (``pip install 'textmask-ocr[fonts]'``, or any distribution carrying .ttf/.otf
    files, such as matplotlib) are found wherever they are installed, with no configuration.
    """
    found: set[Path] = set()
    for distribution in metadata.distributions():
        for file in distribution.files or ():
            if file.suffix.lower() in FONT_SUFFIXES:
                path = Path(distribution.locate_file(file))
                if path.is_file():
                    found.add(path.resolve())
    return sorted(found)


def font_files(folders: Iterable[Path]) -> list[Path]:
    """Every font file under ``folders`` (recursively), resolved, deduplicated and sorted."""
    found: set[Path] = set()
    for folder in folders:
        for path in folder.rglob("*"):
            if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                found.add(path.resolve())
    return sorted(found, key=_by_file_name)


def _by_file_name(path: Path) -> tuple[str, str]:
    """Sort key: the file name first, so the same fonts keep their order (and a seed its
    samples) wherever they are installed; the full path breaks ties."""
    return path.name, str(path)


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


def find_fonts(
    font_dir: str | os.PathLike[str] | None = None, *, package_fonts: bool = True
) -> tuple[FontFace, ...]:
    """The faces synthetic text is drawn with: the built-in face plus usable font files.

    Args:
        font_dir: a folder searched recursively for font files; ``None`` searches the standard
            system font folders (:func:`system_font_dirs`) and, with ``package_fonts``, the
            fonts of installed Python packages (:func:`package_font_files`).

    Returns:
        the built-in face (when Pillow has FreeType) followed by the usable font files, sorted by
        file name (then path), so the same fonts give the same order (and the same samples for
        a seed) wherever they are installed.

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
        if package_fonts:
            files = sorted(set(files) | set(package_font_files()), key=_by_file_name)
    usable = [
        face for face in (FontFace(str(path)) for path in files) if draws_required_characters(face)
    ]
    if font_dir is not None and not usable:
        raise InputError(
            f"--fonts {font_dir}: no usable font ({', '.join(FONT_SUFFIXES)} drawing "
            f"A-Z, a-z, 0-9 and {LABEL_PUNCTUATION}) in this folder"
        )
    builtin = builtin_face()
    faces = ((builtin,) if builtin is not None else ()) + tuple(usable)
    if not faces:
        raise InputError("no usable font: Pillow lacks FreeType and no font files were found")
    return faces


def sample_face(rng: np.random.Generator, faces: Sequence[FontFace]) -> FontFace:
    """A family drawn uniformly, then one of its faces uniformly (see the module docstring)."""
    families = _families(tuple(faces))
    members = families[int(rng.integers(len(families)))]
    return members[int(rng.integers(len(members)))]


@functools.lru_cache(maxsize=8)
def _families(faces: tuple[FontFace, ...]) -> tuple[tuple[FontFace, ...], ...]:
    """``faces`` grouped by family, groups in order of their first face."""
    groups: dict[str, list[FontFace]] = {}
    for face in faces:
        groups.setdefault(face.family, []).append(face)
    return tuple(tuple(group) for group in groups.values())
