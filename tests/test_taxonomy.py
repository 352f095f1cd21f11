import pytest

from seethrough_core import taxonomy
from seethrough_core.taxonomy import format_name, parse_name


def test_tag_sets_have_the_published_sizes():
    assert len(taxonomy.V3_TAGS) == 23 and len(set(taxonomy.V3_TAGS)) == 23
    assert len(taxonomy.V2_TAGS) == 19 and len(set(taxonomy.V2_TAGS)) == 19
    # v3 split v2's hair and eyes; everything else is shared.
    assert set(taxonomy.V2_TAGS) - set(taxonomy.V3_TAGS) == {"hair", "eyes"}


@pytest.mark.parametrize("tag", taxonomy.V3_TAGS)
def test_every_v3_tag_parses_to_itself(tag):
    p = parse_name(tag)
    assert (p.tag, p.side, p.stratum, p.group, p.variant, p.known) == (tag, None, None, None, None, True)


@pytest.mark.parametrize("name, tag, side, stratum, group", [
    ("front hair-l-0_2", "front hair", "l", 0, 2),
    ("back hair-1", "back hair", None, 1, None),
    ("irides-l", "irides", "l", None, None),
    ("eyewhite_r", "eyewhite", "r", None, None),
    ("handwear L", "handwear", "l", None, None),
    ("handwear R", "handwear", "r", None, None),
    ("eyelash-r-1", "eyelash", "r", 1, None),
    ("topwear-0", "topwear", None, 0, None),
    ("back hair_1", "back hair", None, None, 1),
    ("irides (left)", "irides", "l", None, None),
])
def test_suffix_grammar(name, tag, side, stratum, group):
    p = parse_name(name)
    assert (p.tag, p.side, p.stratum, p.group) == (tag, side, stratum, group)


@pytest.mark.parametrize("name, tag", [
    ("hairf", "front hair"), ("hairb", "back hair"), ("eyebg", "eyewhite"),
    ("hair", "hair"), ("eyes", "eyes"),
])
def test_legacy_and_v2_names(name, tag):
    assert parse_name(name).tag == tag


@pytest.mark.parametrize("name, tag, side", [
    ("前髪", "front hair", None), ("後ろ髪", "back hair", None), ("白目", "eyewhite", None),
    ("口", "mouth", None), ("眉", "eyebrow", None), ("白目 L", "eyewhite", "l"),
    ("眉 R", "eyebrow", "r"), ("右目", "eyes", "r"), ("黒目", "irides", None),
    ("まつげ", "eyelash", None), ("Bangs", "front hair", None), ("Hair Front Copy", "front hair", None),
    ("Left Eyebrow", "eyebrow", "l"), ("skirt", "bottomwear", None), ("ＦＡＣＥ", "face", None),
])
def test_artist_synonyms(name, tag, side):
    p = parse_name(name)
    assert p.known and p.tag == tag and p.side == side


def test_synonym_words_do_not_match_inside_other_words():
    # "ear" must not be found inside "wear", nor "eye" inside "eyewear".
    assert parse_name("earwear").tag == "earwear"
    assert parse_name("eyewear").tag == "eyewear"
    assert parse_name("neckwear").tag == "neckwear"


@pytest.mark.parametrize("name, variant, tag", [
    ("mouth_open", "mouth_open", "mouth"), ("mouth_close", "mouth_close", "mouth"),
    ("eye_close", "eye_close", "eyelash"), ("eye_close-l", "eye_close", "eyelash"),
    ("口開け", "mouth_open", "mouth"), ("目閉じ", "eye_close", "eyelash"),
])
def test_expression_variants(name, variant, tag):
    p = parse_name(name)
    assert p.variant == variant and p.tag == tag


def test_variant_keeps_its_side():
    assert parse_name("eye_close-r").side == "r"


def test_unknown_names_become_objects_and_are_flagged():
    for name in ("Layer 1", "🎉 party", "下書き"):
        p = parse_name(name)
        assert p.tag == "objects" and not p.known


def test_group_path_falls_back_to_parent_groups():
    assert parse_name("Head/Eyes/白目 R").tag == "eyewhite"
    p = parse_name("Hair Front/Layer 3")
    assert p.tag == "front hair" and p.known


def test_image_side_convention_flips():
    assert parse_name("irides-l", side_convention="image").side == "r"
    assert parse_name("irides-r", side_convention="character").side == "r"
    with pytest.raises(ValueError):
        parse_name("irides-l", side_convention="viewer")


@pytest.mark.parametrize("args", [
    ("front hair", "l", 0, 2, None), ("irides", "r", None, None, None),
    ("back hair", None, 1, None, None), ("mouth", None, None, None, "mouth_open"),
    ("eyelash", "l", None, None, "eye_close"),
])
def test_format_then_parse_round_trips(args):
    tag, side, stratum, group, variant = args
    p = parse_name(format_name(tag, side, stratum, group, variant))
    assert (p.tag, p.side, p.stratum, p.group, p.variant) == args


def test_format_rejects_unknown_tag():
    with pytest.raises(ValueError):
        format_name("tentacles")
