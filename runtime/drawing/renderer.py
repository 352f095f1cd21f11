"""The GPU renderer: `Rig.pose` output -> RGBA frames, with moderngl and GLSL 330 core.

Setup (once per rig):

- every layer texture is premultiplied, padded with transparent texels and shelf-packed into one
  atlas (several when the context's max texture size is exceeded); mipmaps are built from the
  premultiplied texels, so minified edges fade to transparent instead of to a dark fringe;
- mesh UVs are remapped into the atlas; ONE static UV buffer, ONE dynamic buffer of
  (x, y, alpha) per vertex for all layers, ONE index buffer with each layer's triangles stored
  contiguously and pre-offset to its vertex range.

Per frame (`draw`): one `write` of the pose into the dynamic buffer from a reused staging array;
the clip masks (irides inside the eyewhite) are drawn into channels of a screen-sized mask
texture; then the layers are drawn in `pose.order`, consecutive layers that share atlas and clip
state and whose index ranges touch merged into one draw call; MSAA is resolved into a plain
texture. `read` runs a last pass that downsamples (supersampling), flips rows to top-first and
un-premultiplies, then reads the pixels back.

Clipping multiplies the clipped layer by the mask layer's alpha (Photoshop's clipping-mask rule,
and what Live2D does with its mask textures). The mask is sampled per pixel from a texture the
size of the render target, so it works the same with and without MSAA.

Coordinates: the view maps canvas pixels (origin top-left, y down) to the output: uniform scale,
centred, with a margin; the vertex shader turns that into clip space. Colours are premultiplied on
the GPU and straight-alpha in what `read` returns.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

import shaders
from seethrough_core.character import InputError
from seethrough_core.taxonomy import BACKDROP_TAG

# Render targets of one output, all together: bounds GPU (or, on llvmpipe, CPU) memory.
MAX_TARGET_BYTES = 2048 << 20
# quality -> (MSAA samples wanted, supersampling factor). "high" falls back to 2x supersampling
# with the most MSAA samples the context has when it cannot do 8x MSAA (llvmpipe: 4).
QUALITIES = ("draft", "normal", "high")
FITS = ("canvas", "character")
BACKGROUND_PRESETS = {"green": (0, 255, 0)}

# Transparent texels around every layer in the atlas; slots also start on multiples of it, so
# mip levels 0..MIP_LEVELS (2^MIP_LEVELS == ATLAS_PAD) never mix texels of two layers. Down to
# 1/16 of the canvas size edges stay clean; smaller outputs alias a little instead.
ATLAS_PAD = 16
MIP_LEVELS = 4

# Layer variants that a rest pose hides (the same rule as Character.rest_composite).
HIDDEN_AT_REST = ("mouth_open", "eye_close")

KeyCallback = Callable[[int, int, int], None]


# ------------------------------------------------------------------------------ pure helpers

@dataclass(frozen=True)
class Placement:
    """Where one layer's texture sits: atlas index and the texel of its pixel (0, 0)."""

    atlas: int
    x: int
    y: int


