"""Loading the two models from a local folder or a Hugging Face id, never from the network.

Layout (the published one): a folder with ``model_index.json`` and one sub-folder per
component. The layer model has unet/, vae/, trans_vae/, text_encoder/, text_encoder_2/,
tokenizer/, tokenizer_2/, scheduler/; the depth model unet/, vae/, text_encoder/, tokenizer/,
scheduler/. A Hugging Face id is looked up in the local cache only (``local_files_only``).
"""
from __future__ import annotations

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

from .transparency import TransparencyDecoder
from .unets import PartStackUNet

LAYERDIFF_FOLDERS = ("unet", "vae", "trans_vae", "text_encoder", "text_encoder_2", "tokenizer",
                     "tokenizer_2", "scheduler")
DEPTH_FOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LayerDiffModel:
    unet: PartStackUNet
    vae: AutoencoderKL
    trans_vae: TransparencyDecoder
    text_encoder: CLIPTextModel
    text_encoder_2: CLIPTextModelWithProjection
    tokenizer: CLIPTokenizer
    tokenizer_2: CLIPTokenizer
    scheduler: DPMSolverMultistepScheduler
    path: Path


@dataclass
class DepthModel:
    unet: PartStackUNet
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler
    path: Path


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


def _load(loader, path: Path, kind: str, **kwargs):
    try:
        if isinstance(loader, type) and issubclass(loader, ModelMixin):
            kwargs["low_cpu_mem_usage"] = False   # no accelerate needed (and no warning)
        return loader.from_pretrained(path, local_files_only=True, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # corrupt or partial files: say which component, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{kind}: cannot load {str(path)!r} ({first[:200]}): download the "
                         f"model again") from None


def load_layerdiff(name: str, *, dtype: str = "fp32") -> LayerDiffModel:
    """The layer-diffusion model on the CPU (the caller moves it): UNet and text encoders in
    ``dtype``, both VAEs in fp32 (SDXL's VAE overflows in fp16)."""
    root = resolve_model_dir(name, kind="layer model", published=PUBLISHED_LAYERDIFF,
                             option="--model", folders=LAYERDIFF_FOLDERS)
    dt = torch_dtype(dtype)
    kind = "layer model"
    return LayerDiffModel(
        unet=_load(PartStackUNet, root / "unet", kind, torch_dtype=dt).eval(),
        vae=_load(AutoencoderKL, root / "vae", kind, torch_dtype=torch.float32).eval(),
        trans_vae=_load(TransparencyDecoder, root / "trans_vae", kind,
                        torch_dtype=torch.float32).eval(),
        text_encoder=_load(CLIPTextModel, root / "text_encoder", kind, dtype=dt).eval(),
        text_encoder_2=_load(CLIPTextModelWithProjection, root / "text_encoder_2", kind,
                             dtype=dt).eval(),
        tokenizer=_load(CLIPTokenizer, root / "tokenizer", kind),
        tokenizer_2=_load(CLIPTokenizer, root / "tokenizer_2", kind),
        scheduler=_load(DPMSolverMultistepScheduler, root / "scheduler", kind),
        path=root)


def load_depth(name: str, *, dtype: str = "fp32") -> DepthModel:
    root = resolve_model_dir(name, kind="depth model", published=PUBLISHED_DEPTH,
                             option="--depth-model", folders=DEPTH_FOLDERS)
    dt = torch_dtype(dtype)
    kind = "depth model"
    return DepthModel(
        unet=_load(PartStackUNet, root / "unet", kind, torch_dtype=dt).eval(),
        vae=_load(AutoencoderKL, root / "vae", kind, torch_dtype=torch.float32).eval(),
        text_encoder=_load(CLIPTextModel, root / "text_encoder", kind, dtype=dt).eval(),
        tokenizer=_load(CLIPTokenizer, root / "tokenizer", kind),
        scheduler=_load(DDIMScheduler, root / "scheduler", kind),
        path=root)
