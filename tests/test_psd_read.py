"""PSD/PSB import: the edge-case corpus, the See-through sample, synthetic files with known
answers (written with psd-tools' own writing API)."""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage
from psd_tools.api.layers import PixelLayer
from psd_tools.constants import BlendMode, Compression

from conftest import shared_data_dir
from seethrough_core.character import Character, InputError
from seethrough_core.psd_read import MAX_SIDE, blend, read_psd


# ----------------------------------------------------------------------------------- helpers

def _edge_case_names() -> list[str]:
    folder = shared_data_dir() / "psd-edge-cases"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".psd", ".psb"))


@functools.lru_cache(maxsize=None)
def _imported(path: Path) -> Character:
    """Real files are read once per session; tests only look at the result."""
    return read_psd(path)


@functools.lru_cache(maxsize=None)
def _preview(path: Path) -> np.ndarray:
    """The file's own merged image (Photoshop's composite) as straight RGBA uint8."""
    return np.asarray(PSDImage.open(path).composite().convert("RGBA"))


def _assert_matches_preview(character: Character, path: Path, tol: int = 3) -> None:
    """Premultiplied comparison, so colours under near-zero alpha do not count."""
    ours = character.composite().astype(np.int32)
    ref = _preview(path).astype(np.int32)
    assert ours.shape == ref.shape
    alpha_diff = np.abs(ours[..., 3] - ref[..., 3])
    premul_diff = np.abs(ours[..., :3] * ours[..., 3:] - ref[..., :3] * ref[..., 3:]) // 255
    assert alpha_diff.max() <= tol, f"alpha differs by up to {alpha_diff.max()}"
    assert premul_diff.max() <= tol, f"colour differs by up to {premul_diff.max()}"


def _rgba(w: int, h: int, colour: tuple[int, int, int, int]) -> np.ndarray:
    return np.tile(np.array(colour, np.uint8), (h, w, 1))


def _add(parent, psd: PSDImage, name: str, pixels: np.ndarray, left: int, top: int) -> PixelLayer:
    """A pixel layer on top of ``parent`` (psd-tools wants an ASCII record name at creation)."""
    layer = PixelLayer.frompil(Image.fromarray(pixels, "RGBA"), psd, "layer", top, left)
    parent.append(layer)
    layer.name = name
    return layer


def _save(psd: PSDImage, folder: Path, name: str = "char.psd") -> Path:
    path = folder / name
    psd.save(path)
    return path


# ------------------------------------------------------------------------ edge-case corpus

@pytest.mark.parametrize("name", _edge_case_names())
def test_every_edge_case_imports_or_fails_with_one_line(edge_case_dir: Path, name: str) -> None:
    path = edge_case_dir / name
    try:
        character = _imported(path)
    except InputError as exc:
        message = str(exc)
        assert message.startswith(name) and "\n" not in message
        return
    assert character.layers, "an imported character has at least one layer"
    w, h = character.size
    for layer in character.layers:
        assert layer.rgba.dtype == np.uint8 and not layer.empty
        x0, y0, x1, y1 = layer.bbox
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert layer.alpha[0].any() and layer.alpha[-1].any()  # cropped to visible pixels
        assert layer.alpha[:, 0].any() and layer.alpha[:, -1].any()
    assert all("\n" not in warning for warning in character.warnings)


@pytest.mark.parametrize("name", [
    "1layer.psd", "2layers.psd", "2layers.psb", "broken-groups.psd", "clipping-mask.psd",
    "empty-group.psd", "empty-layer.psd", "group.psd", "hidden-groups.psd", "hidden-layer.psd",
    "mask.psd", "semi-transparent-layers.psd", "transparentbg-gimp.psd",
    "layers_shape-layer.psd", "layers_smartobject-layer.psd", "layers_type-layer.psd",
    "blend-modes_pass-through.psd",
])
def test_composite_matches_the_files_own_composite(edge_case_dir: Path, name: str) -> None:
    path = edge_case_dir / name
    _assert_matches_preview(_imported(path), path)


