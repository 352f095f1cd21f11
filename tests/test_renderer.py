"""The GPU renderer against known answers.

Small hand-built rigs (solid rectangles and discs on a 64x48 canvas, meshed by the real mesher)
have exact composites to compare with; the See-through sample PSD checks the real thing (slow).
Images are compared by PSNR over premultiplied RGBA (see `psnr`), so the colour of nearly
transparent pixels, which straight alpha cannot pin down, does not count.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

import shaders
from rig.anchors import Anchors
from rig.mesh import Mesh, mesh_from_alpha, rasterize_coverage
from rig.model import LayerSpec, Rig, RigSpec
from benchmarks.render_bench import benchmark_render
from runtime.drawing.renderer import (ATLAS_PAD, Renderer, fit_view, pack_atlases,
                              parse_background, premultiply, static_quads_baseline)
from seethrough_core.character import Character, InputError, Layer

W, H = 64, 48


# ------------------------------------------------------------------------------ helpers

def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, peak 255) between two straight-alpha uint8 RGBA images, computed over their
    premultiplied RGBA: what a compositor would add to any background."""
    def premultiplied(x):
        x = x.astype(np.float64)
        x[..., :3] *= x[..., 3:] / 255.0
        return x
    mse = float(np.mean((premultiplied(a) - premultiplied(b)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def premultiplied_diff(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = (np.asarray(x, np.float64) for x in (a, b))
    pa[..., :3] *= pa[..., 3:] / 255.0
    pb[..., :3] *= pb[..., 3:] / 255.0
    return float(np.abs(pa - pb).max())


def solid(w: int, h: int, rgba) -> np.ndarray:
    return np.tile(np.array(rgba, np.uint8), (h, w, 1))


def disc(radius: int, rgba) -> np.ndarray:
    """An anti-aliased disc (alpha falls off over one pixel) in a (2r+2)^2 texture."""
    n = 2 * radius + 2
    yy, xx = np.mgrid[:n, :n] + 0.5
    d = np.hypot(xx - n / 2, yy - n / 2)
    out = np.zeros((n, n, 4), np.uint8)
    cover = np.clip(radius + 0.5 - d, 0.0, 1.0)
    out[..., :3] = np.array(rgba[:3], np.uint8)
    out[..., 3] = np.round(cover * rgba[3]).astype(np.uint8)
    out[cover == 0] = 0          # straight alpha: transparent texels are black, as files store them
    return out


def tiny_rig(layers, size=(W, H)) -> Rig:
    """A rig of 'objects' layers (rigid, no deformers): (name, rgba, offset[, clip_to])."""
    w, h = size
    anchors = Anchors(canvas=(w, h), face_center=(w / 2, h / 2), face_size=(w / 4, h / 4),
                      head_center=(w / 2, h / 2), head_radius=w / 8, neck_pivot=(w / 2, 0.8 * h))
    specs = []
    for name, rgba, offset, *clip in layers:
        specs.append(LayerSpec(name=name, tag="objects", texture=rgba, offset=offset,
                               mesh=mesh_from_alpha(rgba[..., 3], offset),
                               clip_to=clip[0] if clip else None))
    return Rig(RigSpec(size=size, anchors=anchors, layers=specs))


def composite(layers, size=(W, H)) -> np.ndarray:
    return Character(size, [Layer(name, rgba, offset) for name, rgba, offset, *_ in layers]).composite()


def clipped_composite(layers, size=(W, H)) -> np.ndarray:
    """Composite where a layer with clip_to has its alpha multiplied by its mask layer's alpha."""
    canvas = [Layer(name, rgba, offset).on_canvas(size) for name, rgba, offset, *_ in layers]
    out = []
    for (name, rgba, offset, *clip), pixels in zip(layers, canvas):
        if clip:
            pixels = pixels.copy()
            mask = canvas[clip[0]][..., 3].astype(np.float64) / 255.0
            pixels[..., 3] = np.round(pixels[..., 3] * mask).astype(np.uint8)
        out.append(Layer(name, pixels, (0, 0)))
    return Character(size, out).composite()


def alpha_bbox(img: np.ndarray, threshold: int = 127) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(img[..., 3] > threshold)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def alpha_centroid(img: np.ndarray) -> np.ndarray:
    a = img[..., 3].astype(np.float64)
    ys, xs = np.mgrid[:a.shape[0], :a.shape[1]]
    return np.array([(xs * a).sum() / a.sum() + 0.5, (ys * a).sum() / a.sum() + 0.5])


RED = ("red", solid(20, 16, (230, 20, 10, 255)), (6, 8))
BLUE = ("blue", solid(24, 20, (20, 40, 240, 128)), (18, 14))
GLOW = ("glow", disc(9, (250, 240, 60, 200)), (36, 4))
THREE = [RED, BLUE, GLOW]


@pytest.fixture(scope="module")
def three_rig() -> Rig:
    return tiny_rig(THREE)


# ------------------------------------------------------------------------------ pure helpers

def test_shader_source_inserts_defines_after_the_version_line():
    plain = shaders.source("layer.frag")
    clipped = shaders.source("layer.frag", ("CLIPPED",))
    assert plain.startswith("#version 330 core\n")
    assert clipped.splitlines()[:2] == ["#version 330 core", "#define CLIPPED"]
    assert clipped.replace("#define CLIPPED\n", "") == plain


def test_pack_atlases_places_padded_rectangles_without_overlap():
    rng = np.random.default_rng(3)
    sizes = [tuple(int(v) for v in rng.integers(1, 200, 2)) for _ in range(40)] + [(0, 0)]
    placements, atlases = pack_atlases(sizes, 1024)
    assert placements[-1] is None
    assert len(atlases) == 1
    aw, ah = atlases[0]
    boxes = []
    for (w, h), p in zip(sizes[:-1], placements[:-1]):
        assert p.x % ATLAS_PAD == 0 and p.y % ATLAS_PAD == 0   # slots aligned: clean mip levels
        x0, y0, x1, y1 = p.x - ATLAS_PAD, p.y - ATLAS_PAD, p.x + w + ATLAS_PAD, p.y + h + ATLAS_PAD
        assert x0 >= 0 and y0 >= 0 and x1 <= aw and y1 <= ah
        boxes.append((x0, y0, x1, y1))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    used = sum((w + 2 * ATLAS_PAD) * (h + 2 * ATLAS_PAD) for w, h in sizes[:-1])
    assert used / (aw * ah) > 0.5     # shelves waste some space, not most of it


def test_pack_atlases_spills_into_more_atlases_when_the_gpu_limit_is_small():
    # Padded by 8 and aligned, a 100 px layer takes a 120 px slot: 2 x 2 slots per 256 px atlas.
    placements, atlases = pack_atlases([(100, 100)] * 5, 256, pad=8)
    assert atlases == [(240, 240), (120, 120)]
    assert [p.atlas for p in placements].count(0) == 4


def test_pack_atlases_rejects_a_layer_larger_than_the_gpu_allows():
    with pytest.raises(InputError, match="largest texture"):
        pack_atlases([(10, 10), (300, 20)], 256)


def test_fit_view_centres_the_canvas_with_a_margin():
    scale, tx, ty = fit_view((0, 0, 64, 48), (128, 128), 0.25)
    assert scale == pytest.approx(1.0)                 # 64 px fit into 128 * (1 - 2 * 0.25)
    assert (tx, ty) == pytest.approx((32.0, 40.0))
    scale, tx, ty = fit_view((10, 20, 30, 60), (100, 50), 0.0)   # 20x40 box into 100x50
    assert scale == pytest.approx(1.25)
    assert (20 * scale + tx, 40 * scale + ty) == pytest.approx((50.0, 25.0))   # box centre


def test_parse_background_presets_and_hex():
    assert parse_background("transparent") == (0.0, 0.0, 0.0, 0.0)
    assert parse_background("green") == (0.0, 1.0, 0.0, 1.0)
    assert parse_background("#FF8000") == pytest.approx((1.0, 128 / 255, 0.0, 1.0))
    for bad in ("pink", "#12345", "#GG0000", ""):
        with pytest.raises(InputError, match="background"):
            parse_background(bad)


def test_premultiply_rounds_to_nearest():
    px = np.array([[[255, 128, 0, 128], [10, 20, 30, 0], [200, 100, 50, 255]]], np.uint8)
    assert premultiply(px).tolist() == [[[128, 64, 0, 128], [0, 0, 0, 0], [200, 100, 50, 255]]]


# ------------------------------------------------------------------------------ rendering

@pytest.mark.parametrize("quality", ["draft", "normal", "high"])
def test_rest_pose_reproduces_the_composite(three_rig, quality):
    with Renderer(three_rig, size=(W, H), margin=0.0, quality=quality) as r:
        img = r.render(three_rig.pose({}, 0.0))
    assert img.shape == (H, W, 4) and img.dtype == np.uint8
    ref = composite(THREE)
    assert premultiplied_diff(img, ref) <= 2.0
    assert psnr(img, ref) > 50


def test_transparent_background_is_alpha_zero_where_nothing_is_drawn(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        img = r.render(three_rig.pose({}, 0.0))
    empty = composite(THREE)[..., 3] == 0
    assert empty.sum() > 1000
    assert np.all(img[empty] == 0)
    assert np.all(img[~empty][..., 3] > 0)


@pytest.mark.parametrize("background, rgb", [("#102030", (16, 32, 48)), ("green", (0, 255, 0))])
def test_solid_backgrounds_are_opaque(three_rig, background, rgb):
    with Renderer(three_rig, size=(W, H), margin=0.0, background=background) as r:
        img = r.render(three_rig.pose({}, 0.0))
    assert np.all(img[..., 3] == 255)
    empty = composite(THREE)[..., 3] == 0
    assert np.all(img[empty][:, :3] == rgb)
    assert tuple(img[12, 10, :3]) == (230, 20, 10)     # the opaque red layer


def test_output_size_and_aspect_do_not_depend_on_the_canvas():
    square = ("square", solid(24, 24, (255, 255, 255, 255)), (20, 12))
    rig = tiny_rig([square])
    with Renderer(rig, size=(120, 40), margin=0.1) as r:
        img = r.render(rig.pose({}, 0.0))
        centre = r.canvas_to_output(np.array([32.0, 24.0]))
    assert img.shape == (40, 120, 4)
    x0, y0, x1, y1 = alpha_bbox(img)
    assert abs((x1 - x0) - (y1 - y0)) <= 1             # a square stays square
    assert (y1 - y0) == pytest.approx(24 * 40 * 0.8 / 48, abs=1)   # height-limited fit
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(tuple(centre), abs=0.6)
    assert centre == pytest.approx((60.0, 20.0))       # canvas centre at the output centre


def test_fit_character_frames_the_visible_layers():
    square = ("square", solid(24, 24, (255, 0, 0, 255)), (20, 12))
    rig = tiny_rig([square])
    with Renderer(rig, size=(50, 50), fit="character", margin=0.0) as r:
        img = r.render(rig.pose({}, 0.0))
    assert alpha_bbox(img) == (0, 0, 50, 50)           # the square fills the whole output
    assert np.all(img[2:-2, 2:-2, 3] == 255)
    with Renderer(rig, size=(50, 50), fit="canvas", margin=0.0) as r:
        img = r.render(rig.pose({}, 0.0))
    assert (img[..., 3] == 0).any()


def test_minified_edges_do_not_darken():
    # White on transparent (stored black), shrunk 8x: straight-alpha mipmaps would average the
    # black of transparent texels into the edge colour; premultiplied ones must not.
    # A black square packed next to it in the atlas must not bleed in either.
    white = ("white", disc(70, (255, 255, 255, 255)), (10, 10))    # output px 1..19
    black = ("black", solid(50, 50, (0, 0, 0, 255)), (200, 200))   # output px 25..31
    rig = tiny_rig([white, black], size=(256, 256))
    with Renderer(rig, size=(32, 32), margin=0.0, quality="draft") as r:
        img = r.render(rig.pose({}, 0.0))
    near_white = (np.arange(32)[None, :] < 23) & (np.arange(32)[:, None] < 23)
    edge = (img[..., 3] >= 8) & (img[..., 3] < 250) & near_white
    assert edge.sum() >= 20
    assert img[edge][:, :3].min() >= 240


def test_clipped_layers_stay_inside_their_mask():
    mask_a = ("white-a", disc(8, (255, 255, 255, 255)), (4, 10))
    iris_a = ("iris-a", solid(14, 14, (40, 90, 200, 255)), (13, 12), 0)     # pokes out right
    mask_b = ("white-b", disc(8, (250, 250, 240, 255)), (40, 10))
    iris_b = ("iris-b", solid(12, 16, (150, 60, 20, 230)), (34, 9), 2)      # pokes out left/up
    layers = [mask_a, iris_a, mask_b, iris_b]
    rig = tiny_rig(layers)
    ref = clipped_composite(layers)
    masks = composite([mask_a, mask_b])[..., 3] > 0
    for quality in ("draft", "normal", "high"):
        with Renderer(rig, size=(W, H), margin=0.0, quality=quality) as r:
            pose = rig.pose({}, 0.0)
            img = r.render(pose)
            masks_only = r.render(pose, layers=[0, 2])
        assert psnr(img, ref) > 45, quality
        # Outside the masks the irides add nothing at all.
        assert np.array_equal(img[~masks], masks_only[~masks]), quality
        assert (img[masks] != masks_only[masks]).any()


def test_a_clipped_layer_vanishes_with_its_mask():
    layers = [("white", disc(8, (255, 255, 255, 255)), (4, 10)),
              ("iris", solid(10, 10, (40, 90, 200, 255)), (8, 14), 0)]
    rig = tiny_rig(layers)
    with Renderer(rig, size=(W, H), margin=0.0) as r:
        pose = rig.pose({}, 0.0).copy()
        assert (r.render(pose)[..., 2] > 150).any()
        a, b = pose.ranges[0]
        pose.alpha[a:b] = 0.0
        pose.layer_alpha[0] = 0.0
        img = r.render(pose)
    assert np.all(img[..., 3] == 0)


def test_per_vertex_alpha_scales_the_layer_and_zero_skips_it(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        pose = three_rig.pose({}, 0.0).copy()
        a, b = pose.ranges[0]
        pose.alpha[a:b] = 0.5
        img = r.render(pose)
        assert img[12, 10, 3] == pytest.approx(128, abs=1)
        assert tuple(img[12, 10, :3]) == pytest.approx((230, 20, 10), abs=2)
        pose.layer_alpha[0] = 0.0
        img = r.render(pose)
    ref = composite(THREE[1:])
    assert premultiplied_diff(img, ref) <= 2.0


def test_layers_can_be_drawn_alone(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        img = r.render(three_rig.pose({}, 0.0), layers=[1])
    assert premultiplied_diff(img, composite([BLUE])) <= 2.0


def test_consecutive_layers_merge_into_one_draw_call(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        pose = three_rig.pose({}, 0.0).copy()
        r.draw(pose)
        assert r.draw_calls == 1
        pose.order = pose.order[::-1].copy()        # index ranges no longer follow each other
        img = r.render(pose)
        assert r.draw_calls == 3
    assert premultiplied_diff(img, composite(THREE[::-1])) <= 2.0


def test_a_clipped_layer_splits_the_draw_calls():
    layers = [RED, ("white", disc(8, (255, 255, 255, 255)), (4, 10)),
              ("iris", solid(10, 10, (40, 90, 200, 255)), (8, 14), 1), BLUE, GLOW]
    rig = tiny_rig(layers)
    with Renderer(rig, size=(W, H), margin=0.0) as r:
        r.draw(rig.pose({}, 0.0))
        assert r.draw_calls == 1 + 3                # mask pass, [red white], [iris], [blue glow]


def test_static_quads_baseline_matches_the_rest_render(three_rig):
    base = static_quads_baseline(three_rig, (W, H), margin=0.0)
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        img = r.render(three_rig.pose({}, 0.0))
        r.draw_static_quads()
        assert r.draw_calls == 1                     # one atlas: one call for all quads
    assert base.shape == img.shape
    assert premultiplied_diff(base, img) <= 1.0


def test_read_reuses_an_output_array_and_render_is_draw_then_read(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0) as r:
        pose = three_rig.pose({}, 0.0)
        out = np.zeros((H, W, 4), np.uint8)
        assert r.render(pose, out=out) is out
        r.draw(pose)
        assert np.array_equal(r.read(), out)
        with pytest.raises(ValueError):
            r.read(np.zeros((H, W, 3), np.uint8))
        with pytest.raises(ValueError, match="vertices"):
            r.draw(tiny_rig([RED]).pose({}, 0.0))
    with pytest.raises(RuntimeError, match="closed"):
        r.read()
    r.close()                                        # twice is fine


def test_two_renderers_keep_their_own_contexts(three_rig):
    with Renderer(three_rig, size=(W, H), margin=0.0, background="#000000") as dark, \
            Renderer(three_rig, size=(W, H), margin=0.0, background="#ffffff") as light:
        pose = three_rig.pose({}, 0.0)
        dark.draw(pose)
        light.draw(pose)
        assert tuple(dark.read()[0, 0]) == (0, 0, 0, 255)
        assert tuple(light.read()[0, 0]) == (255, 255, 255, 255)


@pytest.mark.parametrize("kwargs, words", [
    ({"quality": "ultra"}, "quality"), ({"fit": "face"}, "fit"), ({"background": "pink"}, "background"),
    ({"size": (0, 10)}, "positive"), ({"size": (10.5, 3)}, "whole numbers"), ({"margin": 0.5}, "margin"),
    ({"size": (40000, 40000)}, "render target"),
])
def test_bad_arguments_are_input_errors(three_rig, kwargs, words):
    with pytest.raises(InputError, match=words):
        Renderer(three_rig, **kwargs)


def test_no_opengl_is_one_clear_input_error(three_rig, monkeypatch):
    import moderngl

    def no_gl(*args, **kwargs):
        raise Exception("eglGetDisplay failed\nmore detail")
    monkeypatch.setattr(moderngl, "create_standalone_context", no_gl)
    with pytest.raises(InputError) as err:
        Renderer(three_rig)
    message = str(err.value)
    assert "\n" not in message and "EGL" in message and "display" in message


def test_benchmark_reports_both_rates(three_rig):
    result = benchmark_render(three_rig, size=(32, 32), frames=2)
    assert set(result) == {"render_fps", "baseline_fps"}
    assert result["render_fps"] > 0 and result["baseline_fps"] > 0


# ------------------------------------------------------------------------------ window

def test_a_window_without_a_display_is_one_clear_input_error(three_rig, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(InputError, match="no display") as err:
        Renderer(three_rig, window=True)
    assert "\n" not in str(err.value)


def test_window_presents_the_frame_and_follows_resizes(three_rig, display):
    import glfw
    with Renderer(three_rig, size=(128, 96), window=True, background="#336699", margin=0.0) as r:
        assert r.size == (128, 96)
        pose = three_rig.pose({}, 0.0)
        r.draw(pose)
        shot = r.screenshot()
        frame = r.read()
        assert shot.shape == (96, 128, 4)
        assert np.abs(shot[..., :3].astype(int) - frame[..., :3]).max() <= 1
        assert tuple(shot[0, 0, :3]) == (0x33, 0x66, 0x99)
        assert tuple(shot[24, 20, :3]) == (230, 20, 10)          # the red layer, scaled 2x
        assert not r.should_close()

        keys = []
        r.on_key(lambda key, action, mods: keys.append((key, action)))
        r._window._on_key(r._window.handle, glfw.KEY_SPACE, 0, glfw.PRESS, 0)
        assert keys == [(glfw.KEY_SPACE, glfw.PRESS)]

        glfw.set_window_size(r._window.handle, 160, 60)
        for _ in range(40):
            r.poll()
            r.draw(pose)
            if r.size == (160, 60):
                break
            time.sleep(0.05)
        assert r.size == (160, 60)
        assert r.read().shape == (60, 160, 4)
        assert r.screenshot().shape == (60, 160, 4)


def test_read_over_a_background_is_the_frame_drawn_over_it(three_rig):
    """One transparent draw, read twice: as it is (for an output that keeps alpha) and laid over
    a colour on the GPU (for the others), which is what drawing over that colour gives."""
    pose = three_rig.pose({}, 0.0)
    with Renderer(three_rig, size=(128, 96), background="#336699") as r:
        drawn_over = r.render(pose)
    with Renderer(three_rig, size=(128, 96), background="transparent") as r:
        r.draw(pose)
        clear = r.read()
        over = r.read(background="#336699")
        assert np.array_equal(r.read(), clear)            # the second read changed nothing
    assert clear[0, 0, 3] == 0 and clear[..., 3].max() == 255
    assert np.all(over[..., 3] == 255) and tuple(over[0, 0, :3]) == (0x33, 0x66, 0x99)
    assert np.abs(over.astype(int) - drawn_over).max() <= 1


def test_window_background_shows_under_a_transparent_frame(three_rig, display):
    with Renderer(three_rig, size=(128, 96), window=True, background="transparent",
                  window_background="#336699", margin=0.0) as r:
        r.draw(three_rig.pose({}, 0.0))
        shot, frame = r.screenshot(), r.read()
    assert frame[0, 0, 3] == 0                            # the frame keeps its alpha ...
    assert tuple(shot[0, 0, :3]) == (0x33, 0x66, 0x99)    # ... the window shows the colour
    assert tuple(shot[24, 20, :3]) == (230, 20, 10)


# ------------------------------------------------------------------------------ real character

@pytest.fixture(scope="module")
def sample(sample_psd):
    from rig.autorig import autorig
    from seethrough_core.loading import load_character
    character = load_character(sample_psd)
    rig = autorig(character)
    w, h = rig.size
    renderer = Renderer(rig, size=(w, h), margin=0.0)       # 1 canvas px = 1 output px
    yield character, rig, renderer
    renderer.close()


def _index(rig: Rig, tag: str, variant=None) -> int:
    return next(i for i, l in enumerate(rig.spec.layers) if l.tag == tag and l.variant == variant)


def _posed(rig: Rig, params: dict):
    rig.reset()
    return rig.pose(params, 0.0)


def _region(layer: Layer, grow: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = layer.bbox
    return slice(max(y0 - grow, 0), y1 + grow), slice(max(x0 - grow, 0), x1 + grow)


def _composite_without(character: Character, names: set[str]) -> np.ndarray:
    return character.composite(layers=[l for l in character.layers if l.name not in names])


@pytest.mark.slow
def test_sample_rest_pose_matches_the_rest_composite(sample):
    character, rig, renderer = sample
    img = renderer.render(_posed(rig, {}))
    assert psnr(img, character.rest_composite()) >= 35


@pytest.mark.slow
def test_sample_closed_eyes_show_the_eye_close_art(sample):
    character, rig, renderer = sample
    img = renderer.render(_posed(rig, {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0}))
    eyes = _region(character.find(variant="eye_close")[0], 10)
    open_art = {l.name for l in character.layers if l.tag in ("eyewhite", "irides", "eyelash")
                and l.variant is None} | {l.name for l in character.find(variant="mouth_open")}
    closed = _composite_without(character, open_art)
    assert psnr(img[eyes], closed[eyes]) >= 40
    assert psnr(img[eyes], character.rest_composite()[eyes]) < 25     # the region did change


@pytest.mark.slow
def test_sample_open_mouth_shows_the_mouth_open_art(sample):
    character, rig, renderer = sample
    img = renderer.render(_posed(rig, {"ParamMouthOpenY": 1.0}))
    mouth = _region(character.find(variant="mouth_close")[0], 6)
    hidden = {l.name for l in character.find(variant="mouth_close")} | \
        {l.name for l in character.find(variant="eye_close")}
    assert psnr(img[mouth], _composite_without(character, hidden)[mouth]) >= 40
    assert psnr(img[mouth], character.rest_composite()[mouth]) < 25


@pytest.mark.slow
def test_sample_head_turn_moves_the_face_right_by_the_rigs_amount(sample):
    character, rig, renderer = sample
    nose = _index(rig, "nose")
    rest = _posed(rig, {}).copy()
    before = alpha_centroid(renderer.render(rest, layers=[nose]))
    turned = _posed(rig, {"ParamAngleX": 20.0}).copy()
    after = alpha_centroid(renderer.render(turned, layers=[nose]))
    # The nose rides rigidly on the face: the rig moves its vertices by an affine map, which
    # moves the centre of its pixels by the same map.
    a, b = rig.ranges[nose]
    src = np.c_[rest.vertices[a:b], np.ones(b - a)].astype(np.float64)
    affine, *_ = np.linalg.lstsq(src, turned.vertices[a:b].astype(np.float64), rcond=None)
    assert np.abs(src @ affine - turned.vertices[a:b]).max() < 0.01
    expected = np.r_[before, 1.0] @ affine
    face_width = rig.anchors.face_size[0]
    assert after[0] - before[0] > 0.05 * face_width                # to the screen's right
    assert after == pytest.approx(expected, abs=0.5)


@pytest.mark.slow
def test_sample_irides_never_leave_the_eyewhite(sample):
    character, rig, renderer = sample
    iris, white = _index(rig, "irides"), _index(rig, "eyewhite")
    assert rig.clip_masks()[iris] == white
    pose = _posed(rig, {"ParamEyeBallX": 1.0}).copy()
    iris_img = renderer.render(pose, layers=[iris])
    white_img = renderer.render(pose, layers=[white])
    assert (iris_img[..., 3] > 0).sum() > 1000
    assert not np.any((iris_img[..., 3] > 0) & (white_img[..., 3] == 0))
    # Unclipped, the moved iris mesh would reach well outside the eyewhite.
    a, b = rig.ranges[iris]
    mesh = rig.spec.layers[iris].mesh
    moved = Mesh(pose.vertices[a:b], mesh.triangles, mesh.uvs, mesh.boundary)
    w, h = rig.size
    cover = rasterize_coverage(moved, (h, w))
    assert (cover & (white_img[..., 3] == 0)).sum() > 200
