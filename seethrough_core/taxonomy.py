"""The layer taxonomy: See-through tags, name parsing, and the synonym table for artists' names.

A layer name such as ``front hair-l-0_2`` carries up to four facts besides its tag:
side (``-l``/``-r``), depth stratum (``-0`` near, ``-1`` far), an extra group index (``_2``),
and, for expression art, a variant (``mouth_open``, ``mouth_close``, ``eye_close``).

Side convention. See-through and Live2D name sides from the *character's* point of view: the
character's left eye is drawn on the image's right. Some tools (and many artists) mean the
*image's* left instead. :func:`parse_name` always returns the character's side; pass
``side_convention="image"`` for files named the other way. The importer can also detect the
convention from where paired layers actually sit (see ``seethrough_core.psd_read``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# See-through v3: 23 tags. Order is the paper's listing, not a drawing order.
V3_TAGS: tuple[str, ...] = (
    "front hair", "back hair", "headwear", "face", "irides", "eyebrow", "eyewhite", "eyelash",
    "eyewear", "ears", "earwear", "nose", "mouth", "neck", "neckwear", "topwear", "handwear",
    "bottomwear", "legwear", "footwear", "tail", "wings", "objects",
)
# See-through v2: 19 tags; hair and eyes were single classes.
V2_TAGS: tuple[str, ...] = (
    "hair", "headwear", "face", "eyes", "eyewear", "ears", "earwear", "nose", "mouth", "neck",
    "neckwear", "topwear", "handwear", "bottomwear", "legwear", "footwear", "tail", "wings",
    "objects",
)
# What a picture holds besides its character (a frame line, a signature, the page's scenery):
# drawn under everything and never moved.
BACKDROP_TAG = "backdrop"
# Every tag a Layer may carry: the v3 tags, the two v2 classes v3 split up, and the backdrop.
ALL_TAGS: tuple[str, ...] = V3_TAGS + ("hair", "eyes", BACKDROP_TAG)

VARIANTS: tuple[str, ...] = ("mouth_open", "mouth_close", "eye_close", "blush")
# blush: the cheeks' flush, shown by ParamCheek (drawn on the face, so it moves with it).
VARIANT_TAG = {"mouth_open": "mouth", "mouth_close": "mouth", "eye_close": "eyelash",
               "blush": "face"}

# Parts that come in pairs and so may carry a side.
PAIRED_TAGS = frozenset({
    "irides", "eyebrow", "eyewhite", "eyelash", "eyes", "ears", "earwear", "handwear", "legwear",
    "footwear", "wings",
})
# Parts See-through stratifies into near/far strata by pseudo-depth.
STRATIFIED_TAGS = frozenset({"front hair", "back hair", "hair", "handwear", "topwear", "bottomwear"})

# Families used by the rigger: which parts belong to the head, which swing, ...
HAIR_TAGS = frozenset({"front hair", "back hair", "hair"})
EYE_TAGS = frozenset({"irides", "eyebrow", "eyewhite", "eyelash", "eyes"})
HEAD_TAGS = frozenset({"front hair", "back hair", "hair", "headwear", "face", "irides", "eyebrow",
                       "eyewhite", "eyelash", "eyes", "eyewear", "ears", "earwear", "nose", "mouth"})
BODY_TAGS = frozenset(set(ALL_TAGS) - HEAD_TAGS - {BACKDROP_TAG})

# Typical back-to-front order, used only when a file gives no order or depth (e.g. to place an
# expression variant or to sort a decomposition's output before depth is known). The backdrop
# comes before all of them (rank -1).
CANONICAL_ORDER: tuple[str, ...] = (
    "wings", "back hair", "hair", "tail", "legwear", "footwear", "bottomwear", "handwear",
    "neck", "topwear", "neckwear", "ears", "earwear", "face", "nose", "mouth", "eyewhite",
    "irides", "eyes", "eyelash", "eyebrow", "eyewear", "front hair", "headwear", "objects",
)

# Older See-through/Live2D-export names.
LEGACY_NAMES = {
    "hairf": "front hair", "hairb": "back hair", "eyebg": "eyewhite", "hair_front": "front hair",
    "hair_back": "back hair", "frontHair": "front hair", "backHair": "back hair",
}

# Artists' names, English and Japanese, lowercased and NFKC-normalised, to tags. Matched on the
# whole base name first, then on the longest synonym contained in it.
SYNONYMS: dict[str, str] = {
    # hair
    "front hair": "front hair", "fringe": "front hair", "bangs": "front hair", "forelock": "front hair",
    "hair front": "front hair", "front_hair": "front hair", "fronthair": "front hair",
    "side hair": "front hair", "sidelocks": "front hair", "sidelock": "front hair",
    "ahoge": "front hair", "前髪": "front hair", "まえがみ": "front hair", "横髪": "front hair",
    "サイド髪": "front hair", "触覚": "front hair", "アホ毛": "front hair", "もみあげ": "front hair",
    "back hair": "back hair", "hair back": "back hair", "back_hair": "back hair",
    "backhair": "back hair", "rear hair": "back hair", "ponytail": "back hair",
    "twintail": "back hair", "twin tail": "back hair", "後ろ髪": "back hair", "後髪": "back hair",
    "うしろがみ": "back hair", "ポニーテール": "back hair", "ツインテール": "back hair",
    "hair": "hair", "髪": "hair", "かみ": "hair",
    # head and face
    "headwear": "headwear", "hat": "headwear", "cap": "headwear", "ribbon": "headwear",
    "hair ornament": "headwear", "hairpin": "headwear", "helmet": "headwear", "crown": "headwear",
    "帽子": "headwear", "リボン": "headwear", "髪飾り": "headwear", "カチューシャ": "headwear",
    "face": "face", "head": "face", "skin face": "face", "顔": "face", "かお": "face",
    "輪郭": "face", "肌": "face", "頭": "face",
    "irides": "irides", "iris": "irides", "irises": "irides", "pupil": "irides", "pupils": "irides",
    "eyeball": "irides", "黒目": "irides", "瞳": "irides", "虹彩": "irides", "目玉": "irides",
    "ハイライト": "irides", "瞳孔": "irides",
    "eyebrow": "eyebrow", "eyebrows": "eyebrow", "brow": "eyebrow", "brows": "eyebrow",
    "眉": "eyebrow", "眉毛": "eyebrow", "まゆ": "eyebrow",
    "eyewhite": "eyewhite", "eye white": "eyewhite", "sclera": "eyewhite", "white of eye": "eyewhite",
    "白目": "eyewhite", "しろめ": "eyewhite",
    "eyelash": "eyelash", "eyelashes": "eyelash", "lash": "eyelash", "lashes": "eyelash",
    "eyelid": "eyelash", "eye line": "eyelash", "まつげ": "eyelash", "睫毛": "eyelash",
    "まつ毛": "eyelash", "上まぶた": "eyelash", "まぶた": "eyelash", "瞼": "eyelash",
    "アイライン": "eyelash",
    "eyes": "eyes", "eye": "eyes", "目": "eyes", "め": "eyes", "眼": "eyes",
    "eyewear": "eyewear", "glasses": "eyewear", "spectacles": "eyewear", "goggles": "eyewear",
    "眼鏡": "eyewear", "メガネ": "eyewear", "めがね": "eyewear",
    "ears": "ears", "ear": "ears", "耳": "ears", "みみ": "ears", "animal ears": "ears",
    "ケモミミ": "ears", "獣耳": "ears",
    "earwear": "earwear", "earring": "earwear", "earrings": "earwear", "ピアス": "earwear",
    "イヤリング": "earwear",
    "nose": "nose", "鼻": "nose", "はな": "nose",
    "mouth": "mouth", "lips": "mouth", "lip": "mouth", "teeth": "mouth", "tongue": "mouth",
    "口": "mouth", "くち": "mouth", "唇": "mouth", "歯": "mouth", "舌": "mouth",
    # body
    "neck": "neck", "首": "neck", "くび": "neck",
    "neckwear": "neckwear", "necktie": "neckwear", "tie": "neckwear", "scarf": "neckwear",
    "collar": "neckwear", "choker": "neckwear", "necklace": "neckwear", "ネクタイ": "neckwear",
    "マフラー": "neckwear", "チョーカー": "neckwear", "首輪": "neckwear", "襟": "neckwear",
    "topwear": "topwear", "body": "topwear", "torso": "topwear", "shirt": "topwear",
    "jacket": "topwear", "coat": "topwear", "dress": "topwear", "blouse": "topwear",
    "sweater": "topwear", "hoodie": "topwear", "uniform": "topwear", "top": "topwear",
    "clothes": "topwear", "体": "topwear", "胴体": "topwear", "服": "topwear", "上着": "topwear",
    "シャツ": "topwear", "制服": "topwear", "ワンピース": "topwear", "胴": "topwear",
    "handwear": "handwear", "arm": "handwear", "arms": "handwear", "hand": "handwear",
    "hands": "handwear", "sleeve": "handwear", "sleeves": "handwear", "glove": "handwear",
    "gloves": "handwear", "腕": "handwear", "手": "handwear", "袖": "handwear", "手袋": "handwear",
    "うで": "handwear",
    "bottomwear": "bottomwear", "skirt": "bottomwear", "pants": "bottomwear",
    "trousers": "bottomwear", "shorts": "bottomwear", "スカート": "bottomwear",
    "ズボン": "bottomwear", "パンツ": "bottomwear", "下着": "bottomwear",
    "legwear": "legwear", "leg": "legwear", "legs": "legwear", "socks": "legwear",
    "stockings": "legwear", "tights": "legwear", "thighhighs": "legwear", "足": "legwear",
    "脚": "legwear", "靴下": "legwear", "タイツ": "legwear", "ニーソ": "legwear",
    "footwear": "footwear", "shoe": "footwear", "shoes": "footwear", "boots": "footwear",
    "boot": "footwear", "foot": "footwear", "feet": "footwear", "靴": "footwear",
    "ブーツ": "footwear",
    "tail": "tail", "尻尾": "tail", "しっぽ": "tail", "尾": "tail",
    "wings": "wings", "wing": "wings", "翼": "wings", "羽": "wings", "はね": "wings",
    "objects": "objects", "object": "objects", "prop": "objects", "weapon": "objects",
    "accessory": "objects", "小物": "objects", "持ち物": "objects", "武器": "objects",
    # the picture around the character
    "backdrop": "backdrop", "background": "backdrop", "scenery": "backdrop",
    "背景": "backdrop", "はいけい": "backdrop",
}

# Expression variants, under their common spellings.
VARIANT_SYNONYMS: dict[str, str] = {
    "mouth_open": "mouth_open", "mouth open": "mouth_open", "mouthopen": "mouth_open",
    "open mouth": "mouth_open", "口開け": "mouth_open", "口あけ": "mouth_open", "開口": "mouth_open",
    "mouth_close": "mouth_close", "mouth close": "mouth_close", "mouth_closed": "mouth_close",
    "mouth closed": "mouth_close", "mouthclose": "mouth_close", "closed mouth": "mouth_close",
    "口閉じ": "mouth_close", "閉口": "mouth_close",
    "eye_close": "eye_close", "eye close": "eye_close", "eyes_closed": "eye_close",
    "eye_closed": "eye_close", "eyes closed": "eye_close", "closed eyes": "eye_close",
    "eyeclose": "eye_close", "目閉じ": "eye_close", "閉じ目": "eye_close", "目とじ": "eye_close",
    "blush": "blush", "cheek": "blush", "cheeks": "blush", "flush": "blush", "tere": "blush",
    "頬": "blush", "ほほ": "blush", "チーク": "blush", "照れ": "blush", "赤面": "blush",
}

_SIDE_WORDS = {
    "left": "l", "right": "r", "左": "l", "右": "r", "l": "l", "r": "r",
}


@dataclass(frozen=True)
class ParsedName:
    """What a layer name says. ``side`` is always the character's side ('l', 'r' or None)."""

    name: str
    tag: str
    side: str | None
    stratum: int | None
    group: int | None
    variant: str | None
    known: bool  # False when nothing in the name matched the taxonomy (tag falls back to objects)