def test_hidden_layer_is_skipped_and_listed(edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "hidden-layer.psd")
    assert [layer.name for layer in character.layers] == ["Background", "Shape 1"]
    assert any(w.startswith("skipped 1 hidden") and "Shape 2" in w for w in character.warnings)


def test_hidden_group_is_skipped_with_its_layers(edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "hidden-groups.psd")
    assert [layer.name for layer in character.layers] == ["Background", "Group 2/Shape 2"]
    assert any("Group 1 (group, 1 layer)" in w for w in character.warnings)


def test_group_paths_are_kept_in_names(edge_case_dir: Path) -> None:
    assert [layer.name for layer in _imported(edge_case_dir / "group.psd").layers] == \
        ["Background", "Group 1/Shape 1"]
    assert [layer.name for layer in _imported(edge_case_dir / "broken-groups.psd").layers] == \
        ["anne/kas", "bebek/el sol"]


def test_empty_layers_are_left_out_and_listed(edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "empty-layer.psd")
    assert [layer.name for layer in character.layers] == ["Background", "group/normal"]
    assert any(w.startswith("1 empty layer left out") and "group/empty" in w
               for w in character.warnings)
    assert [layer.name for layer in _imported(edge_case_dir / "empty-group.psd").layers] == \
        ["Background"]


def test_layer_mask_zeroes_alpha_where_masked(edge_case_dir: Path) -> None:
    path = edge_case_dir / "mask.psd"
    layer = _imported(path).layer("Background copy")
    source = next(x for x in PSDImage.open(path) if x.name == "Background copy")
    mask = np.round(source.numpy("mask")[..., 0] * 255).astype(np.uint8)
    mx0, my0, mx1, my1 = source.mask.bbox
    assert source.mask.background_color == 0  # outside its box the mask hides everything
    x0, y0, x1, y1 = layer.bbox
    assert mx0 <= x0 and my0 <= y0 and x1 <= mx1 and y1 <= my1
    expected = np.zeros((my1 - my0, mx1 - mx0), np.uint8)
    expected[y0 - my0:y1 - my0, x0 - mx0:x1 - mx0] = layer.alpha
    # The layer itself is opaque: its alpha is the mask, zero wherever the mask is black.
    np.testing.assert_array_equal(expected, mask)
    assert (mask == 0).any()


def test_rendered_vector_masks_are_not_applied_twice(edge_case_dir: Path) -> None:
    path = edge_case_dir / "masks.psd"
    character = _imported(path)
    source = next(x for x in PSDImage.open(path).descendants() if x.name == "email")
    stored = source.numpy()[..., 3]
    assert source.opacity == 102
    layer = character.layer("Footer/Social/email")
    x0, y0 = layer.offset[0] - source.left, layer.offset[1] - source.top
    expected = np.round(stored * 102.0).astype(int)[y0:y0 + layer.height, x0:x0 + layer.width]
    assert np.abs(layer.alpha.astype(int) - expected).max() <= 1
    warnings = " | ".join(character.warnings)
    assert "skipped 2 hidden layers/groups: background, Header/thin arrow" in warnings
    assert "skipped 1 fill layer: Color Fill 1 (solid color fill)" in warnings


def test_clipped_layer_is_flattened_into_its_base(edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "clipping-mask.psd")
    names = [layer.name for layer in character.layers]
    assert "Group 2/Shape 2" not in names
    base = character.layer("Group 2/Shape 1")
    # Shape 2 (white) covers (141..210, 17..92); Shape 1 (dark red) is below it.
    inside = base.rgba[80 - base.offset[1], 160 - base.offset[0]]
    outside = base.rgba[80 - base.offset[1], 100 - base.offset[0]]
    np.testing.assert_array_equal(inside, [255, 255, 255, 255])
    np.testing.assert_array_equal(outside, [111, 19, 19, 255])
    # Nothing of the clipped layer outside its base: the base's bbox is unchanged.
    assert base.bbox == (51, 45, 173, 112)


