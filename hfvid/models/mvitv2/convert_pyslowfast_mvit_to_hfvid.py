"""Convert a PySlowFast MViTv2 checkpoint (e.g. `MViTv2_S_16x4_k400_f302660347.pyth`) into an hfvid MViTv2 folder.

torchvision's MViT is a port of PySlowFast's, so the layouts coincide up to names: PySlowFast's `patch_embed.proj`,
`cls_token`, `attn.proj`, `attn.pool_q` + `attn.norm_q`, `mlp.fc1`/`fc2`, `proj` and `head.projection` are
torchvision's `conv_proj`, `pos_encoding.class_token`, `attn.project.0`, `attn.pool_q.pool` + `.norm_act.0`,
`mlp.0`/`3`, `project` and `head.1`; the rest is the torchvision converter's prefix (`mvitv2.`). The architecture
and the test protocol come from the checkpoint's own `cfg` (PySlowFast saves `cfg.dump()` beside `model_state`),
or from the model's YAML config (`--pyslowfast_config configs/Kinetics/MVITv2_S_16x4.yaml`), else MViTv2-S 16x4.
The converted folder's video processor samples as PySlowFast tests (`DATA.SAMPLING_RATE` frames apart at
`DATA.TARGET_FPS`, `TEST.NUM_ENSEMBLE_VIEWS` clips x `TEST.NUM_SPATIAL_CROPS` crops, scores averaged).

`.pyth` files are pickles: they are read with `torch.load(weights_only=True)`, which accepts tensors, numbers,
strings and plain containers (what PySlowFast's `model_state`, `optimizer_state`, `epoch` and `cfg` are) and
refuses anything else instead of running it.

Usage::

    hfvid convert pyslowfast-mvit --checkpoint_path MViTv2_S_16x4_k400_f302660347.pyth --output_dir mvitv2-s-k400
"""

import argparse
import ast
import pickle
import re
from pathlib import Path

import torch

from ...modules.conversion import unwrap_state_dict
from .configuration_mvitv2 import MViTv2Config
from .convert_torchvision_mvit_to_hfvid import load_converted_model
from .video_processing_mvitv2 import KINETICS_TEST_VIEWS, MViTv2VideoProcessor

SOURCE = "PySlowFast MViTv2"
# PySlowFast names -> hfvid names (after the `mvitv2.` prefix); block-level names are under `blocks.<i>.`.
TOP_LEVEL = {"patch_embed.proj.": "conv_proj.", "cls_token": "pos_encoding.class_token",
             "pos_embed_spatial": "pos_encoding.spatial_pos", "pos_embed_temporal": "pos_encoding.temporal_pos",
             "pos_embed_class": "pos_encoding.class_pos"}
IN_BLOCK = {"attn.proj.": "attn.project.0.", "attn.pool_q.": "attn.pool_q.pool.", "attn.pool_k.": "attn.pool_k.pool.",
            "attn.pool_v.": "attn.pool_v.pool.", "attn.norm_q.": "attn.pool_q.norm_act.0.",
            "attn.norm_k.": "attn.pool_k.norm_act.0.", "attn.norm_v.": "attn.pool_v.norm_act.0.",
            "mlp.fc1.": "mlp.0.", "mlp.fc2.": "mlp.3.", "proj.": "project."}
