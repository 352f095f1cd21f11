"""The See-through diffusion models (Lin et al., "See-through: Single-image Layer Decomposition
for Anime Characters"), written for diffusers.

- ``part_attention``: the Body Part Consistency Module (attention along the part axis).
- ``unets``: ``PartStackUNet``, a UNet over a stack of part latents (layer diffusion and depth).
- ``transparency``: the LayerDiffuse-style transparent VAE (RGB + latent -> RGBA, and back).
- ``text``: tag prompts through the CLIP text encoders.
- ``loading``: the published folder layout, offline-only resolution, clear errors.
- ``sampling``: DPM-Solver++ for the parts, few-step DDIM for depth.
- ``training``: epsilon/v-prediction losses on stacked latents, one optimiser step per call.
- ``images``: colour padding under transparency (what the VAE sees of a transparent part).

Importing this package does not import torch; its submodules do.
"""
from __future__ import annotations

import os

# Never any network access: every load goes through local files (set before huggingface_hub,
# which diffusers and transformers import, reads these at its own import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# The body pass generates these parts on the whole (square-padded) image (slot embeddings of
# group 0, in this order) ...
BODY_PARTS: tuple[str, ...] = (
    "front hair", "back hair", "head", "neck", "neckwear", "topwear", "handwear", "bottomwear",
    "legwear", "footwear", "tail", "wings", "objects",
)
# ... and the head pass these (group 1), on a crop around the body pass's `head`.
HEAD_PARTS: tuple[str, ...] = (
    "headwear", "face", "irides", "eyebrow", "eyewhite", "eyelash", "eyewear", "ears", "earwear",
    "nose", "mouth",
)
# The parts a decomposition returns: the body pass less 'head' (the head pass replaces it).
OUTPUT_PARTS: tuple[str, ...] = tuple(p for p in BODY_PARTS if p != "head") + HEAD_PARTS
# The depth model sees one image per v2 tag (in this order, then the full image). The v3 parts
# of a composed tag share its map; they are stacked bottom to top as listed.
DEPTH_TAGS: tuple[str, ...] = (
    "hair", "headwear", "face", "eyes", "eyewear", "ears", "earwear", "nose", "mouth", "neck",
    "neckwear", "topwear", "handwear", "bottomwear", "legwear", "footwear", "tail", "wings",
    "objects",
)
DEPTH_COMPOSED: dict[str, tuple[str, ...]] = {
    "hair": ("back hair", "front hair"),
    "eyes": ("eyewhite", "irides", "eyelash", "eyebrow"),
}

# The published checkpoints (Hugging Face ids) the loader points users to.
PUBLISHED_LAYERDIFF = "layerdifforg/seethroughv0.0.2_layerdiff3d"
PUBLISHED_DEPTH = "24yearsold/seethroughv0.0.1_marigold"