def test_emoji_names_survive_and_unhonoured_blend_mode_is_named(edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "layer-name-emoji.psd")
    assert [layer.name for layer in character.layers] == ["👽"]
    assert any("👽 (linear dodge)" in w and "kept as normal" in w for w in character.warnings)
    blend_file = _imported(edge_case_dir / "blend-modes_multiply.psd")
    assert any("Ellipse 1 (multiply), Ellipse 2 (multiply), Ellipse 3 (multiply)" in w
               for w in blend_file.warnings)


def test_psb_reads_like_the_psd(edge_case_dir: Path) -> None:
    psd = _imported(edge_case_dir / "2layers.psd")
    psb = _imported(edge_case_dir / "2layers.psb")
    assert [(x.name, x.bbox) for x in psb.layers] == [(x.name, x.bbox) for x in psd.layers]
    assert [x.name for x in psb.layers] == ["Фон", "Слой"]
    for a, b in zip(psd.layers, psb.layers):
        np.testing.assert_array_equal(a.rgba, b.rgba)


def test_no_layers_imports_the_merged_image(edge_case_dir: Path) -> None:
    path = edge_case_dir / "0layers.psd"
    character = _imported(path)
    assert character.size == (1600, 1200)
    [layer] = character.layers
    assert (layer.name, layer.tag, layer.bbox) == ("0layers", "objects", (0, 0, 1600, 1200))
    assert any("merged image" in w for w in character.warnings)
    np.testing.assert_array_equal(layer.rgba, _preview(path))


def test_fill_layer_is_skipped_and_the_merged_image_keeps_opacity_times_fill(
        edge_case_dir: Path) -> None:
    character = _imported(edge_case_dir / "opacity-fill.psd")
    assert any("Color Fill 1 (solid color fill)" in w for w in character.warnings)
    [layer] = character.layers
    # Photoshop merged the red fill at opacity 171 and fill 171: 255 * (171/255)^2 = 114.7.
    assert np.all(layer.rgba == [255, 0, 0, 115])


def test_adjustment_layer_only_file_is_an_input_error(edge_case_dir: Path) -> None:
    with pytest.raises(InputError, match=r"^layers_curves\.psd: nothing to import.*Curves 1"):
        read_psd(edge_case_dir / "layers_curves.psd")


@pytest.mark.parametrize("name", ["layers_smartobject-layer.psd", "layers_type-layer.psd",
                                  "layers_shape-layer.psd"])
def test_smart_type_and_shape_layers_are_rasterised(edge_case_dir: Path, name: str) -> None:
    [layer] = _imported(edge_case_dir / name).layers
    assert layer.alpha.astype(int).sum() > 50 * 255


# Colour modes: the 8-bit RGB file's 4x4 gradient is the reference.
_BLUE, _PURPLE, _RED, _ORANGE = (10, 0, 178), (132, 0, 89), (255, 0, 0), (255, 126, 0)
_PATTERN = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]])
_REFERENCE = np.array([_BLUE, _PURPLE, _RED, _ORANGE])[_PATTERN]


def _colour_mode_pixels(edge_case_dir: Path, name: str) -> np.ndarray:
    character = _imported(edge_case_dir / name)
    assert character.size == (4, 4)
    out = character.composite()
    assert np.all(out[..., 3] == 255)
    return out[..., :3].astype(int)


@pytest.mark.parametrize("name", ["colormodes_4x4_8bit_rgba.psd", "colormodes_4x4_16bit_rgb.psd",
                                  "colormodes_4x4_8bit_index_color.psd"])
def test_rgb_like_colour_modes_give_the_reference_pixels(edge_case_dir: Path, name: str) -> None:
    assert np.abs(_colour_mode_pixels(edge_case_dir, name) - _REFERENCE).max() <= 2


def test_32bit_is_linear_light_encoded_to_srgb(edge_case_dir: Path) -> None:
    pixels = _colour_mode_pixels(edge_case_dir, "colormodes_4x4_32bit_rgb.psd")
    ends = np.isin(_PATTERN, (0, 2))
    assert np.abs(pixels[ends] - _REFERENCE[ends]).max() <= 3
    # A 32-bit gradient mixes in linear light: halfway between blue and red is the sRGB
    # encoding of the mean of their linear values, (188, 0, 130), not (132, 0, 89).
    assert np.abs(pixels[_PATTERN == 1] - (188, 0, 130)).max() <= 3


