"""How a puppet holds up in motion: a fixed set of held poses, rendered and measured.

The decomposition metrics (``eval-decompose``) judge the rest pose only; a puppet cut from one
picture can match its input perfectly at rest and still tear, show painted blocks or keep its eyes
open once it moves. Here both puppets of a layered PSD (the rig of its true layers, and the rig
of its flattened picture decomposed again) are posed through the same poses and compared:

- ``psnr``: over the head crop (a square 1.6x the face layer's larger side, centred on it),
  composited on light grey, the single-image puppet against the true-layer puppet;
  ``static_psnr`` the same for a picture that does not move (the input itself), the floor any
  motion must beat;
- ``cracks``: pixels that a 5 px morphological closing of the ``alpha > 0.5`` mask fills, beyond
  those it fills at rest, as a share of the face box's area (a tear between two layers is such a
  gap); ``holes`` the same for enclosed background regions of any size;
- the closed-eye check, over the iris pixels visible at rest (RGB in 0..1): ``iris_unchanged``
  is the share whose colour moved by less than 0.08, ``iris_skin`` the share within 0.15 of the
  face's median skin colour;
- ``face_travel``: how far the face layer's centre moved, as a share of the face's width (a
  puppet must not pass these checks by moving less).

Poses are held until the springs settle. Everything is rendered at the canvas size, 1:1.
Pure measuring functions take images; only `render_poses` touches OpenGL.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GREY = 0.85                 # the light grey the head crop is composited on
CROP_SCALE = 1.6            # head crop side / face layer's larger side
CRACK_KERNEL = 5            # px: gaps a closing of this size fills count as cracks
IRIS_MOVED = 0.08           # RGB distance (0..1) under which an iris pixel "did not change"
SKIN_NEAR = 0.15            # RGB distance (0..1) within which a pixel shows the skin colour
SETTLE_SECONDS = 2.5        # hold each pose this long before rendering it
SETTLE_FPS = 60.0


@dataclass(frozen=True)
class PoseDef:
    name: str
    label: str
    params: dict


# The measured poses (the set): each moves one thing away from rest.
EVAL_POSES: tuple[PoseDef, ...] = (
    PoseDef("rest", "rest", {}),
    PoseDef("yaw+25", "turn right 25", {"ParamAngleX": 25.0}),
    PoseDef("yaw-25", "turn left 25", {"ParamAngleX": -25.0}),
    PoseDef("pitch+20", "look up 20", {"ParamAngleY": 20.0}),
    PoseDef("roll15", "tilt 15", {"ParamAngleZ": 15.0}),
    PoseDef("eyes_closed", "eyes closed", {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0}),
    PoseDef("mouth_open", "mouth open", {"ParamMouthOpenY": 1.0}),
    PoseDef("gaze_right", "gaze right", {"ParamEyeBallX": 1.0}),
)
# Poses whose head moves: each must beat a static picture by a margin. The headline figure
# (mean_moving_psnr) averages every pose but rest.
MOVING = ("yaw+25", "yaw-25", "pitch+20", "roll15")

# The pose sheet: rest, turns, tilt, nod, blink, mouth, gaze, in reading order.
SHEET_POSES: tuple[PoseDef, ...] = (
    PoseDef("rest", "rest", {}),
    PoseDef("yaw-25", "turn left 25", {"ParamAngleX": -25.0}),
    PoseDef("yaw+25", "turn right 25", {"ParamAngleX": 25.0}),
    PoseDef("pitch+20", "look up 20", {"ParamAngleY": 20.0}),
    PoseDef("pitch-20", "nod down 20", {"ParamAngleY": -20.0}),
    PoseDef("roll15", "tilt 15", {"ParamAngleZ": 15.0}),
    PoseDef("eyes_closed", "blink", {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0}),
    PoseDef("mouth_open", "mouth open", {"ParamMouthOpenY": 1.0}),
    PoseDef("gaze_right", "gaze right", {"ParamEyeBallX": 1.0, "ParamEyeBallY": 0.3}),
)


# ------------------------------------------------------------------------------ rendering

def settle(rig, params: dict, seconds: float = SETTLE_SECONDS, fps: float = SETTLE_FPS):
    """Hold ``params`` from rest until the springs settle; the last Pose."""
    return rig.hold(params, 1 + max(1, int(round(seconds * fps))), 1.0 / fps)


def render_poses(rig, poses, *, quality: str = "normal",
                 layers_of: dict[str, list[int]] | None = None,
                 subsets_for: tuple[str, ...] = ("rest",)) -> dict:
    """{pose name: (H, W, 4) float32 straight RGBA in 0..1 at the canvas size}; with
    ``layers_of`` ({key: layer indices}) also {(pose name, key): that subset alone} for the
    poses named in ``subsets_for``."""
    from runtime.drawing.renderer import Renderer
    out = {}
    with Renderer(rig, size=tuple(rig.size), background="transparent", quality=quality,
                  fit="canvas", margin=0.0) as renderer:
        for p in poses:
            pose = settle(rig, p.params)
            out[p.name] = renderer.render(pose).astype(np.float32) / 255.0
            for key, subset in (layers_of or {}).items() if p.name in subsets_for else ():
                out[(p.name, key)] = renderer.render(pose, layers=subset).astype(np.float32) / 255.0
    return out


# ------------------------------------------------------------------------------ measures

def face_box(rig) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the rig's face layers at rest, or None without a face."""
    boxes = []
    for l in rig.spec.layers:
        if l.tag == "face" and l.variant is None and l.mesh.n_vertices:
            a = l.texture[..., 3] > 127
            if a.any():
                ys, xs = np.nonzero(a)
                ox, oy = l.offset
                boxes.append((xs.min() + ox, ys.min() + oy, xs.max() + ox + 1, ys.max() + oy + 1))
    if not boxes:
        return None
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def head_crop_box(face: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A square 1.6x the face box's larger side, centred on it (may reach off the canvas)."""
    x0, y0, x1, y1 = face
    side = int(round(CROP_SCALE * max(x1 - x0, y1 - y0)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    return left, top, left + side, top + side


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The box out of an (H, W, C) image, transparent (zeros) where it leaves the canvas."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def on_grey(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4]
    return rgba[..., :3] * a + GREY * (1.0 - a)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse <= 1e-10 else float(min(99.0, 10.0 * np.log10(1.0 / mse)))


def crack_pixels(rgba: np.ndarray) -> np.ndarray:
    """Pixels a 5 px closing of the ``alpha > 0.5`` mask fills (bool (H, W))."""
    mask = (rgba[..., 3] > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CRACK_KERNEL, CRACK_KERNEL))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_CONSTANT,
                              borderValue=0)
    return (closed > 0) & (mask == 0)


def hole_pixels(rgba: np.ndarray) -> np.ndarray:
    """Background pixels enclosed by the figure (not connected to the canvas border)."""
    from scipy import ndimage
    mask = rgba[..., 3] > 0.5
    return ndimage.binary_fill_holes(mask) & ~mask


def new_share(posed: np.ndarray, rest: np.ndarray, face_area: float) -> float:
    """How many more pixels ``posed`` (bool) has than ``rest``, as a share of the face area."""
    return max(0.0, float(posed.sum()) - float(rest.sum())) / max(face_area, 1.0)


def visible_iris(full: np.ndarray, without_iris: np.ndarray, iris_alone: np.ndarray) -> np.ndarray:
    """Iris pixels visible at rest: drawn by an iris layer and changing the frame there."""
    differs = np.abs(full[..., :3] * full[..., 3:] - without_iris[..., :3] * without_iris[..., 3:]
                     ).max(axis=-1) > 0.02
    return (iris_alone[..., 3] > 0.5) & differs


def skin_colour(rig) -> np.ndarray:
    """The face layer's median opaque colour, RGB 0..1."""
    pixels = [l.texture[l.texture[..., 3] > 200, :3] for l in rig.spec.layers
              if l.tag == "face" and l.variant is None]
    pixels = [p for p in pixels if len(p)]
    if not pixels:
        return np.array([1.0, 0.85, 0.75])
    return np.median(np.concatenate(pixels), axis=0).astype(np.float32) / 255.0


def eye_check(rest: np.ndarray, closed: np.ndarray, iris: np.ndarray,
              skin: np.ndarray) -> dict:
    """Share of the rest-visible iris pixels unchanged with the eyes closed, and showing skin."""
    n = int(iris.sum())
    if n == 0:
        return {"iris_pixels": 0, "iris_unchanged": None, "iris_skin": None}
    a = on_grey(rest)[iris]
    b = on_grey(closed)[iris]
    moved = np.linalg.norm(a - b, axis=-1)
    near_skin = np.linalg.norm(b - skin[None, :], axis=-1)
    return {"iris_pixels": n, "iris_unchanged": round(float((moved < IRIS_MOVED).mean()), 4),
            "iris_skin": round(float((near_skin < SKIN_NEAR).mean()), 4)}


def face_travel(rig, params: dict) -> float:
    """Displacement of the face layers' vertex centroid, as a share of the face's width."""
    faces = [i for i, l in enumerate(rig.spec.layers) if l.tag == "face" and l.variant is None
             and l.mesh.n_vertices]
    box = face_box(rig)
    if not faces or box is None:
        return 0.0
    rest = settle(rig, {}, seconds=0.0)
    c0 = np.concatenate([rest.layer_vertices(i) for i in faces]).mean(axis=0)
    posed = settle(rig, params, seconds=0.0)
    c1 = np.concatenate([posed.layer_vertices(i) for i in faces]).mean(axis=0)
    return float(np.linalg.norm(c1 - c0) / max(box[2] - box[0], 1))


def iris_layers(rig) -> list[int]:
    return [i for i, l in enumerate(rig.spec.layers) if l.tag in ("irides",) and l.variant is None]


def all_but(rig, drop: list[int]) -> list[int]:
    return [i for i in range(rig.layer_count) if i not in set(drop)]


# ------------------------------------------------------------------------------ evaluations

def puppet_checks(rig, frames: dict, poses=EVAL_POSES) -> dict:
    """The checks that need no ground truth, per pose, from ``render_poses(rig, poses,
    layers_of=iris_subsets(rig))``."""
    box = face_box(rig)
    face_area = float((box[2] - box[0]) * (box[3] - box[1])) if box else 1.0
    rest = frames["rest"]
    rest_cracks, rest_holes = crack_pixels(rest), hole_pixels(rest)
    iris = visible_iris(rest, frames[("rest", "no_iris")], frames[("rest", "iris")]) \
        if ("rest", "iris") in frames else np.zeros(rest.shape[:2], bool)
    skin = skin_colour(rig)
    out = {}
    for p in poses:
        img = frames[p.name]
        entry = {"cracks": round(new_share(crack_pixels(img), rest_cracks, face_area), 5),
                 "holes": round(new_share(hole_pixels(img), rest_holes, face_area), 5)}
        if p.name == "eyes_closed":
            entry.update(eye_check(rest, img, iris, skin))
        if p.name in MOVING:
            entry["face_travel"] = round(face_travel(rig, p.params), 4)
        out[p.name] = entry
    return out


def iris_subsets(rig) -> dict[str, list[int]]:
    irides = iris_layers(rig)
    return {"iris": irides, "no_iris": all_but(rig, irides)} if irides else {}


def evaluate_puppet(rig, image: np.ndarray | None = None, poses=EVAL_POSES,
                    quality: str = "normal") -> dict:
    """A plain illustration's puppet: the checks that need no ground truth, the layer inventory
    (hair layers, chains) and, given the input ``image`` (H, W, 4) uint8, how well the rest
    frame reproduces it (``rest_psnr`` over the whole canvas on grey, ``rest_head_psnr`` over
    the head crop)."""
    frames = render_poses(rig, poses, quality=quality, layers_of=iris_subsets(rig))
    checks = puppet_checks(rig, frames, poses)
    summary = summarise(checks, rig)
    if image is not None:
        summary.update(rest_fidelity(frames["rest"], image, face_box(rig)))
    return {"poses": checks, "summary": summary}


def rest_fidelity(rest: np.ndarray, image: np.ndarray, box) -> dict:
    """PSNR of the rest frame against the input picture. An opaque input (a plain background)
    is compared with the frame laid over that background's colour (the median of the input
    where the puppet draws nothing); an input with transparency, both on light grey."""
    ref = image.astype(np.float32) / 255.0
    if ref.shape[-1] == 4 and float(ref[..., 3].min()) > 0.999:
        empty = rest[..., 3] < 0.02
        bg = np.median(ref[empty, :3], axis=0) if empty.any() else np.full(3, GREY, np.float32)
        a = rest[..., 3:4]
        frame = rest[..., :3] * a + bg * (1.0 - a)
        reference = ref[..., :3]
    else:
        frame, reference = on_grey(rest), on_grey(ref)
    out = {"rest_psnr": round(psnr(frame, reference), 2)}
    if box is not None:
        cbox = head_crop_box(box)
        out["rest_head_psnr"] = round(psnr(crop(frame, cbox), crop(reference, cbox)), 2)
    return out


def compare_puppets(truth_rig, single_rig, poses=EVAL_POSES, quality: str = "normal",
                    image: np.ndarray | None = None) -> dict:
    """The single-image puppet against the puppet of the true layers, pose by pose; with the
    flattened ``image`` (H, W, 4) uint8, also how well its rest frame reproduces it."""
    truth = render_poses(truth_rig, poses, quality=quality)
    single = render_poses(single_rig, poses, quality=quality, layers_of=iris_subsets(single_rig))
    box = face_box(truth_rig)
    if box is None:
        from seethrough_core.character import InputError
        raise InputError("the layered file has no face layer: the head crop needs one")
    cbox = head_crop_box(box)
    checks = puppet_checks(single_rig, single, poses)
    static = on_grey(crop(truth["rest"], cbox))
    for p in poses:
        t = on_grey(crop(truth[p.name], cbox))
        checks[p.name]["psnr"] = round(psnr(on_grey(crop(single[p.name], cbox)), t), 2)
        checks[p.name]["static_psnr"] = round(psnr(static, t), 2)
    summary = summarise(checks, single_rig)
    moving = [checks[p.name]["psnr"] for p in poses if p.name != "rest"]
    summary["mean_moving_psnr"] = round(float(np.mean(moving)), 2) if moving else None
    if image is not None:
        summary.update(rest_fidelity(single["rest"], image, box))
    return {"poses": checks, "summary": summary, "head_crop": list(cbox)}


def summarise(checks: dict, rig) -> dict:
    hair = [l for l in rig.spec.layers if l.tag in ("front hair", "back hair", "hair")]
    hair_chains = [c for c in rig.spec.chains if "hair" in c.group]
    closed = checks.get("eyes_closed", {})
    return {
        "max_cracks": max((c["cracks"] for c in checks.values()), default=0.0),
        "max_holes": max((c["holes"] for c in checks.values()), default=0.0),
        "iris_unchanged": closed.get("iris_unchanged"),
        "iris_skin": closed.get("iris_skin"),
        "min_face_travel_yaw": min((checks[n]["face_travel"] for n in ("yaw+25", "yaw-25")
                                    if n in checks), default=None),
        "hair_layers": len(hair),
        "hair_chains": len(hair_chains),
        "layers": rig.layer_count,
    }


# ------------------------------------------------------------------------------ pose sheets

SHEET_CELL = 320            # px per pose in the sheet
SHEET_CROP = 2.0            # the sheet's head crop: a bit wider than the measured one (hair)


def pose_sheet(rows: list[tuple[str, dict]], poses, box: tuple[int, int, int, int],
               cell: int = SHEET_CELL, columns: int | None = None) -> np.ndarray:
    """One labelled picture (H, W, 3) uint8 of the head crop in every pose, on a checker so
    holes show. ``rows``: (title, {pose name: frame}) per puppet; one puppet is laid out in
    ``columns`` columns (default: a near-square grid), several puppets one row each."""
    x0, y0, x1, y1 = box
    side = int(round(SHEET_CROP * max(x1 - x0, y1 - y0)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - 0.6 * side))
    cbox = (left, top, left + side, top + side)
    n = len(poses)
    if len(rows) == 1:
        columns = columns or int(np.ceil(np.sqrt(n)))
        cells = [(divmod(k, columns), rows[0][1], p) for k, p in enumerate(poses)]
        titles = []
        grid = (int(np.ceil(n / columns)), columns)
    else:
        cells = [((r, c), frames, p) for r, (_, frames) in enumerate(rows)
                 for c, p in enumerate(poses)]
        titles = [title for title, _ in rows]
        grid = (len(rows), n)
    label_h = 28
    title_w = 150 if titles else 0
    sheet = np.full((grid[0] * (cell + label_h), title_w + grid[1] * cell, 3), 255, np.uint8)
    yy, xx = np.mgrid[0:cell, 0:cell]
    checker = np.where(((yy // 12) + (xx // 12)) % 2 == 0, 0.92, 0.78)[..., None].astype(np.float32)
    for r, title in enumerate(titles):
        cv2.putText(sheet, title[:14], (6, r * (cell + label_h) + cell // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for (r, c), frames, p in cells:
        img = cv2.resize(crop(frames[p.name], cbox), (cell, cell), interpolation=cv2.INTER_AREA)
        a = img[..., 3:4]
        rgb = img[..., :3] * a + checker * (1.0 - a)
        y, x = r * (cell + label_h), title_w + c * cell
        sheet[y:y + cell, x:x + cell] = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
        cv2.putText(sheet, p.label, (x + 8, y + cell + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def write_png(path, rgb: np.ndarray) -> None:
    """Write atomically (a temporary file renamed), so a failure leaves nothing half-written."""
    from seethrough_core.outputs import atomic_output
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    with atomic_output(path) as tmp:
        tmp.write_bytes(data.tobytes())
