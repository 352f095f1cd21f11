"""Loading the two models from a local folder or a Hugging Face id, never from the network.

Layout (the published one): a folder with ``model_index.json`` and one sub-folder per
component. The layer model has unet/, vae/, trans_vae/, text_encoder/, text_encoder_2/,
tokenizer/, tokenizer_2/ and usually scheduler/; the depth model unet/, vae/, text_encoder/,
tokenizer/, scheduler/. A Hugging Face id is looked up in the local cache only.

The UNets and the transparent VAE are our own classes with the checkpoints' parameter names:
they are built empty (on the meta device, no random init of billions of weights) and take the
file's tensors as they are; any name or shape that does not match is a one-line error that says
which, never a silent partial load.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

from . import PUBLISHED_DEPTH, PUBLISHED_LAYERDIFF  # also switches huggingface_hub offline
from ..character import InputError

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.models.modeling_utils import ModelMixin
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
from transformers.utils import logging as transformers_logging

# Our own progress reporting covers loading; transformers' per-file weight bars are noise.
transformers_logging.disable_progress_bar()

from .transparency import TransparencyVAE
from .unets import PartStackUNet

LAYERDIFF_FOLDERS = ("unet", "vae", "trans_vae", "text_encoder", "text_encoder_2", "tokenizer",
                     "tokenizer_2")
DEPTH_FOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
LAYER_RESOLUTION = 1280      # the published layer model's working size (its README)
DEPTH_RESOLUTION = 768       # Marigold's default processing resolution
DEPTH_STEPS = 4              # Marigold v1.1's default denoising steps
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                 "diffusion_pytorch_model.safetensors.index.json",
                 "diffusion_pytorch_model.fp16.safetensors.index.json", "diffusion_pytorch_model.bin")


@dataclass
class LayerDiffModel:
    unet: PartStackUNet
    vae: AutoencoderKL
    trans_vae: TransparencyVAE
    text_encoder: CLIPTextModel
    text_encoder_2: CLIPTextModelWithProjection
    tokenizer: CLIPTokenizer
    tokenizer_2: CLIPTokenizer
    scheduler: DPMSolverMultistepScheduler
    path: Path
    resolution: int           # default working size of the image (and the head crop)


@dataclass
class DepthModel:
    unet: PartStackUNet
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler
    path: Path
    resolution: int           # default working size of the depth pass
    steps: int                # default denoising steps


def modules_of(model: LayerDiffModel | DepthModel) -> list[torch.nn.Module]:
    return [getattr(model, f.name) for f in fields(model)
            if isinstance(getattr(model, f.name), torch.nn.Module)]


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def torch_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device {name!r}: use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name} but this torch build sees no CUDA GPU: use --device "
                         f"cpu, or install a CUDA build of torch (see the README)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError("--device mps but MPS is not available here: use --device cpu")
    return device


def resolve_model_dir(name: str, *, kind: str, published: str, option: str,
                      folders: tuple[str, ...]) -> Path:
    """A local folder in the published layout for ``name`` (a path or a cached HF id)."""
    how = (f"download {published} on a machine with network (`hf download {published} "
           f"--local-dir DIR`), copy DIR here and pass {option} DIR")
    path = Path(name).expanduser()
    if not path.exists() and _HF_ID.match(name):
        from huggingface_hub import snapshot_download
        try:
            path = Path(snapshot_download(repo_id=name, local_files_only=True))
        except Exception:  # not in the cache (or the cache is unreadable): never fetch it
            raise InputError(f"{kind} {name!r} is neither a folder nor a downloaded Hugging Face "
                             f"model, and this tool never downloads: {how}") from None
    if not path.is_dir():
        raise InputError(f"{kind} folder {name!r} not found: {how}")
    missing = [f for f in ("model_index.json", *folders) if not (path / f).exists()]
    if missing:
        raise InputError(f"{kind} folder {str(path)!r} lacks {', '.join(missing)} (not the "
                         f"published layout): {how}")
    return path


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _load(loader, path: Path, kind: str, **kwargs):
    try:
        if isinstance(loader, type) and issubclass(loader, ModelMixin):
            kwargs["low_cpu_mem_usage"] = False   # no accelerate needed (and no warning)
        return loader.from_pretrained(path, local_files_only=True, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # corrupt or partial files: say which component, not a traceback
        raise InputError(f"{kind}: cannot load {str(path)!r} ({_first_line(exc)}): download the "
                         f"model again") from None


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of a diffusers component folder: one safetensors file, a sharded set (with
    its index), an fp16 variant, or a legacy .bin."""
    from safetensors.torch import load_file
    for name in _WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            weights: dict[str, torch.Tensor] = {}
            for shard in shards:
                weights.update(load_file(folder / shard))
            return weights
        if name.endswith(".bin"):
            return torch.load(path, map_location="cpu", weights_only=True)
        return load_file(path)
    raise FileNotFoundError(f"no weights file ({_WEIGHT_FILES[0]} or a variant)")