def test_lab_converts_to_srgb(edge_case_dir: Path) -> None:
    pixels = _colour_mode_pixels(edge_case_dir, "colormodes_4x4_8bit_lab.psd")
    ends = np.isin(_PATTERN, (0, 2))
    # 8-bit Lab quantises dark channels coarsely; the ends of the gradient land within 12.
    assert np.abs(pixels[ends] - _REFERENCE[ends]).max() <= 12


def test_cmyk_and_grayscale_follow_their_colour_profiles(edge_case_dir: Path) -> None:
    for name in ("colormodes_4x4_8bit_cmyk.psd", "colormodes_4x4_8bit_grayscale.psd"):
        pixels = _colour_mode_pixels(edge_case_dir, name)
        reference = _preview(edge_case_dir / name)[..., :3].astype(int)
        assert np.abs(pixels - reference).max() <= 2
    cmyk = _colour_mode_pixels(edge_case_dir, "colormodes_4x4_8bit_cmyk.psd")
    assert np.all(cmyk[_PATTERN == 0][:, 2] > 120) and np.all(cmyk[_PATTERN == 2][:, 0] > 200)
    gray = _colour_mode_pixels(edge_case_dir, "colormodes_4x4_8bit_grayscale.psd")
    assert np.all(gray[..., 0] == gray[..., 2])
    levels = [gray[_PATTERN == k][:, 0].mean() for k in range(4)]
    assert levels == sorted(levels)  # blue darkest ... orange lightest
    assert np.abs(np.array(levels) - (47, 82, 129, 197)).max() <= 2


def test_bitmap_gives_its_black_and_white_pixels(edge_case_dir: Path) -> None:
    pixels = _colour_mode_pixels(edge_case_dir, "colormodes_4x4_1bit_bitmap.psd")
    white = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]], bool)
    np.testing.assert_array_equal(pixels, np.where(white[..., None], 255, 0) * np.ones(3, int))


# ---------------------------------------------------------------------- See-through sample

_SAMPLE_TAGS = {
    "back hair": "back hair", "handwear": "handwear", "bottomwear": "bottomwear",
    "topwear": "topwear", "ears": "ears", "face": "face", "nose": "nose", "mouth_open": "mouth",
    "eyewhite": "eyewhite", "eyelash": "eyelash", "irides": "irides", "eyebrow": "eyebrow",
    "front hair": "front hair", "mouth_close": "mouth", "eye_close": "eyelash",
}


def test_seethrough_sample(sample_psd: Path) -> None:
    character = _imported(sample_psd)
    assert character.size == (1280, 1280)
    assert [layer.name for layer in character.layers] == list(_SAMPLE_TAGS)
    assert {layer.name: layer.tag for layer in character.layers} == _SAMPLE_TAGS
    assert {layer.name: layer.variant for layer in character.layers if layer.variant} == {
        "mouth_open": "mouth_open", "mouth_close": "mouth_close", "eye_close": "eye_close"}
    assert not any("unknown names" in w for w in character.warnings)
    assert character.side_convention == "character"
    assert character.source == str(sample_psd)
    _assert_matches_preview(character, sample_psd)


# ------------------------------------------------------------------ synthetic artist files

def test_opacity_and_fill_multiply_into_alpha(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (20, 10))
    layer = _add(psd, psd, "nose", _rgba(4, 4, (9, 8, 7, 200)), 2, 3)
    layer.opacity, layer.fill_opacity = 128, 64
    [out] = read_psd(_save(psd, tmp_path)).layers
    assert out.bbox == (2, 3, 6, 7)
    assert np.all(out.rgba == [9, 8, 7, round(200 * 128 / 255 * 64 / 255)])


