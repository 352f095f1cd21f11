"""The See-through model backend on tiny random-weight models (CPU, seconds)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from seethrough_core.character import InputError  # noqa: E402
from seethrough_core.models import ALL_SLOTS, BODY_PARTS, OUTPUT_PARTS, PUBLISHED_LAYERDIFF  # noqa: E402

STEPS = 3


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # The tiny models gain nothing from threads, and on a busy 2-core machine torch's
    # spinning worker threads make them many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from examples.make_tiny_seethrough_model import main
    out = tmp_path_factory.mktemp("tiny")
    assert main([str(out)]) == 0
    return out / "layerdiff", out / "marigold"


@pytest.fixture(scope="module")
def input_image():
    from examples.character import draw_example_character
    full = draw_example_character(size=128).composite()
    return np.ascontiguousarray(full[:, 16:112])      # 96 x 128: not square, exercises padding


def _decompose(image, models, **options):
    from seethrough_core.decompose.seethrough_model import decompose_parts
    layerdiff, marigold = models
    return decompose_parts(image, model=str(layerdiff), depth_model=str(marigold),
                           steps=STEPS, **options)


# --- the Body Part Consistency Module --------------------------------------------------------

def _randomised_part_attention(channels=16, head_dim=8, seed=0):
    from seethrough_core.models.part_attention import PartAxisAttention
    torch.manual_seed(seed)
    module = PartAxisAttention(channels, head_dim=head_dim)
    with torch.no_grad():
        module.to_out.weight.normal_(0, 0.5)
    return module


def test_part_attention_mixes_only_across_parts():
    module = _randomised_part_attention()
    parts, b = 3, 2
    x = torch.randn(b * parts, 16, 5, 6)
    y = x.clone()
    y[1, :, 2, 3] += torch.randn(16)             # batch 0, part 1, one pixel
    with torch.no_grad():
        diff = (module(y, parts) - module(x, parts)).abs().sum(dim=1)   # (B*F, H, W)
    changed = diff > 1e-6
    for part in (0, 2):                          # the other parts of the same character ...
        assert changed[part, 2, 3]               # ... change at that pixel ...
        assert changed[part].sum() == 1          # ... and nowhere else
    assert not changed[parts:].any()             # the other character in the batch: untouched


def test_part_attention_is_identity_at_init_and_equivariant_to_part_order():
    from seethrough_core.models.part_attention import PartAxisAttention
    fresh = PartAxisAttention(16, head_dim=8)
    x = torch.randn(4, 16, 3, 3)
    assert torch.equal(fresh(x, 4), x)
    module = _randomised_part_attention()
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        assert torch.allclose(module(x[perm], 4), module(x, 4)[perm], atol=1e-5)


def test_slicing_part_attention_gives_the_same_result():
    module = _randomised_part_attention()
    x = torch.randn(6, 16, 7, 5)
    with torch.no_grad():
        whole = module(x, 3)
        module.slice_positions = 4
        assert torch.allclose(module(x, 3), whole, atol=1e-6)


# --- the stacked UNet -------------------------------------------------------------------------

def _conditioning(b, f, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(encoder_hidden_states=torch.randn(b, f, 16, 64, generator=g),
                text_embeds=torch.randn(b, f, 32, generator=g),
                time_ids=torch.tensor([[32.0, 32, 0, 0, 32, 32]]).repeat(b, 1))


def test_converted_unet_equals_the_per_part_unet():
    from diffusers import UNet2DConditionModel

    from examples.make_tiny_seethrough_model import tiny_layerdiff_unet_config
    from seethrough_core.models.unets import PartStackUNet
    torch.manual_seed(0)
    per_part = UNet2DConditionModel(**tiny_layerdiff_unet_config()).eval()
    stacked = PartStackUNet.from_unet(per_part, num_slots=len(ALL_SLOTS),
                                      part_attention_head_dim=16).eval()
    f = 3
    sample = torch.randn(1, f, 8, 16, 16)
    cond = _conditioning(1, f)
    with torch.no_grad():
        out = stacked(sample, 500, cond["encoder_hidden_states"], slot_ids=torch.arange(f),
                      text_embeds=cond["text_embeds"], time_ids=cond["time_ids"])
        reference = per_part(sample[0], 500, encoder_hidden_states=cond["encoder_hidden_states"][0],
                             added_cond_kwargs={"text_embeds": cond["text_embeds"][0],
                                                "time_ids": cond["time_ids"].repeat(f, 1)}).sample
    assert out.shape == (1, f, 4, 16, 16)
    assert torch.allclose(out[0], reference, atol=1e-5)
    # Once the new modules learn something, the parts start to see each other.
    with torch.no_grad():
        for module in stacked.part_attentions:
            module.to_out.weight.normal_(0, 0.1)
        changed = stacked(sample, 500, cond["encoder_hidden_states"], slot_ids=torch.arange(f),
                          text_embeds=cond["text_embeds"], time_ids=cond["time_ids"])
    assert not torch.allclose(changed[0], reference, atol=1e-4)


def test_stacked_unet_shapes_and_slot_ids(tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    model = load_layerdiff(str(tiny_models[0]))
    b, f = 2, 5
    cond = _conditioning(b, f)
    with torch.no_grad():
        out = model.unet(torch.randn(b, f, 8, 16, 16), torch.tensor([10, 900]),
                         cond["encoder_hidden_states"], slot_ids=torch.arange(f),
                         text_embeds=cond["text_embeds"], time_ids=cond["time_ids"])
        rgba = model.trans_vae(torch.rand(3, 3, 32, 32) * 2 - 1, torch.randn(3, 4, 16, 16))
    assert out.shape == (b, f, 4, 16, 16)
    assert rgba.shape == (3, 4, 32, 32)
    assert float(rgba.min()) >= 0.0 and float(rgba.max()) <= 1.0
    with pytest.raises(ValueError, match="slot_ids"):
        model.unet(torch.randn(1, f, 8, 16, 16), 1, cond["encoder_hidden_states"][:1],
                   text_embeds=cond["text_embeds"][:1], time_ids=cond["time_ids"][:1])


def test_transparency_decoder_latent_path_starts_at_zero():
    from seethrough_core.models.transparency import TransparencyDecoder
    decoder = TransparencyDecoder(block_out_channels=(8, 16, 16), latent_channels=4, latent_scale=4)
    rgb = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        a = decoder(rgb, torch.randn(1, 4, 4, 4))
        b = decoder(rgb, torch.randn(1, 4, 4, 4))
    assert a.shape == (1, 4, 16, 16) and torch.equal(a, b)
    with pytest.raises(ValueError):
        TransparencyDecoder(block_out_channels=(8, 16), latent_scale=8)


# --- the pipeline -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def progress_calls():
    return []


@pytest.fixture(scope="module")
def decomposed(tiny_models, input_image, progress_calls):
    return _decompose(input_image, tiny_models, seed=7,
                      progress=lambda stage, fraction: progress_calls.append(fraction))


def _pixels(character):
    return {layer.name: layer.on_canvas(character.size).astype(int) for layer in character.layers}


def test_decompose_parts_end_to_end(decomposed, input_image, progress_calls):
    character, calls = decomposed, progress_calls
    h, w = input_image.shape[:2]
    assert character.size == (w, h)
    names = [layer.name for layer in character.layers]
    assert names and len(set(names)) == len(names) and set(names) <= set(OUTPUT_PARTS)
    assert "head" not in names
    lo, hi = 1.0, 0.0
    for layer in character.layers:
        assert layer.tag == layer.name and layer.side is None and layer.stratum is None
        x0, y0, x1, y1 = layer.bbox
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert layer.depth is not None and layer.depth.shape == layer.rgba.shape[:2]
        visible = layer.depth[layer.alpha >= 128]
        assert np.all((layer.depth >= 0) & (layer.depth <= 1))
        if visible.size:
            lo, hi = min(lo, visible.min()), max(hi, visible.max())
    assert lo < 0.1 and hi > 0.9                 # normalised jointly over the visible parts
    medians = [layer.depth_median() for layer in character.layers]
    assert medians == sorted(medians, reverse=True)   # far first
    assert calls[-1] == 1.0 and calls == sorted(calls)


def test_decompose_parts_is_deterministic_per_seed(decomposed, tiny_models, input_image):
    a = _pixels(decomposed)
    b = _pixels(_decompose(input_image, tiny_models, seed=7))
    c = _pixels(_decompose(input_image, tiny_models, seed=8))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert any(k not in c or not np.array_equal(a[k], c[k]) for k in a)


def test_offload_and_attention_slicing_do_not_change_the_result(decomposed, tiny_models,
                                                                input_image):
    a = _pixels(decomposed)
    b = _pixels(_decompose(input_image, tiny_models, seed=7, offload=True,
                           attention_slicing=True))
    assert a.keys() == b.keys()
    assert max(np.abs(a[k] - b[k]).max() for k in a) <= 2


def test_decompose_parts_rejects_bad_images(tiny_models):
    with pytest.raises(InputError, match="uint8"):
        _decompose(np.zeros((64, 64), np.uint8), tiny_models)
    with pytest.raises(InputError, match="transparent"):
        _decompose(np.zeros((64, 64, 4), np.uint8), tiny_models)


# --- loading ----------------------------------------------------------------------------------

def test_missing_folder_names_the_published_ids(tmp_path, tiny_models, input_image):
    from seethrough_core.models import PUBLISHED_DEPTH
    with pytest.raises(InputError) as err:
        _decompose(input_image, (tmp_path / "nowhere", tiny_models[1]))
    assert PUBLISHED_LAYERDIFF in str(err.value) and "--model" in str(err.value)
    with pytest.raises(InputError) as err:
        _decompose(input_image, (tiny_models[0], tmp_path / "nowhere"))
    assert PUBLISHED_DEPTH in str(err.value) and "--depth-model" in str(err.value)


def test_uncached_hub_id_never_downloads():
    from seethrough_core.models.loading import load_layerdiff
    with pytest.raises(InputError, match="never downloads"):
        load_layerdiff("nobody-seethrough-test/no-such-model")


def test_incomplete_or_corrupt_model_folders(tmp_path, tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    partial = tmp_path / "partial"
    shutil.copytree(tiny_models[0], partial)
    shutil.rmtree(partial / "trans_vae")
    with pytest.raises(InputError, match="trans_vae"):
        load_layerdiff(str(partial))
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_models[0], corrupt)
    (corrupt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(InputError, match="cannot load"):
        load_layerdiff(str(corrupt))


def test_bad_dtype_and_device(tiny_models, input_image):
    with pytest.raises(InputError, match="dtype"):
        _decompose(input_image, tiny_models, dtype="fp8")
    with pytest.raises(InputError, match="device"):
        _decompose(input_image, tiny_models, device="toaster")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            _decompose(input_image, tiny_models, device="cuda")


def test_tiny_tokenizer_knows_the_tags(tiny_models):
    from transformers import CLIPTokenizer
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_models[0] / "tokenizer"))
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("front hair").input_ids)
    assert tokens == ["<|startoftext|>", "front</w>", "hair</w>", "<|endoftext|>"]
    # Anything else still tokenises, byte by byte.
    assert len(tokenizer("zq").input_ids) == 4


def test_importing_the_backend_does_not_import_torch():
    code = ("import sys, seethrough_core.models, seethrough_core.decompose.seethrough_model; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- training ---------------------------------------------------------------------------------

def test_one_training_step_per_stage(tmp_path, tiny_models):
    from seethrough_core.models.loading import load_depth, load_layerdiff
    from seethrough_core.models.training import fine_tune_depth, fine_tune_layerdiff
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    parts = rng.integers(0, 256, (3, 32, 32, 4), dtype=np.uint8)
    losses = fine_tune_layerdiff(str(tiny_models[0]), [(image, parts, BODY_PARTS[:3])],
                                 str(tmp_path / "ld"), lr=1e-3)
    assert len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0
    before, after = load_layerdiff(str(tiny_models[0])), load_layerdiff(str(tmp_path / "ld"))
    assert not torch.equal(before.unet.unet.conv_in.weight, after.unet.unet.conv_in.weight)
    assert torch.equal(before.vae.encoder.conv_in.weight, after.vae.encoder.conv_in.weight)

    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    depth = rng.random((4, 32, 32)).astype(np.float32)
    losses = fine_tune_depth(str(tiny_models[1]), [(images, depth)], str(tmp_path / "d"), lr=1e-3)
    assert len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0
    assert not torch.equal(load_depth(str(tiny_models[1])).unet.unet.conv_in.weight,
                           load_depth(str(tmp_path / "d")).unet.unet.conv_in.weight)