def load_our_model(cls, folder: Path, kind: str, dtype: torch.dtype):
    """Build ``cls`` from ``folder/config.json`` without initialising it, then take the folder's
    weights, which must match the architecture name for name and shape."""
    try:
        config = json.loads((folder / "config.json").read_text())
        with torch.device("meta"):
            model = cls.from_config({k: v for k, v in config.items() if not k.startswith("_")})
        weights = read_weights(folder)
    except Exception as exc:
        raise InputError(f"{kind}: cannot load {str(folder)!r} ({_first_line(exc)}): download "
                         f"the model again") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{len(found)} {what} (e.g. {found[0]})" for what, found in
                 (("missing", missing), ("unexpected", unexpected), ("of another shape", wrong))
                 if found]
        raise InputError(f"{kind}: the weights in {str(folder)!r} do not fit its config.json: "
                         f"{'; '.join(parts)}")
    # Cast the tensors, not the module: the module was never materialised.
    model.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=True, assign=True)
    return model.eval()


def _model_index(root: Path) -> dict:
    try:
        return json.loads((root / "model_index.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{str(root / 'model_index.json')!r} is unreadable ({_first_line(exc)}): "
                         f"download the model again") from None


def _check_inputs(unet: PartStackUNet, vae: AutoencoderKL, latents: int, kind: str, what: str) -> None:
    expected = latents * vae.config.latent_channels
    if unet.config.in_channels != expected:
        raise InputError(f"{kind}: its unet takes {unet.config.in_channels} input channels, but "
                         f"See-through's {what} takes {expected}: is this the right model?")


def _layer_scheduler(root: Path, kind: str) -> DPMSolverMultistepScheduler:
    if (root / "scheduler").is_dir():
        return _load(DPMSolverMultistepScheduler, root / "scheduler", kind)
    # The published pipeline samples with SDXL's noise schedule and DPM-Solver++ (2M SDE),
    # ending at sigma zero.
    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="leading", steps_offset=1, prediction_type="epsilon",
        algorithm_type="sde-dpmsolver++", final_sigmas_type="zero")


def load_layerdiff(name: str, *, dtype: str = "fp32") -> LayerDiffModel:
    """The layer-diffusion model on the CPU (the caller moves it): UNet and text encoders in
    ``dtype``, both VAEs in fp32 (SDXL's VAE overflows in fp16)."""
    root = resolve_model_dir(name, kind="layer model", published=PUBLISHED_LAYERDIFF,
                             option="--model", folders=LAYERDIFF_FOLDERS)
    dt = torch_dtype(dtype)
    kind = "layer model"
    _model_index(root)
    unet = load_our_model(PartStackUNet, root / "unet", kind, dt)
    vae = _load(AutoencoderKL, root / "vae", kind, torch_dtype=torch.float32).eval()
    _check_inputs(unet, vae, 2, kind, "layer model (noisy part latent + image latent)")
    if unet.config.tag_version != "v3":
        raise InputError(f"{kind}: {str(root)!r} is a tag_version {unet.config.tag_version!r} "
                         f"model (one pass of other tags); use a v3 model ({PUBLISHED_LAYERDIFF})")
    native = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
    return LayerDiffModel(
        unet=unet, vae=vae,
        trans_vae=load_our_model(TransparencyVAE, root / "trans_vae", kind, torch.float32),
        text_encoder=_load(CLIPTextModel, root / "text_encoder", kind, dtype=dt).eval(),
        text_encoder_2=_load(CLIPTextModelWithProjection, root / "text_encoder_2", kind,
                             dtype=dt).eval(),
        tokenizer=_load(CLIPTokenizer, root / "tokenizer", kind),
        tokenizer_2=_load(CLIPTokenizer, root / "tokenizer_2", kind),
        scheduler=_layer_scheduler(root, kind), path=root,
        # A full-size (SDXL) model works at the published 1280 px; test models at their own size.
        resolution=LAYER_RESOLUTION if native >= 1024 else native)


def load_depth(name: str, *, dtype: str = "fp32") -> DepthModel:
    root = resolve_model_dir(name, kind="depth model", published=PUBLISHED_DEPTH,
                             option="--depth-model", folders=DEPTH_FOLDERS)
    dt = torch_dtype(dtype)
    kind = "depth model"
    index = _model_index(root)
    unet = load_our_model(PartStackUNet, root / "unet", kind, dt)
    vae = _load(AutoencoderKL, root / "vae", kind, torch_dtype=torch.float32).eval()
    _check_inputs(unet, vae, 3, kind, "depth model (image, part and noisy depth latents)")
    native = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
    return DepthModel(
        unet=unet, vae=vae,
        text_encoder=_load(CLIPTextModel, root / "text_encoder", kind, dtype=dt).eval(),
        tokenizer=_load(CLIPTokenizer, root / "tokenizer", kind),
        scheduler=_load(DDIMScheduler, root / "scheduler", kind), path=root,
        resolution=int(index.get("default_processing_resolution") or min(DEPTH_RESOLUTION, native)),
        steps=int(index.get("default_denoising_steps") or DEPTH_STEPS))
