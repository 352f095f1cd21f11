"""The interactive physics tuner: the character in motion beside a Dear ImGui panel.

Two parts with one job each:

* ``TunerState``: what the panel edits, in plain Python: the physics of every chain group,
  pending edits, presets, reset, and the motion source. Edits reach the rig through
  ``Rig.set_chain_params`` (which rebuilds the springs, about 0.1 s on a 20-layer rig), so while
  a slider is being dragged they are applied at most every ``APPLY_INTERVAL`` seconds, and at
  once when it is let go.
* ``PhysicsWindow``: a glfw window with its own GL 3.3 context (moderngl). The character is drawn
  by the offscreen ``Renderer`` (its own context) and shown as a texture; Dear ImGui
  (imgui-bundle's OpenGL 3 renderer backend) draws the panel on top. Input goes to ImGui from
  the glfw callbacks here, so the panel works whichever glfw library the process loaded.

Motion sources: a built-in head and body sway, the standard shake motion looped, a mouse drag
of the head (the head follows the cursor and swings back when let go), still, or (with a frame
source and a ``TrackingDriver``) the webcam.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from runtime.drawing.renderer import start_glfw
from seethrough_core.character import InputError

APPLY_INTERVAL = 0.3          # s between rebuilds of the springs while a slider is dragged
PANEL_WIDTH = 380             # window px
MAX_FRAME_DT = 0.25           # s; a longer stall (window dragged) counts as this much
DRAG_RETURN_S = 0.15          # s; time constant of the head's return after a drag
MOTIONS = ("sway", "shake test", "drag head", "still")
CAMERA = "camera"

# (name, label, min, max, format, help) of each ChainParams field on the panel.
SLIDERS = (
    ("stiffness", "stiffness", 0.0, 2.0, "%.2f", "pull back toward the drawn shape"),
    ("damping", "damping", 0.0, 20.0, "%.1f /s", "how fast a swing dies down"),
    ("gravity", "gravity", 0.0, 3000.0, "%.0f px/s2", "for a head of 150 px radius"),
    ("wind", "wind", -2000.0, 2000.0, "%.0f px/s2", "steady wind toward the screen's right"),
    ("wind_gust", "gusts", 0.0, 3000.0, "%.0f px/s2", "gusts add 0 .. this on top of the wind"),
    ("inertia", "inertia", 0.0, 1.0, "%.2f", "0: moves rigidly with the head .. 1: lags fully"),
    ("root_stiffness", "root stiffness", 0.0, 3.0, "%.2f", "stiffness multiplier at the root"),
    ("tip_stiffness", "tip stiffness", 0.0, 3.0, "%.2f", "... and at the tip (soft tips swing)"),
)


class SwayDriver:
    """The built-in motion: the head sways (turn, nod, tilt) and the body sways along,
    at incommensurate rates so the pattern never visibly repeats."""

    def __init__(self, head_deg: float = 15.0, body_deg: float = 5.0, speed: float = 1.0):
        self.head_deg, self.body_deg, self.speed = head_deg, body_deg, speed

    def sample(self, t: float) -> dict[str, float]:
        s = t * self.speed * 2.0 * math.pi
        h, b = self.head_deg, self.body_deg
        return {"ParamAngleX": h * math.sin(0.35 * s),
                "ParamAngleY": 0.4 * h * math.sin(0.53 * s + 1.0),
                "ParamAngleZ": 0.3 * h * math.sin(0.27 * s + 2.0),
                "ParamBodyAngleX": b * math.sin(0.21 * s + 0.5),
                "ParamBodyAngleZ": 0.6 * b * math.sin(0.31 * s + 1.5)}


class TunerState:
    """The panel's model: per-group physics, pending edits and the motion source."""

    def __init__(self, rig, camera: bool = False):
        self.rig = rig
        self.motions = MOTIONS + ((CAMERA,) if camera else ())
        self.groups = rig.chain_groups()
        self.original = {g: rig.chain_params(g) for g in self.groups}
        self.values = dict(self.original)
        self.selected = self.groups[0] if self.groups else ""
        self.motion = CAMERA if camera else "sway"
        self.sway = SwayDriver()
        self.pending: set[str] = set()
        self.applied = 0              # how many times the springs were rebuilt
        self.status = ""
        self._last_apply = -math.inf

    def set_value(self, group: str, name: str, value: float) -> None:
        """One parameter of one group; a value ChainParams refuses leaves it unchanged."""
        self._check_group(group)
        try:
            params = replace(self.values[group], **{name: float(value)})
        except InputError as exc:
            self.status = str(exc)
            return
        except TypeError:
            raise KeyError(f"no spring parameter {name!r}") from None
        if params != self.values[group]:
            self.values[group] = params
            self.pending.add(group)

    def apply_preset(self, group: str, preset: str) -> None:
        from rig.springs import PRESETS
        self._check_group(group)
        self.values[group] = PRESETS[preset]
        self.pending.add(group)
        self.status = f"{group}: preset {preset}"

    def reset(self, group: str | None = None) -> None:
        """Back to the values the tuner started with (one group, or all)."""
        for g in [group] if group else self.groups:
            self._check_group(g)
            if self.values[g] != self.original[g]:
                self.values[g] = self.original[g]
                self.pending.add(g)
        self.status = f"{group or 'all groups'}: reset"

    def apply(self, now: float = 0.0, editing: bool = False) -> bool:
        """Push pending edits into the rig; while ``editing`` (a slider held), at most every
        APPLY_INTERVAL seconds. True when the springs were rebuilt."""
        if not self.pending or (editing and now - self._last_apply < APPLY_INTERVAL):
            return False
        self.rig.set_chain_params({g: self.values[g] for g in sorted(self.pending)})
        self.pending.clear()
        self.applied += 1
        self._last_apply = now
        return True

    def _check_group(self, group: str) -> None:
        if group not in self.values:
            raise KeyError(f"no chain group {group!r}; this rig has {', '.join(self.groups)}")