def _align(n: int, step: int) -> int:
    return -(-n // step) * step


def pack_atlases(sizes: Sequence[tuple[int, int]], max_size: int,
                 pad: int = ATLAS_PAD) -> tuple[list[Placement | None], list[tuple[int, int]]]:
    """Shelf-pack (w, h) rectangles into as few atlases of at most ``max_size`` as needed.

    Each rectangle gets ``pad`` transparent texels on every side and a slot aligned to ``pad``.
    Returns one placement per input (None for an empty rectangle) and the (w, h) of each atlas.
    """
    step = max(int(pad), 1)
    slots = []
    for i, (w, h) in enumerate(sizes):
        if w <= 0 or h <= 0:
            continue
        sw, sh = _align(int(w) + 2 * pad, step), _align(int(h) + 2 * pad, step)
        if sw > max_size or sh > max_size:
            raise InputError(f"a layer of {w}x{h} px does not fit this GPU's largest texture "
                             f"({max_size} px with padding); rebuild the rig from a smaller image")
        slots.append((i, sw, sh))
    placements: list[Placement | None] = [None] * len(sizes)
    if not slots:
        return placements, []
    area = sum(sw * sh for _, sw, sh in slots)
    # About square: a shelf as wide as the root of the total area, never narrower than a slot.
    width = min(max_size, max(max(sw for _, sw, _ in slots), _align(math.isqrt(area) + 1, step)))
    slots.sort(key=lambda s: -s[2])          # tallest first: shelves waste little height
    atlases: list[tuple[int, int]] = []
    atlas = x = y = shelf_h = used_w = 0
    for i, sw, sh in slots:
        if x + sw > width:                   # next shelf
            x, y, shelf_h = 0, y + shelf_h, 0
        if y + sh > max_size:                # next atlas
            atlases.append((used_w, y))
            atlas, x, y, shelf_h, used_w = atlas + 1, 0, 0, 0, 0
        placements[i] = Placement(atlas, x + pad, y + pad)
        x += sw
        shelf_h = max(shelf_h, sh)
        used_w = max(used_w, x)
    atlases.append((used_w, y + shelf_h))
    return placements, atlases


def fit_view(bbox: tuple[float, float, float, float], out_size: tuple[int, int],
             margin: float) -> tuple[float, float, float]:
    """(scale, tx, ty) with output px = canvas px * scale + t: ``bbox`` (x0, y0, x1, y1) fitted
    into ``out_size`` (w, h) with a uniform scale, centred, leaving ``margin`` of the output's
    width/height free on each side."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w, h = out_size
    bw, bh = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    scale = min(w * (1.0 - 2.0 * margin) / bw, h * (1.0 - 2.0 * margin) / bh)
    return scale, 0.5 * w - scale * 0.5 * (x0 + x1), 0.5 * h - scale * 0.5 * (y0 + y1)


def parse_background(spec: str) -> tuple[float, float, float, float]:
    """'transparent', 'green' (chroma key #00FF00) or '#RRGGBB' -> premultiplied clear colour."""
    text = str(spec).strip().lower()
    if text == "transparent":
        return (0.0, 0.0, 0.0, 0.0)
    if text in BACKGROUND_PRESETS:
        r, g, b = BACKGROUND_PRESETS[text]
        return (r / 255.0, g / 255.0, b / 255.0, 1.0)
    if len(text) == 7 and text[0] == "#":
        try:
            r, g, b = (int(text[k:k + 2], 16) for k in (1, 3, 5))
        except ValueError:
            pass
        else:
            return (r / 255.0, g / 255.0, b / 255.0, 1.0)
    raise InputError(f"background {spec!r} is not understood; use 'transparent', 'green' or a "
                     f"colour like '#1E90FF'")


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """uint8 straight-alpha RGBA -> uint8 premultiplied RGBA (rounded to nearest)."""
    out = np.array(rgba, dtype=np.uint8, copy=True)
    a = rgba[..., 3:4].astype(np.uint16)
    out[..., :3] = (rgba[..., :3].astype(np.uint16) * a + 127) // 255
    return out


def _quality_settings(quality: str, max_samples: int) -> tuple[int, int]:
    """(MSAA samples, supersampling factor) for a quality on a context."""
    if quality == "draft":
        return 0, 1
    if quality == "normal":
        return min(4, max_samples), 1
    if max_samples >= 8:
        return 8, 1
    return min(4, max_samples), 2


# ------------------------------------------------------------------------------ GL contexts

def _standalone_context():
    """A headless GL 3.3 context: EGL first (no display needed), then the platform default."""
    try:
        import moderngl
    except ImportError as exc:
        raise InputError(f"moderngl is not installed ({exc}); install it with "
                         f"`pip install moderngl`") from None
    causes = []
    for kwargs in ({"backend": "egl"}, {}):
        try:
            return moderngl.create_standalone_context(require=330, **kwargs)
        except Exception as exc:  # each backend fails in its own way; report them together
            causes.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    raise InputError("no OpenGL 3.3 available for offscreen rendering (" + "; ".join(causes) +
                     "): install Mesa's EGL and llvmpipe drivers (Debian/Ubuntu: apt install "
                     "libegl1 libgl1-mesa-dri; Fedora: dnf install mesa-libEGL mesa-dri-drivers) "
                     "or run with a display")


_NO_DISPLAY = ("cannot open a window: no display is available; set DISPLAY (or start a virtual "
               "one: `Xvfb :99 & export DISPLAY=:99`), or render offscreen without a window")


def start_glfw(glfw, no_display: str = _NO_DISPLAY) -> None:
    """glfw.init(), with a failure (no display) as one InputError line instead of warnings."""
    with warnings.catch_warnings():
        # glfw reports failures as warnings too; the InputError says it in one line.
        warnings.simplefilter("ignore", glfw.GLFWError)
        try:
            ok = glfw.init()
        except glfw.GLFWError:
            ok = False
    if not ok:
        raise InputError(no_display)


class _Window:
    """A glfw window with a GL 3.3 core context; frames are presented into its default
    framebuffer. Resizes are recorded and picked up by the renderer before the next frame."""

    open_windows = 0   # glfw is terminated when the last of ours closes

    def __init__(self, size: tuple[int, int], title: str, vsync: bool):
        try:
            import glfw
        except ImportError as exc:
            raise InputError(f"glfw is not installed ({exc}); install it with `pip install glfw`, "
                             f"or render offscreen without a window") from None
        self.glfw = glfw
        self.handle = None
        self.key_callbacks: list[KeyCallback] = []
        self.pending_size: tuple[int, int] | None = None
        start_glfw(glfw)
        _Window.open_windows += 1
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, True)
        glfw.window_hint(glfw.SAMPLES, 0)          # anti-aliasing happens in our own targets
        glfw.window_hint(glfw.DEPTH_BITS, 0)
        glfw.window_hint(glfw.STENCIL_BITS, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", glfw.GLFWError)
            try:
                self.handle = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
            except glfw.GLFWError:
                self.handle = None
        if not self.handle:
            self.close()
            raise InputError("cannot open a window with OpenGL 3.3: update the graphics driver "
                             "(Mesa 20 or newer), or render offscreen without a window")
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        glfw.set_framebuffer_size_callback(self.handle, self._on_resize)
        glfw.set_key_callback(self.handle, self._on_key)

    def framebuffer_size(self) -> tuple[int, int]:
        w, h = self.glfw.get_framebuffer_size(self.handle)
        return int(w), int(h)

    def _on_resize(self, _handle, width: int, height: int) -> None:
        self.pending_size = (int(width), int(height))

    def _on_key(self, _handle, key: int, _scancode: int, action: int, mods: int) -> None:
        for callback in self.key_callbacks:
            callback(key, action, mods)

    def make_current(self) -> None:
        self.glfw.make_context_current(self.handle)

    def close(self) -> None:
        if self.handle:
            self.glfw.destroy_window(self.handle)
            self.handle = None
        if _Window.open_windows > 0:
            _Window.open_windows -= 1
            if _Window.open_windows == 0:
                self.glfw.terminate()


# ------------------------------------------------------------------------------ draw plans

@dataclass(frozen=True)
class _Run:
    """One draw call: a span of the index buffer, its atlas and clip mask slot (or None)."""

    atlas: int
    clip: tuple[int, int] | None      # (mask texture, channel)
    first: int
    count: int


@dataclass(frozen=True)
class _Plan:
    runs: tuple[_Run, ...]
    masks: tuple[int, ...]            # mask layers to draw first
    clipped: tuple[int, ...]          # visible clipped layers (their bbox bounds the mask clear)


# ------------------------------------------------------------------------------ the renderer

class Renderer:
    """Draws a rig's poses offscreen (default) or into a glfw window.

    ``size`` (w, h) of the output; ``background`` 'transparent', 'green' or '#RRGGBB';
    ``quality`` 'draft' (no anti-aliasing), 'normal' (4x MSAA), 'high' (8x MSAA, or 2x
    supersampling with MSAA where 8x is not available); ``fit`` 'canvas' (the whole canvas) or
    'character' (the union box of the layers visible at rest, the backdrop aside), with
    ``margin`` the fraction of the output left free on each side. With ``window=True`` frames are also shown in a window whose
    resizes change the output size; ``window_background`` (an opaque colour) is what the window
    shows under a transparent ``background`` (default: the background itself), so frames can
    keep their alpha for one output while the window looks like the others.
    """

    def __init__(self, rig, size: tuple[int, int] = (1024, 1024), background: str = "transparent",
                 quality: str = "normal", fit: str = "canvas", margin: float = 0.05,
                 window: bool = False, *, title: str = "seethrough-rig", vsync: bool = False,
                 window_background: str | None = None):
        self._size = _check_size(size)
        self._clear_color = parse_background(background)
        self._window_backdrop = (0.0, 0.0, 0.0, 0.0) if window_background is None else \
            parse_background(window_background)
        if quality not in QUALITIES:
            raise InputError(f"quality {quality!r} is not one of {', '.join(QUALITIES)}")
        if fit not in FITS:
            raise InputError(f"fit {fit!r} is not one of {', '.join(FITS)}")
        if not (isinstance(margin, (int, float)) and 0.0 <= margin < 0.5):
            raise InputError(f"margin must be a fraction in [0, 0.5), got {margin!r}")
        self.rig = rig
        self.quality = quality
        self.fit = fit
        self.margin = float(margin)
        self.draw_calls = 0                 # draw calls of the last frame (layers + masks)
        self._closed = False
        self._gl_objects: list = []
        self._targets: list = []
        self._window: _Window | None = None
        if window:
            self._window = _Window(self._size, title, vsync)
            import moderngl
            try:
                self.ctx = moderngl.create_context(require=330)
            except Exception:
                self._window.close()
                raise InputError("the window's OpenGL context is older than 3.3: update the "
                                 "graphics driver, or render offscreen without a window") from None
            self._size = self._window.framebuffer_size()
        else:
            self.ctx = _standalone_context()
        try:
            with self._gl():
                self._setup()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------ setup

    def _gl(self):
        """Make our context current for the duration of a block (several may coexist)."""
        if self._window is not None:
            self._window.make_current()
            return contextlib.nullcontext()
        return self.ctx

    def _keep(self, obj):
        self._gl_objects.append(obj)
        return obj

    def _setup(self) -> None:
        import moderngl
        ctx = self.ctx
        self._mgl = moderngl
        self.max_texture_size = int(ctx.info["GL_MAX_TEXTURE_SIZE"])
        self.samples, self.supersample = _quality_settings(self.quality, int(ctx.max_samples))
        layers = self.rig.spec.layers
        ranges = np.asarray(self.rig.ranges, np.int64).reshape(-1, 2)
        self.n_vertices = int(ranges[-1, 1]) if len(ranges) else 0
        self._ranges = ranges

        # Atlases: premultiplied before mipmapping (no dark fringes), padded, shelf-packed.
        has_mesh = [l.mesh.n_triangles > 0 and l.texture.size > 0 for l in layers]
        sizes = [(l.texture.shape[1], l.texture.shape[0]) if ok else (0, 0)
                 for l, ok in zip(layers, has_mesh)]
        self.placements, self.atlas_sizes = pack_atlases(sizes, self.max_texture_size)
        pixels = [np.zeros((h, w, 4), np.uint8) for w, h in self.atlas_sizes]
        for layer, place in zip(layers, self.placements):
            if place is not None:
                th, tw = layer.texture.shape[:2]
                pixels[place.atlas][place.y:place.y + th, place.x:place.x + tw] = premultiply(layer.texture)
        self.atlases = []
        for data in pixels:
            tex = self._keep(ctx.texture((data.shape[1], data.shape[0]), 4, data.tobytes()))
            tex.repeat_x = tex.repeat_y = False
            tex.build_mipmaps(0, MIP_LEVELS)
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            self.atlases.append(tex)

        # Geometry: static atlas UVs, dynamic (x, y, alpha), one index buffer laid out per layer.
        uvs = np.zeros((max(self.n_vertices, 1), 2), np.float32)
        index_parts = []
        self._first = np.zeros(len(layers), np.int64)
        self._count = np.zeros(len(layers), np.int64)
        self._atlas_of = np.zeros(len(layers), np.int64)
        cursor = 0
        for i, (layer, place) in enumerate(zip(layers, self.placements)):
            a, b = ranges[i]
            self._first[i] = cursor
            if place is None:
                continue
            th, tw = layer.texture.shape[:2]
            aw, ah = self.atlas_sizes[place.atlas]
            uv = layer.mesh.uvs.astype(np.float64)
            uvs[a:b, 0] = (place.x + uv[:, 0] * tw) / aw
            uvs[a:b, 1] = (place.y + uv[:, 1] * th) / ah
            tris = layer.mesh.triangles.astype(np.int64).reshape(-1) + a
            index_parts.append(tris)
            self._count[i] = len(tris)
            self._atlas_of[i] = place.atlas
            cursor += len(tris)
        indices = (np.concatenate(index_parts) if index_parts else np.zeros(3, np.int64)).astype(np.int32)
        self._staging = np.zeros((max(self.n_vertices, 1), 3), np.float32)
        self._staging[:, 2] = 1.0
        self._dynamic = self._keep(ctx.buffer(self._staging.tobytes(), dynamic=True))
        self._uv_buffer = self._keep(ctx.buffer(uvs.tobytes()))
        self._index_buffer = self._keep(ctx.buffer(indices.tobytes()))
        self._visible = np.zeros(len(layers), bool)

        # Programs: plain layers, clipped layers, clip masks, the final full-screen pass.
        vert = shaders.source("layer.vert")
        self._layer_prog = self._keep(ctx.program(vertex_shader=vert,
                                                  fragment_shader=shaders.source("layer.frag")))
        self._clipped_prog = self._keep(ctx.program(
            vertex_shader=vert, fragment_shader=shaders.source("layer.frag", ("CLIPPED",))))
        self._mask_prog = self._keep(ctx.program(vertex_shader=vert,
                                                 fragment_shader=shaders.source("mask.frag")))
        self._output_prog = self._keep(ctx.program(vertex_shader=shaders.source("fullscreen.vert"),
                                                   fragment_shader=shaders.source("output.frag")))
        for prog in (self._layer_prog, self._clipped_prog, self._mask_prog):
            prog["u_atlas"].value = 0
        self._clipped_prog["u_mask"].value = 1
        self._output_prog["u_source"].value = 0
        content = [(self._dynamic, "2f 1f", "in_position", "in_alpha"),
                   (self._uv_buffer, "2f", "in_uv")]
        self._layer_vao, self._clipped_vao, self._mask_vao = (
            self._keep(ctx.vertex_array(prog, content, index_buffer=self._index_buffer,
                                        index_element_size=4))
            for prog in (self._layer_prog, self._clipped_prog, self._mask_prog))
        self._fullscreen_vao = self._keep(ctx.vertex_array(self._output_prog, []))

        # Clip masks: each mask layer gets one channel of a mask texture (4 per texture).
        clip_of = {int(i): int(m) for i, m in self.rig.clip_masks().items()
                   if 0 <= int(m) < len(layers)}
        mask_layers = sorted(set(clip_of.values()))
        self._clip_of = clip_of
        self._mask_slot = {m: divmod(k, 4) for k, m in enumerate(mask_layers)}
        self._n_mask_textures = -(-len(mask_layers) // 4)
        self._channel_masks = [tuple(c == ch for c in range(4)) for ch in range(4)]
        self._channel_vectors = [tuple(float(c == ch) for c in range(4)) for ch in range(4)]

        self._baseline_setup(layers)
        self._rest_bbox = self._visible_rest_bbox(layers)
        self._plans: dict = {}
        self._build_targets(self._size)
        self._scene_fbo.use()
        self._scene_fbo.clear(*self._clear_color)
        self._resolve()

    def _visible_rest_bbox(self, layers) -> tuple[float, float, float, float]:
        boxes = [l.mesh.vertices for l in layers
                 if l.variant not in HIDDEN_AT_REST and l.mesh.n_triangles > 0
                 and l.tag != BACKDROP_TAG]
        if not boxes:
            w, h = self.rig.size
            return (0.0, 0.0, float(w), float(h))
        pts = np.concatenate(boxes)
        return (*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist())

    def _baseline_setup(self, layers) -> None:
        """Static quads at every rest-visible layer's rest rectangle, same atlas: the benchmark's
        reference for 'drawing these textures at all'."""
        rows, indices, runs = [], [], []
        for layer, place in zip(layers, self.placements):
            if place is None or layer.variant in HIDDEN_AT_REST:
                continue
            th, tw = layer.texture.shape[:2]
            aw, ah = self.atlas_sizes[place.atlas]
            ox, oy = layer.offset
            u0, v0, u1, v1 = place.x / aw, place.y / ah, (place.x + tw) / aw, (place.y + th) / ah
            base = len(rows)
            rows += [(ox, oy, u0, v0, 1.0), (ox + tw, oy, u1, v0, 1.0),
                     (ox + tw, oy + th, u1, v1, 1.0), (ox, oy + th, u0, v1, 1.0)]
            if runs and runs[-1][0] == place.atlas:
                runs[-1][2] += 6
            else:
                runs.append([place.atlas, len(indices), 6])
            indices += [base, base + 1, base + 2, base, base + 2, base + 3]
        self._baseline_runs = [tuple(r) for r in runs]
        if not rows:
            self._baseline_vao = None
            return
        vbo = self._keep(self.ctx.buffer(np.array(rows, np.float32).tobytes()))
        ibo = self._keep(self.ctx.buffer(np.array(indices, np.int32).tobytes()))
        self._baseline_vao = self._keep(self.ctx.vertex_array(
            self._layer_prog, [(vbo, "2f 2f 1f", "in_position", "in_uv", "in_alpha")],
            index_buffer=ibo, index_element_size=4))

    def _build_targets(self, size: tuple[int, int]) -> None:
        """Framebuffers for an output size: (MSAA) scene, resolved texture, masks, output."""
        moderngl, ctx = self._mgl, self.ctx
        for obj in self._targets:
            obj.release()
        self._targets = []
        w, h = size
        rw, rh = w * self.supersample, h * self.supersample
        limit = min(self.max_texture_size, int(ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", self.max_texture_size)))
        if rw > limit or rh > limit:
            raise InputError(f"output {w}x{h} at quality {self.quality!r} needs a {rw}x{rh} px "
                             f"render target; this GPU allows {limit} px: choose a smaller size "
                             f"or quality")
        need = rw * rh * 4 * (max(self.samples, 1) + 1 + self._n_mask_textures) + w * h * 4
        if need > MAX_TARGET_BYTES:
            raise InputError(f"output {w}x{h} at quality {self.quality!r} needs "
                             f"{need >> 20} MiB of render targets, over the "
                             f"{MAX_TARGET_BYTES >> 20} MiB limit: choose a smaller size or "
                             f"quality")
        try:
            self._make_targets(w, h, rw, rh)
        except moderngl.Error as exc:
            for obj in self._targets:
                obj.release()
            self._targets = []
            raise InputError(f"output {w}x{h} at quality {self.quality!r}: the GPU cannot make "
                             f"its render targets ({' '.join(str(exc).split())[:120]}); choose "
                             f"a smaller size or quality") from None

    def _make_targets(self, w: int, h: int, rw: int, rh: int) -> None:
        moderngl, ctx = self._mgl, self.ctx
        keep = self._targets.append
        self._size = (w, h)
        self.render_size = (rw, rh)
        if self.samples > 0:
            rb = ctx.renderbuffer((rw, rh), 4, samples=self.samples)
            keep(rb)
            self._scene_fbo = ctx.framebuffer([rb])
            keep(self._scene_fbo)
            self._resolved = ctx.texture((rw, rh), 4)
            keep(self._resolved)
            self._resolve_fbo = ctx.framebuffer([self._resolved])
            keep(self._resolve_fbo)
        else:
            self._resolved = ctx.texture((rw, rh), 4)
            keep(self._resolved)
            self._scene_fbo = self._resolve_fbo = ctx.framebuffer([self._resolved])
            keep(self._scene_fbo)
        self._resolved.repeat_x = self._resolved.repeat_y = False
        self._resolved.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._mask_textures, self._mask_fbos = [], []
        for _ in range(self._n_mask_textures):
            tex = ctx.texture((rw, rh), 4)
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            fbo = ctx.framebuffer([tex])
            keep(tex)
            keep(fbo)
            self._mask_textures.append(tex)
            self._mask_fbos.append(fbo)
        self._output_tex = ctx.texture((w, h), 4)
        keep(self._output_tex)
        self._output_fbo = ctx.framebuffer([self._output_tex])
        keep(self._output_fbo)

        bbox = self._rest_bbox if self.fit == "character" else (0.0, 0.0, *map(float, self.rig.size))
        self.view = fit_view(bbox, (w, h), self.margin)
        scale, tx, ty = self.view
        # Output px -> clip space, y flipped: canvas top lands at the top of the image.
        uniform = (2.0 * scale / w, -2.0 * scale / h, 2.0 * tx / w - 1.0, 1.0 - 2.0 * ty / h)
        for prog in (self._layer_prog, self._clipped_prog, self._mask_prog):
            prog["u_view"].value = uniform
        # Supersampling magnifies textures inside the render target even when the output is not
        # magnified; bilinear there, then the 2x2 average, would blur a 1:1 view. Nearest texels
        # averaged 2x2 reproduce it exactly. Real magnification keeps bilinear.
        mag = moderngl.NEAREST if self.supersample > 1 and scale <= 1.0 else moderngl.LINEAR
        for tex in self.atlases:
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, mag)

    # ------------------------------------------------------------------------------ frames

    @property
    def size(self) -> tuple[int, int]:
        """(w, h) of the frames `read` returns (follows the window's size in window mode)."""
        return self._size

    def canvas_to_output(self, points: np.ndarray) -> np.ndarray:
        """Canvas px -> output px (origin top-left, y down) under the current view."""
        scale, tx, ty = self.view
        return np.asarray(points, np.float64) * scale + np.array([tx, ty])

    def draw(self, pose, layers: Iterable[int] | None = None) -> None:
        """Render one pose (optionally only the given layer indices; their clip masks still
        apply). In window mode the frame is also presented."""
        self._check_open()
        vertices = np.asarray(pose.vertices)
        if vertices.shape != (self.n_vertices, 2):
            raise ValueError(f"pose has {vertices.shape} vertices, the rig {self.n_vertices}")
        with self._gl():
            if not self._follow_window():
                return
            if self.n_vertices:
                np.copyto(self._staging[:, :2], vertices)
                np.copyto(self._staging[:, 2], pose.alpha)
                self._dynamic.write(self._staging)
            plan = self._plan(pose, None if layers is None else frozenset(int(i) for i in layers))
            calls = self._draw_masks(vertices, plan)
            self._draw_layers(plan)
            self.draw_calls = calls + len(plan.runs)
            self._resolve()
            self._present()

    def draw_static_quads(self) -> None:
        """The benchmark baseline: every layer visible at rest as one textured quad at its rest
        rectangle, same atlases, framebuffers, MSAA and resolve as `draw`."""
        self._check_open()
        with self._gl():
            if not self._follow_window():
                return
            self._begin_scene()
            bound = None
            for atlas, first, count in self._baseline_runs:
                if atlas != bound:
                    self.atlases[atlas].use(0)
                    bound = atlas
                self._baseline_vao.render(self._mgl.TRIANGLES, vertices=count, first=first)
            self.draw_calls = len(self._baseline_runs)
            self._resolve()
            self._present()

    def read(self, out: np.ndarray | None = None,
             background: str | None = None) -> np.ndarray:
        """The last frame as (h, w, 4) uint8 straight-alpha RGBA, top row first (into ``out``
        when given: a C-contiguous array of that shape, reused to avoid an allocation).
        ``background`` ('green', '#RRGGBB'): the frame laid over that colour on the GPU, opaque;
        the same frame as if it had been drawn over it, read a second time for another output."""
        self._check_open()
        w, h = self._size
        if out is None:
            out = np.empty((h, w, 4), np.uint8)
        elif out.shape != (h, w, 4) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({h}, {w}, 4) uint8 array")
        backdrop = (0.0, 0.0, 0.0, 0.0) if background is None else parse_background(background)
        with self._gl():
            self._output_pass(self._output_fbo, flip=True, unpremultiply=True, backdrop=backdrop)
            self._output_fbo.read_into(out, components=4)
        return out

    def render(self, pose, layers: Iterable[int] | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """`draw` then `read`."""
        self.draw(pose, layers)
        return self.read(out)

    def _plan(self, pose, only: frozenset | None) -> _Plan:
        visible = np.greater(pose.layer_alpha, 0.0, out=self._visible)
        order = np.asarray(pose.order)
        key = (order.tobytes(), visible.tobytes(), only)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        runs: list[_Run] = []
        masks, clipped = set(), []
        for i in order.tolist():
            if not visible[i] or self._count[i] == 0 or (only is not None and i not in only):
                continue
            clip = None
            if i in self._clip_of:
                m = self._clip_of[i]
                if not visible[m] or self._count[m] == 0:
                    continue                     # nothing of the mask: the layer is hidden
                masks.add(m)
                clipped.append(i)
                clip = self._mask_slot[m]
            atlas, first, count = int(self._atlas_of[i]), int(self._first[i]), int(self._count[i])
            last = runs[-1] if runs else None
            if last and last.atlas == atlas and last.clip == clip and last.first + last.count == first:
                runs[-1] = _Run(atlas, clip, last.first, last.count + count)
            else:
                runs.append(_Run(atlas, clip, first, count))
        plan = _Plan(tuple(runs), tuple(sorted(masks)), tuple(clipped))
        if len(self._plans) > 256:            # orders come from a few head angles; bound anyway
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _clip_region(self, vertices: np.ndarray, clipped: Sequence[int]) -> tuple[int, int, int, int] | None:
        """GL viewport rectangle (x, y from the bottom, w, h) of the render target covering the
        clipped layers this frame: the only texels of the mask textures anyone reads."""
        lo = np.full(2, np.inf)
        hi = np.full(2, -np.inf)
        for i in clipped:
            a, b = self._ranges[i]
            if b > a:
                lo = np.minimum(lo, vertices[a:b].min(axis=0))
                hi = np.maximum(hi, vertices[a:b].max(axis=0))
        if not np.all(np.isfinite(lo)):
            return None
        s = self.supersample
        rw, rh = self.render_size
        (x0, y0), (x1, y1) = self.canvas_to_output(lo) * s, self.canvas_to_output(hi) * s
        gx0 = max(int(math.floor(x0)) - 2, 0)
        gx1 = min(int(math.ceil(x1)) + 2, rw)
        gy0 = max(rh - int(math.ceil(y1)) - 2, 0)     # rows count from the bottom in GL
        gy1 = min(rh - int(math.floor(y0)) + 2, rh)
        if gx1 <= gx0 or gy1 <= gy0:
            return None
        return (gx0, gy0, gx1 - gx0, gy1 - gy0)

    def _draw_masks(self, vertices: np.ndarray, plan: _Plan) -> int:
        if not plan.masks:
            return 0
        region = self._clip_region(vertices, plan.clipped)
        if region is None:                   # clipped layers are off-screen: nothing reads masks
            return 0
        mgl, ctx = self._mgl, self.ctx
        used = sorted({self._mask_slot[m][0] for m in plan.masks})
        for t in used:
            fbo = self._mask_fbos[t]
            fbo.color_mask = (True, True, True, True)
            fbo.use()
            fbo.clear(0.0, 0.0, 0.0, 0.0, viewport=region)
        ctx.enable(mgl.BLEND)
        ctx.blend_equation = mgl.MAX          # overlapping mask triangles keep the larger alpha
        ctx.blend_func = mgl.ONE, mgl.ONE
        for m in plan.masks:
            t, ch = self._mask_slot[m]
            fbo = self._mask_fbos[t]
            fbo.color_mask = self._channel_masks[ch]   # moderngl applies it on use()
            fbo.use()
            self.atlases[int(self._atlas_of[m])].use(0)
            self._mask_vao.render(mgl.TRIANGLES, vertices=int(self._count[m]), first=int(self._first[m]))
        for t in used:
            self._mask_fbos[t].color_mask = (True, True, True, True)
        ctx.blend_equation = mgl.FUNC_ADD
        return len(plan.masks)

    def _begin_scene(self) -> None:
        mgl, ctx = self._mgl, self.ctx
        self._scene_fbo.use()
        self._scene_fbo.clear(*self._clear_color)
        ctx.enable(mgl.BLEND)
        ctx.blend_equation = mgl.FUNC_ADD
        ctx.blend_func = mgl.ONE, mgl.ONE_MINUS_SRC_ALPHA   # premultiplied "over"

    def _draw_layers(self, plan: _Plan) -> None:
        mgl = self._mgl
        self._begin_scene()
        bound_atlas = bound_mask = None
        for run in plan.runs:
            if run.atlas != bound_atlas:
                self.atlases[run.atlas].use(0)
                bound_atlas = run.atlas
            if run.clip is None:
                self._layer_vao.render(mgl.TRIANGLES, vertices=run.count, first=run.first)
                continue
            t, ch = run.clip
            if t != bound_mask:
                self._mask_textures[t].use(1)
                bound_mask = t
            self._clipped_prog["u_mask_channel"].value = self._channel_vectors[ch]
            self._clipped_vao.render(mgl.TRIANGLES, vertices=run.count, first=run.first)

    def _resolve(self) -> None:
        if self._scene_fbo is not self._resolve_fbo:
            self.ctx.copy_framebuffer(self._resolve_fbo, self._scene_fbo)

    def _output_pass(self, target, *, flip: bool, unpremultiply: bool,
                     backdrop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> None:
        target.use()
        self.ctx.disable(self._mgl.BLEND)
        self._resolved.use(0)
        self._output_prog["u_flip_y"].value = flip
        self._output_prog["u_unpremultiply"].value = unpremultiply
        self._output_prog["u_backdrop"].value = backdrop
        self._fullscreen_vao.render(self._mgl.TRIANGLES, vertices=3)

    # ------------------------------------------------------------------------------ window

    def _follow_window(self) -> bool:
        """Adopt a pending window resize; False while the window has no area (minimised)."""
        if self._window is None:
            return True
        pending = self._window.pending_size
        if pending is not None:
            self._window.pending_size = None
            if pending[0] > 0 and pending[1] > 0 and pending != self._size:
                self._build_targets(pending)
        w, h = self._window.framebuffer_size()
        return w > 0 and h > 0

    def _present(self) -> None:
        if self._window is None:
            return
        self._present_to_screen()
        self._window.glfw.swap_buffers(self._window.handle)

    def _present_to_screen(self) -> None:
        screen = self.ctx.screen
        screen.viewport = (0, 0, *self._size)
        self._output_pass(screen, flip=False, unpremultiply=False, backdrop=self._window_backdrop)

    def screenshot(self) -> np.ndarray:
        """What the window shows: the last frame presented into the window's default framebuffer
        and read back (glReadPixels), (h, w, 4) uint8, top row first. Window mode only."""
        self._check_open()
        if self._window is None:
            raise RuntimeError("screenshot() needs a window; use read() offscreen")
        w, h = self._size
        with self._gl():
            self._present_to_screen()
            data = self.ctx.screen.read(viewport=(0, 0, w, h), components=4)
        return np.frombuffer(data, np.uint8).reshape(h, w, 4)[::-1].copy()

    def should_close(self) -> bool:
        """True once the user asked to close the window (never offscreen)."""
        return self._window is not None and bool(self._window.glfw.window_should_close(self._window.handle))

    def poll(self) -> None:
        """Process window events (key callbacks, resizes, close requests); no-op offscreen."""
        if self._window is not None:
            self._window.glfw.poll_events()

    def on_key(self, callback: KeyCallback) -> None:
        """Call ``callback(key, action, mods)`` (glfw constants, e.g. glfw.KEY_ESCAPE,
        glfw.PRESS) for each key event in the window; offscreen it is never called."""
        if self._window is not None:
            self._window.key_callbacks.append(callback)

    # ------------------------------------------------------------------------------ lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the renderer is closed")

    def close(self) -> None:
        """Release every GL object, the context and the window. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            with contextlib.suppress(Exception):
                with self._gl():
                    for obj in reversed(self._targets + self._gl_objects):
                        obj.release()
            with contextlib.suppress(Exception):
                ctx.release()
        self._targets, self._gl_objects = [], []
        if self._window is not None:
            self._window.close()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
        if (w, h) != tuple(size):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"output size must be two whole numbers (width, height), got {size!r}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"output size must be positive, got {w}x{h}")
    return w, h


def static_quads_baseline(rig, size: tuple[int, int] = (1024, 1024), **kwargs) -> np.ndarray:
    """One baseline frame (see `Renderer.draw_static_quads`) as straight-alpha RGBA."""
    with Renderer(rig, size, **kwargs) as renderer:
        renderer.draw_static_quads()
        return renderer.read()
