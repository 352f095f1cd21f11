"""Write tiny random-weight See-through models in the published layout.

    python -m examples.make_tiny_seethrough_model OUT_DIR

writes OUT_DIR/layerdiff (SDXL-style layer diffusion: unet/, vae/, trans_vae/, text_encoder/,
text_encoder_2/, tokenizer/, tokenizer_2/, scheduler/) and OUT_DIR/marigold (Marigold-style
depth: unet/, vae/, text_encoder/, tokenizer/, scheduler/), each with model_index.json. The
architecture is the real one at toy widths (32 px images, 16x16 latents), so the whole
pipeline runs on a CPU in seconds; the outputs are noise, not a decomposition.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seethrough_core.models import BODY_PARTS, HEAD_PARTS

TOKEN_LENGTH = 16          # tokenizer/encoder context (77 in the real CLIPs)
TEXT_WIDTH = 32            # each tiny CLIP's hidden size (768 and 1280 in SDXL)


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's byte-level alphabet: printable bytes map to themselves, the others to
    unused code points from 256 up (a public fact of the CLIP BPE format)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def tiny_clip_vocab(words: list[str]) -> tuple[dict[str, int], list[str]]:
    """A CLIP BPE vocabulary: every byte (alone and word-final), merges that build each of
    ``words`` left to right, and the two special tokens."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet]
    merges: list[str] = []
    for word in words:
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            merge = f"{symbols[0]} {symbols[1]}"
            joined = symbols[0] + symbols[1]
            if merge not in merges:
                merges.append(merge)
                tokens.append(joined)
            symbols = [joined] + symbols[2:]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def write_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> int:
    words = sorted({w for tag in BODY_PARTS + HEAD_PARTS for w in tag.split()})
    vocab, merges = tiny_clip_vocab(words)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                       encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": pad_token}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": TOKEN_LENGTH,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": pad_token, "do_lower_case": True}))
    return len(vocab)


def _clip_config(vocab_size: int):
    from transformers import CLIPTextConfig
    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=TOKEN_LENGTH, projection_dim=TEXT_WIDTH,
                          bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
                          pad_token_id=vocab_size - 1)


def _tiny_vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2,
                         block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                         sample_size=32, scaling_factor=0.13025)


def tiny_layerdiff_unet_config() -> dict:
    """The published layer UNet's config keys (SDXL layout: "text_time" added conditioning,
    linear-projection transformers, part-stack "CrossFrame" blocks, slot embeddings for the two
    passes) at toy width, with 8 input channels (part latent + image latent). The second level's
    three transformer layers exercise the every-second-layer placement of part attention."""
    return dict(sample_size=16, in_channels=8, out_channels=4,
                down_block_types=["DownBlock2D", "CrossFrameAttnDownBlock"],
                mid_block_type="UNetMidBlockCrossFrameAttn",
                up_block_types=["CrossFrameAttnUpBlock", "UpBlock2D"],
                block_out_channels=[32, 64], layers_per_block=1, attention_head_dim=[2, 4],
                cross_attention_dim=2 * TEXT_WIDTH, transformer_layers_per_block=[1, 3],
                use_linear_projection=True, addition_embed_type="text_time",
                addition_time_embed_dim=8, projection_class_embeddings_input_dim=TEXT_WIDTH + 6 * 8,
                norm_num_groups=16, group_embedding=True,
                group_embedding_num=[len(BODY_PARTS), len(HEAD_PARTS)], tag_version="v3")


def tiny_depth_unet_config() -> dict:
    """The published depth UNet's layout (Stable Diffusion 2 with part-stack blocks) at toy
    width, 12 input channels (full-image latent, part latent, noisy depth latent)."""
    return dict(sample_size=16, in_channels=12, out_channels=4,
                down_block_types=["CrossFrameAttnDownBlock", "DownBlock2D"],
                mid_block_type="UNetMidBlockCrossFrameAttn",
                up_block_types=["UpBlock2D", "CrossFrameAttnUpBlock"],
                block_out_channels=[32, 64], layers_per_block=1, attention_head_dim=[2, 4],
                cross_attention_dim=TEXT_WIDTH, use_linear_projection=True, norm_num_groups=16)


def tiny_transparent_vae():
    """The transparent VAE's layout at toy width, for the tiny VAE's 2x latents."""
    from seethrough_core.models.transparency import TransparencyVAE
    return TransparencyVAE(block_out_channels=(8, 16, 16),
                           down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                           up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                           layers_per_block=1, attention_head_dim=8, norm_num_groups=4,
                           latent_block=1, offset_widths=(8, 16))


