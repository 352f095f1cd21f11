"""The rig file: round trip, atomic writes, and clean rejection of corrupt or future files."""
import json
import zipfile

import numpy as np
import pytest

from rig.model import FORMAT_VERSION, Rig
from rig.rigfile import load_rig, load_spec, save_rig
from seethrough_core.character import InputError


def test_round_trip_gives_the_same_poses(example_rig_spec, tmp_path):
    path = tmp_path / "char.rig"
    save_rig(example_rig_spec, path)
    loaded = load_rig(path)
    original = Rig(example_rig_spec)
    assert [l.name for l in loaded.spec.layers] == [l.name for l in example_rig_spec.layers]
    for a, b in zip(loaded.spec.layers, example_rig_spec.layers):
        assert np.array_equal(a.texture, b.texture) and a.offset == b.offset
        assert np.array_equal(a.mesh.triangles, b.mesh.triangles)
        assert (a.tag, a.side, a.variant, a.clip_to) == (b.tag, b.side, b.variant, b.clip_to)
    assert len(loaded.spec.chains) == len(example_rig_spec.chains)
    for i in range(20):
        params = {"ParamAngleX": 20 * np.sin(i / 5), "ParamEyeROpen": 0.3}
        pa = loaded.pose(params, 1 / 60).copy()
        pb = original.pose(params, 1 / 60)
        assert np.abs(pa.vertices - pb.vertices).max() < 1e-3


def test_save_is_atomic_and_leaves_no_temp_files(example_rig_spec, tmp_path):
    path = tmp_path / "char.rig"
    save_rig(example_rig_spec, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["char.rig"]


def _rewrite(src, dst, edit_json=None, drop=None, replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if drop and item.filename == drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "rig.json" and edit_json:
                doc = json.loads(data)
                edit_json(doc)
                data = json.dumps(doc).encode()
            if replace and item.filename in replace:
                data = replace[item.filename]
            zout.writestr(item, data)


@pytest.fixture()
def saved(example_rig_spec, tmp_path):
    path = tmp_path / "good.rig"
    save_rig(example_rig_spec, path)
    return path


@pytest.mark.parametrize("case, message", [
    ("future", "newer"), ("no_version", "format_version"), ("no_json", "no rig.json"),
    ("bad_json", "rig.json is not valid JSON"), ("bad_triangles", "out of range"),
    ("missing_texture", "layer 0"), ("bad_size", "size"), ("bad_chain", "chain"),
    ("bad_npy", "not a .npy array"),
])
def test_corrupt_rig_files_are_rejected_with_one_line(saved, tmp_path, case, message):
    bad = tmp_path / "bad.rig"
    if case == "future":
        _rewrite(saved, bad, edit_json=lambda d: d.update(format_version=FORMAT_VERSION + 1))
    elif case == "no_version":
        _rewrite(saved, bad, edit_json=lambda d: d.pop("format_version"))
    elif case == "no_json":
        _rewrite(saved, bad, drop="rig.json")
    elif case == "bad_json":
        _rewrite(saved, bad, replace={"rig.json": b"{not json"})
    elif case == "bad_triangles":
        big = np.full((3, 3), 10**6, np.int32)
        import io
        buf = io.BytesIO(); np.save(buf, big)
        _rewrite(saved, bad, replace={"meshes/000_triangles.npy": buf.getvalue()})
    elif case == "missing_texture":
        _rewrite(saved, bad, drop="textures/000.png")
    elif case == "bad_size":
        _rewrite(saved, bad, edit_json=lambda d: d.update(size=[0, -3]))
    elif case == "bad_chain":
        def edit(d):
            d["chains"][0]["layer"] = 9999
        _rewrite(saved, bad, edit_json=edit)
    elif case == "bad_npy":
        _rewrite(saved, bad, replace={"meshes/000_vertices.npy": b"garbage"})
    with pytest.raises(InputError) as err:
        load_rig(bad)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_not_a_zip_and_truncated_files(saved, tmp_path):
    junk = tmp_path / "junk.rig"
    junk.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a zip"):
        load_spec(junk)
    cut = tmp_path / "cut.rig"
    cut.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(InputError):
        load_rig(cut)
    with pytest.raises(InputError, match="no such"):
        load_spec(tmp_path / "missing.rig")
