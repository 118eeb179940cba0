"""The synthetic-text renderer: warps, polygons, rasterisation, exact masks, colour and effects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segmentation.datasets import rasterize_polygons
from textmask_ocr.data.synth.colour import colour_with_luminance, luminance
from textmask_ocr.data.synth.effects import ImageEffects, degrade, desaturate
from textmask_ocr.data.synth.fonts import FontFace
from textmask_ocr.data.synth.render import (
    LAYER_BORDER,
    ArcBend,
    TextWarp,
    homography_from_points,
    make_warp,
    render_text,
    warp_layers,
    word_polygon,
)


def signed_area(polygon: np.ndarray) -> float:
    """Shoelace area; positive for clockwise order on screen (y down)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def bilinear_reference(layer: np.ndarray, x: float, y: float) -> float:
    """Bilinear interpolation of ``layer`` at (x, y), zero outside, one point at a time."""
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    total = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            row, column = y0 + dy, x0 + dx
            if 0 <= row < layer.shape[0] and 0 <= column < layer.shape[1]:
                weight = (1 - abs(x - column)) * (1 - abs(y - row))
                total += weight * layer[row, column]
    return total / 255.0


@pytest.fixture(scope="module")
def font():
    return FontFace(None).load(24)


def test_homography_maps_the_four_points():
    source = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [0.0, 4.0]])
    target = np.array([[1.0, 2.0], [12.0, 1.0], [11.5, 7.0], [0.5, 6.0]])
    warp = TextWarp(homography_from_points(source, target))
    np.testing.assert_allclose(warp.forward(source), target, atol=1e-9)


@pytest.mark.parametrize("sign", [1, -1])
def test_arc_bend_round_trips_and_keeps_lengths_on_its_line(sign):
    arc = ArcBend(center_x=20.0, ref_y=8.0, radius=30.0, sign=sign)
    x, y = np.array([0.0, 5.0, 20.0, 37.0]), np.array([2.0, 8.0, 13.0, 8.0])
    bent = arc.forward(x, y)
    np.testing.assert_allclose(arc.inverse(*bent), (x, y), atol=1e-9)
    # points on the reference line land on a circle of the radius, at arc length |x - center_x|
    on_line = arc.forward(np.array([-10.0, 50.0]), np.array([8.0, 8.0]))
    centre = np.array([20.0, 8.0 + sign * 30.0])
    distances = np.hypot(on_line[0] - centre[0], on_line[1] - centre[1])
    np.testing.assert_allclose(distances, [30.0, 30.0])
    np.testing.assert_allclose(arc.forward(np.array([20.0]), np.array([3.0])), ([20.0], [3.0]))


def test_warp_inverse_undoes_forward():
    warp = make_warp(
        (3, 4, 60, 20), rotation=25.0, bend=0.9, aspect=1.2, corner_jitter=np.full((4, 2), 0.1)
    ).shifted(40.0, 30.0)
    points = np.array([[3.0, 4.0], [30.0, 12.0], [60.0, 20.0], [10.0, 19.0]])
    mapped = warp.forward(points)
    np.testing.assert_allclose(
        np.stack(warp.inverse(mapped[:, 0], mapped[:, 1]), axis=1), points, atol=1e-7
    )


def test_identity_warp_reproduces_layers_and_rotation_matches_bilinear_reference(font):
    layers = render_text("Hey", font, stroke_width=1)
    stack = layers.stack()
    height, width = stack.shape[1:]
    identity = TextWarp(np.eye(3))
    np.testing.assert_allclose(
        warp_layers(stack, identity, width, height), stack / 255.0, atol=1e-6
    )

    warp = make_warp(layers.ink_box, rotation=17.0).shifted(30.0, 25.0)
    warped = warp_layers(stack, warp, 60, 50)
    rng = np.random.default_rng(1)
    inked = np.argwhere(warped[0] > 0)
    assert len(inked) > 50
    picks = np.concatenate([inked[rng.integers(len(inked), size=30)], rng.integers(0, 50, (30, 2))])
    for row, column in picks:
        u, v = warp.inverse(np.array([float(column)]), np.array([float(row)]))
        for k in range(2):
            assert warped[k, row, column] == pytest.approx(
                bilinear_reference(stack[k], u[0], v[0]), abs=1e-5
            )


def test_render_text_layers(font):
    plain = render_text("Mask", font)
    assert plain.outline is None and plain.stack().shape[0] == 1
    x0, y0, x1, y1 = plain.ink_box
    ink = np.argwhere(plain.coverage > 0)
    assert (ink.min(axis=0).tolist(), ink.max(axis=0).tolist()) == ([y0, x0], [y1, x1])
    outlined = render_text("Mask", font, stroke_width=2)
    # the outline layer contains the glyphs and reaches further
    assert np.all(outlined.outline >= outlined.coverage)
    assert (outlined.outline > 0).sum() > (outlined.coverage > 0).sum()
    spaced = render_text("Mask", font, tracking=6.0)
    assert spaced.ink_box[2] - spaced.ink_box[0] >= (x1 - x0) + 3 * 6 - 1
    tight = render_text("jWgy", font, stroke_width=3, tracking=-2.7)
    for layer in [
        plain.coverage,
        outlined.coverage,
        outlined.outline,
        spaced.coverage,
        *tight.stack(),
    ]:
        border = np.ones(layer.shape, dtype=bool)
        border[LAYER_BORDER:-LAYER_BORDER, LAYER_BORDER:-LAYER_BORDER] = False
        assert not layer[border].any()  # warp_layers relies on a zero border


