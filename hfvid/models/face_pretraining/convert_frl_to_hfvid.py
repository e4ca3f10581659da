"""Convert an FRL release checkpoint (``flr_r50_vgg_face.pth`` & co.) into an hfvid FRL checkpoint folder.

The release stores ``{"state_dict": {...}}`` with keys ``module.base_net.<torchvision ResNet names>`` (plus, in
training checkpoints, ``module.projection_net.*`` and ``module.prototypes.weight``). torchvision names map 1:1 onto
transformers' ResNet (``layer{i}.{j}.conv{k}`` -> ``encoder.stages.{i-1}.layers.{j}.layer.{k-1}.convolution``...).
The backbone becomes a [`FaceRepresentationModel`]; with ``with_swav_head`` and the head keys present, a
[`FaceRepresentationForSwAVPreTraining`]. ``fc.*`` and anything else are dropped and reported.

Usage::

    python -m hfvid.models.face_pretraining.convert_frl_to_hfvid --checkpoint_path flr_r50_vgg_face.pth \\
        --output_dir frl-r50-vggface2
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...modules.conversion import load_state_dict_strictly, unwrap_state_dict
from .configuration_face_pretraining import FaceRepresentationConfig
from .image_processing_face_pretraining import FaceRepresentationImageProcessor
from .modeling_face_pretraining import FaceRepresentationForSwAVPreTraining, FaceRepresentationModel

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_RULES = [
    (r"^conv1\.weight$", "resnet.embedder.embedder.convolution.weight"),
    (rf"^bn1\.{_BN}$", r"resnet.embedder.embedder.normalization.\1"),
    (r"^layer(\d+)\.(\d+)\.conv(\d+)\.weight$", "conv"),
    (rf"^layer(\d+)\.(\d+)\.bn(\d+)\.{_BN}$", "bn"),
    (r"^layer(\d+)\.(\d+)\.downsample\.0\.weight$", "short_conv"),
    (rf"^layer(\d+)\.(\d+)\.downsample\.1\.{_BN}$", "short_bn"),
]


def torchvision_to_hf_key(key: str) -> str | None:
    """One torchvision ResNet key -> the `FaceRepresentationModel` key (None for keys with no counterpart)."""
    for pattern, target in _RULES:
        match = re.match(pattern, key)
        if not match:
            continue
        groups = match.groups()
        if target == "conv":
            return f"resnet.encoder.stages.{int(groups[0]) - 1}.layers.{groups[1]}.layer.{int(groups[2]) - 1}.convolution.weight"
        if target == "bn":
            return (f"resnet.encoder.stages.{int(groups[0]) - 1}.layers.{groups[1]}.layer.{int(groups[2]) - 1}"
                    f".normalization.{groups[3]}")
        if target == "short_conv":
            return f"resnet.encoder.stages.{int(groups[0]) - 1}.layers.{groups[1]}.shortcut.convolution.weight"
        if target == "short_bn":
            return f"resnet.encoder.stages.{int(groups[0]) - 1}.layers.{groups[1]}.shortcut.normalization.{groups[2]}"
        return match.expand(target)
    return None


def infer_config(backbone: dict[str, torch.Tensor], **overrides) -> FaceRepresentationConfig:
    """ResNet depth/width/block type from the torchvision keys and shapes."""
    if "conv1.weight" not in backbone:
        raise ValueError("not an FRL/torchvision ResNet state dict: 'base_net.conv1.weight' is missing")
    stages = sorted({int(m.group(1)) for k in backbone if (m := re.match(r"layer(\d+)\.", k))})
    depths = [1 + max(int(m.group(1)) for k in backbone if (m := re.match(rf"layer{s}\.(\d+)\.", k))) for s in stages]
    bottleneck = any(k.endswith("conv3.weight") for k in backbone)
    last = "conv3" if bottleneck else "conv2"
    widths = [backbone[f"layer{s}.0.{last}.weight"].shape[0] for s in stages]
    values = dict(embedding_size=backbone["conv1.weight"].shape[0], hidden_sizes=widths, depths=depths,
                  layer_type="bottleneck" if bottleneck else "basic")
    return FaceRepresentationConfig(**(values | overrides))


def convert_frl_state_dict(checkpoint, with_swav_head: bool = False, **config_overrides):
    """FRL checkpoint -> (config, hfvid state dict, dropped keys). Head shapes set the SwAV config fields."""
    state = unwrap_state_dict(checkpoint, "FRL checkpoint")
    backbone = {k.removeprefix("base_net."): v for k, v in state.items() if k.startswith("base_net.")}
    if not backbone:
        backbone = {k: v for k, v in state.items() if not k.startswith(("projection_net.", "prototypes."))}
    head_keys = [k for k in state if k.startswith(("projection_net.", "prototypes."))]
    use_head = with_swav_head and "prototypes.weight" in state and "projection_net.0.weight" in state
    if use_head:
        config_overrides = dict(projection_hidden_size=state["projection_net.0.weight"].shape[0],
                                projection_dim=state["prototypes.weight"].shape[1],
                                num_prototypes=state["prototypes.weight"].shape[0]) | config_overrides
    elif with_swav_head:
        raise ValueError("with_swav_head needs 'projection_net.*' and 'prototypes.weight' in the checkpoint")
    config = infer_config(backbone, **config_overrides)
    prefix = "face_repr." if use_head else ""
    converted, dropped = {}, []
    for key, value in backbone.items():
        target = torchvision_to_hf_key(key)
        if target is None:
            dropped.append(f"base_net.{key}" if key in backbone else key)
        else:
            converted[prefix + target] = value
    for key in head_keys:
        if use_head:
            converted[key.replace("projection_net.", "projection_head.")] = state[key]
        else:
            dropped.append(key)
    return config, converted, sorted(dropped)


def load_converted_model(config, state_dict):
    """Build the model and load strictly: missing, unexpected or mis-shaped keys raise ``ValueError``."""
    swav = any(k.startswith("face_repr.") for k in state_dict)
    model = (FaceRepresentationForSwAVPreTraining if swav else FaceRepresentationModel)(config)
    load_state_dict_strictly(model, state_dict, "the FRL state dict does not match the inferred ResNet")
    if swav:
        model.normalize_prototypes()  # the release stores them as trained; SwAV uses unit rows
    return model


def convert(checkpoint_path, output_dir, with_swav_head: bool = False, push_to_hub: bool = False,
            repo_id: str | None = None):
    """Read (``torch.load(weights_only=True)``: tensors only), convert, save model + processor + card."""
    if push_to_hub and not repo_id:
        raise ValueError("push_to_hub needs repo_id")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config, state_dict, dropped = convert_frl_state_dict(checkpoint, with_swav_head,
                                                         converted_from=Path(checkpoint_path).name)
    model = load_converted_model(config, state_dict)
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    FaceRepresentationImageProcessor(image_size=config.image_size).save_pretrained(output_dir)
    from ...hub import finish_conversion

    finish_conversion(output_dir, config, config.converted_from, license="other", repo_id=repo_id,
                      push_to_hub=push_to_hub, dropped_keys=dropped)
    return model, dropped


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--with_swav_head", action="store_true", help="Keep projection + prototypes (if present).")
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None)
    args = parser.parse_args(argv)
    _, dropped = convert(args.checkpoint_path, args.output_dir, args.with_swav_head, args.push_to_hub,
                         args.hub_model_id)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}; dropped keys: {dropped}")


__all__ = ["convert", "convert_frl_state_dict", "infer_config", "load_converted_model", "main",
           "torchvision_to_hf_key"]


if __name__ == "__main__":
    main()
