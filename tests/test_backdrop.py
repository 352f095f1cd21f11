"""The backdrop: what a picture on a plain page holds besides its character stays, static."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from seethrough_core.character import Character
from seethrough_core.decompose import decompose
from seethrough_core.decompose.backdrop import backdrop_layer
from seethrough_core.taxonomy import BACKDROP_TAG, canonical_rank, parse_name

PAGE = 250


def _page_with_marks(h=300, w=240):
    """A disc figure on a plain page, a grey frame line along the bottom edge, an ink scribble
    in the top-left corner, faint page grain, and the figure's own soft rim."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), PAGE, np.uint8)
    figure = ((xx - 130) ** 2 + (yy - 150) ** 2) <= 70 ** 2
    img[figure] = (200, 120, 90)
    rim = (((xx - 130) ** 2 + (yy - 150) ** 2) <= 73 ** 2) & ~figure
    img[rim] = (228, 190, 175)                        # anti-aliasing, off the page by ~80
    img[-1] = (160, 158, 155)                         # the frame line
    cv2.line(img, (12, 14), (40, 30), (30, 30, 40), 2)   # the scribble
    grain = np.random.default_rng(0).random((h, w)) < 0.01
    img[grain & ~figure & ~rim & (yy < h - 1)] = PAGE - 14   # faint, just past the page
    alpha = figure.astype(np.float32)
    alpha[rim] = 0.5
    return img, alpha, figure | rim


def test_the_frame_line_and_the_ink_are_kept_with_their_own_colours():
    img, alpha, figure = _page_with_marks()
    layer = backdrop_layer(img, alpha)
    assert layer is not None and layer.tag == BACKDROP_TAG
    canvas = layer.on_canvas((img.shape[1], img.shape[0]))
    kept = canvas[..., 3] > 0
    line = np.zeros(kept.shape, bool)
    line[-1] = True
    ink = np.zeros(kept.shape, np.uint8)
    cv2.line(ink, (12, 14), (40, 30), 1, 2)
    ink = ink > 0
    assert kept[line].all() and kept[ink].all()
    assert (canvas[kept, :3] == img[kept]).all()       # the picture's pixels, opaque
    assert (canvas[kept, 3] == 255).all()
    # Nothing of the figure or its soft rim stays behind, and no page grain.
    near = cv2.dilate(figure.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert not kept[near].any()
    assert not (kept & ~line & ~cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8))
                .astype(bool)).any()


