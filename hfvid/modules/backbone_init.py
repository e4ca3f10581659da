"""Pretrained starts for the transformers `ResNetModel` backbones of the face-video models (``backbone_init``).

One string selects where a backbone's weights start (:func:`load_backbone_init`):

- ``"random"``: keep the model's own initialisation (the default; tests and the synthetic quickstarts).
- ``"torchvision:<name>"``: torchvision's ImageNet weights of ``resnet18|34|50|101|152`` (downloaded by torchvision
  on first use), or ``"torchvision:<file>"``: a torchvision ResNet state dict saved as ``.safetensors`` or
  ``.pt``/``.pth`` (read with ``torch.load(weights_only=True)``, never unpickling code). torchvision names are
  mapped onto transformers' (:func:`torchvision_resnet_to_transformers`, the FRL converter's key rules).
- a Hub id or local folder of a transformers ResNet checkpoint (``model_type="resnet"``, e.g.
  ``microsoft/resnet-50``; a classification head is dropped), or of an hfvid face pre-training model
  (``model_type="hfvid-face-pretraining"``: its ResNet backbone).

The source must have the backbone's architecture: a differing ResNet config field (depths, widths, block type,
where the stride sits) or a missing / unexpected / differently shaped tensor raises ``ValueError`` naming it;
nothing is loaded partially.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .conversion import load_state_dict_strictly, unwrap_state_dict

BACKBONE_INIT_RANDOM = "random"
TORCHVISION_PREFIX = "torchvision:"
TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# ResNetConfig fields that change the computation (not only the tensor shapes) of a transformers ResNet
ARCHITECTURE_FIELDS = ("num_channels", "embedding_size", "hidden_sizes", "depths", "layer_type", "hidden_act",
                       "downsample_in_first_stage", "downsample_in_bottleneck")
# torchvision's ResNet (v1.5): stride in the 3x3 conv of a bottleneck, no stride in the first stage
TORCHVISION_LAYOUT = {"hidden_act": "relu", "downsample_in_first_stage": False, "downsample_in_bottleneck": False}


def check_backbone_init(value) -> str:
    """Syntax check of a ``backbone_init`` value (the source itself is checked when it is loaded)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"backbone_init must be 'random', 'torchvision:<resnet name or state-dict file>' or a Hub "
                         f"id / folder of a ResNet or hfvid face pre-training checkpoint, got {value!r}")
    if value.startswith(TORCHVISION_PREFIX):
        source = value[len(TORCHVISION_PREFIX):]
        if source not in TORCHVISION_RESNETS and Path(source).suffix not in (".safetensors", ".pt", ".pth"):
            raise ValueError(f"backbone_init={value!r}: after 'torchvision:' give one of {TORCHVISION_RESNETS} or a "
                             f"state-dict file (.safetensors, .pt or .pth)")
    return value


