"""Live2D physics3.json: parsing hostile files, mapping settings onto chain groups, the pendulum
-> spring mapping (hand-checked values, monotonicity, sanity), export and round trip, and the
`build --physics`, `physics --import` and `physics --export --format physics3` commands.

The physics3.json files here are written from the public format description, not taken from
any model."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cli_helpers import run_registered
from rig.physics3 import (BUST, DAMPING_FLOOR, GRAVITY_PX, ROOT_PROFILE, Vertex, group_for,
                          import_physics3, parse_physics3, pendulum_params, physics3_document)
from rig.physics_file import MAX_PHYSICS_BYTES, read_physics
from rig.rigfile import load_rig
from rig.springs import PRESETS, ChainParams
from seethrough_core.character import InputError


# ------------------------------------------------------------------------------ file makers

def vertex(mobility=0.95, delay=0.9, acceleration=1.5, radius=3.0, y=None) -> dict:
    return {"Position": {"X": 0, "Y": radius if y is None else y}, "Mobility": mobility,
            "Delay": delay, "Acceleration": acceleration, "Radius": radius}


ROOT = vertex(1, 1, 1, 0, 0)
HEAD_BODY = (("ParamAngleX", 60, "X"), ("ParamAngleZ", 60, "Angle"),
             ("ParamBodyAngleX", 40, "X"), ("ParamBodyAngleZ", 40, "Angle"))


def setting(sid: str, outputs, vertices=None, inputs=HEAD_BODY, reflect=False) -> dict:
    """A physics setting; ``outputs``: ids or (id, weight) pairs."""
    outs = [(o, 100) if isinstance(o, str) else o for o in outputs]
    vertices = vertices or [ROOT, vertex()]
    return {
        "Id": sid,
        "Input": [{"Source": {"Target": "Parameter", "Id": i}, "Weight": w, "Type": t,
                   "Reflect": reflect} for i, w, t in inputs],
        "Output": [{"Destination": {"Target": "Parameter", "Id": o}, "VertexIndex": 1,
                    "Scale": 1.5, "Weight": w, "Type": "Angle", "Reflect": False}
                   for o, w in outs],
        "Vertices": vertices,
        "Normalization": {"Position": {"Minimum": -10, "Default": 0, "Maximum": 10},
                          "Angle": {"Minimum": -10, "Default": 0, "Maximum": 10}},
    }


def document(settings_, names=None, gravity=(0, -1), wind=(0, 0), fps=None) -> dict:
    meta = {
        "PhysicsSettingCount": len(settings_),
        "TotalInputCount": sum(len(s["Input"]) for s in settings_),
        "TotalOutputCount": sum(len(s["Output"]) for s in settings_),
        "VertexCount": sum(len(s["Vertices"]) for s in settings_),
        "EffectiveForces": {"Gravity": {"X": gravity[0], "Y": gravity[1]},
                            "Wind": {"X": wind[0], "Y": wind[1]}},
        "PhysicsDictionary": [{"Id": s["Id"], "Name": (names or {}).get(s["Id"], "")}
                              for s in settings_],
    }
    if fps is not None:
        meta["Fps"] = fps
    return {"Version": 3, "Meta": meta, "PhysicsSettings": settings_}


def hair_and_bust() -> dict:
    """Front, side and back hair and a bust, named in Japanese, as Cubism Editor lays them out."""
    return document([
        setting("PhysicsSetting1", ["ParamHairFront"], [ROOT, vertex(0.95, 0.9, 1.5, 3)]),
        setting("PhysicsSetting2", ["ParamHairSide"], [ROOT, vertex(0.9, 0.85, 1.2, 8)]),
        setting("PhysicsSetting3", ["ParamHairBack"],
                [ROOT, vertex(0.95, 0.8, 1.5, 5), vertex(0.9, 0.8, 1.5, 10, 15)]),
        setting("PhysicsSetting4", ["ParamBustY"], [ROOT, vertex(0.8, 0.7, 1, 3)]),
    ], names={"PhysicsSetting1": "前髪", "PhysicsSetting2": "横髪",
              "PhysicsSetting3": "後ろ髪", "PhysicsSetting4": "胸"})


def write(tmp_path, doc, name="model.physics3.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ groups

@pytest.mark.parametrize("text, group", [
    ("ParamHairFront", "front hair"), ("PARAM_HAIR_FRONT", "front hair"),
    ("Hair Front", "front hair"), ("前髪 揺れ", "front hair"),
    ("ParamHairSide", "side hair"), ("PARAM_HAIR_SIDE", "side hair"), ("横髪", "side hair"),
    ("サイド", "side hair"),
    ("ParamHairBack", "back hair"), ("PARAM_HAIR_BACK", "back hair"), ("後ろ髪", "back hair"),
    ("ParamSkirt", "skirt"), ("ParamSkirtL", "skirt"), ("スカート", "skirt"),
    ("ParamRibbon", "ribbons"), ("ParamHatRibbonL", "ribbons"), ("リボン", "ribbons"),
    ("ParamTail", "tail"), ("しっぽ", "tail"), ("ParamSleeveL", "sleeves"),
    ("ParamHairFluffy", "hair"), ("ParamBustY", BUST), ("胸", BUST),
    ("ParamEyeBallX", None), ("Param42", None),
])
def test_group_for_ids_and_names(text, group):
    assert group_for(text) == group


def test_hair_settings_map_to_their_groups_and_the_bust_is_a_note(tmp_path):
    params, notes = read_physics(write(tmp_path, hair_and_bust()))
    assert sorted(params) == ["back hair", "front hair", "side hair"]
    assert notes == ["PhysicsSetting4 (胸 / ParamBustY): no bust chains; skipped"]


def test_dictionary_names_stand_in_for_ids_that_say_nothing():
    doc = document([setting("S1", ["Param42"]), setting("S2", ["Param43"]),
                    setting("S3", ["Param44"])],
                   names={"S1": "前髪", "S2": "スカート 揺れ"})
    params, notes = import_physics3(doc, "x.json")
    assert sorted(params) == ["front hair", "skirt"]
    assert notes == ["S3 (Param44): no chain group for Param44; skipped"]


def test_cubism2_ids_map_and_their_angle_inputs_are_followed():
    inputs = (("PARAM_ANGLE_X", 60, "X"), ("PARAM_ANGLE_Z", 60, "Angle"),
              ("PARAM_BODY_ANGLE_X", 40, "X"))
    doc = document([setting("A", ["PARAM_HAIR_FRONT"], inputs=inputs),
                    setting("B", ["PARAM_HAIR_SIDE"], inputs=inputs),
                    setting("C", ["PARAM_HAIR_BACK"], inputs=inputs)])
    params, notes = import_physics3(doc, "x.json")
    assert sorted(params) == ["back hair", "front hair", "side hair"]
    assert notes == []


def test_what_cannot_be_mapped_is_said():
    doc = document([
        setting("S1", ["ParamHairFront", "ParamEyeBallX"],
                inputs=HEAD_BODY + (("ParamEyeBallX", 20, "X"),), reflect=True),
    ], gravity=(0.5, -1))
    doc["Meta"]["TotalInputCount"] = 99
    _, notes = import_physics3(doc, "x.json")
    assert notes == [
        "Meta.TotalInputCount says 99 but the file has 5; used the 5",
        "EffectiveForces.Gravity leans sideways; its sideways part is applied as wind",
        "S1 (ParamHairFront, ParamEyeBallX): outputs ParamEyeBallX name no chain group; ignored",
        "S1 (ParamHairFront, ParamEyeBallX): inputs ParamEyeBallX ignored (the chains follow "
        "only the head and body angles)",
        "S1 (ParamHairFront, ParamEyeBallX): Reflect flags ignored (the chains swing with the "
        "head and body, not through parameters)",
    ]


def test_settings_of_one_group_average_by_output_weight():
    doc = document([
        setting("S1", [("ParamHairBack", 100)], [ROOT, vertex(0.9, 0.9, 1.0, 3)]),
        setting("S2", [("ParamHairBackL", 50)], [ROOT, vertex(0.6, 0.9, 2.5, 3)]),
    ])
    params, notes = import_physics3(doc, "x.json")
    back = params["back hair"]
    assert back.inertia == pytest.approx((0.9 * 100 + 0.6 * 50) / 150)
    assert back.gravity == pytest.approx(GRAVITY_PX * (1.0 * 100 + 2.5 * 50) / 150)
    assert notes == ["back hair: 2 settings averaged by output weight (S1, S2)"]


# ------------------------------------------------------------------------------ the mapping

R0 = Vertex(0, 0, 1, 1, 1, 0)


def test_one_segment_pendulum_hand_checked():
    # L = 3, Delay 0.9: f = 0.9 sqrt(1300 / 3) / 2 pi = 2.98179 Hz; a rigid pendulum swings
    # as one, so the profile is flat at 1.5 and stiffness = f / (5 * 1.5) = 0.397569.
    p = pendulum_params([R0, Vertex(0, 3, 0.95, 0.9, 1.5, 3)])
    assert p.stiffness == pytest.approx(0.397569, abs=1e-6)
    assert (p.root_stiffness, p.tip_stiffness) == (1.5, 1.5)
    assert p.damping == pytest.approx(1 - 60 * math.log(0.9), abs=1e-9)      # 7.32163
    assert p.damping == pytest.approx(7.32163, abs=1e-5)
    assert p.gravity == pytest.approx(1200.0)                                # 800 px/s^2 x 1.5
    assert p.inertia == pytest.approx(0.95)
    assert (p.wind, p.wind_gust) == (0.0, 0.0)


def test_two_segment_pendulum_hand_checked():
    # Radii 1 and 3: L = 4, rho = sqrt(1 / 4) = 0.5 -> tip 0.75; Delay 1: f = sqrt(1300 / 4) /
    # 2 pi = 2.86921 Hz = 5 * s * (1.5 + 0.75) / 2 -> s = 0.510082; means weighted by radius.
    p = pendulum_params([R0, Vertex(0, 1, 0.5, 1.0, 1.0, 1), Vertex(0, 4, 0.9, 1.0, 2.0, 3)],
                        gravity=(0, -1), wind=(0.25, 0), fps=30)
    assert p.tip_stiffness == pytest.approx(0.75)
    assert p.stiffness == pytest.approx(0.510082, abs=1e-6)
    assert p.inertia == pytest.approx((0.5 * 1 + 0.9 * 3) / 4)
    assert p.damping == pytest.approx(DAMPING_FLOOR)
    assert p.gravity == pytest.approx(800 * 1.75)
    assert p.wind == pytest.approx(800 * 1.75 * 0.25)


def test_fps_scales_the_damping():
    at = {fps: pendulum_params([R0, Vertex(0, 3, 0.95, 0.9, 1.5, 3)], fps=fps).damping
          for fps in (30, 60)}
    assert at[30] == pytest.approx(1 - 30 * math.log(0.9))                  # 4.16082
    assert at[60] - DAMPING_FLOOR == pytest.approx(2 * (at[30] - DAMPING_FLOOR))


def sweep(name: str, values, **fixed) -> list[ChainParams]:
    base = dict(mobility=0.9, delay=0.85, acceleration=1.5, radius=5.0)
    out = []
    for v in values:
        vals = {**base, **fixed, name: v}
        out.append(pendulum_params([R0, Vertex(0, vals["radius"], vals["mobility"],
                                               vals["delay"], vals["acceleration"],
                                               vals["radius"])]))
    return out


def increasing(xs) -> bool:
    return all(a < b for a, b in zip(xs, xs[1:]))


def test_the_mapping_is_monotone():
    grid = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    by_mobility = sweep("mobility", grid)
    assert increasing([p.inertia for p in by_mobility])
    by_delay = sweep("delay", grid)
    assert increasing([p.stiffness for p in by_delay])               # faster clock, faster swing
    assert increasing([-p.damping for p in by_delay])                # and less damped
    by_length = sweep("radius", [0.5, 1, 3, 10, 30, 100])
    assert increasing([-p.stiffness for p in by_length])             # longer swings slower
    by_accel = sweep("acceleration", [0, 0.5, 1, 2, 5])
    assert increasing([p.gravity for p in by_accel])
    # A longer tip against the same first segment: a softer tip.
    tips = [pendulum_params([R0, Vertex(0, 2, 0.9, 0.9, 1, 2), Vertex(0, 2 + r, 0.9, 0.9, 1, r)])
            for r in (1, 3, 10, 30)]
    assert increasing([-p.tip_stiffness for p in tips])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 100),
                          st.floats(1e-3, 1e5)), min_size=1, max_size=8),
       st.floats(-10, 10), st.floats(-10, 10), st.floats(1, 1000))
def test_any_valid_pendulum_gives_valid_chain_params(rows, gy, wx, fps):
    verts = [R0] + [Vertex(0, 0, m, d, a, r) for m, d, a, r in rows]
    p = pendulum_params(verts, gravity=(0, gy), wind=(wx, 0), fps=fps)   # validates itself
    assert 0 <= p.inertia <= 1 and p.stiffness > 0 and p.damping >= DAMPING_FLOOR
    assert p.tip_stiffness <= p.root_stiffness == ROOT_PROFILE


def test_a_live2d_template_tuning_simulates_sanely(example_rig):
    # Sane: the shake test stays finite and the chains do not stretch (the swing and timing
    # budgets judge the tuning itself, which is the file author's).
    from benchmarks.shake import shake_test
    params, _ = import_physics3(hair_and_bust(), "x.json")
    tuning = {g: params.get(g, params["front hair"]) for g in example_rig.chain_groups()}
    example_rig.set_chain_params(tuning)
    metrics = shake_test(example_rig)
    for group, m in metrics["groups"].items():
        assert not m["non_finite"], group
        assert m["max_stretch"] < metrics["budgets"]["max_stretch"], group


# ------------------------------------------------------------------------------ hostile files

def bad(mutate) -> dict:
    doc = hair_and_bust()
    mutate(doc)
    return doc


def first_vertex(doc):
    return doc["PhysicsSettings"][0]["Vertices"][1]


@pytest.mark.parametrize("doc, words", [
    (bad(lambda d: d.update(Version=2)), "Version 2 is not supported"),
    (bad(lambda d: d.update(PhysicsSettings={"a": 1})), "PhysicsSettings must be a list"),
    (bad(lambda d: d.pop("Meta")), "has no 'Meta'"),
    (bad(lambda d: first_vertex(d).update(Mobility="x")),
     "PhysicsSettings[0] (PhysicsSetting1).Vertices[1].Mobility must be a number"),
    (bad(lambda d: first_vertex(d).update(Mobility=float("nan"))),
     "Vertices[1].Mobility must be between 0 and 10, got nan"),
    (bad(lambda d: first_vertex(d).update(Delay=20)), "Delay must be between 0 and 10"),
    (bad(lambda d: first_vertex(d).update(Acceleration=True)), "Acceleration must be a number"),
    (bad(lambda d: first_vertex(d).update(Radius=float("inf"))), "Radius must be between"),
    (bad(lambda d: first_vertex(d).pop("Radius")), "has no 'Radius'"),
    (bad(lambda d: d["PhysicsSettings"][1].update(Vertices=[ROOT])),
     "PhysicsSettings[1] (PhysicsSetting2) needs at least 2 vertices"),
    (bad(lambda d: first_vertex(d).update(Radius=0)), "Radius values add up to 0"),
    (bad(lambda d: d["PhysicsSettings"][0]["Input"][0].update(Type="Z")), "Type must be one of"),
    (bad(lambda d: d["PhysicsSettings"][0]["Output"][0].update(Weight=-1)),
     "Output[0].Weight must be between 0 and 100"),
    (bad(lambda d: d["PhysicsSettings"][0].update(Id=7)), "PhysicsSettings[0].Id must be"),
    (bad(lambda d: d["PhysicsSettings"][0]["Input"][0].update(Reflect="no")),
     "Reflect must be true or false"),
    (bad(lambda d: d["Meta"].update(TotalInputCount=-1)), "TotalInputCount must be a whole"),
    (bad(lambda d: d["Meta"]["EffectiveForces"]["Gravity"].update(X=1e9)),
     "Gravity.X must be between -10 and 10"),
    (bad(lambda d: d["Meta"].update(Fps=0)), "Meta.Fps must be between 1 and 1000"),
    (bad(lambda d: d["PhysicsSettings"][0]["Normalization"]["Angle"].update(Minimum=20)),
     "Minimum <= Default <= Maximum"),
    (bad(lambda d: d.update(PhysicsSettings=[{}] * 1025)), "1025 entries; at most 1024"),
    (bad(lambda d: d["PhysicsSettings"][0].update(Vertices=[ROOT] * 257)),
     "Vertices has 257 entries"),
])
def test_hostile_files_are_one_line_errors_naming_file_and_setting(tmp_path, doc, words):
    path = tmp_path / "bad.physics3.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")   # NaN as written
    with pytest.raises(InputError) as err:
        read_physics(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not a usable physics3.json: ")
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("content, words", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b"[1, 2]", "expected {\"groups\""),
    (b'{"Version": 3}', "group 'Version': spring parameters must be a mapping"),
])
def test_files_that_are_not_physics_say_so(tmp_path, content, words):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=None) as err:
        read_physics(path)
    assert str(err.value).startswith(f"{path}: ") and words in str(err.value)


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.physics3.json"
    with open(path, "wb") as fh:
        fh.write(b'{"Version": 3, "PhysicsSettings": []' + b" " * MAX_PHYSICS_BYTES + b"}")
    with pytest.raises(InputError, match="over 4 MiB"):
        read_physics(path)


def test_a_bom_is_read(tmp_path):
    path = tmp_path / "bom.physics3.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(hair_and_bust()).encode())
    assert sorted(read_physics(path)[0]) == ["back hair", "front hair", "side hair"]


# ------------------------------------------------------------------------------ export

def test_export_document_is_consistent_and_readable_back():
    from rig.chains import default_chain_params
    groups = ["back hair", "front hair", "ribbons", "side hair", "skirt", "sleeves", "tail"]
    doc, notes = physics3_document({g: default_chain_params(g) for g in groups},
                                   segments={"back hair": 7, "skirt": 4})
    assert notes == []
    doc = json.loads(json.dumps(doc))                      # plain JSON all through
    meta, found = doc["Meta"], doc["PhysicsSettings"]
    assert meta["PhysicsSettingCount"] == len(found) == len(groups)
    assert meta["TotalInputCount"] == sum(len(s["Input"]) for s in found) == 4 * len(groups)
    assert meta["TotalOutputCount"] == sum(len(s["Output"]) for s in found) == len(groups)
    assert meta["VertexCount"] == sum(len(s["Vertices"]) for s in found)
    assert meta["EffectiveForces"] == {"Gravity": {"X": 0.0, "Y": -1.0},
                                       "Wind": {"X": 0.0, "Y": 0.0}}
    assert [e["Name"] for e in meta["PhysicsDictionary"]] == [g.capitalize() for g in groups]
    by_group = dict(zip(groups, found))
    assert [s["Output"][0]["Destination"]["Id"] for s in found] == [
        "ParamHairBack", "ParamHairFront", "ParamRibbons", "ParamHairSide", "ParamSkirt",
        "ParamSleeves", "ParamTail"]
    assert [(i["Source"]["Id"], i["Type"], i["Weight"]) for i in found[0]["Input"]] == [
        ("ParamAngleX", "X", 60.0), ("ParamAngleZ", "Angle", 60.0),
        ("ParamBodyAngleX", "X", 40.0), ("ParamBodyAngleZ", "Angle", 40.0)]
    assert len(by_group["back hair"]["Vertices"]) == 8      # root + 7 segments
    assert len(by_group["skirt"]["Vertices"]) == 5
    for s in found:
        assert s["Output"][0]["VertexIndex"] == len(s["Vertices"]) - 1
    parse_physics3(doc, "exported")                         # our own validation accepts it


ROUND_TRIP_TOL = 1e-9      # relative; the mapping is inverted exactly, up to float rounding


def close(a: ChainParams, b: ChainParams) -> bool:
    return all(math.isclose(x, y, rel_tol=ROUND_TRIP_TOL, abs_tol=ROUND_TRIP_TOL)
               for x, y in zip(a.to_dict().values(), b.to_dict().values()))


def test_round_trip_gives_back_the_group_defaults():
    from rig.chains import default_chain_params
    params = {g: default_chain_params(g) for g in ("back hair", "front hair", "side hair",
                                                   "hair", "skirt")}
    back, notes = import_physics3(physics3_document(params)[0], "rt")
    assert notes == []
    for g, p in params.items():
        assert close(back[g], p), (g, back[g], p)


def test_round_trip_of_a_preset_keeps_its_physics():
    # The root multiplier comes back as 1.5; stiffness x profile is what the springs use.
    soft = PRESETS["soft"]
    back = import_physics3(physics3_document({"ribbons": soft})[0], "rt")[0]["ribbons"]
    assert back.root_stiffness == ROOT_PROFILE
    assert back.stiffness * back.root_stiffness == pytest.approx(
        soft.stiffness * soft.root_stiffness, rel=ROUND_TRIP_TOL)
    assert back.stiffness * back.tip_stiffness == pytest.approx(
        soft.stiffness * soft.tip_stiffness, rel=ROUND_TRIP_TOL)
    assert close(replace(back, stiffness=soft.stiffness, root_stiffness=soft.root_stiffness,
                         tip_stiffness=soft.tip_stiffness), soft)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.05, 5), st.floats(DAMPING_FLOOR, 100), st.floats(0, 5000),
       st.floats(0, 1), st.floats(0.1, 1), st.integers(1, 8))
@example(5.0, 96.0, 0.0, 0.0, 1.0, 1)     # stiff and damped: a pendulum under 0.001 long
def test_round_trip_property(stiffness, damping, gravity, inertia, rho, segments):
    p = ChainParams(stiffness=stiffness, damping=damping, gravity=gravity, inertia=inertia,
                    root_stiffness=ROOT_PROFILE, tip_stiffness=ROOT_PROFILE * rho)
    doc, _ = physics3_document({"skirt": p}, {"skirt": segments})
    back = import_physics3(doc, "rt")[0]["skirt"]
    if segments == 1:                  # one segment: a rigid pendulum, flat profile
        assert back.tip_stiffness == ROOT_PROFILE
        p = replace(p, stiffness=back.stiffness, tip_stiffness=ROOT_PROFILE)
    assert close(back, p), (back, p)


def test_round_trip_wind_shared_by_the_groups():
    a = ChainParams(gravity=800, wind=200)
    b = ChainParams(gravity=1600, wind=400)          # the same wind per gravity
    doc, notes = physics3_document({"skirt": a, "tail": b})
    assert doc["Meta"]["EffectiveForces"]["Wind"]["X"] == pytest.approx(0.25)
    back = import_physics3(doc, "rt")[0]
    assert back["skirt"].wind == pytest.approx(200) and back["tail"].wind == pytest.approx(400)
    assert notes == []


def test_export_says_what_physics3_cannot_hold():
    doc, notes = physics3_document({
        "skirt": ChainParams(wind_gust=50, damping=0.5),
        "tail": ChainParams(gravity=-100, wind=30, root_stiffness=0.5, tip_stiffness=1.0)})
    assert notes == [
        "skirt: physics3 has no wind gusts; wind_gust 50 not written",
        "tail: physics3 has one wind for all groups; its wind becomes 0 (was 30)",
        "skirt: damping below 1/s cannot be written; wrote 1",
        "tail: the tip is stiffer than the root; a pendulum cannot be: wrote an even stiffness",
        "tail: upward gravity cannot be written; wrote none",
    ]
    parse_physics3(doc, "exported")


# ------------------------------------------------------------------------------ commands

def physics(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `physics ARGV` through its own parser, as runtime.commands.cli.main would."""
    from runtime.commands.physics import register
    return run_registered(register, ["physics", *argv], capsys)


