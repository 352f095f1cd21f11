"""The command line end to end: inspect, build, info, errors."""
import json
import subprocess
import sys

import pytest

from cli_helpers import run_cli as run
from runtime.commands.cli import main




def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("inspect", "build", "info"):
        assert cmd in text


def test_inspect_json_schema(sample_psd, capsys):
    code, out, err = run(["inspect", str(sample_psd), "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["size"] == [1280, 1280]
    assert len(doc["layers"]) == 15
    keys = {"name", "tag", "side", "stratum", "variant", "bbox", "order", "depth"}
    assert all(set(l) == keys for l in doc["layers"])
    assert [l["order"] for l in doc["layers"]] == list(range(15))
    variants = {l["name"]: l["variant"] for l in doc["layers"]}
    assert variants["mouth_open"] == "mouth_open" and variants["eye_close"] == "eye_close"
    assert isinstance(doc["warnings"], list)


def test_inspect_table(sample_psd, capsys):
    code, out, _ = run(["inspect", str(sample_psd)], capsys)
    assert code == 0 and "front hair" in out and "1280x1280" in out


@pytest.mark.parametrize("args, needle", [
    (["inspect", "/no/such/file.psd"], "no such file"),
    (["inspect", "README.md"], "unsupported"),
    (["info", "README.md"], "not a rig file"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_option_exits_2():
    proc = subprocess.run([sys.executable, "-m", "runtime", "inspect", "--bogus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_build_then_info(sample_psd, tmp_path, capsys):
    out_rig = tmp_path / "sample.rig"
    code, out, err = run(["build", str(sample_psd), "-o", str(out_rig), "--quiet"], capsys)
    assert code == 0 and out_rig.is_file()
    code, out, err = run(["info", str(out_rig), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert set(info) == {"format_version", "size", "layers", "parameters", "chains"}
    assert info["size"] == [1280, 1280] and len(info["layers"]) == 16   # 15 art layers + the drawn blush
    assert all(set(l) == {"name", "tag", "vertices", "triangles"} for l in info["layers"])
    assert all(l["vertices"] > 0 and l["triangles"] > 0 for l in info["layers"])
    ids = {p["id"] for p in info["parameters"]}
    assert {"ParamAngleX", "ParamEyeLOpen", "ParamMouthOpenY", "ParamBreath"} <= ids
    assert info["chains"] and all(set(c) == {"name", "group", "particles"} for c in info["chains"])
    groups = {c["group"] for c in info["chains"]}
    assert "back hair" in groups and "front hair" in groups


def test_build_refuses_bad_density_and_output(sample_psd, tmp_path, capsys):
    code, _, err = run(["build", str(sample_psd), "-o", str(tmp_path / "x.rig"),
                        "--mesh-density", "0", "--quiet"], capsys)
    assert code == 2 and "mesh-density" in err
    assert not (tmp_path / "x.rig").exists()
    code, _, err = run(["build", str(sample_psd), "-o", str(tmp_path / "x.zip"), "--quiet"], capsys)
    assert code == 2


def test_every_edge_case_psd_inspects_or_fails_in_one_line(edge_case_dir, capsys):
    files = sorted(p for p in edge_case_dir.iterdir() if p.suffix.lower() in (".psd", ".psb"))
    assert files
    for path in files:
        code, out, err = run(["inspect", str(path), "--json"], capsys)
        assert code in (0, 2), path.name
        if code == 0:
            doc = json.loads(out)
            assert doc["size"][0] > 0 and isinstance(doc["layers"], list)
        else:
            assert err.count("\n") == 1 and "Traceback" not in err, path.name


@pytest.mark.parametrize("argv, needle", [
    (["render", "{rig}", "--rest", "--seed", "-1", "-o", "x.png"], "--seed"),
    (["render", "{rig}", "--rest", "--size=", "-o", "x.png"], "--size"),
    (["bench", "{rig}", "--frames", "1000000000000"], "--frames"),
    (["live", "{rig}", "--idle-only", "--report-every", "nan"], "--report-every"),
    (["physics", "{rig}", "--shake-test", "--frames", "100000000000"], "--frames"),
])
def test_numeric_options_are_checked_before_any_work(rig_path, tmp_path, capsys, argv, needle):
    argv = [a.replace("{rig}", str(rig_path)) for a in argv]
    argv = [str(tmp_path / a) if a == "x.png" else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:          # argparse's usage error
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
