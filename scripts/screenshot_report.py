"""Render a ``report.html`` to PNG with headless Chromium, to check what a browser shows.

    python scripts/screenshot_report.py runs/demo/report.html --out report.png
    python scripts/screenshot_report.py runs/demo/report.html --full-page

Chromium is found as ``--chromium PATH``, the ``CHROMIUM`` environment variable, or on ``PATH``
(``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable``). It runs with a
throw-away profile and no network services. ``--full-page`` renders into a very tall window and
crops the blank rows below the page's content.

Exit codes: 0 written, 1 bad input or Chromium failed, 2 Chromium not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FULL_PAGE_HEIGHT = 16000


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium executable: ``explicit``, then ``$CHROMIUM``, then the usual names on PATH."""
    for name in (explicit, os.environ.get("CHROMIUM"), *CANDIDATES):
        if name:
            found = shutil.which(name)
            if found:
                return found
    return None


def screenshot(
    chromium: str, report: Path, out: Path, *, width: int, height: int, timeout: float
) -> None:
    """Write a ``width`` x ``height`` PNG of ``report`` to ``out``; RuntimeError on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        partial = Path(profile) / "screenshot.png"
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={partial}",
            f"--window-size={width},{height}",
            report.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"chromium did not finish within {timeout:g} s") from None
        if not partial.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise RuntimeError(
                f"chromium wrote no screenshot (exit code {result.returncode}): "
                + " | ".join(detail)
            )
        shutil.move(partial, out)


def crop_blank_bottom(path: Path, *, margin: int = 24) -> tuple[int, int]:
    """Cut the rows below the last one that differs from the bottom row; returns the new size."""
    from PIL import Image, ImageChops

    with Image.open(path) as image:
        image = image.convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((0, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    bottom = min(image.height, (box[3] if box else 1) + margin)
    image.crop((0, 0, image.width, bottom)).save(path)
    return image.width, bottom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("report", type=Path, help="the report.html to render")
    parser.add_argument("--out", type=Path, help="PNG to write (default: beside the report)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument(
        "--full-page", action="store_true", help="capture the whole page, cropped to its content"
    )
    parser.add_argument("--chromium", help="path or name of the Chromium executable")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    args = parser.parse_args(argv)

    if not args.report.is_file():
        print(f"Error: {args.report}: no such file", file=sys.stderr)
        return 1
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "Error: Chromium not found (looked for "
            + ", ".join(([args.chromium] if args.chromium else []) + list(CANDIDATES))
            + "). Install it (Debian/Ubuntu: apt-get install chromium) or pass --chromium PATH.",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.report.with_suffix(".png")
    height = FULL_PAGE_HEIGHT if args.full_page else args.height
    try:
        screenshot(
            chromium, args.report, out, width=args.width, height=height, timeout=args.timeout
        )
    except RuntimeError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    width = args.width
    if args.full_page:
        width, height = crop_blank_bottom(out)
    print(f"wrote {out} ({width}x{height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