def test_embolden_thickens_the_text_and_the_outline_grows_from_it(font):
    plain = render_text("Mask", font)
    bold = render_text("Mask", font, embolden=2)
    # the glyphs drawn with a 2-pixel stroke in their own colour, as Pillow draws them
    reference = render_text("Mask", font, stroke_width=2).outline
    assert bold.outline is None
    assert np.array_equal(bold.coverage, reference)
    assert (bold.coverage > 0).sum() > (plain.coverage > 0).sum()
    # an outline on top: the canvas grows by its width, the text stays the thickened glyphs
    outlined = render_text("Mask", font, embolden=2, stroke_width=1)
    assert np.array_equal(_inked(outlined.coverage), _inked(bold.coverage))
    assert np.array_equal(outlined.outline, render_text("Mask", font, stroke_width=3).outline)


def _inked(layer: np.ndarray) -> np.ndarray:
    """``layer`` cropped to its non-zero pixels."""
    rows, columns = np.nonzero(layer)
    return layer[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


@pytest.mark.parametrize("seed", range(12))
def test_every_touched_pixel_lies_inside_the_clockwise_word_polygon(font, seed):
    rng = np.random.default_rng(seed)
    layers = render_text(["Wordy", "gj", "I", "MAXIMUM"][seed % 4], font, stroke_width=seed % 3)
    warp = make_warp(
        layers.ink_box,
        rotation=rng.uniform(-90, 90),
        bend=[0.0, 2.5, -2.0, 1.0][seed % 4],
        aspect=rng.uniform(0.7, 1.4),
        scale=rng.uniform(0.6, 1.6),
        corner_jitter=rng.uniform(-0.24, 0.24, (4, 2)),
    )
    polygon = word_polygon(layers.ink_box, warp)
    low = np.floor(polygon.min(axis=0)) - 3
    size = (np.ceil(polygon.max(axis=0)) - low + 4).astype(int)
    warp, polygon = warp.shifted(*-low), polygon - low
    coverage = warp_layers(layers.stack(), warp, size[0], size[1])[0]
    inside = rasterize_polygons([polygon], size[1], size[0])
    touched = coverage > 0
    assert touched.sum() > 10
    assert not np.any(touched & ~inside)
    assert signed_area(polygon) > 0
    # tight: the polygon holds little more than the warped, padded ink box
    assert inside.sum() < 4 * max(touched.sum(), 50)


def test_colour_with_luminance_is_exact():
    rng = np.random.default_rng(3)
    for target in [0.0, 0.05, 0.3, 0.5, 0.77, 1.0]:
        colour = colour_with_luminance(rng, target)
        assert np.all((colour >= 0) & (colour <= 1))
        assert float(luminance(colour)) == pytest.approx(target, abs=1e-5)


def test_desaturate_keeps_luminance_and_moves_linearly_to_grey():
    rng = np.random.default_rng(4)
    canvas = rng.random((5, 7, 3), dtype=np.float32)
    grey = luminance(canvas)
    for saturation in [0.0, 0.3, 1.0]:
        washed = desaturate(canvas, saturation)
        assert np.all((washed >= -1e-6) & (washed <= 1 + 1e-6))
        np.testing.assert_allclose(luminance(washed), grey, atol=1e-6)
        for row, column, channel in [(0, 0, 0), (4, 6, 2), (2, 3, 1)]:
            pixel, reference = canvas[row, column, channel], grey[row, column]
            expected = reference + saturation * (pixel - reference)
            assert washed[row, column, channel] == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(desaturate(canvas, 1.0), canvas, atol=1e-6)
    np.testing.assert_allclose(
        desaturate(canvas, 0.0), np.repeat(grey[..., None], 3, -1), atol=1e-6
    )


def test_degrade_washes_out_colour_only_when_asked():
    canvas = np.zeros((8, 8, 3), dtype=np.float32)
    canvas[..., 0] = 1.0  # pure red: luminance 0.299
    only_desaturation = ImageEffects(
        desaturate_probability=1.0,
        saturation=(0.0, 0.0),
        blur_probability=0.0,
        downscale_probability=0.0,
        noise_probability=0.0,
        jpeg_probability=0.0,
    )
    grey = np.asarray(degrade(np.random.default_rng(0), canvas, only_desaturation).image)
    assert np.all(grey == round(0.299 * 255))
    untouched = dataclasses.replace(only_desaturation, desaturate_probability=0.0)
    red = np.asarray(degrade(np.random.default_rng(0), canvas, untouched).image)
    assert np.all(red == [255, 0, 0])
