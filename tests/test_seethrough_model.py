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
from seethrough_core.models import BODY_PARTS, OUTPUT_PARTS, PUBLISHED_LAYERDIFF  # noqa: E402

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

def _randomised_part_block(channels=16, heads=2, seed=0):
    from seethrough_core.models.part_attention import PartAttentionBlock
    torch.manual_seed(seed)
    block = PartAttentionBlock(channels, heads, channels // heads)
    with torch.no_grad():
        block.ff.net[-1].weight.normal_(0, 0.5)
    return block


def test_part_attention_mixes_only_across_parts():
    block = _randomised_part_block()
    parts, b, n = 3, 2, 30
    x = torch.randn(b * parts, n, 16)
    y = x.clone()
    y[1, 7] += torch.randn(16)                    # batch 0, part 1, one position
    with torch.no_grad():
        diff = (block(y, parts) - block(x, parts)).abs().sum(dim=-1)   # (B*F, N)
    changed = diff > 1e-6
    for part in (0, 2):                          # the other parts of the same character ...
        assert changed[part, 7]                  # ... change at that position ...
        assert changed[part].sum() == 1          # ... and nowhere else
    assert not changed[parts:].any()             # the other character in the batch: untouched


def test_part_attention_starts_as_a_no_op_and_is_equivariant_to_part_order():
    from seethrough_core.models.part_attention import PartAttentionBlock
    fresh = PartAttentionBlock(16, 2, 8)
    x = torch.randn(4, 9, 16)
    assert torch.equal(fresh(x, 4), torch.zeros_like(x))
    block = _randomised_part_block()
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        assert torch.allclose(block(x[perm], 4), block(x, 4)[perm], atol=1e-5)


def test_slicing_part_attention_gives_the_same_result():
    block = _randomised_part_block()
    x = torch.randn(6, 35, 16)
    with torch.no_grad():
        whole = block(x, 3)
        block.slice_positions = 4
        assert torch.allclose(block(x, 3), whole, atol=1e-6)


# --- the stacked UNet -------------------------------------------------------------------------

def _conditioning(b, f, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(encoder_hidden_states=torch.randn(b, f, 16, 64, generator=g),
                text_embeds=torch.randn(b, f, 32, generator=g),
                time_ids=torch.tensor([[32.0, 32, 0, 0, 32, 32]]).repeat(b, 1))


def test_converted_unet_equals_the_per_part_unet():
    from diffusers import UNet2DConditionModel

    from examples.make_tiny_seethrough_model import tiny_layerdiff_unet_config
    from seethrough_core.models.unets import PART_STACK_BLOCKS, PartStackUNet
    config = tiny_layerdiff_unet_config()
    for key in ("group_embedding", "group_embedding_num", "tag_version"):
        config.pop(key)
    config["down_block_types"] = [PART_STACK_BLOCKS.get(t, t) for t in config["down_block_types"]]
    config["up_block_types"] = [PART_STACK_BLOCKS.get(t, t) for t in config["up_block_types"]]
    config["mid_block_type"] = PART_STACK_BLOCKS[config["mid_block_type"]]
    torch.manual_seed(0)
    per_part = UNet2DConditionModel(**config).eval()
    stacked = PartStackUNet.from_unet(per_part, group_embedding=True).eval()
    assert len(stacked.part_attention_blocks) == 4
    f = 3
    sample = torch.randn(1, f, 8, 16, 16)
    cond = _conditioning(1, f)
    run = lambda: stacked(sample, 500, cond["encoder_hidden_states"], text_embeds=cond["text_embeds"],
                          time_ids=cond["time_ids"], group_index=1)
    with torch.no_grad():
        out = run()
        reference = per_part(sample[0], 500, encoder_hidden_states=cond["encoder_hidden_states"][0],
                             added_cond_kwargs={"text_embeds": cond["text_embeds"][0],
                                                "time_ids": cond["time_ids"].repeat(f, 1)}).sample
    assert out.shape == (1, f, 4, 16, 16)
    assert torch.allclose(out[0], reference, atol=1e-5)
    # Once the new modules learn something, the parts start to see each other ...
    with torch.no_grad():
        for block in stacked.part_attention_blocks:
            block.ff.net[-1].weight.normal_(0, 0.1)
        mixed = run()
    assert not torch.allclose(mixed[0], reference, atol=1e-4)
    # ... and each slot gets its own class offset.
    with torch.no_grad():
        for embedding in (*stacked.group_embeds, *stacked.group_embeds2):
            embedding.linear.weight.normal_(0, 0.1)
        slotted = run()
    assert not torch.allclose(slotted, mixed, atol=1e-4)


def test_stacked_unet_shapes_and_group_index(tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    model = load_layerdiff(str(tiny_models[0]))
    b, f = 2, 5
    cond = _conditioning(b, f)
    with torch.no_grad():
        out = model.unet(torch.randn(b, f, 8, 16, 16), torch.tensor([10, 900]),
                         cond["encoder_hidden_states"], text_embeds=cond["text_embeds"],
                         time_ids=cond["time_ids"], group_index=0)
    assert out.shape == (b, f, 4, 16, 16)
    with pytest.raises(ValueError, match="group_index"):
        model.unet(torch.randn(1, f, 8, 16, 16), 1, cond["encoder_hidden_states"][:1],
                   text_embeds=cond["text_embeds"][:1], time_ids=cond["time_ids"][:1])
    with pytest.raises(ValueError, match="slots"):
        model.unet(torch.randn(1, 12, 8, 16, 16), 1, torch.randn(1, 12, 16, 64),
                   text_embeds=torch.randn(1, 12, 32), time_ids=cond["time_ids"][:1], group_index=1)


def test_published_checkpoint_layout():
    """Parameter names and shapes of the published models at full size (built empty): the
    SDXL layer UNet with part attention after every transformer layer (every second one in the
    10-layer transformers), the slot embeddings, and the transparent VAE."""
    from seethrough_core.models.transparency import TransparencyVAE
    from seethrough_core.models.unets import PartStackUNet
    sdxl = dict(sample_size=128, in_channels=8, out_channels=4,
                down_block_types=["DownBlock2D", "CrossFrameAttnDownBlock", "CrossFrameAttnDownBlock"],
                mid_block_type="UNetMidBlockCrossFrameAttn",
                up_block_types=["CrossFrameAttnUpBlock", "CrossFrameAttnUpBlock", "UpBlock2D"],
                block_out_channels=[320, 640, 1280], layers_per_block=2, attention_head_dim=[5, 10, 20],
                cross_attention_dim=2048, transformer_layers_per_block=[1, 2, 10],
                use_linear_projection=True, addition_embed_type="text_time",
                addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
                group_embedding=True, group_embedding_num=[13, 11], tag_version="v3")
    with torch.device("meta"):
        unet = PartStackUNet(**sdxl)
        trans_vae = TransparencyVAE()
    shapes = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    # 2 (level 1, 2 layers) + 5 (level 2, 10 layers) down, 5 mid, 3x5 + 3x2 up.
    assert len(unet.part_attention_blocks) == 2 * 2 + 2 * 5 + 5 + 3 * 5 + 3 * 2
    assert shapes["down_blocks.1.attentions.0.temporal_transformer_blocks.1.attn1.to_q.weight"] == (640, 640)
    assert shapes["down_blocks.2.attentions.1.temporal_transformer_blocks.4.ff.net.2.weight"] == (1280, 5120)
    assert shapes["down_blocks.2.attentions.1.temporal_transformer_blocks.4.ff_in.net.0.proj.weight"] == (10240, 1280)
    assert shapes["mid_block.attentions.0.temporal_transformer_blocks.0.norm_in.weight"] == (1280,)
    assert "down_blocks.2.attentions.1.temporal_transformer_blocks.5.norm1.weight" not in shapes
    assert "down_blocks.0.attentions.0.norm.weight" not in shapes
    assert shapes["group_embeds.0.params"] == (13, 1280) and shapes["group_embeds.1.params"] == (11, 1280)
    assert shapes["group_embeds2.1.params"] == (11, 2048) and shapes["group_embeds2.0.linear.weight"] == (2048, 2048)
    assert shapes["conv_in.weight"] == (320, 8, 3, 3) and shapes["add_embedding.linear_1.weight"] == (1280, 2816)
    vae = {k: tuple(v.shape) for k, v in trans_vae.state_dict().items()}
    assert vae["decoder.model.latent_conv_in.weight"] == (64, 4, 1, 1)
    assert vae["decoder.model.conv_out.weight"] == (4, 32, 3, 3)
    assert vae["decoder.model.down_blocks.6.attentions.1.to_q.weight"] == (512, 512)
    assert vae["encoder.model.blocks.0.weight"] == (32, 4, 3, 3)
    assert vae["encoder.model.blocks.16.weight"] == (4, 256, 3, 3)


def test_saved_unet_config_uses_the_published_names(tiny_models):
    import json
    config = json.loads((tiny_models[0] / "unet" / "config.json").read_text())
    assert config["_class_name"] == "UNetFrameConditionModel"
    assert config["down_block_types"] == ["DownBlock2D", "CrossFrameAttnDownBlock"]
    assert config["mid_block_type"] == "UNetMidBlockCrossFrameAttn"
    assert config["group_embedding"] is True and config["tag_version"] == "v3"
    assert json.loads((tiny_models[0] / "trans_vae" / "config.json").read_text())["_class_name"] \
        == "TransparentVAE"


def test_transparent_vae_decodes_alpha_first_channels_to_rgba(tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    trans_vae = load_layerdiff(str(tiny_models[0])).trans_vae
    pixel, latent = torch.rand(2, 3, 32, 32), torch.randn(2, 4, 16, 16)
    with torch.no_grad():
        rgba = trans_vae.decode_rgba(pixel, latent)
        argb = trans_vae.decoder.model(pixel, latent).clamp(0, 1)
        other = trans_vae.decode_rgba(pixel, latent + 1.0)
    assert rgba.shape == (2, 4, 32, 32)
    assert torch.equal(rgba[:, 3], argb[:, 0]) and torch.equal(rgba[:, :3], argb[:, 1:])
    assert not torch.allclose(rgba, other)        # the latent reaches the output


def test_transparent_vae_encoder_offsets_the_posterior(tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    from seethrough_core.models.training import padded_colour
    model = load_layerdiff(str(tiny_models[0]))
    rgba = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        latent = model.trans_vae.encode_latent(model.vae, rgba, padded_colour(rgba))
        for param in model.trans_vae.encoder.parameters():
            param.zero_()
        plain = model.trans_vae.encode_latent(model.vae, rgba, padded_colour(rgba))
        mean = model.vae.encode((rgba[:, :3] * 2 - 1) * rgba[:, 3:]).latent_dist.mean
    assert latent.shape == (1, 4, 16, 16)
    assert torch.allclose(plain, mean, atol=1e-6) and not torch.allclose(latent, mean, atol=1e-3)


def test_empty_prompt_is_unpadded(tiny_models):
    from seethrough_core.models.loading import load_depth
    from seethrough_core.models.text import encode_empty_prompt
    model = load_depth(str(tiny_models[1]))
    assert encode_empty_prompt(model.tokenizer, model.text_encoder).shape == (1, 2, 32)


def test_pad_colour_continues_the_art_under_transparency():
    from seethrough_core.models.images import pad_colour
    rgba = np.zeros((40, 60, 4), np.float32)
    rgba[10:20, 5:15] = [1, 0, 0, 1]             # red on the left
    rgba[10:20, 45:55] = [0, 0, 1, 1]            # blue on the right
    rgba[25:30, 45:55] = [0, 1, 0, 0.5]          # half-transparent green
    out = pad_colour(rgba)
    assert np.allclose(out[10:20, 5:15], [1, 0, 0]) and np.allclose(out[10:20, 45:55], [0, 0, 1])
    assert out[15, 0, 0] > 0.8 and out[15, 59, 2] > 0.8     # nearest art wins far away
    assert 0.4 < out[27, 50, 1] < 1.0                         # half green over the fill
    assert out.min() >= 0 and out.max() <= 1
    assert np.array_equal(pad_colour(np.zeros((8, 8, 4), np.float32)), np.zeros((8, 8, 3)))


def test_depth_groups_and_hidden_parts():
    from seethrough_core.decompose.seethrough_model import _depth_images, _part_depths
    from seethrough_core.models import DEPTH_COMPOSED, DEPTH_TAGS, OUTPUT_PARTS
    assert sorted(t for tag in DEPTH_TAGS for t in DEPTH_COMPOSED.get(tag, (tag,))) == sorted(OUTPUT_PARTS)
    side = 16
    square = np.zeros((side, side, 4), np.float32)
    square[..., 3] = 1
    back, front = np.zeros_like(square), np.zeros_like(square)
    back[2:10, 2:10] = [1, 0, 0, 1]
    front[2:6, 2:10] = [0, 1, 0, 1]               # covers the top half of the back hair
    images = _depth_images(square, {"back hair": back, "front hair": front})
    assert len(images) == len(DEPTH_TAGS) + 1
    hair = images[DEPTH_TAGS.index("hair")]
    assert np.allclose(hair[3, 3], [0, 1, 0, 1]) and np.allclose(hair[8, 3], [1, 0, 0, 1])
    assert np.allclose(images[-1][..., 3][2:10, 2:10], 1) and images[-1][0, 0, 3] == 0
    dmap = np.linspace(0, 1, side * side, dtype=np.float32).reshape(side, side)
    depths = _part_depths({"hair": dmap}, {"back hair": back, "front hair": front})
    assert np.array_equal(depths["front hair"], dmap)
    shown = dmap[6:10, 2:10]
    assert np.allclose(depths["back hair"][2:6, 2:10], np.median(shown))
    assert np.array_equal(depths["back hair"][6:10, 2:10], shown)


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


def _edit_config(folder, **changes):
    import json
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path, tiny_models):
    from safetensors.torch import load_file, save_file

    from seethrough_core.models.loading import load_depth, load_layerdiff
    renamed = tmp_path / "renamed"
    shutil.copytree(tiny_models[0], renamed)
    weights_path = renamed / "unet" / "diffusion_pytorch_model.safetensors"
    weights = load_file(weights_path)
    key = next(k for k in weights if ".temporal_transformer_blocks.0.attn1.to_q." in k)
    weights[key.replace("temporal_transformer_blocks", "part_blocks")] = weights.pop(key)
    save_file(weights, weights_path)
    with pytest.raises(InputError, match=r"do not fit .*1 missing \(e\.g\. .*temporal.*1 unexpected"):
        load_layerdiff(str(renamed))

    v2 = tmp_path / "v2"
    shutil.copytree(tiny_models[0], v2)
    _edit_config(v2 / "unet", tag_version="v2")
    with pytest.raises(InputError, match="v3"):
        load_layerdiff(str(v2))

    depth = tmp_path / "depth"
    shutil.copytree(tiny_models[1], depth)
    _edit_config(depth / "unet", in_channels=8)
    with pytest.raises(InputError, match="1 of another shape .e.g. conv_in.weight"):
        load_depth(str(depth))
    from examples.make_tiny_seethrough_model import tiny_depth_unet_config
    from seethrough_core.models.unets import PartStackUNet
    PartStackUNet(**{**tiny_depth_unet_config(), "in_channels": 8}).save_pretrained(depth / "unet")
    with pytest.raises(InputError, match="takes 8 input channels.*takes 12"):
        load_depth(str(depth))


def test_sharded_and_fp16_variant_weight_files_load(tmp_path, tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    reference = load_layerdiff(str(tiny_models[0])).unet.state_dict()
    for name, options in (("sharded", dict(max_shard_size="200KB")), ("variant", dict(variant="fp16"))):
        folder = tmp_path / name
        shutil.copytree(tiny_models[0], folder)
        shutil.rmtree(folder / "unet")
        load_layerdiff(str(tiny_models[0])).unet.save_pretrained(folder / "unet", **options)
        files = sorted(p.name for p in (folder / "unet").iterdir())
        assert "diffusion_pytorch_model.safetensors" not in files, files
        loaded = load_layerdiff(str(folder)).unet.state_dict()
        assert all(torch.equal(loaded[k], reference[k]) for k in reference)


def test_layer_model_without_a_scheduler_folder_uses_the_published_sampler(tmp_path, tiny_models):
    from seethrough_core.models.loading import load_layerdiff
    bare = tmp_path / "bare"
    shutil.copytree(tiny_models[0], bare)
    shutil.rmtree(bare / "scheduler")
    scheduler = load_layerdiff(str(bare)).scheduler
    assert scheduler.config.algorithm_type == "sde-dpmsolver++"
    assert scheduler.config.final_sigmas_type == "zero"


def test_cli_decomposes_with_the_tiny_models(tmp_path, tiny_models, input_image):
    from PIL import Image

    from runtime.commands.cli import main
    from seethrough_core.psd_read import read_psd
    source = tmp_path / "char.png"
    Image.fromarray(input_image).save(source)
    out = tmp_path / "char.psd"
    code = main(["decompose", str(source), "--backend", "seethrough", "--model", str(tiny_models[0]),
                 "--depth-model", str(tiny_models[1]), "--steps", "2", "-o", str(out), "--quiet"])
    assert code == 0 and out.exists()
    from seethrough_core.taxonomy import V3_TAGS
    names = [layer.tag for layer in read_psd(out).layers]
    assert names and set(names) <= set(V3_TAGS)
    code = main(["decompose", str(source), "--backend", "seethrough", "--model", str(tiny_models[0]),
                 "--depth-model", str(tiny_models[1]), "--resolution", "50", "-o",
                 str(tmp_path / "bad.psd"), "--quiet"])
    assert code == 2 and not (tmp_path / "bad.psd").exists()


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
    assert not torch.equal(before.unet.conv_in.weight, after.unet.conv_in.weight)
    assert not torch.equal(before.unet.group_embeds2[0].params, after.unet.group_embeds2[0].params)
    assert not torch.equal(before.trans_vae.encoder.model.blocks[0].weight,
                           after.trans_vae.encoder.model.blocks[0].weight)
    assert torch.equal(before.vae.encoder.conv_in.weight, after.vae.encoder.conv_in.weight)

    images = rng.integers(0, 256, (4, 32, 32, 4), dtype=np.uint8)
    depth = rng.random((4, 32, 32)).astype(np.float32)
    losses = fine_tune_depth(str(tiny_models[1]), [(images, depth)], str(tmp_path / "d"), lr=1e-3)
    assert len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0
    assert not torch.equal(load_depth(str(tiny_models[1])).unet.conv_in.weight,
                           load_depth(str(tmp_path / "d")).unet.conv_in.weight)
    with pytest.raises(ValueError, match="mix"):
        fine_tune_layerdiff(str(tiny_models[0]), [(image, parts[:2], ("face", "neck"))],
                            str(tmp_path / "bad"))
