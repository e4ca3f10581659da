"""Video processor of Affective Processes: per-frame face crops, resize, ImageNet normalisation, per-frame records."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor


class AffectiveProcessVideoProcessorKwargs(VideosKwargs, total=False):
    frame_stride: int


def _frame_array(frame) -> np.ndarray:
    array = np.asarray(frame.convert("RGB") if hasattr(frame, "convert") else frame)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frames must be (height, width, 3) RGB arrays or PIL images, got shape {array.shape}")
    return array


class AffectiveProcessVideoProcessor(BaseVideoProcessor):
    r"""
    Turns face videos into Affective-Process inputs and per-frame predictions into records.

    Every frame is optionally cropped to its face box, resized to `size`, rescaled by 1/255 and normalised with the
    ImageNet mean/std. `do_sample_frames` is off: every frame needs an output; `frame_stride` > 1 keeps every n-th
    frame (the pipeline reports the source frame index of each kept frame).

    Args:
        size (`dict`, *optional*, defaults to `{"height": 224, "width": 224}`): face-crop size fed to the backbone.
        frame_stride (`int`, *optional*, defaults to 1): keep every `frame_stride`-th frame.
    """

    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = False
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = False
    frame_stride = 1
    valid_kwargs = AffectiveProcessVideoProcessorKwargs
    model_input_names = ["pixel_values", "frame_mask"]

    def __init__(self, **kwargs: Unpack[AffectiveProcessVideoProcessorKwargs]):
        super().__init__(**kwargs)
        if self.frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")

    def crop_faces(self, frames, boxes=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames`` (T of (H, W, 3)) + per-frame boxes ``[x1, y1, x2, y2]`` or None (no face) ->
        uint8 ``(T, 3, h, w)`` crops resized to `size` and the frame mask ``(T,)``. Without ``boxes`` the whole
        frame is the face."""
        height, width = self.size["height"], self.size["width"]
        if boxes is not None and len(boxes) != len(frames):
            raise ValueError(f"got {len(frames)} frames but {len(boxes)} boxes; give one box (or None) per frame")
        crops, mask = [], []
        for i, frame in enumerate(frames):
            image = torch.from_numpy(np.ascontiguousarray(_frame_array(frame))).permute(2, 0, 1).float()
            box = None if boxes is None else boxes[i]
            if boxes is not None and (box is None or len(box) == 0):
                crops.append(torch.zeros(3, height, width))
                mask.append(False)
                continue
            if box is not None:
                x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)[:4])
                x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
                x2, y2 = min(image.shape[2], math.ceil(x2)), min(image.shape[1], math.ceil(y2))
                if x2 <= x1 or y2 <= y1:
                    raise ValueError(f"frame {i}: face box {list(box)} is empty inside the {image.shape[2]}x"
                                     f"{image.shape[1]} frame")
                image = image[:, y1:y2, x1:x2]
            if tuple(image.shape[1:]) != (height, width):
                image = F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True,
                                      align_corners=False)[0]
            crops.append(image)
            mask.append(True)
        if not crops:
            raise ValueError("the video has no frames")
        return torch.stack(crops).round().clamp(0, 255).to(torch.uint8), torch.tensor(mask)

    def preprocess(self, videos, boxes=None, **kwargs: Unpack[AffectiveProcessVideoProcessorKwargs]):
        r"""
        Args:
            videos: one video or a list of videos of equal length; each a list of frames (`(H, W, 3)` uint8 arrays
                or PIL images) or a `(T, H, W, 3)` array.
            boxes: per video, one face box `[x1, y1, x2, y2]` (pixels) or `None` (no face) per frame.

        Returns:
            `BatchFeature` with `pixel_values` `(B, T, 3, height, width)` float and `frame_mask` `(B, T)` bool.
        """
        single = isinstance(videos, np.ndarray) and videos.ndim == 4 or (
            isinstance(videos, (list, tuple)) and len(videos) and not isinstance(videos[0], (list, tuple)) and
            not (isinstance(videos[0], np.ndarray) and videos[0].ndim == 4))
        clips = [videos] if single else list(videos)
        if not clips or any(len(clip) == 0 for clip in clips):
            raise ValueError("the video has no frames")
        box_lists = [boxes] if single else (boxes if boxes is not None else [None] * len(clips))
        if len(box_lists) != len(clips):
            raise ValueError(f"got {len(clips)} videos but boxes for {len(box_lists)}")
        stride = kwargs.pop("frame_stride", None) or self.frame_stride
        crops, masks = [], []
        for clip, clip_boxes in zip(clips, box_lists):
            frames = list(clip)[::stride]
            clip_boxes = None if clip_boxes is None else list(clip_boxes)[::stride]
            video, mask = self.crop_faces(frames, clip_boxes)
            crops.append(video)
            masks.append(mask)
        if len({len(m) for m in masks}) != 1:
            raise ValueError(f"videos of one batch must have the same number of frames, got {[len(m) for m in masks]}")
        kwargs.pop("return_tensors", None)
        batch = super().preprocess(crops, return_tensors="pt", **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")
        batch["frame_mask"] = torch.stack(masks)
        return batch

    def post_process_affect(self, predictions, predictions_std=None, frame_mask=None, timestamps=None,
                            frame_indices=None, output_names=None, output_range=None) -> list[dict]:
        """Per-frame predictions ``(T, K)`` -> records ``{"frame", "time", "face_id", "success", <name>: value}``.

        Values are clamped to ``output_range`` ([-1, 1] valence/arousal, [0, 5] AU intensity); frames whose
        ``frame_mask`` is False (no face) get ``success=False`` and NaN values. ``predictions_std`` adds
        ``<name>_std`` (model uncertainty). ``time`` is in seconds (``timestamps``, default: the frame index).
        """
        predictions = np.asarray(predictions, dtype=np.float64).reshape(len(predictions), -1)
        length, k = predictions.shape
        names = list(output_names) if output_names is not None else [f"output_{i}" for i in range(k)]
        if len(names) != k:
            raise ValueError(f"got {len(names)} output names for {k} outputs")
        mask = np.ones(length, bool) if frame_mask is None else np.asarray(frame_mask, bool).reshape(-1)
        times = np.arange(length, dtype=np.float64) if timestamps is None else np.asarray(timestamps, np.float64)
        frames = np.arange(length) if frame_indices is None else np.asarray(frame_indices)
        if output_range is not None:
            predictions = np.clip(predictions, output_range[0], output_range[1])
        stds = None if predictions_std is None else np.asarray(predictions_std, np.float64).reshape(length, k)
        records = []
        for t in range(length):
            ok = bool(mask[t]) and bool(np.isfinite(predictions[t]).all())
            record = {"frame": int(frames[t]), "time": float(times[t]), "face_id": 0, "success": ok}
            for i, name in enumerate(names):
                record[name] = float(predictions[t, i]) if ok else float("nan")
            if stds is not None:
                for i, name in enumerate(names):
                    record[f"{name}_std"] = float(stds[t, i]) if ok else float("nan")
            records.append(record)
        return records


__all__ = ["AffectiveProcessVideoProcessor"]