def test_clipped_normal_layer_takes_the_base_alpha(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (20, 10))
    _add(psd, psd, "face", _rgba(10, 10, (200, 100, 50, 128)), 0, 0)
    clip = _add(psd, psd, "shade", _rgba(20, 5, (0, 0, 255, 255)), 0, 5)
    clip.clipping = True
    half = _add(psd, psd, "tint", _rgba(20, 10, (0, 255, 0, 255)), 0, 0)
    half.clipping, half.opacity = True, 51  # 20 %
    [face] = read_psd(_save(psd, tmp_path)).layers
    assert face.bbox == (0, 0, 10, 10)          # the clipped art never leaves the base
    assert np.all(face.alpha == 128)
    # Painted onto the base within its alpha: lerp(base, source, source alpha).
    np.testing.assert_array_equal(face.rgba[0, 0, :3], [160, 131, 40])
    np.testing.assert_array_equal(face.rgba[9, 9, :3], [0, 51, 204])


@pytest.mark.parametrize("mode", [
    BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.OVERLAY, BlendMode.LINEAR_DODGE,
    BlendMode.DARKEN, BlendMode.LIGHTEN, BlendMode.SOFT_LIGHT, BlendMode.HARD_LIGHT,
    BlendMode.COLOR_DODGE, BlendMode.COLOR_BURN, BlendMode.SUBTRACT, BlendMode.DIFFERENCE,
    BlendMode.LINEAR_BURN, BlendMode.EXCLUSION, BlendMode.HUE, BlendMode.LUMINOSITY,
])
def test_clipped_blend_modes_match_psd_tools_compositor(tmp_path: Path, mode: BlendMode) -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (12, 12, 4), dtype=np.uint8)
    base[..., 3] = 255
    source = rng.integers(0, 256, (12, 12, 4), dtype=np.uint8)
    psd = PSDImage.new("RGBA", (12, 12))
    _add(psd, psd, "topwear", base, 0, 0)
    clip = _add(psd, psd, "shading", source, 0, 0)
    clip.clipping, clip.blend_mode = True, mode
    path = _save(psd, tmp_path)
    character = read_psd(path)
    assert [layer.name for layer in character.layers] == ["topwear"]
    assert not any("kept as normal" in w for w in character.warnings)
    # An independent implementation: psd-tools' own compositor (opaque base, where the two
    # clipping models agree).
    reference = np.asarray(PSDImage.open(path).composite(ignore_preview=True).convert("RGBA"))
    assert np.abs(character.composite().astype(int) - reference).max() <= 2


def test_blend_formulas_known_values() -> None:
    b = np.array([[0.2, 0.5, 0.8]], np.float32)
    s = np.array([[0.5, 0.25, 1.0]], np.float32)
    np.testing.assert_allclose(blend(BlendMode.MULTIPLY, b, s), [[0.1, 0.125, 0.8]], atol=1e-6)
    np.testing.assert_allclose(blend(BlendMode.SCREEN, b, s), [[0.6, 0.625, 1.0]], atol=1e-6)
    np.testing.assert_allclose(blend(BlendMode.LINEAR_DODGE, b, s), [[0.7, 0.75, 1.0]], atol=1e-6)
    np.testing.assert_allclose(blend(BlendMode.SUBTRACT, b, s), [[0.0, 0.25, 0.0]], atol=1e-6)
    np.testing.assert_allclose(blend(BlendMode.DIFFERENCE, b, s), [[0.3, 0.25, 0.2]], atol=1e-6)
    np.testing.assert_allclose(blend(BlendMode.OVERLAY, b, s), [[0.2, 0.25, 1.0]], atol=1e-6)
    assert blend(BlendMode.DISSOLVE, b, s) is None


def test_clipped_layer_on_a_group_paints_every_leaf(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (30, 10))
    skin = psd.create_group(name="Skin")
    _add(skin, psd, "face", _rgba(10, 10, (250, 200, 180, 255)), 0, 0)
    _add(skin, psd, "neck", _rgba(10, 10, (240, 190, 170, 255)), 20, 0)
    shade = _add(psd, psd, "shadow", _rgba(30, 5, (100, 100, 100, 255)), 0, 0)
    shade.clipping, shade.blend_mode = True, BlendMode.MULTIPLY
    character = read_psd(_save(psd, tmp_path))
    assert [layer.name for layer in character.layers] == ["Skin/face", "Skin/neck"]
    face, neck = character.layers
    np.testing.assert_array_equal(face.rgba[0, 0], [98, 78, 71, 255])   # 250 * 100 / 255 ...
    np.testing.assert_array_equal(face.rgba[9, 0], [250, 200, 180, 255])
    np.testing.assert_array_equal(neck.rgba[0, 0], [94, 75, 67, 255])


