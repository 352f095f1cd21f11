"""Single pictures with known layers: variants of a layered character for testing the
single-picture path on more than one look.

Each variant changes a layered character the way real illustrations differ (hair colour, a bust
crop at 512 px on transparency, a full figure on a plain background, glasses, animal ears) and
keeps its layers, so the decomposed puppet of the variant's flattened picture can be compared
with the puppet of its true layers (``seethrough-rig eval-motion`` on the written PSD).

    python -m examples.variants SAMPLE.psd OUT_DIR     # writes <variant>.psd and .png
"""
from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from seethrough_core.character import Character, Layer
from seethrough_core.decompose.images import resize_rgba
from seethrough_core.evaluate import rest_layers

HAIR = ("front hair", "back hair", "hair")

# Target hair colours as (L 0..100, a, b) of the lit hair in Lab.
HAIR_COLOURS = {
    "light blonde": (88.0, 1.0, 30.0),
    "pink": (78.0, 28.0, 2.0),
    "silver": (84.0, 0.0, -4.0),
    "red": (48.0, 52.0, 34.0),
    "blue": (55.0, -5.0, -45.0),
    "dark brown": (32.0, 10.0, 18.0),
}


def recolour_hair(character: Character, colour: str) -> Character:
    """Hair layers in another colour: shading kept (lightness mapped into the new colour's
    range), line art kept darker than the fill."""
    target = np.array(HAIR_COLOURS[colour], np.float32)
    layers = []
    for layer in character.layers:
        if layer.tag in HAIR and layer.rgba.size:
            rgb = layer.rgba[..., :3].astype(np.float32) / 255.0
            lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
            L = lab[..., 0]
            lit = float(np.percentile(L[layer.alpha > 200], 90)) if (layer.alpha > 200).any() \
                else 50.0
            # Lightness relative to the lit hair, compressed so shadows stay in the new colour.
            rel = np.clip(L / max(lit, 1.0), 0.0, 1.2)
            new = np.empty_like(lab)
            new[..., 0] = np.clip(target[0] * (0.35 + 0.65 * rel), 0, 100)
            new[..., 1] = target[1] * (0.6 + 0.4 * rel)
            new[..., 2] = target[2] * (0.6 + 0.4 * rel)
            out = cv2.cvtColor(new, cv2.COLOR_LAB2RGB)
            rgba = layer.rgba.copy()
            rgba[..., :3] = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
            layer = replace(layer, rgba=rgba)
        layers.append(layer)
    return replace(character, layers=layers)


def reframe(character: Character, box: tuple[int, int, int, int],
            size: tuple[int, int]) -> Character:
    """The canvas region ``box`` (x0, y0, x1, y1) scaled to a new canvas of ``size``."""
    x0, y0, x1, y1 = box
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    layers = []
    for layer in character.layers:
        if layer.empty:
            continue
        lx0, ly0, lx1, ly1 = layer.bbox
        nx0, ny0 = math.floor((lx0 - x0) * sx), math.floor((ly0 - y0) * sy)
        nx1 = max(nx0 + 1, math.ceil((lx1 - x0) * sx))
        ny1 = max(ny0 + 1, math.ceil((ly1 - y0) * sy))
        rgba = resize_rgba(layer.rgba, (nx1 - nx0, ny1 - ny0))
        depth = None if layer.depth is None else cv2.resize(
            layer.depth, (nx1 - nx0, ny1 - ny0), interpolation=cv2.INTER_LINEAR)
        moved = replace(layer, rgba=rgba, offset=(nx0, ny0), depth=depth)
        # Clip to the new canvas.
        canvas = moved.on_canvas(size)
        d = None
        if depth is not None:
            d = np.zeros(size[::-1], np.float32)
            cx0, cy0 = max(nx0, 0), max(ny0, 0)
            cx1, cy1 = min(nx1, size[0]), min(ny1, size[1])
            if cx1 > cx0 and cy1 > cy0:
                d[cy0:cy1, cx0:cx1] = depth[cy0 - ny0:cy1 - ny0, cx0 - nx0:cx1 - nx0]
        clipped = replace(moved, rgba=canvas, offset=(0, 0), depth=d).cropped()
        if not clipped.empty:
            layers.append(clipped)
    return replace(character, size=size, layers=layers)


