"""MeMSVD's short-term model: actor features by RoIAlign on a video backbone's last feature map.

- :class:`MeMSVDActorEncoder` (``nn.Module``): ``pixel_values (B, T, 3, H, W)`` + ``boxes (K, 5)`` ``[batch_index,
  x1, y1, x2, y2]`` in input pixels -> ``(K, C)``. An hfvid MViTv2 backbone, its last feature map averaged over
  time, RoIAlign per box, average-pooled (the LFB/MeMSVD short-term model). [`MeMSVDModel`] holds one when
  `MeMSVDConfig.actor_encoder_config` is set, so it is saved, loaded and trained with the memory and the head.
- :class:`VideoBackboneActorEncoder`: the frame-level callable ``(frames, (K, 4) pixel boxes) -> (K, C)`` that the
  long-term pipeline and `extract_feature_bank.py` take: samples and resizes the clip with a video processor, then
  runs a :class:`MeMSVDActorEncoder` (the model's own, or one loaded from an MViTv2 checkpoint).
- :class:`RoIAlignActorEncoder`: the same contract around any callable mapping a clip to a feature map, or the
  frames themselves as feature maps (the synthetic quickstart).
"""

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class MeMSVDActorEncoder(nn.Module):
    """Video backbone + RoIAlign: ``(pixel_values (B, T, 3, H, W), boxes (K, 5)) -> (K, C)`` actor features.

    Args:
        backbone_config: an hfvid MViTv2 config (`model_type="hfvid-mvitv2"`); its last stage gives the features.
        roi_size (`int`): RoIAlign grid per box, average-pooled to one vector.
        backbone (*optional*): an already built (e.g. pretrained) backbone of that config, used instead of a new one.
    """

    def __init__(self, backbone_config, roi_size: int = 7, backbone: nn.Module | None = None):
        super().__init__()
        from transformers import AutoBackbone

        self.backbone = backbone if backbone is not None else AutoBackbone.from_config(backbone_config)
        self.roi_size = roi_size

    @property
    def hidden_size(self) -> int:
        return self.backbone.num_features[-1]

    def forward(self, pixel_values: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import roi_align

        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must have shape (K, 5) = [batch_index, x1, y1, x2, y2] in input pixels, got "
                             f"{tuple(boxes.shape)}")
        feature_map = self.backbone(pixel_values).feature_maps[-1].mean(2)  # (B, C, H', W'): time-averaged
        height, width = pixel_values.shape[-2:]
        scale = boxes.new_tensor([1.0, feature_map.shape[3] / width, feature_map.shape[2] / height,
                                  feature_map.shape[3] / width, feature_map.shape[2] / height])
        pooled = roi_align(feature_map.float(), (boxes.float() * scale.float()), self.roi_size, 1.0,
                           sampling_ratio=-1, aligned=True)
        return pooled.mean(dim=(2, 3)).to(feature_map.dtype)


def load_backbone(name_or_path, **kwargs) -> nn.Module:
    """A pretrained video `AutoBackbone` (hfvid MViTv2) from a checkpoint folder or Hub id."""
    from transformers import AutoBackbone, AutoConfig

    # AutoBackbone.from_pretrained asks the Hub whether the repo exists before anything else (transformers 5.24),
    # which rejects local folders and fails offline; resolve the backbone class from the config instead.
    config = AutoConfig.from_pretrained(str(name_or_path))
    return AutoBackbone._model_mapping[type(config)].from_pretrained(str(name_or_path), config=config, **kwargs)