def test_clipped_layers_on_a_hidden_base_are_skipped(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (20, 10))
    _add(psd, psd, "face", _rgba(20, 10, (255, 255, 255, 255)), 0, 0)
    base = _add(psd, psd, "blush", _rgba(5, 5, (255, 0, 0, 255)), 0, 0)
    base.visible = False
    clip = _add(psd, psd, "blush shine", _rgba(5, 5, (0, 0, 255, 255)), 0, 0)
    clip.clipping = True
    character = read_psd(_save(psd, tmp_path))
    assert [layer.name for layer in character.layers] == ["face"]
    assert np.all(character.layers[0].rgba == 255)
    assert any("blush shine" in w and "clip base" in w for w in character.warnings)
    assert any(w.startswith("skipped 1 hidden") and "blush" in w for w in character.warnings)


def test_group_opacity_and_mode_go_into_the_children(tmp_path: Path) -> None:
    # (psd-tools 1.26 cannot write a mask on a group, so group masks are not covered here.)
    psd = PSDImage.new("RGBA", (20, 10))
    group = psd.create_group(name="Head", opacity=128, blend_mode=BlendMode.MULTIPLY)
    _add(group, psd, "face", _rgba(20, 10, (10, 20, 30, 255)), 0, 0)
    inner = group.create_group(name="Eyes", opacity=51)
    _add(inner, psd, "irides", _rgba(2, 2, (0, 0, 200, 255)), 3, 3)
    character = read_psd(_save(psd, tmp_path))
    face, irides = character.layers
    assert face.name == "Head/face" and irides.name == "Head/Eyes/irides"
    assert np.all(face.rgba == [10, 20, 30, 128])
    assert np.all(irides.alpha == round(255 * 128 / 255 * 51 / 255))
    assert any("Head (multiply)" in w for w in character.warnings)
    assert not any("Eyes" in w for w in character.warnings)  # pass-through is fine


def test_layer_mask_with_offset_box_and_white_background(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (20, 10))
    layer = _add(psd, psd, "mouth", _rgba(20, 10, (1, 2, 3, 255)), 0, 0)
    # A 4x4 black box at (8, 3); outside the box the mask is white (background 255 is set by
    # psd-tools only for full-size masks, so make the mask layer-sized and black inside).
    mask = np.full((10, 20), 255, np.uint8)
    mask[3:7, 8:12] = 0
    layer.create_mask(Image.fromarray(mask, "L"))
    [out] = read_psd(_save(psd, tmp_path)).layers
    assert out.bbox == (0, 0, 20, 10)
    assert np.all(out.alpha[3:7, 8:12] == 0)
    assert (out.alpha == 0).sum() == 16


def test_unclipped_blend_mode_is_kept_as_normal_with_a_warning(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (10, 10))
    layer = _add(psd, psd, "Hair Shadow", _rgba(10, 10, (50, 60, 70, 255)), 0, 0)
    layer.blend_mode = BlendMode.MULTIPLY
    character = read_psd(_save(psd, tmp_path))
    assert np.all(character.layers[0].rgba == [50, 60, 70, 255])
    assert any("Hair Shadow (multiply)" in w for w in character.warnings)


def test_japanese_names_with_group_paths_and_unknown_names(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (40, 10))
    head = psd.create_group(name="Head")
    eyes = head.create_group(name="Eyes")
    eyes.name = "目"
    _add(eyes, psd, "白目 L", _rgba(4, 4, (255, 255, 255, 255)), 30, 2)
    _add(psd, psd, "Sticker", _rgba(4, 4, (1, 1, 1, 255)), 0, 0)
    character = read_psd(_save(psd, tmp_path), side_convention="character")
    white = character.layer("Head/目/白目 L")
    assert (white.tag, white.side) == ("eyewhite", "l")
    assert "1 layer with unknown names kept as 'objects': Sticker" in character.warnings