@pytest.fixture(scope="module")
def example_psd(tmp_path_factory, example_character):
    from seethrough_core.psd_write import write_psd
    path = tmp_path_factory.mktemp("psd") / "char.psd"
    write_psd(example_character, path)
    return path


def test_build_with_a_physics3_file(example_psd, tmp_path, capsys):
    from runtime.commands.cli import main
    doc = hair_and_bust()
    doc["PhysicsSettings"].append(setting("PhysicsSetting5", ["ParamTail"]))
    p3 = write(tmp_path, doc)
    built = tmp_path / "built.rig"
    capsys.readouterr()
    assert main(["build", str(example_psd), "-o", str(built), "--physics", str(p3),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (f"seethrough-rig: warning: {p3}: PhysicsSetting4 (胸 / ParamBustY): no bust "
            f"chains; skipped") in err
    assert f"seethrough-rig: warning: {p3}: this character has no tail chains" in err
    rig = load_rig(built)
    expected, _ = import_physics3(doc, "x")
    for group in ("front hair", "side hair", "back hair"):
        assert rig.chain_params(group) == expected[group], group
    assert "tail" not in rig.spec.chain_params


def test_build_with_a_broken_physics3_file_writes_nothing(example_psd, tmp_path, capsys):
    from runtime.commands.cli import main
    p3 = write(tmp_path, bad(lambda d: first_vertex(d).update(Mobility=70)))
    built = tmp_path / "built.rig"
    assert main(["build", str(example_psd), "-o", str(built), "--physics", str(p3)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(p3) in err and "PhysicsSetting1" in err
    assert not built.exists()


def test_physics_import_applies_and_saves(fresh_rig_path, tmp_path, capsys):
    p3 = write(tmp_path, hair_and_bust())
    code, out, err = physics([str(fresh_rig_path), "--import", str(p3), "--set",
                              "back hair.damping=3", "--no-window", "--save"], capsys)
    assert code == 0, err
    assert "no bust chains" in err and "physics saved" in out
    expected, _ = import_physics3(hair_and_bust(), "x")
    rig = load_rig(fresh_rig_path)
    assert rig.chain_params("front hair") == expected["front hair"]
    assert rig.chain_params("side hair") == expected["side hair"]
    assert rig.chain_params("back hair") == replace(expected["back hair"], damping=3.0)


def test_physics_import_takes_our_format_too(fresh_rig_path, tmp_path, capsys):
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"format": "seethrough-rig physics", "groups": {
        "skirt": PRESETS["heavy"].to_dict(), "tail": PRESETS["soft"].to_dict()}}))
    code, _, err = physics([str(fresh_rig_path), "--import", str(ours), "--no-window",
                            "--save"], capsys)
    assert code == 0, err
    assert "this rig has no tail chains" in err
    assert load_rig(fresh_rig_path).chain_params("skirt") == PRESETS["heavy"]


def test_physics_import_of_nothing_this_rig_has_is_an_error(fresh_rig_path, tmp_path, capsys):
    p3 = write(tmp_path, document([setting("S1", ["ParamBustX"])]))
    before = fresh_rig_path.read_bytes()
    code, _, err = physics([str(fresh_rig_path), "--import", str(p3), "--no-window",
                            "--save"], capsys)
    assert code == 2 and "tunes none of this rig's chain groups" in err
    assert err.strip().count("\n") == 0
    assert fresh_rig_path.read_bytes() == before


def test_physics_export_physics3_round_trips(rig_path, tmp_path, capsys):
    out = tmp_path / "char.physics3.json"
    code, stdout, err = physics([str(rig_path), "--no-window", "--export", str(out),
                                 "--format", "physics3"], capsys)
    assert code == 0, err
    assert "(physics3)" in stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    rig = load_rig(rig_path)
    groups = rig.chain_groups()
    meta = doc["Meta"]
    assert meta["PhysicsSettingCount"] == len(doc["PhysicsSettings"]) == len(groups)
    assert meta["TotalInputCount"] == sum(len(s["Input"]) for s in doc["PhysicsSettings"])
    assert meta["TotalOutputCount"] == sum(len(s["Output"]) for s in doc["PhysicsSettings"])
    assert meta["VertexCount"] == sum(len(s["Vertices"]) for s in doc["PhysicsSettings"])
    back, notes = read_physics(out)
    assert sorted(back) == groups and notes == []
    for g in groups:
        want, got = rig.chain_params(g), back[g]
        # Exact up to ROUND_TRIP_TOL for the physics; the root multiplier normalises to 1.5.
        assert got.stiffness * got.root_stiffness == pytest.approx(
            want.stiffness * want.root_stiffness, rel=ROUND_TRIP_TOL), g
        assert got.stiffness * got.tip_stiffness == pytest.approx(
            want.stiffness * want.tip_stiffness, rel=ROUND_TRIP_TOL), g
        for name in ("damping", "gravity", "wind", "inertia"):
            assert getattr(got, name) == pytest.approx(getattr(want, name),
                                                       rel=ROUND_TRIP_TOL), (g, name)
    # And back into the rig: the same as before for the groups at the default root multiplier.
    fresh = tmp_path / "again.rig"
    shutil.copy(rig_path, fresh)
    code, _, err = physics([str(fresh), "--import", str(out), "--no-window", "--save"], capsys)
    assert code == 0, err
    again = load_rig(fresh)
    for g in groups:
        if rig.chain_params(g).root_stiffness == ROOT_PROFILE:
            assert close(again.chain_params(g), rig.chain_params(g)), g


def test_format_without_export_is_an_error(rig_path, capsys):
    code, _, err = physics([str(rig_path), "--no-window", "--format", "physics3"], capsys)
    assert code == 2 and "--format physics3 only goes with --export" in err


def test_mobility_and_delay_past_one_read_as_one():
    # The editor keeps both in 0..1; a hand-edited 1.2 is a fully free, undelayed vertex.
    from rig.physics3 import pendulum_params
    from types import SimpleNamespace as V
    root = V(mobility=1.0, delay=1.0, acceleration=1.0, radius=0.0)
    one = pendulum_params([root, V(mobility=1.0, delay=1.0, acceleration=1.0, radius=10.0)])
    past = pendulum_params([root, V(mobility=1.2, delay=1.3, acceleration=1.0, radius=10.0)])
    assert past == one