class VideoBackboneActorEncoder:
    """Frames + pixel boxes -> actor features, with a :class:`MeMSVDActorEncoder`: ``(frames, (K, 4)) -> (K, C)``.

    The clip is sampled to the backbone's ``num_frames`` (evenly, repeating frames of a shorter clip) and resized to
    its input size without cropping (so pixel boxes map exactly onto the input), then encoded. ``C`` must equal the
    MeMSVD model's ``feature_dim``.
    """

    def __init__(self, encoder: MeMSVDActorEncoder, video_processor):
        self.encoder, self.video_processor = encoder, video_processor

    @classmethod
    def from_pretrained(cls, name_or_path, output_size: int = 7, **kwargs):
        """An MViTv2 backbone checkpoint (and its video processor, a Kinetics-style one if none is saved)."""
        name_or_path = str(name_or_path)
        backbone = load_backbone(name_or_path, **kwargs)
        encoder = MeMSVDActorEncoder(backbone.config, roi_size=output_size, backbone=backbone)
        return cls(encoder.eval(), _video_processor(name_or_path))

    @classmethod
    def from_model(cls, model, video_processor=None):
        """The actor encoder a MeMSVD model holds (`config.actor_encoder_config`), with the model's video processor
        (saved beside it) or a Kinetics-style MViTv2 one."""
        encoder = getattr(getattr(model, "memsvd", model), "actor_encoder", None)
        if encoder is None:
            raise ValueError("model: this MeMSVD model has no actor encoder (config.actor_encoder_config is None); "
                             "pass a VideoBackboneActorEncoder.from_pretrained(<MViTv2 checkpoint>) instead")
        return cls(encoder, video_processor or _video_processor(getattr(model, "name_or_path", "")))

    def __call__(self, frames, boxes) -> torch.Tensor:
        return self.encode(*self.prepare(frames, boxes))

    @torch.no_grad()
    def encode(self, pixel_values: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Actor features ``(K, C)`` (float32, CPU) of a clip already :meth:`prepare`-d, in eval mode."""
        parameter = next(self.encoder.parameters())
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            pixel_values = pixel_values.to(parameter.device, parameter.dtype)
            return self.encoder(pixel_values, rois.to(parameter.device)).float().cpu()
        finally:
            self.encoder.train(was_training)

    def prepare(self, frames, boxes) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pixel_values (1, T, 3, H, W), rois (K, 5))`` of one clip, as the encoder takes them (also the
        training inputs of `train_memsvd.py --train_actor_encoder`, so training and inference see the same pixels)."""
        clip = np.stack([np.asarray(f) for f in frames])
        if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 images, got {clip.shape[1:]} {clip.dtype}")
        config = self.encoder.backbone.config
        height, width = config.image_size
        sampled = clip[np.linspace(0, len(clip) - 1, config.num_frames).round().astype(int)]
        pixel_values = self.video_processor(
            [sampled], size={"height": height, "width": width}, do_center_crop=False, do_sample_frames=False,
            num_clips=1, num_crops=1, return_tensors="pt",  # one view, whatever the checkpoint's test views
        )["pixel_values"]
        scale = torch.tensor([width / clip.shape[2], height / clip.shape[1]] * 2)
        boxes = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4) * scale
        return pixel_values, torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)


def _video_processor(name_or_path: str):
    from transformers import AutoVideoProcessor

    try:
        return AutoVideoProcessor.from_pretrained(name_or_path)
    except (OSError, ValueError, TypeError):
        from ..mvitv2 import MViTv2VideoProcessor

        return MViTv2VideoProcessor()


class RoIAlignActorEncoder:
    """Actor features by RoIAlign over a clip feature map: ``(frames, boxes (K, 4) pixels) -> (K, C)``.

    Args:
        backbone (`Callable[[Tensor (T, C, H, W)], Tensor (C', H', W')]`, *optional*): maps the clip (frames as a
            float tensor) to one feature map; `None` averages the frames themselves (frames are feature maps).
        spatial_scale (`float`): feature-map pixels per input pixel (1 / the backbone's stride).
        output_size (`int`): RoIAlign grid, average-pooled to one vector per box.
    """

    def __init__(self, backbone: Callable | None = None, spatial_scale: float = 1.0, output_size: int = 1):
        self.backbone, self.spatial_scale, self.output_size = backbone, spatial_scale, output_size

    def __call__(self, frames, boxes) -> torch.Tensor:
        from torchvision.ops import roi_align

        clip = torch.from_numpy(np.stack([np.asarray(f, np.float32) for f in frames])).permute(0, 3, 1, 2)
        feature_map = clip.mean(0) if self.backbone is None else self.backbone(clip)
        boxes = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4)
        pooled = roi_align(feature_map[None], [boxes], self.output_size, self.spatial_scale, sampling_ratio=-1,
                           aligned=True)
        return pooled.mean(dim=(2, 3))


__all__ = ["MeMSVDActorEncoder", "RoIAlignActorEncoder", "VideoBackboneActorEncoder", "load_backbone"]