def test_a_clean_page_or_a_pattern_gives_no_backdrop():
    img, alpha, _ = _page_with_marks()
    clean = np.full_like(img, PAGE)
    clean[alpha > 0] = img[alpha > 0]
    assert backdrop_layer(clean, alpha) is None
    # A checked page the fit cannot follow is not marks on a page: no opaque copy of it.
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    checks = np.where(((yy // 20 + xx // 20) % 2 == 0)[..., None], 40, PAGE).astype(np.uint8)
    checks = np.broadcast_to(checks, img.shape).copy()
    assert backdrop_layer(checks, alpha) is None


def test_the_backdrop_has_its_own_name_and_comes_first():
    assert parse_name("background").tag == BACKDROP_TAG
    assert parse_name("背景").tag == BACKDROP_TAG
    assert parse_name("Backdrop copy").tag == BACKDROP_TAG
    assert canonical_rank(BACKDROP_TAG) < canonical_rank("back hair")


def test_a_mesh_of_boxes_covers_each_cluster_with_two_triangles():
    from rig.mesh import mesh_of_boxes
    alpha = np.zeros((100, 200), np.uint8)
    alpha[-1] = 255
    alpha[10:14, 20:30] = 255
    mesh = mesh_of_boxes(alpha, offset=(5, 7))
    assert mesh.n_vertices == 8 and mesh.n_triangles == 4
    v = mesh.vertices[mesh.triangles]
    area = 0.5 * ((v[:, 1, 0] - v[:, 0, 0]) * (v[:, 2, 1] - v[:, 0, 1])
                  - (v[:, 2, 0] - v[:, 0, 0]) * (v[:, 1, 1] - v[:, 0, 1]))
    assert (area > 0).all()
    # Together the boxes cover every opaque pixel, and their uvs map back onto the layer.
    covered = np.zeros(alpha.shape, np.uint8)
    for q in range(0, mesh.n_vertices, 4):
        x0, y0 = (mesh.vertices[q] - (5, 7)).astype(int)
        x1, y1 = (mesh.vertices[q + 2] - (5, 7)).astype(int)
        covered[y0:y1, x0:x1] = 1
    assert covered[alpha > 0].all() and covered.mean() < 0.2
    assert np.allclose(mesh.uvs * (200, 100) + (5, 7), mesh.vertices)


@pytest.fixture(scope="module")
def marked_picture(example_character):
    """The example character on a white page with a grey frame line along the bottom edge and
    a signature in the top left corner (level with the head, so a body or head warp would
    carry it)."""
    rgba = example_character.rest_composite()
    a = rgba[..., 3:4].astype(np.float32) / 255
    rgb = (rgba[..., :3] * a + 255 * (1 - a) + 0.5).astype(np.uint8)
    h, w = rgb.shape[:2]
    rgb[-1] = (150, 150, 150)
    cv2.putText(rgb, "ab", (12, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1)
    return np.dstack([rgb, np.full((h, w), 255, np.uint8)])


@pytest.fixture(scope="module")
def marked_decomposed(marked_picture) -> Character:
    return decompose(marked_picture)


def test_a_picture_with_a_frame_line_and_a_signature_keeps_them_under_the_character(
        example_character, marked_picture, marked_decomposed):
    layers = marked_decomposed.layers
    assert layers[0].tag == BACKDROP_TAG
    assert sum(l.tag == BACKDROP_TAG for l in layers) == 1
    rest = marked_decomposed.rest_composite().astype(np.float32)
    a = rest[..., 3:4] / 255
    on_white = rest[..., :3] * a + 255 * (1 - a)
    picture = marked_picture[..., :3].astype(np.float32)
    # The frame line and the signature are in the rest frame, pixel for pixel (the line where
    # the body does not run over it).
    clear = example_character.rest_composite()[-12:, :, 3].max(axis=0) == 0
    assert clear.sum() > 100
    assert np.abs(on_white[-1, clear] - picture[-1, clear]).max() <= 1
    h, w = picture.shape[:2]
    corner = (slice(20, 50), slice(0, 50))
    assert (picture[corner] < 100).any()
    assert np.abs(on_white[corner] - picture[corner]).max() <= 1
    mse = np.mean(((on_white - picture) / 255) ** 2)
    assert -10 * np.log10(mse) > 38


def test_a_cut_out_picture_has_no_backdrop(example_character):
    assert all(l.tag != BACKDROP_TAG for l in decompose(example_character.rest_composite()).layers)


def test_the_backdrop_stays_put_while_the_puppet_moves_and_is_left_out_of_its_framing(
        marked_decomposed):
    from rig.autorig import build_spec
    from rig.model import Rig
    spec = build_spec(marked_decomposed)
    i = next(k for k, l in enumerate(spec.layers) if l.tag == BACKDROP_TAG)
    assert spec.layers[i].mesh.n_vertices <= 16       # boxes, not an outline-following mesh
    rig = Rig(spec)
    rest = rig.pose({}).copy()
    moved = rig.hold({"ParamAngleX": 30.0, "ParamAngleZ": 20.0, "ParamBodyAngleX": 10.0,
                      "ParamBodyAngleZ": 10.0, "ParamBreath": 1.0}, 10, 1 / 30)
    assert np.array_equal(moved.layer_vertices(i), rest.layer_vertices(i))
    assert moved.order[0] == i
    face = next(k for k, l in enumerate(spec.layers) if l.tag == "face")
    assert np.abs(moved.layer_vertices(face) - rest.layer_vertices(face)).max() > 5
    from runtime.drawing.renderer import Renderer
    with Renderer(rig, size=(128, 128), fit="character") as renderer:
        x0, y0, x1, y1 = renderer._rest_bbox
    w, h = spec.size
    assert y1 < h - 1 and x0 > 60       # the frame line and the signature are not the figure


def test_the_backdrop_goes_through_a_psd_and_back_under_everything(marked_decomposed, tmp_path):
    from seethrough_core.psd_read import read_psd
    from seethrough_core.psd_write import write_psd
    write_psd(marked_decomposed, tmp_path / "marked.psd")
    back = read_psd(tmp_path / "marked.psd")
    assert back.layers[0].tag == BACKDROP_TAG and back.layers[0].name == "backdrop"
    assert np.array_equal(back.layers[0].on_canvas(back.size),
                          marked_decomposed.layers[0].on_canvas(marked_decomposed.size))
