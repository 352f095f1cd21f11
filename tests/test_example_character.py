"""The procedurally drawn example character: layers, depth, geometry, determinism, CLI."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from examples import character as example
from examples.character import draw_example_character, example_geometry, main
from examples.drawing import Sheet, catmull_rom, stroke
from seethrough_core import taxonomy
from seethrough_core.character import Character, InputError, Layer

SIZE = 1024


@pytest.fixture(scope="module")
def char() -> Character:
    return draw_example_character(SIZE)


@pytest.fixture(scope="module")
def geo() -> dict:
    return example_geometry(SIZE)


def canvas_alpha(char: Character, layer: Layer) -> np.ndarray:
    return layer.on_canvas(char.size)[..., 3]


def one(char: Character, tag: str, side: str | None = None, variant=None, group=None) -> Layer:
    found = [l for l in char.find(tag, side=side, variant=variant)
             if group is None or l.group == group]
    assert len(found) == 1, (tag, side, variant, group, [l.name for l in found])
    return found[0]


# ------------------------------------------------------------------------------------ layers

REQUIRED = [
    ("back hair", None, None), ("handwear", "r", None), ("handwear", "l", None),
    ("bottomwear", None, None), ("topwear", None, None), ("neck", None, None),
    ("face", None, None), ("nose", None, None), ("mouth", None, "mouth_close"),
    ("mouth", None, "mouth_open"), ("eyewhite", "r", None), ("eyewhite", "l", None),
    ("irides", "r", None), ("irides", "l", None), ("eyelash", "r", None),
    ("eyelash", "l", None), ("eyelash", "r", "eye_close"), ("eyelash", "l", "eye_close"),
    ("eyebrow", "r", None), ("eyebrow", "l", None),
]


def test_required_layers_present_with_see_through_names(char):
    assert len(char) >= 18
    for tag, side, variant in REQUIRED:
        layer = one(char, tag, side=side, variant=variant)
        assert layer.name == taxonomy.format_name(tag, side=side, variant=variant)
    hair = char.find("front hair")
    assert sorted(l.group for l in hair) == [1, 2, 3, 4, 5]
    assert [l.name for l in hair] == [f"front hair_{i}" for i in range(1, 6)]
    names = [l.name for l in char]
    assert len(set(names)) == len(names)


def test_names_parse_back_to_the_layer_fields(char):
    for layer in char:
        parsed = taxonomy.parse_name(layer.name)
        assert (parsed.tag, parsed.side, parsed.group, parsed.variant) == \
            (layer.tag, layer.side, layer.group, layer.variant), layer.name


def test_drawing_order_matches_the_brief(char):
    names = [l.name for l in char]
    expected_prefix = ["back hair", "handwear-r", "handwear-l", "bottomwear", "topwear", "neck"]
    assert names[:6] == expected_prefix
    later = ["face", "nose", "mouth_close", "mouth_open", "eyewhite-r", "eyewhite-l",
             "irides-r", "irides-l", "eyelash-r", "eyelash-l", "eye_close-r", "eye_close-l",
             "eyebrow-r", "eyebrow-l", "front hair_1", "front hair_5"]
    positions = [names.index(n) for n in later]
    assert positions == sorted(positions)
    assert names[-1] == "front hair_5"


def test_every_layer_is_nonempty_cropped_and_inside_the_canvas(char):
    w, h = char.size
    assert char.size == (SIZE, SIZE)
    for layer in char:
        assert layer.rgba.dtype == np.uint8 and layer.rgba.shape[2] == 4
        assert not layer.empty, layer.name
        x0, y0, x1, y1 = layer.bbox
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (layer.name, layer.bbox)
        # Cropped to its content: every border row/column holds a visible pixel.
        a = layer.alpha
        assert a[0].any() and a[-1].any() and a[:, 0].any() and a[:, -1].any(), layer.name
        # Fully transparent pixels carry no stray colour.
        assert not layer.rgba[a == 0].any(), layer.name


def test_straight_alpha_edges_keep_the_outline_colour(char):
    """Anti-aliased silhouette pixels are the line colour at partial alpha, never darkened."""
    face = one(char, "face")
    edge = (face.alpha > 0) & (face.alpha < 200)
    assert edge.sum() > 500
    rgb = face.rgba[edge][:, :3].astype(int)
    assert np.abs(rgb - np.array(example.SKIN_LINE)).max() <= 3
    white = one(char, "eyewhite", side="l")
    edge = (white.alpha > 0) & (white.alpha < 200)
    rgb = white.rgba[edge][:, :3].astype(int)
    assert np.abs(rgb - np.array(example.EYEWHITE_LINE)).max() <= 3


# ------------------------------------------------------------------------------------- depth

def test_depth_is_per_pixel_and_in_range(char):
    for layer in char:
        assert layer.depth is not None and layer.depth.shape == layer.alpha.shape
        assert layer.depth.dtype == np.float32
        assert 0.0 <= layer.depth.min() and layer.depth.max() <= 1.0


def test_sorting_by_depth_keeps_the_drawing_order(char):
    resorted = copy.deepcopy(char)
    resorted.sort_by_depth()
    assert [l.name for l in resorted] == [l.name for l in char]


def test_depths_follow_the_see_through_ranges(char):
    med = {l.name: l.depth_median() for l in char}
    assert med["back hair"] > 0.85
    assert all(0.1 <= med[f"front hair_{i}"] <= 0.2 + 1e-6 for i in range(1, 6))
    assert 0.33 < med["face"] < 0.42
    face = one(char, "face")
    assert face.depth.min() < face.depth[face.alpha == 255].max() - 0.05  # a dome, not flat
    assert med["back hair"] > med["handwear-r"] > med["topwear"] > med["neck"] > med["face"]
    # Expression variants share the depth of the art they replace.
    assert med["mouth_open"] == med["mouth_close"]
    for side in "lr":
        assert med[f"eye_close-{side}"] == med[f"eyelash-{side}"]


# ------------------------------------------------------------------------------------- parts

def test_paired_layers_sit_on_the_characters_side(char):
    mid = char.size[0] / 2
    for layer in char:
        if layer.side is None:
            continue
        ys, xs = np.nonzero(layer.alpha)
        cx = layer.offset[0] + xs.mean()
        if layer.side == "l":
            assert cx > mid, layer.name
        else:
            assert cx < mid, layer.name


def test_face_is_complete_under_the_hair(char):
    face = canvas_alpha(char, one(char, "face"))
    hair = np.zeros(face.shape, bool)
    for layer in char.find("front hair"):
        hair |= canvas_alpha(char, layer) > 0
    x0, y0, x1, y1 = one(char, "face").bbox
    r = 0.5 * (x1 - x0)
    cx, cy = 0.5 * (x0 + x1), y0 + r          # the cranium: a circle under the top of the head
    yy, xx = np.mgrid[0:face.shape[0], 0:face.shape[1]]
    cranium = (xx - cx) ** 2 + (yy - cy) ** 2 <= (0.92 * r) ** 2
    assert (face[cranium] == 255).all()
    # Most of that forehead and crown is hidden by the fringe: the completion matters.
    assert (hair & cranium).sum() > 0.4 * cranium.sum()
    # And no hair pixel over the cranium lacks skin beneath it.
    assert (face[hair & cranium] == 255).all()


def test_iris_is_a_whole_ellipse_tucked_under_the_lash(char, geo):
    for side in "lr":
        white = canvas_alpha(char, one(char, "eyewhite", side=side))
        iris_layer = one(char, "irides", side=side)
        iris = canvas_alpha(char, iris_layer)
        lash = canvas_alpha(char, one(char, "eyelash", side=side))
        ys, xs = np.nonzero(iris > 127)
        centre = (int(round(xs.mean())), int(round(ys.mean())))
        assert white[centre[1], centre[0]] == 255
        # Drawn complete: an ellipse fills pi/4 of its bounding box.
        fill = (iris_layer.alpha > 127).sum() / (iris_layer.width * iris_layer.height)
        assert abs(fill - np.pi / 4) < 0.03
        # Its top reaches above the eyewhite, where the upper lash covers it.
        outside = (iris > 127) & (white == 0)
        assert outside.sum() > 20
        assert ((lash[outside] > 127).mean()) > 0.97
        assert np.nonzero(outside)[0].max() < centre[1]


def test_mouth_variants_share_a_place(char, geo):
    close = one(char, "mouth", variant="mouth_close")
    open_ = one(char, "mouth", variant="mouth_open")
    mx, my = geo["mouth_center"]
    for layer in (close, open_):
        x0, y0, x1, y1 = layer.bbox
        assert x0 <= mx < x1 and y0 <= my < y1, layer.name
    # The open mouth shows a dark inside and a tongue.
    open_rgb = open_.rgba[open_.alpha == 255][:, :3].astype(int)
    assert (np.abs(open_rgb - example.MOUTH_INSIDE).sum(axis=1) < 10).sum() > 30
    assert (np.abs(open_rgb - example.TONGUE).sum(axis=1) < 10).sum() > 30


def test_front_hair_strands_are_separate_overlapping_locks(char, geo):
    hair = char.find("front hair")
    masks = [canvas_alpha(char, l) > 127 for l in hair]
    for i, mask in enumerate(masks):
        others = np.any([m for j, m in enumerate(masks) if j != i], axis=0)
        own = mask & ~others
        assert own.sum() > 0.1 * mask.sum()                 # each lock shows on its own
        assert (mask & others).any()                        # and overlaps a neighbour
    tips = geo["front_hair_strand_tips"]
    assert len(tips) == len(hair)
    for layer, (tx, ty) in zip(hair, tips):
        alpha = canvas_alpha(char, layer)
        ys, xs = np.nonzero(alpha > 63)
        assert np.hypot(xs - tx, ys - ty).min() <= 3.0, layer.name
        x0, y0, x1, y1 = layer.bbox
        assert ty > y0 + 0.6 * (y1 - y0), layer.name        # tips hang down, roots on top


# ---------------------------------------------------------------------------------- geometry

def test_geometry_points_lie_on_their_layers(char, geo):
    for side in "lr":
        ex, ey = geo["eye_center"][side]
        white = canvas_alpha(char, one(char, "eyewhite", side=side))
        assert white[int(ey), int(ex)] == 255
        ix, iy = geo["iris_center"][side]
        assert canvas_alpha(char, one(char, "irides", side=side))[int(iy), int(ix)] == 255
        # The eye closes onto the eyewhite's lower edge, where the closed-eye art is drawn.
        col = np.nonzero(white[:, int(ex)])[0]
        assert abs(col.max() + 1 - geo["eye_closing_y"][side]) <= 2.0
        shut = canvas_alpha(char, one(char, "eyelash", side=side, variant="eye_close"))
        assert shut[int(geo["eye_closing_y"][side]) - 3:int(geo["eye_closing_y"][side]) + 3,
                    int(ex)].max() > 127
        bx, by = geo["brow_center"][side]
        x0, y0, x1, y1 = one(char, "eyebrow", side=side).bbox
        assert abs(bx - 0.5 * (x0 + x1)) <= 1.5 and abs(by - 0.5 * (y0 + y1)) <= 1.5
    mouth = one(char, "mouth", variant="mouth_close")
    (lx, ly), (rx, ry) = geo["mouth_corners"]
    x0, y0, x1, y1 = mouth.bbox
    assert lx < rx and abs(lx - x0) <= 3 and abs(rx - x1) <= 3
    mx, my = geo["mouth_center"]
    assert canvas_alpha(char, mouth)[int(my), int(mx)] > 127
    fx0, fy0, fx1, fy1 = one(char, "face").bbox
    assert np.allclose(geo["face_size"], (fx1 - fx0, fy1 - fy0), atol=2.5)
    fcx, fcy = geo["face_center"]
    assert canvas_alpha(char, one(char, "face"))[int(fcy), int(fcx)] == 255
    assert geo["eye_center"]["r"][1] < fcy < my
    nx, ny = geo["neck_pivot"]
    assert canvas_alpha(char, one(char, "neck"))[int(ny), int(nx)] == 255
    assert fy1 - 0.1 * (fy1 - fy0) < ny < fy1
    top = canvas_alpha(char, one(char, "topwear"))
    (slx, sly), (srx, sry) = geo["shoulders"]
    assert slx < char.size[0] / 2 < srx and sly == sry
    for sx, sy in geo["shoulders"]:
        assert top[int(sy), int(sx)] == 255
    hx, hy = geo["hip"]
    bx0, by0, bx1, by1 = one(char, "bottomwear").bbox
    assert bx0 < hx < bx1 and by0 < hy < by1
    assert canvas_alpha(char, one(char, "bottomwear"))[int(hy), int(hx)] == 255


def test_sides_in_geometry_are_the_characters(geo):
    assert geo["eye_center"]["l"][0] > geo["eye_center"]["r"][0]
    assert geo["brow_center"]["l"][0] > geo["brow_center"]["r"][0]
    # Symmetric, but not perfectly: the locks differ.
    xs = sorted(x for x, _ in geo["front_hair_strand_tips"])
    mirrored = sorted(SIZE - x for x in xs)
    assert not np.allclose(xs, mirrored, atol=2)


def test_geometry_scales_with_size():
    big, small = _flatten(example_geometry(1024)), _flatten(example_geometry(512))
    assert big.keys() == small.keys()
    for key in big:
        assert np.allclose(big[key], 2 * small[key]), key


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = np.asarray(v, float)
    return out


def test_small_canvas_scales_everything(char):
    small = draw_example_character(256)
    assert small.size == (256, 256)
    assert [l.name for l in small] == [l.name for l in char]
    for a, b in zip(small, char):
        assert np.allclose(np.array(a.bbox) * 4, b.bbox, atol=12), (a.name, a.bbox, b.bbox)


# ----------------------------------------------------------------------------- determinism

def test_drawing_is_deterministic():
    example._draw_cached.cache_clear()
    first = draw_example_character(200)
    example._draw_cached.cache_clear()
    second = draw_example_character(200)
    assert [l.name for l in first] == [l.name for l in second]
    for a, b in zip(first, second):
        assert a.offset == b.offset
        assert np.array_equal(a.rgba, b.rgba) and np.array_equal(a.depth, b.depth)


def test_memoised_copies_are_independent():
    first = draw_example_character(200)
    first.layers[0].rgba[:] = 0
    first.layers.pop()
    second = draw_example_character(200)
    assert len(second) == len(first) + 1
    assert second.layers[0].alpha.any()


@pytest.mark.parametrize("bad", [0, 16, 100_000, 512.5, "512", True])
def test_bad_size_is_an_input_error(bad):
    with pytest.raises(InputError):
        draw_example_character(bad)
    with pytest.raises(InputError):
        example_geometry(bad)


# ------------------------------------------------------------------------------------- CLI

def test_cli_rejects_a_bad_size_without_writing(tmp_path, capsys):
    out = tmp_path / "char.psd"
    assert main([str(out), "--size", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nope" / "char.psd")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_writes_psd_and_preview(tmp_path):
    pytest.importorskip("seethrough_core.psd_write")
    psd_tools = pytest.importorskip("psd_tools")
    out, preview = tmp_path / "char.psd", tmp_path / "char.png"
    assert main([str(out), "--size", "256", "--preview", str(preview)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "char.psd" in written and "char.png" in written
    assert not [n for n in written if n.startswith(".")]       # no temporary files left
    psd = psd_tools.PSDImage.open(out)
    names = {l.name for l in psd.descendants() if not l.is_group()}
    assert {l.name for l in draw_example_character(256)} <= names
    from PIL import Image
    with Image.open(preview) as im:
        assert im.size == (256, 256) and im.mode == "RGBA"


# ---------------------------------------------------------------------------- drawing kit

def test_catmull_rom_passes_through_its_points():
    pts = [(0, 0), (10, 5), (20, 0), (35, 12)]
    curve = catmull_rom(pts, samples=8)
    for p in pts:
        assert np.hypot(*(curve - p).T).min() < 1e-9
    closed = catmull_rom(pts, samples=8, closed=True)
    assert len(closed) == 4 * 8


def test_stroke_has_the_requested_width():
    poly = stroke([(0, 10), (50, 10)], 6.0)
    assert np.isclose(poly[:, 1].max() - poly[:, 1].min(), 6.0)


def test_sheet_edges_are_straight_alpha_without_fringes():
    sheet = Sheet((0, 0, 20, 20), ss=4)
    square = np.array([(2.5, 2.5), (12.5, 2.5), (12.5, 12.5), (2.5, 12.5)])  # half-pixel edges
    m = sheet.mask(square)
    sheet.over(m, (200, 40, 10))
    rgba, offset = sheet.finish()
    assert offset == (0, 0)
    assert rgba[7, 7].tolist() == [200, 40, 10, 255]
    edge = rgba[7, 2]
    assert 100 <= edge[3] <= 200 and edge[:3].tolist() == [200, 40, 10]
    assert rgba[7, 15].tolist() == [0, 0, 0, 0]
    # atop paints inside the shape only and never grows it.
    sheet.atop(np.ones_like(m), (0, 0, 255))
    rgba2, _ = sheet.finish()
    assert np.array_equal(rgba2[..., 3], rgba[..., 3])
    assert rgba2[7, 2, :3].tolist() == [0, 0, 255]
