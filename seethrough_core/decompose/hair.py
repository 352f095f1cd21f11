"""Hair: which figure pixels are hair, and which of them lie in front of the face and body.

**Hair** is told from skin and clothes by colour models learnt from the picture itself: the
hair's colours are sampled at the top of the head and over the forehead (the fringe), the
non-hair colours on the cheeks and the chest; every pixel goes to the nearer model (k-means
centres in Lab, lightness weighted half, since shading changes lightness most). Light blonde
hair next to pale skin is then still hair: each is nearer its own samples, whatever absolute
threshold a generic "skin colour" test would draw. Hair is what is connected to the hair samples
(thin strands within reach of the hair's body, not a jaw line across the face).

**Front and back hair** split along the art's own strand lines: markers for front hair are the
hair over the face (inside the face's egg) and over the body below the chin (hair lying on the
chest is in front of it); markers for back hair are the hair beside and above the head and
beside the body. A watershed over the line-art relief grows both until they meet, so the
boundary runs along strand edges, where a real occlusion is drawn, not along a straight cut.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

LAB_WEIGHT = np.array([0.5, 1.0, 1.0], np.float32)


def _centres(samples: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` k-means centres of (N, 3) weighted Lab samples."""
    samples = np.asarray(samples, np.float32)
    if len(samples) == 0:
        return np.zeros((0, 3), np.float32)
    if len(samples) > 20000:
        samples = samples[np.random.default_rng(0).choice(len(samples), 20000, replace=False)]
    k = int(min(k, max(1, len(samples) // 50)))
    if k == 1:
        return np.median(samples, axis=0, keepdims=True)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def _nearest(lab_w: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(H, W) distance of every pixel to the nearest centre."""
    if len(centres) == 0:
        return np.full(lab_w.shape[:2], np.inf, np.float32)
    d = np.full(lab_w.shape[:2], np.inf, np.float32)
    for c in centres:
        d = np.minimum(d, np.linalg.norm(lab_w - c, axis=-1))
    return d


def hair_mask(lab: np.ndarray, solid: np.ndarray, face_skin: np.ndarray, *, cx: float,
              eye_y: float, eye_dist: float, chin_y: float, top: int,
              skin: np.ndarray | None = None,
              eyes: tuple[tuple[float, float], ...] | None = None) -> np.ndarray:
    """Bool (H, W) hair pixels of the figure. ``face_skin``: the face's skin found so far;
    ``skin``: every skin-coloured pixel (kept out of the hair samples unless the hair itself is
    skin-coloured, as light blonde hair can be); ``eyes``: the eyes' centres where the picture
    shows them (they place the ears better than ``eye_dist`` from pose landmarks)."""
    h, w = solid.shape
    ed = eye_dist
    yy, xx = np.mgrid[0:h, 0:w]
    lab_w = lab * LAB_WEIGHT
    skin_core = cv2.erode(face_skin.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    # Hair samples: the crown, and the fringe over the forehead where it is not skin.
    crown = solid & (yy >= top) & (yy < top + max(3.0, 0.05 * (chin_y - top)))
    fringe = solid & (yy > eye_y - 0.95 * ed) & (yy < eye_y - 0.4 * ed) & \
        (np.abs(xx - cx) < 0.8 * ed)
    seeds = (crown | fringe) & ~cv2.dilate(face_skin.astype(np.uint8), np.ones((7, 7))).astype(bool)
    if skin is not None:
        # Forehead between the strands is skin, not hair; but when most of the samples look
        # like skin, the hair is skin-coloured (light blonde) and they stay.
        unskinned = seeds & ~skin
        if unskinned.sum() >= 0.3 * seeds.sum():
            seeds = unskinned
    if skin_core.sum() > 16:
        # Whatever the masks said, a sample as close to the cheeks' colour as the cheeks are to
        # each other is forehead showing between strands, not hair.
        ref = np.median(lab_w[skin_core], axis=0)
        spread_skin = float(np.percentile(np.linalg.norm(lab_w[skin_core] - ref, axis=-1), 75))
        unlike = seeds & (np.linalg.norm(lab_w - ref, axis=-1) > max(4.0, 1.5 * spread_skin))
        if unlike.sum() >= 0.3 * seeds.sum():
            seeds = unlike
    if seeds.sum() < 16:
        return np.zeros_like(solid)
    # Non-hair samples: the cheeks, and the chest below the neck.
    chest = solid & (yy > chin_y + 1.0 * ed) & (yy < chin_y + 2.5 * ed) & \
        (np.abs(xx - cx) < 0.4 * ed)
    others = skin_core | chest
    hair_c = _centres(lab_w[seeds], 4)
    other_c = _centres(lab_w[others & ~seeds], 6)
    d_hair = _nearest(lab_w, hair_c)
    d_other = _nearest(lab_w, other_c)
    spread = float(np.percentile(d_hair[seeds], 90))
    like = solid & (d_hair < d_other) & (d_hair < max(14.0, 2.5 * spread))
    like &= ~skin_core
    # The body of the hair: connected to the samples once thin lines are opened away...
    k = max(3, int(round(0.06 * ed)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    core = cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    labels, n = ndimage.label(core)
    if n == 0:
        return np.zeros_like(solid)
    keep_ids = np.unique(labels[core & seeds])
    piece_tops = np.array([h] + [sl[0].start for sl in ndimage.find_objects(labels)])
    core = np.isin(labels, keep_ids[keep_ids > 0])
    # ...and the thin strands within reach of it (a strand tip, not a jaw line). Next to the
    # hair a pixel need only be about as near the hair's colours as anything else's: a dark
    # strand tip on a dark collar is still the strand's.
    reach = max(2, int(round(0.4 * ed)))
    # Ears sit beside the face between the brows and the mouth.
    ear_zone = (np.abs(xx - cx) > 0.5 * ed) & (np.abs(xx - cx) < 1.6 * ed) & \
        (yy > eye_y - 0.5 * ed) & (yy < eye_y + 1.0 * ed)
    if eyes is not None and len(eyes) == 2:
        # Beside each eye, outward, about as far out as the eyes are apart.
        (lx, ly), (rx, ry) = sorted(eyes)
        gap = max(rx - lx, 1.0)
        mid_y = 0.5 * (ly + ry)
        rows = (yy > mid_y - 0.4 * gap) & (yy < mid_y + 0.8 * gap)
        ear_zone |= rows & (((xx < lx - 0.3 * gap) & (xx > lx - 1.2 * gap)) |
                            ((xx > rx + 0.3 * gap) & (xx < rx + 1.2 * gap)))
    near_like = solid & ~skin_core & (d_hair < 1.5 * d_other) & \
        (d_hair < max(20.0, 3.5 * spread)) & ~_skin_hued(lab, skin_core, ear_zone)
    grown = grown_within(core, near_like, reach)
    # Hair in deep shadow (beside the neck, under the jaw) can be cut off from the sampled
    # hair by a strand's outline: a broad piece of hair colour that the hair reaches is hair
    # too, however far it runs on past the strand-tip reach. It gets back only the rim the
    # opening took (strand tips grow from the sampled hair, not over a collar's outline).
    for _ in range(3):
        rim = cv2.dilate(grown.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        touched = np.unique(labels[rim & (labels > 0) & ~core])
        # Only pieces that start beside the head: a dark skirt a strand tip touches is not hair.
        touched = touched[piece_tops[touched] < chin_y] if touched.size else touched
        if touched.size == 0:
            break
        new_core = np.isin(labels, touched)
        core |= new_core
        grown |= grown_within(new_core, near_like, k)
    # Small enclosed gaps (highlights, a stray pixel of line art) belong to the hair.
    holes = ndimage.binary_fill_holes(grown) & ~grown & solid
    small = _small_components(holes, max(16, int(0.02 * ed * ed)))
    # ...but not an ear's skin, cut into small pieces by its own line art where hair frames it.
    small &= ~(ear_zone & _skin_hued(lab, skin_core, ear_zone))
    return grown | small


CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)     # 4-connected steps
SQUARE = np.ones((3, 3), np.uint8)                                 # 8-connected steps


def grown_within(seed: np.ndarray, allowed: np.ndarray, steps: int,
                 step: np.ndarray = CROSS) -> np.ndarray:
    """``seed`` grown ``steps`` steps (``step``: CROSS or SQUARE) through ``allowed`` pixels."""
    grown = seed.copy()
    for _ in range(steps):
        nxt = (cv2.dilate(grown.astype(np.uint8), step) > 0) & allowed
        if (nxt == grown).all():
            break
        grown = nxt
    return grown


def _skin_hued(lab: np.ndarray, skin_core: np.ndarray, ears: np.ndarray) -> np.ndarray:
    """Pixels with the skin's hue, lit or a little shaded; where ears can be (``ears``), also
    deeply shaded (an ear's hollow). Light brown hair has the skin's hue too, but is darker."""
    if skin_core.sum() < 16:
        return np.zeros(lab.shape[:2], bool)
    ref = np.median(lab[skin_core], axis=0)
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = (np.hypot(A - ref[1], B - ref[2]) < 14) & (A > -3) & (B > -2) & (L < ref[0] + 8)
    return hue & ((L > ref[0] - 30) | (ears & (L > ref[0] - 45)))


def _small_components(mask: np.ndarray, max_area: int) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = max_area + 1
    return (sizes[labels] <= max_area) & mask


def split_front_back(hair: np.ndarray, face_egg: np.ndarray, body_span: np.ndarray,
                     gray: np.ndarray, chin_y: float, eye_dist: float, figure: np.ndarray,
                     nape: np.ndarray) -> np.ndarray:
    """Bool (H, W): the hair pixels in front of the face or the body (the rest is back hair).

    ``face_egg``: the face's whole shape (hidden parts included); ``body_span``: the body's
    rows between its sides below the chin; ``gray``: the picture's lightness (line art is
    dark); ``figure``: the figure's pixels; ``nape``: skin below the chin (the neck).

    Back hair shows where the head hides the rest of it: as the rim of the hair's silhouette
    beside the head, beside the neck below the chin, and beside the body; the hair over the
    face and over the body is in front."""
    h, w = hair.shape
    if not hair.any():
        return np.zeros_like(hair)
    ed = eye_dist
    k = max(3, int(round(0.12 * ed)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    yy = np.mgrid[0:h, 0:w][0]
    below = yy > chin_y + 0.2 * ed
    inner_face = cv2.erode(face_egg.astype(np.uint8), kernel) > 0
    outer_face = cv2.dilate(face_egg.astype(np.uint8), kernel) > 0
    inner_body = cv2.erode(body_span.astype(np.uint8), kernel) > 0
    outer_body = cv2.dilate(body_span.astype(np.uint8), kernel) > 0
    rim_w = max(2, int(round(0.05 * ed)))
    outside = ~figure
    rim = (cv2.dilate(outside.astype(np.uint8), np.ones((2 * rim_w + 1,) * 2, np.uint8)) > 0) \
        & hair & (yy < chin_y) & ~outer_face
    beside_neck = (cv2.dilate(nape.astype(np.uint8), np.ones((2 * k + 1,) * 2, np.uint8)) > 0) \
        & hair & (yy > chin_y)
    beside_body = hair & below & ~outer_body
    back_seed = rim | beside_neck | beside_body
    front_seed = hair & (inner_face | (below & inner_body)) & ~back_seed
    if not front_seed.any():
        return np.zeros_like(hair)
    if not back_seed.any():
        return hair.copy()
    markers = np.zeros((h, w), np.int32)
    markers[back_seed] = 1
    markers[front_seed] = 2
    markers[~hair] = 3            # not hair: never flooded into
    # Relief: dark strokes and edges between lighter and darker hair (back hair is usually
    # drawn in shadow) are ridges, so the two floods meet on strand lines.
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    edge = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    relief = np.clip(255.0 - g, 0, 255) + 2.0 * edge
    relief = cv2.normalize(relief, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    flooded = cv2.watershed(cv2.cvtColor(relief, cv2.COLOR_GRAY2BGR), markers)
    front = (flooded == 2) & hair
    # Watershed lines (-1) go to the nearer side.
    ridge = (flooded == -1) & hair
    if ridge.any():
        near_front = cv2.dilate(front.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        front |= ridge & near_front
    # A lock is not cut across: in hair as dark as its outlines the floods find no ridge to
    # meet on, and where a lock hangs past the neck (seeded as back hair there) they met in a
    # band across it; at a tilt the lock below swung off from the lock above, its end torn.
    # Back hair with the front hair both above and below it, a short way, is that lock's.
    reach = max(3, int(round(0.3 * ed))) | 1
    across = cv2.morphologyEx(front.astype(np.uint8), cv2.MORPH_CLOSE,
                              np.ones((reach, 1), np.uint8)) > 0
    front |= across & hair
    return front | _hanging_from(front, hair & ~front, yy > chin_y)


def _hanging_from(front: np.ndarray, back: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Bool (H, W): the pieces of ``back`` in the ``low`` rows that hang from ``front``: the
    hair right above most of their top edge is front hair. A side lock over the cheek whose
    tips hang on past the neck over the page (seeded as back hair there) was cut across where
    the seeds met; at a tilt its tips swung off from it in fragments (bust-image1). Back hair
    seen beside the neck runs on up behind the head, under no front lock."""
    out = np.zeros_like(back)
    pieces, n = ndimage.label(back & low, structure=np.ones((3, 3), bool))
    if n == 0:
        return out
    hair = front | back
    for i, box in enumerate(ndimage.find_objects(pieces), start=1):
        own = pieces[box] == i
        cols = np.flatnonzero(own.any(axis=0))
        top = np.argmax(own[:, cols], axis=0) + box[0].start
        xs = cols + box[1].start
        above = top - 1
        ok = above >= 0
        xs, above = xs[ok], above[ok]
        on_hair = hair[above, xs]
        on_front = front[above, xs]
        if on_front.sum() >= 3 and on_front.sum() >= 0.6 * max(on_hair.sum(), 1):
            out[box] |= own
    return out