def torchvision_resnet_to_transformers(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision ResNet state dict -> `ResNetModel` keys; ``fc.*`` (the ImageNet classifier) is dropped.

    Any other key raises ``ValueError`` (not a torchvision ResNet); a DataParallel ``module.`` prefix is removed
    beforehand, when the file is read (:func:`~hfvid.modules.conversion.unwrap_state_dict`).
    """
    from ..models.face_pretraining.convert_frl_to_hfvid import torchvision_to_hf_key

    mapped, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith("fc."):
            continue
        target = torchvision_to_hf_key(key)
        if target is None:
            unknown.append(key)
        else:
            mapped[target.removeprefix("resnet.")] = value
    if unknown:
        raise ValueError(f"not a torchvision ResNet state dict: keys with no ResNet counterpart {unknown[:5]}"
                         f"{' ...' if len(unknown) > 5 else ''}")
    if not mapped:
        raise ValueError("not a torchvision ResNet state dict: it holds no ResNet tensors")
    return mapped


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"backbone_init: state-dict file {str(path)!r} not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    return unwrap_state_dict(state, f"backbone_init: {str(path)!r}")


def _torchvision_state(source: str) -> dict[str, torch.Tensor]:
    if source in TORCHVISION_RESNETS:
        import torchvision

        return torchvision.models.get_model(source, weights="DEFAULT").state_dict()
    return _read_state_dict(Path(source))


def _checkpoint_resnet(source: str):
    """(ResNet state dict, ResNetConfig, kind) of a transformers ResNet or hfvid face pre-training checkpoint."""
    from transformers import PreTrainedConfig, ResNetModel

    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(source)
    except OSError as error:
        raise ValueError(f"backbone_init={source!r} is neither 'random', 'torchvision:...' nor a readable checkpoint "
                         f"folder / Hub id: {error}") from None
    model_type = config_dict.get("model_type")
    if model_type == "resnet":
        if "ResNetForImageClassification" in (config_dict.get("architectures") or []):
            from transformers import ResNetForImageClassification  # its head is dropped, without a load report

            model = ResNetForImageClassification.from_pretrained(source).resnet
        else:
            model = ResNetModel.from_pretrained(source)
        return model.state_dict(), model.config, "transformers ResNet"
    if model_type == "hfvid-face-pretraining":
        from ..models.face_pretraining import FaceRepresentationModel

        model = FaceRepresentationModel.from_pretrained(source)
        return model.resnet.state_dict(), model.config.resnet_config(), "hfvid face pre-training"
    raise ValueError(f"backbone_init={source!r} is a {model_type!r} checkpoint; expected a transformers ResNet "
                     f"(model_type 'resnet') or an hfvid face pre-training model ('hfvid-face-pretraining')")


def _check_architecture(source_config: dict, target_config, what: str) -> None:
    differences = [f"{field}: {source_config[field]!r} in the source, {getattr(target_config, field)!r} in the model"
                   for field in ARCHITECTURE_FIELDS
                   if field in source_config and source_config[field] != getattr(target_config, field)]
    if differences:
        raise ValueError(f"backbone_init {what} does not match the model's backbone_config ("
                         + "; ".join(differences) + "): set backbone_config to the source's architecture")


def load_backbone_init(resnet, backbone_init: str) -> bool:
    """Copy the weights ``backbone_init`` names into ``resnet`` (a transformers `ResNetModel`) in place.

    Returns False (nothing done) for ``"random"`` and for a model on the meta device, i.e. one being built by
    ``from_pretrained``, whose checkpoint weights win and must not trigger a download.
    """
    check_backbone_init(backbone_init)
    if backbone_init == BACKBONE_INIT_RANDOM or any(p.is_meta for p in resnet.parameters()):
        return False
    if backbone_init.startswith(TORCHVISION_PREFIX):
        source = backbone_init[len(TORCHVISION_PREFIX):]
        what = f"{backbone_init!r} (torchvision ResNet)"
        _check_architecture(TORCHVISION_LAYOUT, resnet.config, what)
        state = torchvision_resnet_to_transformers(_torchvision_state(source))
    else:
        state, source_config, kind = _checkpoint_resnet(backbone_init)
        what = f"{backbone_init!r} ({kind})"
        _check_architecture(source_config.to_dict(), resnet.config, what)
    # in place, keeping the model's train/eval mode
    load_state_dict_strictly(resnet, state, f"backbone_init {what} does not fit the model's backbone", limit=5,
                             set_eval=False)
    return True


def backbone_parameter_groups(model: torch.nn.Module, learning_rate: float, backbone_lr_scale: float = 1.0,
                              weight_decay: float = 0.0) -> list[dict]:
    """Optimizer parameter groups: the trainable ResNet parameters of every `FrameEncoder` in ``model`` at
    ``learning_rate * backbone_lr_scale`` (a pretrained feature extractor is fine-tuned gently), the other trainable
    parameters at ``learning_rate``. Empty groups are left out; a scale of 1 gives one group (the plain optimizer)."""
    from .temporal import FrameEncoder

    if not backbone_lr_scale > 0:
        raise ValueError(f"backbone_lr_scale must be > 0 (freeze the backbone instead of a zero rate), got "
                         f"{backbone_lr_scale}")
    in_backbone = {id(p) for m in model.modules() if isinstance(m, FrameEncoder) for p in m.backbone.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if backbone_lr_scale == 1.0:
        return [{"params": trainable, "lr": learning_rate, "weight_decay": weight_decay}]
    groups = [{"params": [p for p in trainable if id(p) in in_backbone], "lr": learning_rate * backbone_lr_scale,
               "name": "backbone"},
              {"params": [p for p in trainable if id(p) not in in_backbone], "lr": learning_rate, "name": "heads"}]
    return [{**group, "weight_decay": weight_decay} for group in groups if group["params"]]


__all__ = [
    "backbone_parameter_groups",
    "BACKBONE_INIT_RANDOM",
    "TORCHVISION_RESNETS",
    "check_backbone_init",
    "load_backbone_init",
    "torchvision_resnet_to_transformers",
]