def mirror(character: Character) -> Character:
    """The character flipped left to right (each layer's side swapped with it)."""
    w = character.size[0]
    swap = {"l": "r", "r": "l", None: None}
    layers = []
    for layer in character.layers:
        lw = layer.rgba.shape[1]
        depth = None if layer.depth is None else np.ascontiguousarray(layer.depth[:, ::-1])
        layers.append(replace(layer, rgba=np.ascontiguousarray(layer.rgba[:, ::-1]),
                              offset=(w - layer.offset[0] - lw, layer.offset[1]),
                              side=swap[layer.side], depth=depth))
    return replace(character, layers=layers)


def _eye_boxes(character: Character) -> list[tuple[int, int, int, int]]:
    """Per eye, the box of its eyewhite/lash art (image left first)."""
    masks = [l for l in character.layers if l.tag in ("eyewhite", "eyelash", "irides")
             and l.variant is None]
    w, h = character.size
    union = np.zeros((h, w), np.uint8)
    for l in masks:
        union |= (l.on_canvas(character.size)[..., 3] > 64).astype(np.uint8)
    union = cv2.dilate(union, np.ones((9, 9), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(union)
    boxes = sorted((tuple(int(v) for v in stats[i, :4]) for i in range(1, n)),
                   key=lambda b: -b[2] * b[3])[:2]
    return sorted(((x, y, x + bw, y + bh) for x, y, bw, bh in boxes), key=lambda b: b[0])


def add_glasses(character: Character, colour=(60, 40, 45)) -> Character:
    """Round-cornered frames around both eyes with a bridge: an ``eyewear`` layer on top of
    the eyes and under the front hair."""
    w, h = character.size
    boxes = _eye_boxes(character)
    if len(boxes) != 2:
        return character
    img = np.zeros((h, w, 4), np.uint8)
    face_w = boxes[1][2] - boxes[0][0]
    thick = max(2, int(round(0.018 * face_w)))
    centres = []
    for x0, y0, x1, y1 in boxes:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.08 * (y1 - y0)
        ax, ay = 0.62 * (x1 - x0) + 2 * thick, 0.75 * (y1 - y0) + 2 * thick
        cv2.ellipse(img, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360,
                    (*colour, 255), thick, cv2.LINE_AA)
        centres.append((cx, cy, ax, ay))
    (lx, ly, lax, _), (rx, ry, rax, _) = centres
    cv2.line(img, (int(lx + lax), int(ly)), (int(rx - rax), int(ry)), (*colour, 255), thick,
             cv2.LINE_AA)
    # A faint lens tint inside the frames.
    eyewear = Layer("eyewear", img, tag="eyewear").cropped()
    layers = list(character.layers)
    at = next((i for i, l in enumerate(layers) if l.tag == "front hair"), len(layers))
    layers.insert(at, eyewear)
    return replace(character, layers=layers)


def add_animal_ears(character: Character) -> Character:
    """Two cat ears on top of the head in the hair's colour, with a pink inside: a
    ``headwear`` layer behind the front hair."""
    w, h = character.size
    hair = [l for l in character.layers if l.tag in HAIR and l.variant is None]
    if not hair:
        return character
    mask = np.zeros((h, w), bool)
    for l in hair:
        mask |= l.on_canvas(character.size)[..., 3] > 128
    ys, xs = np.nonzero(mask)
    top, left, right = ys.min(), xs.min(), xs.max()
    width = right - left
    colour = np.median(np.concatenate([l.rgba[l.alpha > 200, :3] for l in hair]), axis=0)
    img = np.zeros((h, w, 4), np.uint8)
    for sign in (-1, 1):
        cx = (left + right) / 2 + sign * 0.28 * width
        base_y = top + 0.16 * width
        tip = (cx + sign * 0.08 * width, top - 0.16 * width)
        outer = np.array([(cx - 0.15 * width, base_y), tip, (cx + 0.15 * width, base_y)],
                         np.int32)
        inner = np.array([(cx - 0.08 * width, base_y), (tip[0] - sign * 0.01 * width,
                                                        tip[1] + 0.07 * width),
                          (cx + 0.08 * width, base_y)], np.int32)
        cv2.fillPoly(img, [outer], (*[int(c) for c in colour], 255), cv2.LINE_AA)
        cv2.polylines(img, [outer], True, (40, 30, 30, 255), max(2, int(0.008 * width)),
                      cv2.LINE_AA)
        cv2.fillPoly(img, [inner], (240, 170, 180, 255), cv2.LINE_AA)
    ears = Layer("headwear", img, tag="headwear").cropped()
    top_needed = max(0, -ears.offset[1])
    layers = list(character.layers)
    at = next((i for i, l in enumerate(layers) if l.tag == "front hair"), len(layers))
    layers.insert(at, ears)
    out = replace(character, layers=layers)
    if top_needed:
        out = reframe(out, (0, -top_needed, w, h), (w, h + top_needed))
    return out


def flatten_on(character: Character, background: tuple[int, int, int] | None) -> np.ndarray:
    """The rest composite, on a plain background colour or transparent (None)."""
    img = rest_layers(character).composite()
    if background is None:
        return img
    a = img[..., 3:4].astype(np.float32) / 255.0
    rgb = img[..., :3] * a + np.array(background, np.float32) * (1 - a)
    out = np.empty_like(img)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def _head_box(character: Character, scale: float) -> tuple[int, int, int, int]:
    """A square around the head and shoulders, ``scale`` times the face's height."""
    face = [l for l in character.layers if l.tag == "face" and l.variant is None]
    x0, y0, x1, y1 = face[0].bbox if face else (0, 0, *character.size)
    side = scale * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.3 * (y1 - y0)
    return (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))


def make_variants(character: Character) -> dict[str, tuple[Character, np.ndarray]]:
    """{name: (true layers, the flattened picture)} for a layered character."""
    c = character
    out = {}
    bust = reframe(c, _head_box(c, 2.2), (512, 512))
    out["bust-blonde"] = (recolour_hair(bust, "light blonde"), None)
    out["bust-pink-glasses"] = (add_glasses(recolour_hair(bust, "pink")), None)
    # MediaPipe finds no one in this one: the face is found from its eyes alone.
    out["bust-blue-glasses"] = (add_glasses(recolour_hair(bust, "blue")), None)
    # Its pointed chin lies further below the eyes than a face is first looked for.
    out["bust-mirror-silver-glasses"] = (add_glasses(recolour_hair(mirror(bust), "silver")),
                                         None)
    w, h = c.size
    # A full figure with some room above the head, as such pictures have.
    top = -int(0.07 * h)
    half = 0.5 * 928 / 1232 * (h - top)
    tall = reframe(c, (int(w / 2 - half), top, int(w / 2 + half), h), (928, 1232))
    out["full-silver-white"] = (recolour_hair(tall, "silver"), (255, 255, 255))
    out["full-cat-ears"] = (add_animal_ears(tall), (236, 240, 250))
    out["full-red-glasses"] = (add_glasses(recolour_hair(tall, "red")), (250, 246, 236))
    # A background near the skin's colour.
    out["full-brown-peach"] = (recolour_hair(tall, "dark brown"), (250, 225, 205))
    # A small figure low on a tall canvas, on transparency: the pose model puts its face on
    # the neck.
    half = 0.5 * 928 / 1232 * 1.6 * h
    small = reframe(c, (int(w / 2 - half), int(h - 1.6 * h), int(w / 2 + half), h), (928, 1232))
    out["full-small-red"] = (recolour_hair(small, "red"), None)
    return {name: (truth, flatten_on(truth, bg)) for name, (truth, bg) in out.items()}


def main(argv=None) -> int:
    from seethrough_core.loading import load_character
    from seethrough_core.psd_write import write_psd
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("psd")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (truth, image) in make_variants(load_character(args.psd)).items():
        write_psd(truth, out / f"{name}.psd")
        cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA))
        print(out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