HEAD = {"head.projection.weight": "classifier.weight", "head.projection.bias": "classifier.bias"}
# PySlowFast defaults (slowfast/config/defaults.py) of the options read below, for YAML files that omit them.
DEFAULTS = {
    "DATA": {"NUM_FRAMES": 8, "SAMPLING_RATE": 8, "TARGET_FPS": 30, "TRAIN_CROP_SIZE": 224, "TEST_CROP_SIZE": 256,
             "TRAIN_JITTER_SCALES": [256, 320], "INPUT_CHANNEL_NUM": [3]},
    "TEST": {"NUM_ENSEMBLE_VIEWS": 10, "NUM_SPATIAL_CROPS": 3},
    "MODEL": {"NUM_CLASSES": 400, "DROPOUT_RATE": 0.5},
    "MVIT": {"MODE": "conv", "POOL_FIRST": False, "CLS_EMBED_ON": True, "PATCH_KERNEL": [3, 7, 7],
             "PATCH_STRIDE": [2, 4, 4], "PATCH_PADDING": [2, 4, 4], "PATCH_2D": False, "EMBED_DIM": 96,
             "NUM_HEADS": 1, "MLP_RATIO": 4.0, "QKV_BIAS": True, "DROPPATH_RATE": 0.1, "DEPTH": 16, "DIM_MUL": [],
             "HEAD_MUL": [], "POOL_KV_STRIDE": [], "POOL_KV_STRIDE_ADAPTIVE": None, "POOL_Q_STRIDE": [],
             "POOL_KVQ_KERNEL": None, "NORM_STEM": False, "USE_ABS_POS": True, "SEP_POS_EMBED": False,
             "REL_POS_SPATIAL": False, "REL_POS_TEMPORAL": False, "RESIDUAL_POOLING": False,
             "DIM_MUL_IN_ATT": False, "SEPARATE_QKV": False, "USE_MEAN_POOLING": False,
             "LAYER_SCALE_INIT_VALUE": 0.0},
}
# MViTv2-S 16x4 (configs/Kinetics/MVITv2_S_16x4.yaml), used when neither the checkpoint nor the user gives a cfg.
MVITV2_S_16X4 = {
    "DATA": {"NUM_FRAMES": 16, "SAMPLING_RATE": 4, "TRAIN_CROP_SIZE": 224, "TEST_CROP_SIZE": 224,
             "TRAIN_JITTER_SCALES": [256, 320]},
    "TEST": {"NUM_ENSEMBLE_VIEWS": 5, "NUM_SPATIAL_CROPS": 1},
    "MVIT": {"USE_ABS_POS": False, "REL_POS_SPATIAL": True, "REL_POS_TEMPORAL": True, "DEPTH": 16, "NUM_HEADS": 1,
             "EMBED_DIM": 96, "PATCH_KERNEL": [3, 7, 7], "PATCH_STRIDE": [2, 4, 4], "PATCH_PADDING": [1, 3, 3],
             "DIM_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]], "HEAD_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
             "POOL_KVQ_KERNEL": [3, 3, 3], "POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
             "POOL_Q_STRIDE": [[i, 1, 2, 2] if i in (1, 3, 14) else [i, 1, 1, 1] for i in range(16)],
             "DIM_MUL_IN_ATT": True, "RESIDUAL_POOLING": True, "DROPPATH_RATE": 0.2},
}
# Options whose other values change the computation in ways torchvision's blocks (hence hfvid's) do not have.
REQUIRED = {"MODE": "conv", "POOL_FIRST": False, "CLS_EMBED_ON": True, "PATCH_2D": False, "MLP_RATIO": 4.0,
            "QKV_BIAS": True, "NORM_STEM": False, "SEPARATE_QKV": False, "USE_MEAN_POOLING": False,
            "LAYER_SCALE_INIT_VALUE": 0.0}


def _option(cfg: dict, section: str, name: str):
    value = cfg.get(section, {}).get(name, DEFAULTS[section][name])
    if isinstance(value, str) and value[:1] in "([":  # YAML files write some tuples as strings: "(3, 7, 7)"
        value = ast.literal_eval(value)
    return list(value) if isinstance(value, tuple) else value


def round_width(width, multiplier, min_width=1, divisor=1) -> int:
    """PySlowFast's channel / head rounding (`slowfast/models/utils.py`)."""
    if not multiplier:
        return width
    width *= multiplier
    min_width = min_width or divisor
    width_out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if width_out < 0.9 * width:
        width_out += divisor
    return int(width_out)


