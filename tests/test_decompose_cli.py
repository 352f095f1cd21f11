"""`decompose` and `eval-decompose` commands, and images through load_character."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from runtime.commands import decompose as decompose_command
from seethrough_core.character import InputError
from seethrough_core.decompose.index_map import read_index_png
from seethrough_core.loading import load_character
from seethrough_core.psd_write import write_psd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seethrough-rig")
    sub = parser.add_subparsers(dest="command")
    decompose_command.register(sub, argparse.HelpFormatter)
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def example_png(example_character, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "char.png"
    rgba = example_character.rest_composite()
    cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
    return path


def test_decompose_writes_psd_sidecars_and_index_map(example_png, tmp_path, capsys):
    out = tmp_path / "out.psd"
    assert _run(["decompose", str(example_png), "-o", str(out), "--quiet"]) == 0
    assert out.is_file() and (tmp_path / "out_depth.psd").is_file()
    assert (tmp_path / "out.psd.json").is_file()
    character = load_character(out)
    assert {"face", "front hair", "back hair"} <= {l.tag for l in character.layers}
    assert all(l.depth is not None for l in character.layers)
    index = read_index_png(tmp_path / "out_index.png")
    assert index.shape == (character.size[1], character.size[0])
    assert index.max() <= len(character.layers) and index.max() > 0
    assert (index > 0).sum() > 0.2 * index.size
    meta = json.loads((tmp_path / "out.psd.json").read_text())
    assert set(meta["parts"]) == {l.name for l in character.layers}


def test_decompose_bad_inputs_leave_nothing_behind(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG but not really")
    with pytest.raises(InputError, match="not an image"):
        _run(["decompose", str(bad), "-o", str(tmp_path / "bad.psd"), "--quiet"])
    with pytest.raises(InputError, match=r"\.psd"):
        _run(["decompose", str(bad), "-o", str(tmp_path / "bad.txt"), "--quiet"])
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 240, np.uint8))
    with pytest.raises(InputError, match="no character found"):
        _run(["decompose", str(blank), "-o", str(tmp_path / "blank.psd"), "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png", "blank.png"]


def test_model_options_reach_the_backend(example_png, tmp_path):
    with pytest.raises(InputError, match="--model"):
        _run(["decompose", str(example_png), "-o", str(tmp_path / "x.psd"), "--model",
              str(tmp_path), "--quiet"])


def test_eval_decompose_json(example_character, tmp_path, capsys):
    truth = tmp_path / "truth.psd"
    write_psd(example_character, truth)
    assert _run(["eval-decompose", str(truth), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("psnr", "ssim", "mean_dice", "dice", "mask_mse", "layer_psnr",
                "order_accuracy", "seconds"):
        assert key in metrics
    assert metrics["psnr"] > 40
    assert _run(["eval-decompose", str(truth)]) == 0
    assert "mean Dice" in capsys.readouterr().out


def test_load_character_decomposes_images(example_png):
    character = load_character(example_png)
    assert character.size == (512, 512)
    assert "face" in {l.tag for l in character.layers}
    assert character.source == str(example_png)


@pytest.mark.parametrize("flag", [["--steps", "3"], ["--offload"], ["--attention-slicing"],
                                  ["--device", "cuda"], ["--model", "somewhere"]])
def test_model_flags_are_refused_by_the_heuristic_backend(flag, tmp_path, capsys):
    import cv2
    import numpy as np

    from runtime.commands.cli import main
    src = tmp_path / "dot.png"
    img = np.full((120, 120, 3), 255, np.uint8)
    cv2.circle(img, (60, 60), 30, (0, 0, 255), -1)
    cv2.imwrite(str(src), img)
    code = main(["decompose", str(src), "-o", str(tmp_path / "out.psd"), "--quiet", *flag])
    err = capsys.readouterr().err
    assert code == 2 and "seethrough only" in err and "Traceback" not in err
    assert not (tmp_path / "out.psd").exists()
