"""Convert a `face-alignment` FAN checkpoint (e.g. 2DFAN-4) into an hfvid SH-FAN checkpoint folder.

hfvid's FAN mirrors face-alignment's module names, so conversion is a key prefix (``fan.network.``) plus a config
inferred from the tensor shapes. The result is **FAN** (Bulat & Tzimiropoulos, ICCV 2017, trained with rounded
heatmaps), not SH-FAN: the saved config carries ``converted_from`` and the rendered model card says so.

Decoding: the converted config keeps the SH-FAN defaults (``decode_method="local_soft_argmax"``). To reproduce
face-alignment's own decoding use ``decode_method="argmax_quarter_shift"``: with the processor's inverse crop map it
gives face-alignment's image coordinates *before* their final integer cast, which hfvid deliberately does not
reproduce (it quantises every landmark to whole pixels). face-alignment's crop also rounds the crop window to
integer pixels, so end-to-end outputs agree up to about one image pixel, not exactly.

Usage::

    python -m hfvid.models.subpixel_fan.convert_face_alignment_to_hfvid \\
        --checkpoint_path 2DFAN4.pth.tar --output_dir fan-2dfan4
    hfvid convert face-alignment --checkpoint_path ... --output_dir ...
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...modules.conversion import load_state_dict_strictly, unwrap_state_dict
from .configuration_subpixel_fan import SubpixelFANConfig
from .image_processing_subpixel_fan import SubpixelFANImageProcessor
from .modeling_subpixel_fan import SubpixelFANForFacialLandmarkDetection

PREFIX = "fan.network."
DEFAULT_SOURCE = "face-alignment 2DFAN-4"


def _require(state_dict: dict, key: str) -> torch.Tensor:
    if key not in state_dict:
        raise ValueError(f"not a face-alignment FAN state dict: key {key!r} is missing")
    return state_dict[key]


def convert_face_alignment_state_dict(
    state_dict, num_stacks: int | None = None, **config_kwargs
) -> tuple[SubpixelFANConfig, dict[str, torch.Tensor]]:
    """face-alignment FAN state dict -> (`SubpixelFANConfig`, state dict of `SubpixelFANForFacialLandmarkDetection`).

    Stacks, landmarks, width, stem channels and hourglass depth are read from the keys and shapes; ``num_stacks``,
    when given, must agree. ``config_kwargs`` override config fields (e.g. ``decode_method="argmax_quarter_shift"``
    for face-alignment's decoder, ``converted_from`` for the card). BatchNorm ``num_batches_tracked`` counters
    missing from old checkpoints are filled with 0. Keys are not validated here: see :func:`load_converted_model`.
    """
    state_dict = unwrap_state_dict(state_dict, "face-alignment FAN")
    stacks = sorted({int(m.group(1)) for key in state_dict if (m := re.match(r"l(\d+)\.weight$", key))})
    if not stacks:
        raise ValueError("not a face-alignment FAN state dict: no heatmap head 'l0.weight' found")
    inferred = stacks[-1] + 1
    if num_stacks is not None and num_stacks != inferred:
        raise ValueError(f"num_stacks={num_stacks} but the state dict has heatmap heads for {inferred} stacks")
    head = _require(state_dict, "l0.weight")  # (num_landmarks, hidden_size, 1, 1)
    levels = [int(m.group(1)) for key in state_dict if (m := re.match(r"m0\.b1_(\d+)\.", key))]
    if not levels:
        raise ValueError("not a face-alignment FAN state dict: no hourglass keys 'm0.b1_<level>.*' found")
    num_landmarks = head.shape[0]
    settings = dict(
        num_landmarks=num_landmarks,
        num_stacks=inferred,
        hourglass_depth=max(levels),
        hidden_size=head.shape[1],
        stem_channels=_require(state_dict, "conv1.weight").shape[0],
        norm_type="batch",
        image_size=256,
        heatmap_size=64,
        landmark_scheme="ibug68" if num_landmarks == 68 else "custom",
        converted_from=DEFAULT_SOURCE,
    )
    settings.update(config_kwargs)
    config = SubpixelFANConfig(**settings)

    converted = {PREFIX + key: value for key, value in state_dict.items()}
    for key in list(state_dict):
        if key.endswith(".running_mean"):
            counter = PREFIX + key.removesuffix("running_mean") + "num_batches_tracked"
            converted.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return config, converted


def load_converted_model(config: SubpixelFANConfig, state_dict: dict) -> SubpixelFANForFacialLandmarkDetection:
    """Build the model and load ``state_dict`` strictly; missing/unexpected/mis-shaped keys raise ``ValueError``."""
    mismatch = (f"the face-alignment state dict does not match the inferred FAN ({config.num_stacks} stacks, "
                f"depth {config.hourglass_depth}, width {config.hidden_size})")
    return load_state_dict_strictly(SubpixelFANForFacialLandmarkDetection(config), state_dict, mismatch,
                                    strip_prefix=PREFIX)


def random_face_alignment_fan(num_stacks: int = 4, seed: int = 0) -> torch.nn.Module:
    """face-alignment's ``FAN`` with random weights *and* random BatchNorm statistics/affines, in eval mode.

    The reference the converter is checked against (and the benchmark's peer), when real weights are not at hand:
    random BatchNorm statistics make a folding or ordering mistake visible. Needs the ``face-alignment`` package.
    """
    from face_alignment.models import FAN

    torch.manual_seed(seed)
    net = FAN(num_modules=num_stacks)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


def convert(
    checkpoint_path,
    output_dir,
    push_to_hub: bool = False,
    repo_id: str | None = None,
    **config_kwargs,
) -> SubpixelFANForFacialLandmarkDetection:
    """Convert a face-alignment checkpoint file into ``output_dir`` (config, safetensors, processor, card).

    The file is read with ``torch.load(weights_only=True)``: only tensors and plain containers, never arbitrary
    pickled objects. With ``push_to_hub`` the folder is uploaded to ``repo_id``. Returns the loaded model.
    """
    if push_to_hub and not repo_id:
        raise ValueError("push_to_hub needs repo_id (--hub_model_id)")
    try:
        state_dict = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except RuntimeError as error:
        if "TorchScript" not in str(error):
            raise
        raise ValueError(
            f"{checkpoint_path} is a TorchScript archive (face-alignment 1.3-1.4 .zip weights), which is not read "
            "here. Use the plain state-dict .pth.tar files (face-alignment <= 1.2 and 1.5), or, for a file you "
            "trust, pass torch.jit.load(path).state_dict() to convert_face_alignment_state_dict."
        ) from error
    config, converted = convert_face_alignment_state_dict(state_dict, **config_kwargs)
    model = load_converted_model(config, converted)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    processor = SubpixelFANImageProcessor()  # face-alignment's rule: 256 px crop, reference scale 195, [0, 1] RGB
    processor.save_pretrained(output_dir)

    from ...hub import finish_conversion

    # third-party weights: face-alignment states no licence for them (its code is BSD-3)
    finish_conversion(output_dir, config, config.converted_from, license="other", repo_id=repo_id,
                      push_to_hub=push_to_hub, reference_scale=processor.reference_scale)
    return model


def main(argv=None) -> None:
    """Command line: ``--checkpoint_path --output_dir [--push_to_hub --hub_model_id] [--decode_method]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True, help="face-alignment .pth.tar (plain state dict)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None)
    parser.add_argument("--decode_method", default=None, help="e.g. argmax_quarter_shift for face-alignment parity")
    args = parser.parse_args(argv)
    overrides = {"decode_method": args.decode_method} if args.decode_method else {}
    convert(args.checkpoint_path, args.output_dir, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id,
            **overrides)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")


__all__ = ["convert", "convert_face_alignment_state_dict", "load_converted_model", "main", "random_face_alignment_fan"]


if __name__ == "__main__":
    main()