def config_from_pyslowfast(cfg: dict | None = None, **overrides) -> MViTv2Config:
    """The `MViTv2Config` of a PySlowFast MViT cfg (a dict of its YAML; default MViTv2-S 16x4), computed as
    PySlowFast's `MViT.__init__` does (DIM_MUL/HEAD_MUL rounding, adaptive KV strides, kernels)."""
    cfg = MVITV2_S_16X4 if cfg is None else cfg
    option = lambda name: _option(cfg, "MVIT", name)  # noqa: E731
    for name, expected in REQUIRED.items():
        if option(name) != expected:
            raise ValueError(f"PySlowFast MVIT.{name}={option(name)!r} is not supported (hfvid's MViTv2 is "
                             f"torchvision's, which needs {expected!r})")
    if option("REL_POS_SPATIAL") != option("REL_POS_TEMPORAL") or option("REL_POS_SPATIAL") == option("USE_ABS_POS"):
        raise ValueError("PySlowFast MVIT needs either relative positions in space and time (MViTv2) or separable "
                         f"absolute ones (MViTv1), got REL_POS_SPATIAL={option('REL_POS_SPATIAL')}, REL_POS_TEMPORAL="
                         f"{option('REL_POS_TEMPORAL')}, USE_ABS_POS={option('USE_ABS_POS')}")
    if option("USE_ABS_POS") and not option("SEP_POS_EMBED"):
        raise ValueError("PySlowFast MVIT.USE_ABS_POS with SEP_POS_EMBED=False (one joint position table) has no "
                         "torchvision equivalent; only separable absolute positions convert")
    depth = option("DEPTH")
    dim_mul, head_mul = [1.0] * (depth + 1), [1.0] * (depth + 1)
    for index, value in option("DIM_MUL"):
        dim_mul[index] = value
    for index, value in option("HEAD_MUL"):
        head_mul[index] = value
    kernel = option("POOL_KVQ_KERNEL")
    stride_q, kernel_q = [[1, 1, 1] for _ in range(depth)], [[1, 1, 1] for _ in range(depth)]
    for index, *stride in option("POOL_Q_STRIDE"):
        stride_q[index] = list(stride)
        kernel_q[index] = list(kernel) if kernel is not None else [s + 1 if s > 1 else s for s in stride]
    kv_strides = option("POOL_KV_STRIDE")
    adaptive = option("POOL_KV_STRIDE_ADAPTIVE")
    if adaptive is not None:
        kv_strides, current = [], list(adaptive)
        for i in range(depth):  # the KV stride shrinks as the queries pool, keeping the KV grid fixed
            current = [max(c // s, 1) for c, s in zip(current, stride_q[i])]
            kv_strides.append([i, *current])
    stride_kv, kernel_kv = [[1, 1, 1] for _ in range(depth)], [[1, 1, 1] for _ in range(depth)]
    for index, *stride in kv_strides:
        stride_kv[index] = list(stride)
        kernel_kv[index] = list(kernel) if kernel is not None else [s + 1 if s > 1 else s for s in stride]
    if not option("DIM_MUL_IN_ATT"):
        raise ValueError("PySlowFast MVIT.DIM_MUL_IN_ATT=False (MViTv1 channel expansion in the MLP) is not "
                         "supported: hfvid's MViTv2 expands channels in attention (torchvision proj_after_attn)")
    embed_dim = dim = option("EMBED_DIM")
    heads = option("NUM_HEADS")
    num_heads, output_channels = [], []
    for i in range(depth):
        heads = round_width(heads, head_mul[i])
        dim = round_width(dim, dim_mul[i], divisor=round_width(heads, head_mul[i]))
        num_heads.append(heads)
        output_channels.append(dim)
    size = _option(cfg, "DATA", "TRAIN_CROP_SIZE")
    settings = dict(
        image_size=[size, size], num_frames=_option(cfg, "DATA", "NUM_FRAMES"),
        num_channels=_option(cfg, "DATA", "INPUT_CHANNEL_NUM")[0], embed_dim=embed_dim,
        patch_kernel_size=list(option("PATCH_KERNEL")), patch_stride=list(option("PATCH_STRIDE")),
        patch_padding=list(option("PATCH_PADDING")), num_heads=num_heads, output_channels=output_channels,
        kernel_q=kernel_q, kernel_kv=kernel_kv, stride_q=stride_q, stride_kv=stride_kv,
        residual_pool=option("RESIDUAL_POOLING"), residual_with_cls_embed=False,
        rel_pos_embed=option("REL_POS_SPATIAL"), proj_after_attn=True,
        stochastic_depth_prob=option("DROPPATH_RATE"), classifier_dropout=_option(cfg, "MODEL", "DROPOUT_RATE"),
        num_labels=_option(cfg, "MODEL", "NUM_CLASSES"),
    )
    settings.update(overrides)
    return MViTv2Config(**settings)


def processor_from_pyslowfast(cfg: dict | None = None, **overrides) -> MViTv2VideoProcessor:
    """The video processor that samples as PySlowFast tests this cfg (default MViTv2-S 16x4): clips of NUM_FRAMES
    frames SAMPLING_RATE apart at TARGET_FPS, NUM_ENSEMBLE_VIEWS clips x NUM_SPATIAL_CROPS crops; one crop after a
    short-side resize to TRAIN_JITTER_SCALES[0], several after a resize to TEST_CROP_SIZE (PySlowFast's rule)."""
    cfg = MVITV2_S_16X4 if cfg is None else cfg
    data = lambda name: _option(cfg, "DATA", name)  # noqa: E731
    crops = _option(cfg, "TEST", "NUM_SPATIAL_CROPS")
    settings = dict(KINETICS_TEST_VIEWS, num_frames=data("NUM_FRAMES"), frame_stride=data("SAMPLING_RATE"),
                    base_fps=float(data("TARGET_FPS")), num_clips=_option(cfg, "TEST", "NUM_ENSEMBLE_VIEWS"),
                    num_crops=crops, crop_size={"height": data("TEST_CROP_SIZE"), "width": data("TEST_CROP_SIZE")},
                    size={"shortest_edge": data("TEST_CROP_SIZE") if crops > 1 else data("TRAIN_JITTER_SCALES")[0]})
    settings.update(overrides)
    return MViTv2VideoProcessor(**settings)


def convert_pyslowfast_mvit_state_dict(state_dict: dict) -> dict:
    """PySlowFast MViT `model_state` -> state dict of `MViTv2ForVideoClassification` (values unchanged; the CLS
    token and separable absolute positions lose their leading singleton dimensions). Keys are not validated
    here; see :func:`load_converted_model`."""
    state_dict = unwrap_state_dict(state_dict, "PySlowFast MViT model_state")
    if "patch_embed.proj.weight" not in state_dict:
        raise ValueError("not a PySlowFast MViT state dict: key 'patch_embed.proj.weight' is missing (for "
                         "torchvision's mvit_v2_s use `hfvid convert torchvision-mvit`)")
    if any(re.match(r"blocks\.\d+\.attn\.[qkv]\.", key) for key in state_dict):
        raise ValueError("PySlowFast MViT with separate q/k/v projections (POOL_FIRST or SEPARATE_QKV) is not "
                         "supported: hfvid's MViTv2 (torchvision's blocks) projects q, k, v jointly")
    converted = {}
    for key, value in state_dict.items():
        if key in HEAD:
            converted[HEAD[key]] = value
            continue
        block = re.match(r"(blocks\.\d+\.)(.*)", key)
        if block:
            prefix, rest = block.groups()
            old = next((name for name in IN_BLOCK if rest.startswith(name)), None)
            name = prefix + (IN_BLOCK[old] + rest[len(old):] if old else rest)
        else:
            old = next((name for name in TOP_LEVEL if key.startswith(name)), None)
            name = TOP_LEVEL[old] + key[len(old):] if old else key
            if old in ("cls_token", "pos_embed_spatial", "pos_embed_temporal", "pos_embed_class"):
                value = value.reshape(value.shape[-1]) if old in ("cls_token", "pos_embed_class") else value[0]
        converted["mvitv2." + name] = value
    return converted


def load_pyslowfast_checkpoint(checkpoint_path) -> tuple[dict, dict | None]:
    """`(model_state, cfg dict or None)` of a PySlowFast checkpoint, read with `torch.load(weights_only=True)`."""
    import yaml

    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint_path {str(path)!r}: no such file (a PySlowFast .pyth checkpoint)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"checkpoint_path {str(path)!r} holds objects other than tensors, numbers, strings and plain "
                         "containers, so torch.load(weights_only=True) refuses it (hfvid never unpickles arbitrary "
                         "objects); re-save its 'model_state' with torch.save") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint_path {str(path)!r}: expected a dict, got {type(checkpoint).__name__}")
    state_dict = next((checkpoint[k] for k in ("model_state", "model", "state_dict") if isinstance(checkpoint.get(k),
                                                                                                   dict)), checkpoint)
    cfg = checkpoint.get("cfg")
    if isinstance(cfg, str):
        try:
            cfg = yaml.safe_load(cfg)
        except yaml.YAMLError as error:
            raise ValueError(f"checkpoint_path {str(path)!r}: its 'cfg' is not PySlowFast's YAML dump ({error}); "
                             "pass the model's YAML config instead (--pyslowfast_config)") from None
    return state_dict, cfg if isinstance(cfg, dict) else None


def convert(checkpoint_path, output_dir, cfg: dict | None = None, push_to_hub: bool = False,
            repo_id: str | None = None):
    """Convert a PySlowFast MViT checkpoint into `output_dir` (model, video processor with the weights' test
    sampling, model card). `cfg` (a dict of PySlowFast's YAML) wins over the checkpoint's own; neither: MViTv2-S."""
    if push_to_hub and not repo_id:
        raise ValueError("push_to_hub needs repo_id (--hub_model_id)")
    state_dict, saved_cfg = load_pyslowfast_checkpoint(checkpoint_path)
    cfg = cfg if cfg is not None else saved_cfg
    config = config_from_pyslowfast(cfg)
    model = load_converted_model(config, convert_pyslowfast_mvit_state_dict(state_dict))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    processor_from_pyslowfast(cfg).save_pretrained(output_dir)

    from ...hub import finish_conversion

    finish_conversion(output_dir, config, SOURCE, license="apache-2.0", repo_id=repo_id, push_to_hub=push_to_hub)
    return model


def read_pyslowfast_config(path) -> dict:
    """A PySlowFast YAML config file (e.g. `configs/Kinetics/MVITv2_B_32x3.yaml`) as a dict."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pyslowfast_config {str(path)!r}: no such file (a PySlowFast YAML config)")
    cfg = yaml.safe_load(path.read_text())
    if not isinstance(cfg, dict):
        raise ValueError(f"pyslowfast_config {str(path)!r} is not a YAML mapping of PySlowFast options")
    return cfg


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True, help="PySlowFast checkpoint (.pyth)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--pyslowfast_config", default=None,
                        help="the model's PySlowFast YAML config, when the checkpoint holds no cfg")
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None)
    args = parser.parse_args(argv)
    cfg = read_pyslowfast_config(args.pyslowfast_config) if args.pyslowfast_config else None
    convert(args.checkpoint_path, args.output_dir, cfg, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")


__all__ = ["config_from_pyslowfast", "convert", "convert_pyslowfast_mvit_state_dict", "load_pyslowfast_checkpoint",
           "main", "processor_from_pyslowfast", "read_pyslowfast_config", "round_width"]


if __name__ == "__main__":
    main()
