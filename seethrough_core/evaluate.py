"""Decomposition metrics against a layered ground truth (the See-through paper's measures).

``evaluate_psd(path)`` composites the ground-truth layers (rest pose), decomposes that single
image, and compares. Classes are See-through tags: sides, strata and groups are merged, and a
v2 truth (``hair``, ``eyes``) folds the v3 predictions into its classes.

- ``dice`` / ``mean_dice``: per-class Dice of the layer masks (alpha >= 128, hidden parts
  included), mean over the truth's classes; ``visible_mean_dice`` the same over the pixels each
  class shows in the composite.
- ``mask_mse``: mean over the truth's classes of the mean squared alpha error (alpha in 0..1).
- ``psnr`` / ``ssim``: the reconstruction (the prediction's composite) against the input,
  both matted on white; SSIM on luma with an 11-px Gaussian window (Wang et al. 2004).
- ``layer_psnr``: per class, premultiplied RGBA (0..1) of the class's layers alone, over the
  union of both masks, hidden parts included; ``mean_layer_psnr`` averages it.
- ``order_accuracy``: over pairs of pixels whose topmost true layers differ, the fraction whose
  predicted topmost layers are ordered the same way (a predicted tie counts one half).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

import cv2
import numpy as np

from .character import Character, Layer
from .decompose.index_map import REST_VARIANTS, index_map

_V2_FOLD = {"front hair": "hair", "back hair": "hair", "eyewhite": "eyes", "irides": "eyes",
            "eyelash": "eyes"}
_PSNR_CAP = 99.0


def rest_layers(character: Character) -> Character:
    """The character at rest: without mouth_open / eye_close art."""
    keep = [l for l in character.layers if l.variant is None or l.variant in REST_VARIANTS]
    return Character(character.size, keep, source=character.source)


def evaluate_psd(path: str | os.PathLike, *, backend: str = "heuristic",
                 progress: Callable[[str, float], None] | None = None, **options) -> dict:
    from .loading import load_character
    return evaluate_character(load_character(path), backend=backend, progress=progress,
                              **options)


def evaluate_character(truth: Character, *, backend: str = "heuristic",
                       progress: Callable[[str, float], None] | None = None, **options) -> dict:
    """Decompose the truth's composite and compare; adds ``seconds`` (decomposition time)."""
    from .decompose import decompose
    truth = rest_layers(truth)
    image = truth.composite()
    start = time.perf_counter()
    predicted = decompose(image, backend=backend, progress=progress, **options)
    seconds = time.perf_counter() - start
    metrics = compare(truth, predicted, image)
    metrics["seconds"] = round(seconds, 3)
    metrics["backend"] = backend
    return metrics


def compare(truth: Character, predicted: Character, image: np.ndarray) -> dict:
    """Every metric of a predicted decomposition against the true layers and the input image."""
    truth, predicted = rest_layers(truth), rest_layers(predicted)
    if truth.size != predicted.size:
        raise ValueError(f"canvas sizes differ: truth {truth.size}, prediction {predicted.size}")
    true_classes = sorted({_class(l.tag, set()) for l in truth.layers})
    v2 = {c for c in true_classes if c in ("hair", "eyes")}
    pred_classes = sorted({_class(l.tag, v2) for l in predicted.layers})

    recon = predicted.composite()
    psnr_value = psnr(_on_white(recon), _on_white(image))
    ssim_value = ssim(_luma(_on_white(recon)), _luma(_on_white(image)))

    dice, mse, layer_psnr, visible = {}, {}, {}, {}
    true_owner = _owner_classes(truth, set())
    pred_owner = _owner_classes(predicted, v2)
    for cls in true_classes:
        t = _class_rgba(truth, cls, set())
        p = _class_rgba(predicted, cls, v2)
        ta, pa = t[..., 3], p[..., 3]
        dice[cls] = dice_score(ta >= 0.5, pa >= 0.5)
        mse[cls] = float(np.mean((ta - pa) ** 2))
        layer_psnr[cls] = _masked_psnr(p, t, (ta > 0) | (pa > 0))
        visible[cls] = dice_score(true_owner == cls, pred_owner == cls)
    return {
        "psnr": round(psnr_value, 3),
        "ssim": round(ssim_value, 4),
        "mean_dice": round(float(np.mean(list(dice.values()))), 4) if dice else 0.0,
        "dice": {k: round(v, 4) for k, v in dice.items()},
        "visible_mean_dice": round(float(np.mean(list(visible.values()))), 4) if visible else 0.0,
        "mask_mse": round(float(np.mean(list(mse.values()))), 5) if mse else 0.0,
        "mask_mse_per_class": {k: round(v, 5) for k, v in mse.items()},
        "layer_psnr": {k: round(v, 3) for k, v in layer_psnr.items()},
        "mean_layer_psnr": round(float(np.mean(list(layer_psnr.values()))), 3)
        if layer_psnr else 0.0,
        "order_accuracy": round(order_accuracy(index_map(truth), index_map(predicted)), 4),
        "true_classes": true_classes,
        "extra_classes": [c for c in pred_classes if c not in true_classes],
        "layers": len(predicted.layers),
        "size": list(truth.size),
    }


