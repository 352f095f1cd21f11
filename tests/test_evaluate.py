"""Decomposition metrics: known answers on hand-made inputs, and the sample PSD."""
from __future__ import annotations

import numpy as np
import pytest

from seethrough_core.character import Character, Layer
from seethrough_core.evaluate import (compare, dice_score, evaluate_character,
                                      order_accuracy, psnr, ssim)


def test_dice_psnr_ssim_known_values():
    a = np.zeros((4, 4), bool)
    a[:2] = True                      # 8 pixels
    b = np.zeros((4, 4), bool)
    b[1:3] = True                     # 8 pixels, 4 shared
    assert dice_score(a, b) == pytest.approx(0.5)
    assert dice_score(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    x = np.zeros((8, 8))
    assert psnr(x, x + 255 / 10) == pytest.approx(20.0)
    img = np.random.default_rng(0).uniform(0, 255, (32, 32))
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < 0


def test_order_accuracy_counts_pixel_pairs():
    truth = np.array([[1, 1, 2, 3]])
    assert order_accuracy(truth, truth * 7) == 1.0                 # same order, other indices
    assert order_accuracy(truth, 4 - truth) == 0.0                 # reversed
    # Pairs (1,2) x2, (1,3) x2, (2,3) x1; predicting 3 below 2 breaks only the (2,3) pair.
    assert order_accuracy(truth, np.array([[1, 1, 3, 2]])) == pytest.approx(4 / 5)
    # A predicted tie counts one half: all five pairs tied.
    assert order_accuracy(truth, np.ones_like(truth)) == pytest.approx(0.5)


def _square(tag, x0, y0, x1, y1, colour, size=20):
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[y0:y1, x0:x1] = (*colour, 255)
    return Layer(tag, rgba, tag=tag)


def test_compare_perfect_and_wrong_predictions():
    truth = Character((20, 20), [_square("face", 2, 2, 14, 14, (230, 200, 180)),
                                 _square("front hair", 0, 0, 20, 6, (50, 30, 20))])
    image = truth.composite()
    m = compare(truth, truth, image)
    assert m["psnr"] == 99.0 and m["ssim"] == pytest.approx(1.0)
    assert m["mean_dice"] == 1.0 and m["mask_mse"] == 0.0 and m["order_accuracy"] == 1.0
    # Swapped order: the hair drawn under the face changes the picture and the order.
    swapped = Character((20, 20), truth.layers[::-1])
    w = compare(truth, swapped, image)
    # 96 face pixels x 120 hair pixels: 72 hair pixels now rank under the face (wrong), the
    # 48 the face covers tie with it (half right): (0.5 * 48 * 96) / (120 * 96) = 0.2.
    assert w["order_accuracy"] == pytest.approx(0.2)
    assert w["psnr"] < 30 and w["mean_dice"] == 1.0
    # A v3 prediction against a v2 truth folds front/back hair into "hair".
    v2 = Character((20, 20), [_square("face", 2, 2, 14, 14, (230, 200, 180)),
                              _square("hair", 0, 0, 20, 6, (50, 30, 20))])
    assert compare(v2, truth, image)["dice"]["hair"] == 1.0


def test_example_character_metrics(example_character):
    m = evaluate_character(example_character)
    for key in ("psnr", "ssim", "mean_dice", "dice", "mask_mse", "layer_psnr",
                "order_accuracy", "seconds"):
        assert key in m
    assert m["psnr"] > 40 and m["ssim"] > 0.99         # the layers rebuild the picture
    assert m["mean_dice"] > 0.4 and m["order_accuracy"] > 0.75
