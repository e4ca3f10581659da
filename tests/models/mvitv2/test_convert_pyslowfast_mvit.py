"""PySlowFast MViTv2 -> hfvid: the cfg gives torchvision's mvit_v2_s, every checkpoint value lands unchanged, a
torchvision-equivalent reference in PySlowFast's layout gives equal logits, files convert with their test views."""

import argparse

import pytest
import torch
import yaml
from torchvision.models.video import MViT
from torchvision.models.video.mvit import MSBlockConfig

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.models.mvitv2 import MViTv2Config
from hfvid.models.mvitv2.convert_pyslowfast_mvit_to_hfvid import (
    MVITV2_S_16X4,
    config_from_pyslowfast,
    convert_pyslowfast_mvit_state_dict,
    processor_from_pyslowfast,
)
from hfvid.models.mvitv2.convert_torchvision_mvit_to_hfvid import load_converted_model

# A 3-block MViTv2 in PySlowFast's config language (as configs/Kinetics/MVITv2_S_16x4.yaml writes it).
TINY_CFG = {
    "DATA": {"NUM_FRAMES": 4, "SAMPLING_RATE": 2, "TRAIN_CROP_SIZE": 32, "TEST_CROP_SIZE": 32,
             "TRAIN_JITTER_SCALES": [36, 40]},
    "TEST": {"NUM_ENSEMBLE_VIEWS": 2, "NUM_SPATIAL_CROPS": 3},
    "MODEL": {"NUM_CLASSES": 5},
    "MVIT": {"USE_ABS_POS": False, "REL_POS_SPATIAL": True, "REL_POS_TEMPORAL": True, "DEPTH": 3, "NUM_HEADS": 1,
             "EMBED_DIM": 16, "PATCH_KERNEL": "(3, 7, 7)", "PATCH_STRIDE": "(2, 4, 4)", "PATCH_PADDING": "(1, 3, 3)",
             "DIM_MUL": [[1, 2.0]], "HEAD_MUL": [[1, 2.0]], "POOL_KVQ_KERNEL": [3, 3, 3],
             "POOL_KV_STRIDE_ADAPTIVE": [1, 4, 4], "POOL_Q_STRIDE": [[0, 1, 1, 1], [1, 1, 2, 2], [2, 1, 1, 1]],
             "DIM_MUL_IN_ATT": True, "RESIDUAL_POOLING": True, "DROPPATH_RATE": 0.0},
}
# The same network block by block: (heads, dim, dim_out, stride_q, stride_kv), kernels 3x3x3, input grid 2x8x8.
TINY_BLOCKS = [(1, 16, 16, [1, 1, 1], [1, 4, 4]), (2, 16, 32, [1, 2, 2], [1, 2, 2]), (2, 32, 32, [1, 1, 1], [1, 2, 2])]


pytestmark = pytest.mark.usefixtures("one_thread")