def _randomise_new_modules(unet) -> None:
    """Random weights in the modules that start as no-ops, so the tiny model exercises them."""
    import torch
    with torch.no_grad():
        for block in unet.part_attention_blocks:
            block.ff.net[-1].weight.normal_(0, 0.02)
        for name, param in unet.named_parameters():
            if name.startswith("group_embeds") and ".linear." in name:
                param.normal_(0, 0.02)


def _model_index(folder: Path, name: str, components: dict[str, tuple[str, str]],
                 **settings) -> None:
    import diffusers
    index = {"_class_name": name, "_diffusers_version": diffusers.__version__, **settings}
    index.update({k: list(v) for k, v in components.items()})
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def write_tiny_layerdiff(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import DPMSolverMultistepScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from seethrough_core.models.unets import PartStackUNet

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tokenizer(folder / "tokenizer")
    write_tokenizer(folder / "tokenizer_2", pad_token="!")  # SDXL's second tokenizer pads with "!"
    CLIPTextModel(_clip_config(vocab_size)).save_pretrained(folder / "text_encoder")
    CLIPTextModelWithProjection(_clip_config(vocab_size)).save_pretrained(folder / "text_encoder_2")
    unet = PartStackUNet(**tiny_layerdiff_unet_config())
    _randomise_new_modules(unet)
    unet.save_pretrained(folder / "unet")
    _tiny_vae().save_pretrained(folder / "vae")
    tiny_transparent_vae().save_pretrained(folder / "trans_vae")
    # The published pipeline's sampler: SDXL's schedule, DPM-Solver++ 2M SDE ending at zero.
    DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                beta_schedule="scaled_linear", algorithm_type="sde-dpmsolver++",
                                final_sigmas_type="zero", prediction_type="epsilon",
                                solver_order=2, timestep_spacing="leading", steps_offset=1,
                                ).save_pretrained(folder / "scheduler")
    _model_index(folder, "SeeThroughLayerDiffPipeline", {
        "unet": ("seethrough_core.models.unets", "PartStackUNet"),
        "vae": ("diffusers", "AutoencoderKL"),
        "trans_vae": ("seethrough_core.models.transparency", "TransparencyVAE"),
        "text_encoder": ("transformers", "CLIPTextModel"),
        "text_encoder_2": ("transformers", "CLIPTextModelWithProjection"),
        "tokenizer": ("transformers", "CLIPTokenizer"),
        "tokenizer_2": ("transformers", "CLIPTokenizer"),
        "scheduler": ("diffusers", "DPMSolverMultistepScheduler")})
    return folder


def write_tiny_depth(folder: Path, seed: int = 1) -> Path:
    import torch
    from diffusers import DDIMScheduler
    from transformers import CLIPTextModel

    from seethrough_core.models.unets import PartStackUNet

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tokenizer(folder / "tokenizer")
    CLIPTextModel(_clip_config(vocab_size)).save_pretrained(folder / "text_encoder")
    unet = PartStackUNet(**tiny_depth_unet_config())
    _randomise_new_modules(unet)
    unet.save_pretrained(folder / "unet")
    _tiny_vae().save_pretrained(folder / "vae")
    # Marigold v1.1's scheduler: v-prediction, zero terminal SNR, trailing timesteps.
    DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                  beta_schedule="scaled_linear", prediction_type="v_prediction",
                  rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False,
                  set_alpha_to_one=False).save_pretrained(folder / "scheduler")
    _model_index(folder, "SeeThroughMarigoldDepthPipeline", {
        "unet": ("seethrough_core.models.unets", "PartStackUNet"),
        "vae": ("diffusers", "AutoencoderKL"),
        "text_encoder": ("transformers", "CLIPTextModel"),
        "tokenizer": ("transformers", "CLIPTokenizer"),
        "scheduler": ("diffusers", "DDIMScheduler")},
        default_denoising_steps=4, default_processing_resolution=32)
    return folder


def write_tiny_models(out_dir: Path) -> tuple[Path, Path]:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging
    diffusers_logging.disable_progress_bar()     # no "writing shards" bars for toy files
    transformers_logging.disable_progress_bar()
    out_dir = Path(out_dir)
    return write_tiny_layerdiff(out_dir / "layerdiff"), write_tiny_depth(out_dir / "marigold")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write layerdiff/ and marigold/ into")
    args = parser.parse_args(argv)
    layerdiff, depth = write_tiny_models(args.out_dir)
    print(f"wrote {layerdiff} ({len(BODY_PARTS)} body + {len(HEAD_PARTS)} head parts) and {depth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