def test_16bit_document_reads_its_pixels(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (8, 8), depth=16)
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., 0] = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    pixels[..., 1], pixels[..., 2], pixels[..., 3] = 7, 250, 255
    pixels[0, 0, 3] = 0
    psd.create_pixel_layer(Image.fromarray(pixels, "RGBA"), name="face")
    [layer] = read_psd(_save(psd, tmp_path)).layers
    assert layer.bbox == (0, 0, 8, 8)
    assert layer.alpha[0, 0] == 0
    np.testing.assert_array_equal(layer.rgba[1:, 1:], pixels[1:, 1:])


def test_progress_bar_goes_to_stderr(edge_case_dir: Path, capsys) -> None:
    read_psd(edge_case_dir / "group.psd", progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "reading group.psd" in captured.err


# ------------------------------------------------------------------------ side convention

def _eyes_psd(folder: Path, left_on_image_left: bool) -> Path:
    psd = PSDImage.new("RGBA", (60, 20))
    left_x, right_x = (5, 45) if left_on_image_left else (45, 5)
    for tag in ("eyewhite", "irides"):
        _add(psd, psd, f"{tag}-l", _rgba(8, 6, (255, 255, 255, 255)), left_x, 5)
        _add(psd, psd, f"{tag}-r", _rgba(8, 6, (255, 255, 255, 255)), right_x, 5)
    _add(psd, psd, "face", _rgba(60, 20, (250, 220, 200, 255)), 0, 0)
    return _save(psd, folder)


def test_auto_side_convention_detects_image_sides(tmp_path: Path) -> None:
    character = read_psd(_eyes_psd(tmp_path, left_on_image_left=True))
    assert character.side_convention == "image"
    assert character.layer("eyewhite-l").side == "r" and character.layer("irides-r").side == "l"
    assert any("image's sides" in w for w in character.warnings)


def test_auto_side_convention_keeps_character_sides(tmp_path: Path) -> None:
    character = read_psd(_eyes_psd(tmp_path, left_on_image_left=False))
    assert character.side_convention == "character"
    assert character.layer("eyewhite-l").side == "l"
    assert not any("image's sides" in w for w in character.warnings)


def test_explicit_side_convention_wins(tmp_path: Path) -> None:
    path = _eyes_psd(tmp_path, left_on_image_left=True)
    kept = read_psd(path, side_convention="character")
    assert kept.side_convention == "character" and kept.layer("eyewhite-l").side == "l"
    flipped = read_psd(_eyes_psd(tmp_path, left_on_image_left=False), side_convention="image")
    assert flipped.side_convention == "image" and flipped.layer("eyewhite-l").side == "r"
    with pytest.raises(InputError, match="side convention"):
        read_psd(path, side_convention="mirror")


# ------------------------------------------------------------------ See-through sidecars

def _seethrough_files(folder: Path) -> Path:
    psd = PSDImage.new("RGBA", (30, 20))
    _add(psd, psd, "face", _rgba(20, 16, (250, 220, 200, 255)), 5, 2)
    _add(psd, psd, "nose", _rgba(2, 2, (200, 150, 140, 255)), 14, 9)
    _add(psd, psd, "irides", _rgba(6, 2, (40, 80, 200, 255)), 12, 6)
    path = _save(psd, folder)
    depth = PSDImage.new("L", (30, 20))
    values = np.tile((np.arange(10, dtype=np.uint8) * 20 + 10), (8, 1))  # 10 .. 190
    face_depth = PixelLayer.frompil(Image.fromarray(values, "L"), depth, "face", 4, 5)
    depth.append(face_depth)
    depth.save(folder / "char_depth.psd")
    (folder / "char.psd.json").write_text(json.dumps({
        "frame_size": [20, 30],
        "parts": {"nose": {"xyxy": [14, 9, 16, 11], "depth_median": 0.25, "tag": "nose"},
                  "face": {"xyxy": [5, 2, 25, 18], "depth_median": 0.9, "tag": "face"},
                  "irides": {"depth_median": "far"}},
    }))
    return path


def test_seethrough_depth_sidecars_are_attached(tmp_path: Path) -> None:
    character = read_psd(_seethrough_files(tmp_path))
    face, nose, irides = (character.layer(n) for n in ("face", "nose", "irides"))
    assert face.depth.shape == face.rgba.shape[:2] and face.depth.dtype == np.float32
    # The depth layer covers x 5..14, y 4..11 of the canvas; the face starts at (5, 2).
    np.testing.assert_allclose(face.depth[2, :10], (np.arange(10) * 20 + 10) / 255.0, atol=1e-6)
    assert np.all(face.depth[:2] == 1.0) and np.all(face.depth[10:] == 1.0)
    assert np.all(face.depth[:, 10:] == 1.0)
    np.testing.assert_array_equal(nose.depth, np.full((2, 2), 0.25, np.float32))
    assert irides.depth is None
    assert any("irides" in w and "depth_median" in w for w in character.warnings)


def test_broken_sidecars_are_warnings_not_failures(tmp_path: Path) -> None:
    path = _seethrough_files(tmp_path)
    (tmp_path / "char_depth.psd").write_bytes(b"8BPS\x00\x01garbage")
    (tmp_path / "char.psd.json").write_text("{ not json")
    character = read_psd(path)
    assert all(layer.depth is None for layer in character.layers)
    assert any(w.startswith("depth sidecar char_depth.psd ignored") for w in character.warnings)
    assert any(w.startswith("sidecar char.psd.json ignored") for w in character.warnings)


# ------------------------------------------------------------------------------ bad input

def test_not_a_psd_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.psd"
    path.write_text("just some text, not an image")
    with pytest.raises(InputError, match=r"^notes\.psd: not a PSD/PSB file"):
        read_psd(path)
    empty = tmp_path / "empty.psd"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="not a PSD"):
        read_psd(empty)
    with pytest.raises(InputError, match="no such file"):
        read_psd(tmp_path / "missing.psd")