def pyslowfast_shapes(abs_pos=False):
    """Key -> shape of PySlowFast's MViT (video_model_builder.MViT, attention.MultiScaleBlock/-Attention with
    mode="conv", separate_qkv=False, dim_mul_in_att=True) for TINY_CFG, written from their source."""
    shapes = {"patch_embed.proj.weight": (16, 3, 3, 7, 7), "patch_embed.proj.bias": (16,), "cls_token": (1, 1, 16)}
    if abs_pos:
        shapes |= {"pos_embed_spatial": (1, 64, 16), "pos_embed_temporal": (1, 2, 16), "pos_embed_class": (1, 1, 16)}
    grid = [2, 8, 8]
    for i, (heads, dim, dim_out, stride_q, stride_kv) in enumerate(TINY_BLOCKS):
        head_dim, b = dim_out // heads, f"blocks.{i}."
        shapes |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "attn.qkv.weight": (3 * dim_out, dim),
                   b + "attn.qkv.bias": (3 * dim_out,), b + "attn.proj.weight": (dim_out, dim_out),
                   b + "attn.proj.bias": (dim_out,), b + "norm2.weight": (dim_out,), b + "norm2.bias": (dim_out,),
                   b + "mlp.fc1.weight": (4 * dim_out, dim_out), b + "mlp.fc1.bias": (4 * dim_out,),
                   b + "mlp.fc2.weight": (dim_out, 4 * dim_out), b + "mlp.fc2.bias": (dim_out,)}
        for name in "qkv":  # kernel 3x3x3 > 1: every block pools q, k and v
            shapes |= {b + f"attn.pool_{name}.weight": (head_dim, 1, 3, 3, 3), b + f"attn.norm_{name}.weight":
                       (head_dim,), b + f"attn.norm_{name}.bias": (head_dim,)}
        if not abs_pos:
            spatial = 2 * max(grid[1] // stride_q[1], grid[1] // stride_kv[1]) - 1
            shapes |= {b + "attn.rel_pos_h": (spatial, head_dim), b + "attn.rel_pos_w": (spatial, head_dim),
                       b + "attn.rel_pos_t": (2 * grid[0] - 1, head_dim)}
        if dim != dim_out:
            shapes |= {b + "proj.weight": (dim_out, dim), b + "proj.bias": (dim_out,)}
        grid = [g // s for g, s in zip(grid, stride_q)]
    return shapes | {"norm.weight": (32,), "norm.bias": (32,), "head.projection.weight": (5, 32),
                     "head.projection.bias": (5,)}


def tiny_cfg(abs_pos=False):
    cfg = yaml.safe_load(yaml.safe_dump(TINY_CFG))
    if abs_pos:
        cfg["MVIT"] |= {"USE_ABS_POS": True, "SEP_POS_EMBED": True, "REL_POS_SPATIAL": False,
                        "REL_POS_TEMPORAL": False}
    return cfg


def torchvision_reference(abs_pos=False):
    blocks = [MSBlockConfig(h, d, o, [3, 3, 3], [3, 3, 3], q, kv) for h, d, o, q, kv in TINY_BLOCKS]
    return MViT(spatial_size=(32, 32), temporal_size=4, block_setting=blocks, residual_pool=True,
                residual_with_cls_embed=False, rel_pos_embed=not abs_pos, proj_after_attn=True,
                stochastic_depth_prob=0.0, num_classes=5).eval()


def to_pyslowfast_layout(reference):
    """A torchvision MViT's weights under PySlowFast's names and shapes (the test's own table, from their source)."""
    names = [("conv_proj.", "patch_embed.proj."), ("attn.project.0.", "attn.proj."), ("pool_q.pool.", "pool_q."),
             ("pool_k.pool.", "pool_k."), ("pool_v.pool.", "pool_v."), ("attn.pool_q.norm_act.0.", "attn.norm_q."),
             ("attn.pool_k.norm_act.0.", "attn.norm_k."), ("attn.pool_v.norm_act.0.", "attn.norm_v."),
             ("mlp.0.", "mlp.fc1."), ("mlp.3.", "mlp.fc2."), (".project.", ".proj."), ("head.1.", "head.projection.")]
    state = {}
    for key, value in reference.state_dict().items():
        if key.startswith("pos_encoding."):
            name = {"class_token": "cls_token", "spatial_pos": "pos_embed_spatial",
                    "temporal_pos": "pos_embed_temporal", "class_pos": "pos_embed_class"}[key.split(".")[1]]
            state[name] = value.reshape(1, -1, value.shape[-1])
            continue
        for old, new in names:
            key = key.replace(old, new)
        state[key] = value
    return state


def test_mvitv2_s_16x4_cfg_is_torchvision_mvit_v2_s():
    assert config_from_pyslowfast(MVITV2_S_16X4).to_dict() == MViTv2Config(num_labels=400).to_dict()
    processor = processor_from_pyslowfast(MVITV2_S_16X4)
    assert (processor.sampling, processor.num_frames, processor.frame_stride, processor.base_fps) == ("stride", 16, 4, 30)
    assert (processor.num_clips, processor.num_crops, processor.size.shortest_edge) == (5, 1, 256)


def test_mvitv2_b_32x3_cfg():
    cfg = {"DATA": {"NUM_FRAMES": 32, "SAMPLING_RATE": 3, "TRAIN_CROP_SIZE": 224, "TEST_CROP_SIZE": 224},
           "MVIT": {"USE_ABS_POS": False, "REL_POS_SPATIAL": True, "REL_POS_TEMPORAL": True, "DEPTH": 24,
                    "PATCH_PADDING": [1, 3, 3], "DIM_MUL": [[2, 2.0], [5, 2.0], [21, 2.0]],
                    "HEAD_MUL": [[2, 2.0], [5, 2.0], [21, 2.0]], "POOL_KVQ_KERNEL": [3, 3, 3],
                    "POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
                    "POOL_Q_STRIDE": [[i, 1, 2, 2] if i in (2, 5, 21) else [i, 1, 1, 1] for i in range(24)],
                    "DIM_MUL_IN_ATT": True, "RESIDUAL_POOLING": True}}
    config = config_from_pyslowfast(cfg)
    assert config.num_heads == [1] * 2 + [2] * 3 + [4] * 16 + [8] * 3  # MViTv2-B: depths 2-3-16-3
    assert config.output_channels == [96] * 2 + [192] * 3 + [384] * 16 + [768] * 3
    assert config.stride_kv[0] == [1, 8, 8] and config.stride_kv[2] == [1, 4, 4] and config.stride_kv[21] == [1, 1, 1]
    assert config.num_frames == 32 and config.stage_ends == [1, 4, 20, 23]
    assert processor_from_pyslowfast(cfg).frame_stride == 3 and processor_from_pyslowfast(cfg).num_clips == 10


@pytest.mark.parametrize("abs_pos", [False, True])
def test_every_pyslowfast_value_lands_unchanged(abs_pos):
    generator = torch.Generator().manual_seed(0)
    source = {key: torch.randn(shape, generator=generator) for key, shape in pyslowfast_shapes(abs_pos).items()}
    converted = convert_pyslowfast_mvit_state_dict(source)
    model = load_converted_model(config_from_pyslowfast(tiny_cfg(abs_pos)), converted)  # strict: keys and shapes
    loaded = model.state_dict()
    assert len(converted) == len(source) == len(loaded)
    unmatched = {key for key, value in source.items()
                 if sum(torch.equal(value.flatten(), other.flatten()) for other in loaded.values()) != 1}
    assert not unmatched


@pytest.mark.parametrize("abs_pos", [False, True])
def test_torchvision_equivalent_reference_gives_equal_logits(abs_pos):
    torch.manual_seed(0)
    reference = torchvision_reference(abs_pos)
    state = to_pyslowfast_layout(reference)
    assert state.keys() == pyslowfast_shapes(abs_pos).keys()
    assert all(tuple(v.shape) == pyslowfast_shapes(abs_pos)[k] for k, v in state.items())
    model = load_converted_model(config_from_pyslowfast(tiny_cfg(abs_pos)), convert_pyslowfast_mvit_state_dict(state))
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        assert (model(video).logits - reference(video.transpose(1, 2))).abs().max() <= 1e-5


def test_pyth_file_converts_with_its_test_views_through_the_cli(tmp_path):
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    from hfvid.cli import main

    torch.manual_seed(0)
    reference = torchvision_reference()
    checkpoint = {"epoch": 200, "model_state": {"module." + k: v for k, v in to_pyslowfast_layout(reference).items()},
                  "optimizer_state": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "cfg": yaml.safe_dump(TINY_CFG)}
    torch.save(checkpoint, tmp_path / "mvit.pyth")
    assert main(["convert", "pyslowfast-mvit", "--checkpoint_path", str(tmp_path / "mvit.pyth"),
                 "--output_dir", str(tmp_path / "out")]) == 0
    model = AutoModelForVideoClassification.from_pretrained(tmp_path / "out").eval()
    processor = AutoVideoProcessor.from_pretrained(tmp_path / "out")
    assert (processor.sampling, processor.frame_stride, processor.num_clips, processor.num_crops) == ("stride", 2, 2, 3)
    assert processor.size.shortest_edge == 32  # PySlowFast's 3-crop test resizes the short side to the crop size
    video = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        assert (model(video).logits - reference(video.transpose(1, 2))).abs().max() <= 1e-5
    assert "PySlowFast MViTv2" in (tmp_path / "out" / "README.md").read_text()


def test_torchvision_converter_writes_the_kinetics_test_views(tmp_path):
    from safetensors.torch import save_file
    from transformers import AutoVideoProcessor

    from hfvid.models.mvitv2.convert_torchvision_mvit_to_hfvid import config_from_torchvision, convert

    reference = torchvision_reference()
    save_file(reference.state_dict(), str(tmp_path / "mvit.safetensors"))
    convert(tmp_path / "mvit.safetensors", tmp_path / "out", config_from_torchvision(reference))
    processor = AutoVideoProcessor.from_pretrained(tmp_path / "out")
    assert (processor.sampling, processor.frame_stride, processor.num_clips, processor.num_crops) == ("stride", 4, 5, 1)
    assert (processor.num_frames, processor.crop_size.height) == (4, 32)


def test_bad_checkpoints_are_clear_errors(tmp_path):
    from hfvid.models.mvitv2.convert_pyslowfast_mvit_to_hfvid import convert

    torch.save({"model_state": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "objects.pyth")
    with pytest.raises(ValueError, match="objects.pyth.*weights_only=True"):
        convert(tmp_path / "objects.pyth", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="missing.pyth"):
        convert(tmp_path / "missing.pyth", tmp_path / "out")
    with pytest.raises(ValueError, match="patch_embed.proj.weight"):
        convert_pyslowfast_mvit_state_dict({"head.projection.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="separate q/k/v"):
        convert_pyslowfast_mvit_state_dict({"patch_embed.proj.weight": torch.zeros(1),
                                            "blocks.0.attn.q.weight": torch.zeros(1)})
    cfg = tiny_cfg()
    cfg["MVIT"]["POOL_FIRST"] = True
    with pytest.raises(ValueError, match="POOL_FIRST=True is not supported"):
        config_from_pyslowfast(cfg)


def test_checkpoint_without_cfg_takes_the_yaml_config_file(tmp_path):
    from hfvid.models.mvitv2.convert_pyslowfast_mvit_to_hfvid import convert, main

    torch.save({"model_state": to_pyslowfast_layout(torchvision_reference())}, tmp_path / "bare.pyth")
    (tmp_path / "TINY.yaml").write_text(yaml.safe_dump(TINY_CFG))
    main(["--checkpoint_path", str(tmp_path / "bare.pyth"), "--output_dir", str(tmp_path / "out"),
          "--pyslowfast_config", str(tmp_path / "TINY.yaml")])
    from transformers import AutoVideoProcessor

    assert AutoVideoProcessor.from_pretrained(tmp_path / "out").num_clips == 2  # TEST.NUM_ENSEMBLE_VIEWS of the file
    with pytest.raises(ValueError, match="does not match the MViTv2 config"):  # no cfg anywhere: MViTv2-S 16x4
        convert(tmp_path / "bare.pyth", tmp_path / "out2")