# ------------------------------------------------------------------------------ the window

_BLIT_VERT = """
#version 330
uniform vec4 u_rect;            // left, top, right, bottom in clip space
out vec2 v_uv;
void main() {
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);      // (0,0) top-left
    v_uv = corner;                                               // texture row 0 = image top
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, corner), 0.0, 1.0);
}
"""
_BLIT_FRAG = """
#version 330
uniform sampler2D u_image;
in vec2 v_uv;
out vec4 f_color;
void main() { f_color = vec4(texture(u_image, v_uv).rgb, 1.0); }
"""


def _key_map(glfw, imgui) -> dict[int, int]:
    """glfw key -> ImGui key for the keys the panel's widgets use (text entry, navigation)."""
    k = imgui.Key
    names = {"TAB": k.tab, "LEFT": k.left_arrow, "RIGHT": k.right_arrow, "UP": k.up_arrow,
             "DOWN": k.down_arrow, "PAGE_UP": k.page_up, "PAGE_DOWN": k.page_down,
             "HOME": k.home, "END": k.end, "INSERT": k.insert, "DELETE": k.delete,
             "BACKSPACE": k.backspace, "SPACE": k.space, "ENTER": k.enter, "ESCAPE": k.escape,
             "KP_ENTER": k.keypad_enter, "A": k.a, "C": k.c, "V": k.v, "X": k.x, "Y": k.y,
             "Z": k.z, "LEFT_CONTROL": k.left_ctrl, "RIGHT_CONTROL": k.right_ctrl,
             "LEFT_SHIFT": k.left_shift, "RIGHT_SHIFT": k.right_shift,
             "LEFT_ALT": k.left_alt, "RIGHT_ALT": k.right_alt}
    return {getattr(glfw, "KEY_" + name): key for name, key in names.items()}