@pytest.mark.parametrize("fraction", [0.003, 0.2, 0.5, 0.8, 0.95, 0.9995])
def test_truncated_files_are_input_errors(sample_psd: Path, tmp_path: Path,
                                          fraction: float) -> None:
    data = sample_psd.read_bytes()
    path = tmp_path / "cut.psd"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(InputError) as info:
        read_psd(path)
    assert str(info.value).startswith("cut.psd: ") and "\n" not in str(info.value)


def test_huge_declared_canvas_is_refused_before_decoding(edge_case_dir: Path,
                                                         tmp_path: Path) -> None:
    data = bytearray((edge_case_dir / "1layer.psd").read_bytes())
    data[14:22] = (MAX_SIDE + 1).to_bytes(4, "big") + (100).to_bytes(4, "big")  # height, width
    path = tmp_path / "huge.psd"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"^huge\.psd: the canvas is 100x30001 pixels"):
        read_psd(path)


def test_damaged_layer_pixels_are_an_input_error(tmp_path: Path) -> None:
    psd = PSDImage.new("RGBA", (64, 64))
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    psd.append(PixelLayer.frompil(Image.fromarray(pixels, "RGBA"), psd, "face", 0, 0,
                                  compression=Compression.ZIP))
    path = _save(psd, tmp_path)
    raw = bytearray(path.read_bytes())
    stream = bytes(PSDImage.open(path)[0]._channels[0].data)  # one channel's zlib stream
    start = raw.find(stream) + len(stream) // 2
    raw[start:start + 32] = bytes(32)
    damaged = tmp_path / "damaged.psd"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"^damaged\.psd: cannot decode the pixels of layer"):
        read_psd(damaged)


def test_sidecar_files_are_never_needed(tmp_path: Path, edge_case_dir: Path) -> None:
    # A See-through-looking name with no sidecars beside it imports without depth or warnings
    # about sidecars.
    shutil.copy(edge_case_dir / "1layer.psd", tmp_path / "face.psd")
    character = read_psd(tmp_path / "face.psd")
    assert all(layer.depth is None for layer in character.layers)
    assert not any("sidecar" in w for w in character.warnings)
