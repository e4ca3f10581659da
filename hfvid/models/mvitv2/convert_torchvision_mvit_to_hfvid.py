"""Convert a torchvision MViT (e.g. `mvit_v2_s` with Kinetics-400 weights) into an hfvid MViTv2 checkpoint.

hfvid's MViTv2 is built from torchvision's blocks under torchvision's names, so conversion is a key prefix
(`mvitv2.`) plus `head.1.*` -> `classifier.*`. The architecture (pooling strides, kernels) is not recoverable from
weights alone, so a state-dict file is converted against a config (default: `mvit_v2_s`), and every key and shape
is checked strictly; a live torchvision model gives its config exactly through :func:`config_from_torchvision`.

Usage (for anyone who has the weights, e.g. `MViT_V2_S_Weights.KINETICS400_V1` saved as a state dict)::

    python -m hfvid.models.mvitv2.convert_torchvision_mvit_to_hfvid \\
        --checkpoint_path mvit_v2_s-ae3be167.pth --output_dir mvitv2-s-k400
"""

import argparse
from pathlib import Path

import torch

from ...modules.conversion import load_state_dict_strictly, unwrap_state_dict
from .configuration_mvitv2 import MViTv2Config
from .modeling_mvitv2 import MViTv2ForVideoClassification
from .video_processing_mvitv2 import KINETICS_TEST_VIEWS, MViTv2VideoProcessor

PREFIX = "mvitv2."
HEAD_KEYS = {"head.1.weight": "classifier.weight", "head.1.bias": "classifier.bias"}
SOURCE = "torchvision mvit_v2_s"


def config_from_torchvision(model, **overrides) -> MViTv2Config:
    """The `MViTv2Config` of a torchvision `MViT` module (read from its layers, so custom block settings work)."""
    blocks = list(model.blocks)
    if not blocks:
        raise ValueError("not a torchvision MViT: it has no blocks")

    def triple(value):
        return [int(v) for v in (value if isinstance(value, (tuple, list)) else (value,) * 3)]

    def pool_kernel_stride(pool):
        return (triple(pool.pool.kernel_size), triple(pool.pool.stride)) if pool is not None else ([1, 1, 1],) * 2

    kernel_q, stride_q, kernel_kv, stride_kv = [], [], [], []
    for block in blocks:
        kq, sq = pool_kernel_stride(block.attn.pool_q)
        kkv, skv = pool_kernel_stride(block.attn.pool_k)
        kernel_q.append(kq), stride_q.append(sq), kernel_kv.append(kkv), stride_kv.append(skv)
    first = blocks[0]
    pos = model.pos_encoding
    settings = dict(
        image_size=[pos.spatial_size[0] * model.conv_proj.stride[1], pos.spatial_size[1] * model.conv_proj.stride[2]],
        num_frames=pos.temporal_size * model.conv_proj.stride[0],
        num_channels=model.conv_proj.in_channels,
        embed_dim=model.conv_proj.out_channels,
        patch_kernel_size=triple(model.conv_proj.kernel_size),
        patch_stride=triple(model.conv_proj.stride),
        patch_padding=triple(model.conv_proj.padding),
        num_heads=[block.attn.num_heads for block in blocks],
        output_channels=[block.mlp[-2].out_features for block in blocks],
        kernel_q=kernel_q,
        kernel_kv=kernel_kv,
        stride_q=stride_q,
        stride_kv=stride_kv,
        residual_pool=first.attn.residual_pool,
        residual_with_cls_embed=first.attn.residual_with_cls_embed,
        rel_pos_embed=first.attn.rel_pos_h is not None,
        proj_after_attn=first.proj_after_attn,
        layer_norm_eps=model.norm.eps,
        num_labels=model.head[-1].out_features,
    )
    settings.update(overrides)
    return MViTv2Config(**settings)


def convert_torchvision_mvit_state_dict(state_dict, config: MViTv2Config | None = None):
    """torchvision MViT state dict -> (config, state dict of `MViTv2ForVideoClassification`).

    `config` defaults to `mvit_v2_s` with `num_labels` read from the head. Keys are not validated here; see
    :func:`load_converted_model`.
    """
    if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
        state_dict = state_dict["model"]  # PySlowFast-style wrapper
    state_dict = unwrap_state_dict(state_dict, "torchvision MViT state dict")
    if "conv_proj.weight" not in state_dict:
        raise ValueError("not a torchvision MViT state dict: key 'conv_proj.weight' is missing")
    if config is None:
        head = state_dict.get("head.1.weight")
        config = MViTv2Config(**({"num_labels": head.shape[0]} if head is not None else {}))
    converted = {HEAD_KEYS.get(key, PREFIX + key): value for key, value in state_dict.items()}
    return config, converted


def load_converted_model(config: MViTv2Config, state_dict: dict) -> MViTv2ForVideoClassification:
    """Build the model and load `state_dict` strictly; missing/unexpected/mis-shaped keys raise `ValueError`."""
    mismatch = (f"the converted state dict does not match the MViTv2 config ({len(config.num_heads)} blocks, "
                f"image_size {config.image_size}, {config.num_frames} frames)")
    return load_state_dict_strictly(MViTv2ForVideoClassification(config), state_dict, mismatch, limit=10)


def convert(checkpoint_path, output_dir, config: MViTv2Config | None = None, push_to_hub: bool = False,
            repo_id: str | None = None):
    """Convert a torchvision MViT checkpoint file (state dict; read with `weights_only=True`) into `output_dir`.

    `config` describes the architecture (default: `mvit_v2_s`); for a custom block setting build it with
    :func:`config_from_torchvision` or pass a saved `config.json` on the command line (`--config_file`).
    """
    if push_to_hub and not repo_id:
        raise ValueError("push_to_hub needs repo_id (--hub_model_id)")
    if str(checkpoint_path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state_dict = load_file(str(checkpoint_path))
    else:
        state_dict = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config, converted = convert_torchvision_mvit_state_dict(state_dict, config)
    model = load_converted_model(config, converted)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    # torchvision's mvit_v2_s weights are PySlowFast's MViTv2-S 16x4: its test views (stride 4 at 30 fps, 5 clips)
    height, width = config.image_size
    MViTv2VideoProcessor(**KINETICS_TEST_VIEWS | {"crop_size": {"height": height, "width": width}},
                         num_frames=config.num_frames, frame_stride=4).save_pretrained(output_dir)

    from ...hub import finish_conversion

    finish_conversion(output_dir, config, SOURCE, license="bsd-3-clause", repo_id=repo_id, push_to_hub=push_to_hub)
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True, help="torchvision MViT state dict (.pth or .safetensors)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--config_file", default=None, help="MViTv2 config.json of a non-default architecture")
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None)
    args = parser.parse_args(argv)
    config = MViTv2Config.from_json_file(args.config_file) if args.config_file else None
    convert(args.checkpoint_path, args.output_dir, config, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")


__all__ = ["config_from_torchvision", "convert", "convert_torchvision_mvit_state_dict", "load_converted_model", "main"]


if __name__ == "__main__":
    main()
