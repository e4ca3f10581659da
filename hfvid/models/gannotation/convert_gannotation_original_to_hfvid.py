"""Convert the released GANnotation generator (``myGEN.pth``, official ``model.py``) into an hfvid pipeline folder.

hfvid's :class:`GANnotationGenerator` keeps the official attribute names, so the key map is only "drop the
DataParallel ``module.`` prefix" (the file holds ``{"state_dict": {"module.down_conv.0.weight": ...}}``). The config
is read from the shapes: landmarks = input channels - 3, width, residual blocks. Converted weights need
``input_range="0_1"`` (the demo fed [0, 1] images and read the output as [-1, 1]) and
``landmark_encoding="legacy_heatmap"`` (7x7 patches at floored 1-based positions); both are set here.

The official code and weights are **CC BY-NC 4.0**; so are the converted weights (the card says so).

Usage::

    python -m hfvid.models.gannotation.convert_gannotation_original_to_hfvid \\
        --checkpoint_path myGEN.pth --output_dir gannotation-fg2020
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...modules.conversion import load_state_dict_strictly, unwrap_state_dict
from .configuration_gannotation import GANnotationConfig
from .modeling_gannotation import GANnotationGenerator

DEFAULT_SOURCE = "GANnotation myGEN.pth (FG 2020 demo model)"


def convert_gannotation_state_dict(state_dict, **config_kwargs) -> tuple[GANnotationConfig, dict[str, torch.Tensor]]:
    """Official generator state dict -> (``GANnotationConfig``, state dict of ``GANnotationGenerator``).

    ``config_kwargs`` override config fields (e.g. ``landmark_encoding="heatmap"`` to fine-tune with hfvid's maps).
    """
    state_dict = unwrap_state_dict(state_dict, "GANnotation generator")
    if "down_conv.0.weight" not in state_dict or "colour_layer.0.weight" not in state_dict:
        raise ValueError("not a GANnotation generator state dict: "
                         "'down_conv.0.weight' / 'colour_layer.0.weight' missing")
    first = state_dict["down_conv.0.weight"]  # (base, 3 + N, 7, 7)
    downs = sum(1 for key in state_dict if re.fullmatch(r"down_conv\.\d+\.weight", key) and state_dict[key].ndim == 4)
    blocks = {int(m.group(1)) for key in state_dict if (m := re.match(r"bottleneck\.(\d+)\.", key))}
    settings = dict(
        num_landmarks=first.shape[1] - 3,
        base_channels=first.shape[0],
        num_downsamples=downs - 1,
        num_res_blocks=len(blocks),
        use_mask="mask_layer.0.weight" in state_dict,
        landmark_encoding="legacy_heatmap",
        input_range="0_1",
        converted_from=DEFAULT_SOURCE,
    )
    settings.update(config_kwargs)
    return GANnotationConfig(**settings), dict(state_dict)


def load_converted_generator(config: GANnotationConfig, state_dict: dict) -> GANnotationGenerator:
    """Build the generator and load ``state_dict`` strictly; mismatches raise ``ValueError`` listing the keys."""
    return load_state_dict_strictly(GANnotationGenerator(config), state_dict,
                                    "the GANnotation state dict does not match the inferred generator")


def convert(checkpoint_path, output_dir, push_to_hub: bool = False, repo_id: str | None = None, **config_kwargs):
    """Convert ``checkpoint_path`` (read with ``weights_only=True``) into a ``GANnotationPipeline`` folder + card."""
    if push_to_hub and not repo_id:
        raise ValueError("push_to_hub needs repo_id (--hub_model_id)")
    from ...hub import finish_conversion
    from .pipeline_gannotation import GANnotationPipeline

    state_dict = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config, converted = convert_gannotation_state_dict(state_dict, **config_kwargs)
    generator = load_converted_generator(config, converted)
    output_dir = Path(output_dir)
    GANnotationPipeline(synthesizer=generator).save_pretrained(output_dir)
    finish_conversion(output_dir, config, config.converted_from, license="cc-by-nc-4.0", repo_id=repo_id,
                      push_to_hub=push_to_hub)
    return generator


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True, help="official myGEN.pth")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None)
    args = parser.parse_args(argv)
    convert(args.checkpoint_path, args.output_dir, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")


__all__ = ["convert", "convert_gannotation_state_dict", "load_converted_generator", "main"]


if __name__ == "__main__":
    main()
