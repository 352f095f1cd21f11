"""Time and memory of the See-through model backend at the published models' full size, with
random weights (nothing to download): prints one JSON object.

    python -m examples.bench_seethrough_model --device cuda --dtype bf16            # 1280 px
    python -m examples.bench_seethrough_model --device cpu --resolution 128 --steps 1

The models are the published architectures (an SDXL layer UNet with part attention and slot
embeddings, the transparent VAE, SDXL's VAE and two CLIP text encoders; a Stable Diffusion 2
depth UNet with part attention, SD's VAE and text encoder), built in memory, so the figures are
those of a real run except that the output is noise.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

SDXL_UNET = dict(
    sample_size=128, in_channels=8, out_channels=4,
    down_block_types=["DownBlock2D", "CrossFrameAttnDownBlock", "CrossFrameAttnDownBlock"],
    mid_block_type="UNetMidBlockCrossFrameAttn",
    up_block_types=["CrossFrameAttnUpBlock", "CrossFrameAttnUpBlock", "UpBlock2D"],
    block_out_channels=[320, 640, 1280], layers_per_block=2, attention_head_dim=[5, 10, 20],
    cross_attention_dim=2048, transformer_layers_per_block=[1, 2, 10], use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, group_embedding=True,
    group_embedding_num=[13, 11], tag_version="v3")
SD2_DEPTH_UNET = dict(
    sample_size=96, in_channels=12, out_channels=4,
    down_block_types=["CrossFrameAttnDownBlock"] * 3 + ["DownBlock2D"],
    mid_block_type="UNetMidBlockCrossFrameAttn",
    up_block_types=["UpBlock2D"] + ["CrossFrameAttnUpBlock"] * 3,
    block_out_channels=[320, 640, 1280, 1280], layers_per_block=2,
    attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              projection_dim=768, hidden_act="quick_gelu")
CLIP_BIGG = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                 num_attention_heads=20, projection_dim=1280, hidden_act="gelu")
CLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
              projection_dim=512, hidden_act="gelu")


def _randomised(build, dtype):
    """Build a module without initialising it, then give it random weights in ``dtype``
    directly (no fp32 copy of billions of weights)."""
    import torch
    with torch.device("meta"):
        module = build()
    # torch's own .to: diffusers' override warns about fp32-kept modules, and there are none.
    module = torch.nn.Module.to(module.to_empty(device="cpu"), dtype)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif param.ndim == 1:
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
        for name, buffer in module.named_buffers():
            if "position_ids" in name:
                buffer.copy_(torch.arange(buffer.shape[-1]).expand_as(buffer))
    return module.eval()


def _clip(kind, widths: dict, dtype):
    from transformers import CLIPTextConfig
    config = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406,
                            eos_token_id=49407, pad_token_id=49407, **widths)
    return _randomised(lambda: kind(config), dtype)


def _vae(scaling_factor: float):
    from diffusers import AutoencoderKL
    return lambda: AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2, sample_size=1024, scaling_factor=scaling_factor)


def build_models(dtype_name: str, folder: Path):
    import torch
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from examples.make_tiny_seethrough_model import write_tokenizer
    from seethrough_core.models.loading import DepthModel, LayerDiffModel, torch_dtype
    from seethrough_core.models.transparency import TransparencyVAE
    from seethrough_core.models.unets import PartStackUNet

    dtype = torch_dtype(dtype_name)
    write_tokenizer(folder / "tokenizer")          # the tags' words; ids stay inside CLIP's vocab
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", model_max_length=77)
    layers = LayerDiffModel(
        unet=_randomised(lambda: PartStackUNet(**SDXL_UNET), dtype),
        vae=_randomised(_vae(0.13025), torch.float32),
        trans_vae=_randomised(TransparencyVAE, torch.float32),
        text_encoder=_clip(CLIPTextModel, CLIP_L, dtype),
        text_encoder_2=_clip(CLIPTextModelWithProjection, CLIP_BIGG, dtype),
        tokenizer=tokenizer, tokenizer_2=tokenizer,
        scheduler=DPMSolverMultistepScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            timestep_spacing="leading", steps_offset=1, algorithm_type="sde-dpmsolver++",
            final_sigmas_type="zero"),
        path=folder, resolution=1280)
    depth = DepthModel(
        unet=_randomised(lambda: PartStackUNet(**SD2_DEPTH_UNET), dtype),
        vae=_randomised(_vae(0.18215), torch.float32),
        text_encoder=_clip(CLIPTextModel, CLIP_H, dtype), tokenizer=tokenizer,
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                timestep_spacing="trailing", clip_sample=False,
                                set_alpha_to_one=False),
        path=folder, resolution=768, steps=4)
    return layers, depth


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bf16", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--resolution", type=int, default=1280, help="layer passes (px)")
    parser.add_argument("--depth-resolution", type=int, default=768)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--offload", action="store_true")
    parser.add_argument("--attention-slicing", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from examples.character import draw_example_character
    from seethrough_core.decompose.seethrough_model import decompose_with
    from seethrough_core.models.loading import torch_device

    device = torch_device(args.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        layers, depth = build_models(args.dtype, Path(tmp))
    depth.resolution = args.depth_resolution
    built = time.perf_counter() - started
    image = draw_example_character(size=args.resolution).composite()
    # A stage's time runs from its first progress report to the next stage's.
    stages: dict[str, float] = {}
    clock = {"stage": None, "since": time.perf_counter()}

    def progress(stage: str, _fraction: float) -> None:
        if stage != clock["stage"]:
            now = time.perf_counter()
            if clock["stage"] is not None:
                stages[clock["stage"]] = stages.get(clock["stage"], 0.0) + now - clock["since"]
            clock.update(stage=stage, since=now)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    character = decompose_with(image, layers, depth, device=device, steps=args.steps,
                               resolution=args.resolution, offload=args.offload,
                               attention_slicing=args.attention_slicing, progress=progress)
    seconds = time.perf_counter() - started
    result = {
        "device": str(device), "dtype": args.dtype, "resolution": args.resolution,
        "depth_resolution": args.depth_resolution, "steps": args.steps, "offload": args.offload,
        "attention_slicing": args.attention_slicing,
        "layer_unet_parameters": _parameters(layers.unet),
        "depth_unet_parameters": _parameters(depth.unet),
        "build_seconds": round(built, 1), "seconds_per_image": round(seconds, 1),
        "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
        "layers": len(character.layers),
        "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if device.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["gpu"] = torch.cuda.get_device_name(device)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