def normalise(text: str) -> str:
    """NFKC, lowercase, collapsed whitespace: full-width and half-width spellings compare equal."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"\s+", " ", text)


# Suffix grammar, applied from the end of the base name: group `_N`, stratum `-0/-1`, side.
_GROUP_RE = re.compile(r"^(?P<base>.*?)_(?P<n>\d+)$")
_STRATUM_RE = re.compile(r"^(?P<base>.*?)-(?P<s>[01])$")
_SIDE_SUFFIX_RE = re.compile(r"^(?P<base>.*?)(?:[-_. ](?P<s>[lr])|\s*[(（](?P<w>left|right|l|r|左|右)[)）])$")
_SIDE_WORD_RE = re.compile(r"^(?:(?P<pre>left|right|左|右)[\s_\-]*)?(?P<base>.*?)(?:[\s_\-]*(?P<post>left|right|左|右))?$")


def _lookup_tag(base: str) -> str | None:
    if base in LEGACY_NAMES:
        return LEGACY_NAMES[base]
    key = normalise(base)
    if key in SYNONYMS:
        return SYNONYMS[key]
    for legacy, tag in LEGACY_NAMES.items():
        if key == legacy.lower():
            return tag
    # Longest synonym contained in the name ("Hair Front Copy", "前髪 影" ...). ASCII synonyms
    # must match whole words so "ear" does not match inside "wear".
    best: tuple[int, str] | None = None
    for syn, tag in SYNONYMS.items():
        if syn.isascii():
            hit = re.search(r"(?<![a-z])" + re.escape(syn) + r"(?![a-z])", key) is not None
        else:
            hit = syn in key
        if hit and (best is None or len(syn) > best[0]):
            best = (len(syn), tag)
    return best[1] if best else None


def parse_name(name: str, side_convention: str = "character") -> ParsedName:
    """Parse a layer name into tag, side, stratum, group and variant.

    ``name`` may carry a group path (``Head/Eyes/白目 L``); only the last component is parsed,
    then the parent groups are tried when the leaf alone says nothing.
    ``side_convention`` is ``"character"`` (See-through, Live2D) or ``"image"``.
    """
    if side_convention not in ("character", "image"):
        raise ValueError(f"side_convention must be 'character' or 'image', not {side_convention!r}")
    parts = [p for p in name.split("/") if p.strip()] or [name]
    parsed = _parse_component(parts[-1])
    if not parsed.known:
        for parent in reversed(parts[:-1]):
            p = _parse_component(parent)
            if p.known:
                parsed = ParsedName(name, p.tag, parsed.side or p.side, parsed.stratum,
                                    parsed.group, parsed.variant or p.variant, True)
                break
    side = parsed.side
    if side is not None and side_convention == "image":
        side = {"l": "r", "r": "l"}[side]
    return ParsedName(name, parsed.tag, side, parsed.stratum, parsed.group, parsed.variant, parsed.known)


def _parse_component(raw: str) -> ParsedName:
    text = unicodedata.normalize("NFKC", raw).strip()
    variant = VARIANT_SYNONYMS.get(normalise(text))
    if variant is not None:
        return ParsedName(raw, VARIANT_TAG[variant], None, None, None, variant, True)

    base, group, stratum, side = text, None, None, None
    # Suffixes in any order, peeled from the end until none matches (e.g. "front hair-l-0_2").
    for _ in range(4):
        m = _GROUP_RE.match(base)
        if m and m.group("base"):
            base, group = m.group("base"), int(m.group("n"))
            continue
        m = _STRATUM_RE.match(base)
        if m and m.group("base"):
            base, stratum = m.group("base"), int(m.group("s"))
            continue
        m = _SIDE_SUFFIX_RE.match(base.lower()) if base.isascii() else _SIDE_SUFFIX_RE.match(base)
        if m and m.group("base") and side is None:
            s = m.group("s") or m.group("w")
            base, side = base[: len(m.group("base"))], _SIDE_WORDS[s.lower()]
            continue
        # " L" / " R" in capitals after a non-ASCII name ("白目 L") or a separator.
        m = re.match(r"^(?P<base>.*?)[\s_\-]?(?P<s>[LR])$", base)
        if m and m.group("base") and side is None and not m.group("base")[-1].isalpha():
            base, side = m.group("base"), m.group("s").lower()
            continue
        m = re.match(r"^(?P<base>.*\S)\s(?P<s>[LR])$", base)
        if m and side is None:
            base, side = m.group("base"), m.group("s").lower()
            continue
        break
    base = base.strip(" _-.")

    # Side words: "left eye", "右目", "eye (left)".
    m = _SIDE_WORD_RE.match(normalise(base))
    if m and side is None and (m.group("pre") or m.group("post")) and m.group("base"):
        side = _SIDE_WORDS[m.group("pre") or m.group("post")]
        base = m.group("base")

    variant = VARIANT_SYNONYMS.get(normalise(base))
    if variant is not None:
        return ParsedName(raw, VARIANT_TAG[variant], side, stratum, group, variant, True)
    tag = _lookup_tag(base)
    if tag is None:
        return ParsedName(raw, "objects", side, stratum, group, None, False)
    return ParsedName(raw, tag, side, stratum, group, None, True)


def format_name(tag: str, side: str | None = None, stratum: int | None = None,
                group: int | None = None, variant: str | None = None) -> str:
    """The See-through name for a layer: ``tag[-l|-r][-0|-1][_N]``, or the variant name."""
    if variant is not None:
        name = variant
    else:
        if tag not in ALL_TAGS:
            raise ValueError(f"unknown tag {tag!r}")
        name = tag
    if side is not None:
        name += f"-{side}"
    if stratum is not None:
        name += f"-{stratum}"
    if group is not None:
        name += f"_{group}"
    return name


def canonical_rank(tag: str, variant: str | None = None) -> int:
    """Position of a tag in the typical back-to-front order (for placing layers with no depth)."""
    if variant == "eye_close":
        return CANONICAL_ORDER.index("eyelash")
    if tag == BACKDROP_TAG:
        return -1
    try:
        return CANONICAL_ORDER.index(tag)
    except ValueError:
        return len(CANONICAL_ORDER)