# --------------------------------------------------------------------------------- measures

def dice_score(truth: np.ndarray, predicted: np.ndarray) -> float:
    """2|A and B| / (|A| + |B|); 1 when both are empty."""
    total = int(truth.sum()) + int(predicted.sum())
    if total == 0:
        return 1.0
    return 2.0 * int((truth & predicted).sum()) / total


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return _PSNR_CAP if mse == 0 else min(_PSNR_CAP, 10.0 * np.log10(peak * peak / mse))


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Mean SSIM of two single-channel images, Gaussian window sigma 1.5 (11 px)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def order_accuracy(true_index: np.ndarray, predicted_index: np.ndarray) -> float:
    """Pairwise drawing-order accuracy of two layer-index maps (0 = no layer, excluded).

    Counted exactly over all pixel pairs through the joint histogram of (true, predicted)
    indices: a pair with true indices g1 < g2 is right when its predicted indices p1 < p2.
    """
    both = (true_index > 0) & (predicted_index > 0)
    if not both.any():
        return 0.0
    t = np.unique(true_index[both], return_inverse=True)[1]
    p = np.unique(predicted_index[both], return_inverse=True)[1]
    joint = np.zeros((t.max() + 1, p.max() + 1), np.float64)
    np.add.at(joint, (t, p), 1.0)
    right = ties = total = 0.0
    for g1 in range(joint.shape[0]):
        row = joint[g1]
        later = joint[g1 + 1:]                   # true layers above g1
        if later.size == 0:
            continue
        above = np.cumsum(later[:, ::-1], axis=1)[:, ::-1]   # predicted index >= p
        strictly_above = np.concatenate([above[:, 1:], np.zeros((later.shape[0], 1))], axis=1)
        right += float((row[None, :] * strictly_above).sum())
        ties += float((row[None, :] * later).sum())
        total += float(row.sum() * later.sum())
    return (right + 0.5 * ties) / total if total else 0.0


# -------------------------------------------------------------------------------- helpers

def _class(tag: str, v2: set[str]) -> str:
    folded = _V2_FOLD.get(tag)
    return folded if folded in v2 else tag


def _class_rgba(character: Character, cls: str, v2: set[str]) -> np.ndarray:
    """Premultiplied float RGBA (0..1) of a class's layers composited alone."""
    layers = [l for l in character.layers if _class(l.tag, v2) == cls]
    w, h = character.size
    if not layers:
        return np.zeros((h, w, 4), np.float32)
    straight = character.composite(layers=layers).astype(np.float32) / 255.0
    straight[..., :3] *= straight[..., 3:4]
    return straight


def _owner_classes(character: Character, v2: set[str]) -> np.ndarray:
    index = index_map(character)
    names = np.array([""] + [_class(l.tag, v2) for l in character.layers], dtype=object)
    return names[index]


def _masked_psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    if not region.any():
        return _PSNR_CAP
    diff = (a[region] - b[region]).astype(np.float64)
    return psnr(diff, np.zeros_like(diff), peak=1.0)


def _on_white(rgba: np.ndarray) -> np.ndarray:
    f = rgba.astype(np.float32)
    a = f[..., 3:4] / 255.0
    return f[..., :3] * a + 255.0 * (1.0 - a)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)