class PhysicsWindow:
    """The tuner window. ``run(frames, duration)`` until closed (Esc or the close button);
    ``frame()`` draws one frame; ``state`` is the panel's TunerState.

    ``camera``: an optional (frame source, TrackingDriver) pair (``runtime.drivers.capture``,
    ``runtime.drivers.tracking_driver``); the window reads one frame per frame from it in camera mode.
    The caller keeps ownership and closes them.
    """

    def __init__(self, rig, rig_path: Path | None = None, export_path: Path | None = None,
                 size: tuple[int, int] = (1280, 800), background: str = "#2b2b30",
                 quality: str = "normal", title: str = "seethrough-rig physics",
                 camera: tuple | None = None):
        from imgui_bundle import imgui        # first: it points the glfw module at its library
        import glfw
        import moderngl

        from runtime.drawing.renderer import Renderer, parse_background

        self.rig = rig
        self.state = TunerState(rig, camera=camera is not None)
        self.camera = camera
        self.rig_path = rig_path
        self.export_path = export_path or (rig_path.with_suffix(".physics.json")
                                           if rig_path else None)
        self.widget_rects: dict[str, tuple[float, float, float, float]] = {}
        self.frames = 0
        self.t = 0.0
        self.fps = 0.0
        self._imgui, self._glfw = imgui, glfw
        self._closed = False
        self._handle = None
        self._renderer = None
        self._imgui_ctx = None
        self._shot: np.ndarray | None = None
        self._capture = False
        self._last_time: float | None = None
        self._tracked: dict[str, float] = {}   # the last parameters from the camera
        self._drag = np.zeros(2)           # (ParamAngleX, ParamAngleY) from the mouse
        self._dragging = False
        self._press: tuple[float, float] | None = None
        self._cursor = (0.0, 0.0)
        self._clear = parse_background(background)[:3]
        w, h = int(size[0]), int(size[1])
        if w < PANEL_WIDTH + 160 or h < 300:
            raise InputError(f"--window-size {w}x{h}: give at least {PANEL_WIDTH + 160}x300")

        start_glfw(glfw, "cannot open a window: no display is available; set DISPLAY (or "
                         "start a virtual one: `Xvfb :99 & export DISPLAY=:99`), or use "
                         "--shake-test / --no-window")
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", glfw.GLFWError)
            try:
                self._handle = glfw.create_window(w, h, title, None, None)
            except glfw.GLFWError:
                self._handle = None
        if not self._handle:
            self.close()
            raise InputError("cannot open a window with OpenGL 3.3: update the graphics driver "
                             "(Mesa 20 or newer), or use --shake-test / --no-window")
        try:
            glfw.make_context_current(self._handle)
            glfw.swap_interval(1)
            self.ctx = moderngl.create_context(require=330)
            self._blit = self.ctx.program(vertex_shader=_BLIT_VERT, fragment_shader=_BLIT_FRAG)
            self._blit_vao = self.ctx.vertex_array(self._blit, [])
            # The character renders offscreen in its own context: ours must not be current.
            glfw.make_context_current(None)
            self._view_size = (w - PANEL_WIDTH, h)
            self._renderer = Renderer(rig, size=self._view_size, background=background,
                                      quality=quality, fit="character", margin=0.08)
            self._image = np.zeros((h, w - PANEL_WIDTH, 4), np.uint8)
            glfw.make_context_current(self._handle)
            self._texture = self.ctx.texture(self._view_size, 4)
            self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._imgui_ctx = imgui.create_context()
            io = imgui.get_io()
            io.set_ini_filename("")           # never write imgui.ini into the user's folder
            imgui.style_colors_dark()
            imgui.backends.opengl3_init("#version 330")
            self._keys = _key_map(glfw, imgui)
            glfw.set_cursor_pos_callback(self._handle, self._on_cursor)
            glfw.set_mouse_button_callback(self._handle, self._on_mouse_button)
            glfw.set_scroll_callback(self._handle, self._on_scroll)
            glfw.set_key_callback(self._handle, self._on_key)
            glfw.set_char_callback(self._handle, self._on_char)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------ input

    def _on_cursor(self, _handle, x: float, y: float) -> None:
        self._cursor = (x, y)
        self._imgui.get_io().add_mouse_pos_event(x, y)

    def _on_mouse_button(self, _handle, button: int, action: int, _mods: int) -> None:
        glfw = self._glfw
        if button < 5:
            self._imgui.get_io().add_mouse_button_event(button, action == glfw.PRESS)
        if button == glfw.MOUSE_BUTTON_LEFT:
            if action == glfw.PRESS:
                self._press = self._cursor
            else:
                self._dragging = False

    def _on_scroll(self, _handle, dx: float, dy: float) -> None:
        self._imgui.get_io().add_mouse_wheel_event(dx, dy)

    def _on_key(self, _handle, key: int, _scancode: int, action: int, mods: int) -> None:
        glfw, imgui = self._glfw, self._imgui
        io = imgui.get_io()
        io.add_key_event(imgui.Key.mod_ctrl, bool(mods & glfw.MOD_CONTROL))
        io.add_key_event(imgui.Key.mod_shift, bool(mods & glfw.MOD_SHIFT))
        io.add_key_event(imgui.Key.mod_alt, bool(mods & glfw.MOD_ALT))
        if key in self._keys:
            io.add_key_event(self._keys[key], action != glfw.RELEASE)
        if key == glfw.KEY_ESCAPE and action == glfw.PRESS and not io.want_capture_keyboard:
            glfw.set_window_should_close(self._handle, True)

    def _on_char(self, _handle, codepoint: int) -> None:
        self._imgui.get_io().add_input_character(codepoint)

    def click(self, widget: str) -> None:
        """Click a panel widget by its name in ``widget_rects`` (e.g. 'preset:heavy'), through
        the same input path as the mouse: move there, press, draw a frame, release, draw."""
        x0, y0, x1, y1 = self.widget_rects[widget]
        x, y = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        self._on_cursor(self._handle, x, y)
        self.frame()
        self._on_mouse_button(self._handle, self._glfw.MOUSE_BUTTON_LEFT, self._glfw.PRESS, 0)
        self.frame()
        self._on_mouse_button(self._handle, self._glfw.MOUSE_BUTTON_LEFT, self._glfw.RELEASE, 0)
        self.frame()

    # ------------------------------------------------------------------------------ frames

    def should_close(self) -> bool:
        return self._closed or bool(self._glfw.window_should_close(self._handle))

    def run(self, frames: int | None = None, duration: float | None = None) -> None:
        """Draw frames until the window is closed, or ``frames`` frames / ``duration`` s."""
        start = time.perf_counter()
        count = 0
        while not self.should_close():
            if frames is not None and count >= frames:
                break
            if duration is not None and time.perf_counter() - start >= duration:
                break
            self.frame()
            count += 1

    def frame(self, dt: float | None = None) -> None:
        """Poll input, build the panel, apply edits, pose and draw one frame, present it."""
        glfw, imgui = self._glfw, self._imgui
        now = time.perf_counter()
        if dt is None:
            dt = 0.0 if self._last_time is None else min(now - self._last_time, MAX_FRAME_DT)
        self._last_time = now
        if dt > 0:
            self.fps = 0.9 * self.fps + 0.1 / dt if self.fps else 1.0 / dt
        self.t += dt
        glfw.poll_events()
        glfw.make_context_current(self._handle)
        win_w, win_h = glfw.get_window_size(self._handle)
        fb_w, fb_h = glfw.get_framebuffer_size(self._handle)
        if win_w <= 0 or win_h <= 0 or fb_w <= 0 or fb_h <= 0:
            return                                    # minimised
        io = imgui.get_io()
        io.display_size = (float(win_w), float(win_h))
        io.display_framebuffer_scale = (fb_w / win_w, fb_h / win_h)
        io.delta_time = max(dt, 1e-4)
        self._start_drag(win_w)
        imgui.backends.opengl3_new_frame()
        imgui.new_frame()
        self._panel(win_w, win_h)
        imgui.render()
        self.state.apply(now, editing=imgui.is_any_item_active())

        pose = self.rig.pose(self._motion_params(dt), dt)
        glfw.make_context_current(None)
        self._renderer.render(pose, out=self._image)
        glfw.make_context_current(self._handle)
        self._texture.write(self._image)

        ctx = self.ctx
        ctx.screen.use()
        ctx.viewport = (0, 0, fb_w, fb_h)
        ctx.clear(*self._clear, 1.0)
        left, top, right, bottom = self._view_rect(win_w, win_h)
        sx, sy = fb_w / win_w, fb_h / win_h
        self._blit["u_rect"].value = (2.0 * left * sx / fb_w - 1.0, 1.0 - 2.0 * top * sy / fb_h,
                                      2.0 * right * sx / fb_w - 1.0, 1.0 - 2.0 * bottom * sy / fb_h)
        self._texture.use(0)
        self._blit_vao.render(self._mgl_strip(), vertices=4)
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())
        if self._capture:
            data = ctx.screen.read(viewport=(0, 0, fb_w, fb_h), components=4)
            self._shot = np.frombuffer(data, np.uint8).reshape(fb_h, fb_w, 4)[::-1].copy()
            self._capture = False
        glfw.swap_buffers(self._handle)
        self.frames += 1

    def screenshot(self) -> np.ndarray:
        """Draw one frame and return what the window shows, (h, w, 4) uint8, top row first."""
        self._capture = True
        self.frame()
        return self._shot

    def character_image(self) -> np.ndarray:
        """The last character frame the renderer drew (before it was scaled into the view)."""
        return self._image.copy()

    def view_rect(self) -> tuple[float, float, float, float]:
        """Where the character frame sits in the window (left, top, right, bottom), window px."""
        w, h = self._glfw.get_window_size(self._handle)
        return self._view_rect(w, h)

    def _mgl_strip(self) -> int:
        import moderngl
        return moderngl.TRIANGLE_STRIP

    def _view_rect(self, win_w: int, win_h: int) -> tuple[float, float, float, float]:
        """The character frame fitted (aspect kept) into the area left of the panel."""
        area_w, area_h = max(win_w - PANEL_WIDTH, 1), max(win_h, 1)
        iw, ih = self._view_size
        scale = min(area_w / iw, area_h / ih)
        w, h = iw * scale, ih * scale
        left, top = 0.5 * (area_w - w), 0.5 * (area_h - h)
        return left, top, left + w, top + h

    # ------------------------------------------------------------------------------ motion

    def _start_drag(self, win_w: int) -> None:
        """A left press over the character (not over the panel) starts a head drag."""
        if self._press is None:
            return
        x, _ = self._press
        self._press = None
        if self.state.motion == "drag head" and x < win_w - PANEL_WIDTH \
                and not self._imgui.get_io().want_capture_mouse:
            self._dragging = True

    def _head_on_screen(self) -> tuple[np.ndarray, float]:
        """The head's centre and radius in window px."""
        anchors = self.rig.anchors
        left, top, right, _ = self.view_rect()
        scale = (right - left) / self._view_size[0]
        centre = self._renderer.canvas_to_output(np.asarray(anchors.head_center, np.float64))
        radius = anchors.head_radius * self._renderer.view[0]
        return centre * scale + (left, top), radius * scale

    def _motion_params(self, dt: float) -> dict[str, float]:
        motion = self.state.motion
        if motion == "sway":
            return self.state.sway.sample(self.t)
        if motion == "shake test":
            from benchmarks.shake import ShakeMotion
            shake = ShakeMotion()
            return shake.sample(self.t % shake.duration)
        if motion == CAMERA and self.camera is not None:
            source, driver = self.camera
            captured = source.read()
            if captured is not None:
                self._tracked = driver.update(captured.image, captured.t)
            return dict(self._tracked)
        if motion == "drag head":
            if self._dragging:
                centre, radius = self._head_on_screen()
                offset = (np.array(self._cursor) - centre) / max(1.5 * radius, 1.0)
                self._drag = 30.0 * np.clip(offset * (1.0, -1.0), -1.0, 1.0)
            else:
                self._drag *= math.exp(-dt / DRAG_RETURN_S)
            x, y = self._drag
            return {"ParamAngleX": x, "ParamAngleY": y, "ParamBodyAngleX": x / 3.0,
                    "ParamAngleZ": 0.0, "ParamBodyAngleZ": 0.0}
        return {"ParamAngleX": 0.0, "ParamAngleY": 0.0, "ParamAngleZ": 0.0,
                "ParamBodyAngleX": 0.0, "ParamBodyAngleZ": 0.0}

    # ------------------------------------------------------------------------------ the panel

    def _remember(self, name: str) -> None:
        imgui = self._imgui
        (x0, y0), (x1, y1) = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        self.widget_rects[name] = (x0, y0, x1, y1)

    def _panel(self, win_w: int, win_h: int) -> None:
        from rig.springs import PRESETS
        imgui, state = self._imgui, self.state
        imgui.set_next_window_pos((win_w - PANEL_WIDTH, 0))
        imgui.set_next_window_size((PANEL_WIDTH, win_h))
        flags = (imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize
                 | imgui.WindowFlags_.no_collapse)
        imgui.begin("Physics", None, flags)
        name = self.rig_path.name if self.rig_path else "rig"
        imgui.text(f"{name}   {self.fps:4.0f} fps")

        imgui.separator_text("Motion")
        for i, motion in enumerate(state.motions):
            if i:
                imgui.same_line()
            if imgui.radio_button(motion, state.motion == motion):
                state.motion = motion
            self._remember(f"motion:{motion}")
        if state.motion == "sway":
            sway = state.sway
            _, sway.head_deg = imgui.slider_float("head sway", sway.head_deg, 0.0, 30.0, "%.0f deg")
            _, sway.body_deg = imgui.slider_float("body sway", sway.body_deg, 0.0, 10.0, "%.0f deg")
            _, sway.speed = imgui.slider_float("speed", sway.speed, 0.2, 3.0, "%.1fx")
        elif state.motion == CAMERA and self.camera is not None:
            found = getattr(self.camera[1], "face_found", False)
            imgui.text(f"{self.camera[0].name}: " + ("face found" if found else "no face"))
        elif state.motion == "drag head":
            imgui.text_wrapped("Drag the character's head with the left mouse button; let go "
                               "and it swings back.")

        imgui.separator_text("Chain group")
        index = state.groups.index(state.selected)
        changed, index = imgui.combo("group", index, state.groups)
        if changed:
            state.selected = state.groups[index]
        group = state.selected
        params = state.values[group]
        for field, label, lo, hi, fmt, help_text in SLIDERS:
            changed, value = imgui.slider_float(label, getattr(params, field), lo, hi, fmt)
            imgui.set_item_tooltip(help_text)
            self._remember(f"slider:{field}")
            if changed:
                state.set_value(group, field, value)

        imgui.separator_text("Presets")
        for i, preset in enumerate(PRESETS):
            if i:
                imgui.same_line()
            if imgui.button(preset):
                state.apply_preset(group, preset)
            self._remember(f"preset:{preset}")
        if imgui.button("reset group"):
            state.reset(group)
        self._remember("reset:group")
        imgui.same_line()
        if imgui.button("reset all"):
            state.reset()
        self._remember("reset:all")

        imgui.separator_text("Keep")
        if self.rig_path is not None:
            if imgui.button(f"save into {self.rig_path.name}"):
                self._save()
            self._remember("save")
        if self.export_path is not None:
            if imgui.button(f"export {self.export_path.name}"):
                self._export()
            self._remember("export")
        if state.status:
            imgui.text_wrapped(state.status)
        imgui.end()

    def _save(self) -> None:
        from rig.rigfile import save_rig
        self.state.apply()
        try:
            save_rig(self.rig, self.rig_path)
        except (InputError, OSError) as exc:
            self.state.status = f"not saved: {exc}"
            return
        self.state.status = f"saved into {self.rig_path}"

    def _export(self) -> None:
        from rig.physics_file import export_physics, tuning
        self.state.apply()
        try:
            export_physics(self.export_path, tuning(self.rig))
        except InputError as exc:
            self.state.status = f"not exported: {exc}"
            return
        self.state.status = f"exported {self.export_path}"

    # ------------------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Apply pending edits, then release ImGui, GL objects, the renderer and the window."""
        if self._closed:
            return
        self._closed = True
        glfw, imgui = self._glfw, self._imgui
        self.state.apply()
        if self._renderer is not None:
            glfw.make_context_current(None)
            self._renderer.close()
        if self._handle:
            glfw.make_context_current(self._handle)
            if self._imgui_ctx is not None:
                imgui.backends.opengl3_shutdown()
                imgui.destroy_context(self._imgui_ctx)
            if getattr(self, "ctx", None) is not None:
                self.ctx.release()
            glfw.make_context_current(None)
            glfw.destroy_window(self._handle)
            self._handle = None
        from runtime.drawing import renderer as renderer_module
        if not renderer_module._Window.open_windows:
            glfw.terminate()

    def __enter__(self) -> "PhysicsWindow":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
