"""BMViT's video processor: keyframe-centred clip sampling, fixed-size resize/normalise, AVA boxes in and out."""

import numpy as np
import torch
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor

from ..mvitv2.video_processing_mvitv2 import KINETICS_MEAN, KINETICS_STD
from .loss_bmvit import cxcywh_to_xyxy, xyxy_to_cxcywh


class BMViTVideoProcessorKwargs(VideosKwargs, total=False):
    frame_stride: int
    base_fps: float
    num_action_labels: int


class BMViTVideoProcessor(BaseVideoProcessor):
    r"""
    Turns keyframe-centred clips into BMViT inputs and BMViT outputs into boxes and per-class scores.

    Every frame is resized to the fixed `size` (`{"height", "width"}`) regardless of its aspect ratio (the paper
    finds a fixed aspect ratio important), so normalised boxes stay exact; pixels are rescaled by 1/255 and
    normalised with the Kinetics mean/std. A clip of `num_frames` frames spaced `frame_stride / base_fps` seconds
    apart is centred on the keyframe (frame `num_frames // 2` is the keyframe); see :meth:`clip_timestamps`.

    Args:
        size (`dict`, *optional*, defaults to `{"height": 224, "width": 224}`): model input size.
        num_frames (`int`, *optional*, defaults to 16): frames per clip.
        frame_stride (`int`, *optional*, defaults to 4): clip frame spacing in frames of a `base_fps` video.
        base_fps (`float`, *optional*, defaults to 30.0): the rate `frame_stride` counts in (AVA: 30 fps), so
            clips of 24/25 fps videos cover the same time span.
        num_action_labels (`int`, *optional*, defaults to 80): action classes of the annotations (AVA ids 1..80).
    """

    resample = PILImageResampling.BILINEAR
    image_mean = KINETICS_MEAN
    image_std = KINETICS_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = False
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = False
    num_frames = 16
    frame_stride = 4
    base_fps = 30.0
    num_action_labels = 80
    valid_kwargs = BMViTVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs: Unpack[BMViTVideoProcessorKwargs]):
        super().__init__(**kwargs)
        if self.num_frames < 1 or self.frame_stride < 1 or self.base_fps <= 0:
            raise ValueError(f"num_frames and frame_stride must be >= 1 and base_fps > 0, got {self.num_frames}, "
                             f"{self.frame_stride}, {self.base_fps}")

    # ------------------------------------------------------------------ clip sampling
    @property
    def clip_span(self) -> tuple[float, float]:
        """Seconds before and after the keyframe that a clip covers."""
        step = self.frame_stride / self.base_fps
        return (self.num_frames // 2) * step, (self.num_frames - 1 - self.num_frames // 2) * step

    def clip_timestamps(self, keyframe_time: float) -> np.ndarray:
        """The `num_frames` times (s) of the clip centred on `keyframe_time` (index `num_frames // 2` is it)."""
        offsets = np.arange(self.num_frames) - self.num_frames // 2
        return keyframe_time + offsets * (self.frame_stride / self.base_fps)

    def sample_clip(self, timestamps, frames, keyframe_time: float) -> np.ndarray:
        """Pick from decoded `frames` (with `timestamps`, seconds) the nearest frame to every clip time.

        Clip times before the first or after the last frame repeat the edge frame (keyframes near the ends of a
        video). Returns `(num_frames, H, W, 3)`.
        """
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if len(timestamps) == 0 or len(timestamps) != len(frames):
            raise ValueError(f"need one timestamp per frame and at least one frame, got {len(timestamps)} timestamps"
                             f" for {len(frames)} frames")
        wanted = self.clip_timestamps(keyframe_time)
        nearest = np.abs(timestamps[None, :] - wanted[:, None]).argmin(axis=1)
        return np.stack([np.asarray(frames[i]) for i in nearest])

    # ------------------------------------------------------------------ preprocessing
    def _clip_length(self, clip) -> int:
        if isinstance(clip, (list, tuple)):
            return len(clip)
        if isinstance(clip, (np.ndarray, torch.Tensor)) and clip.ndim == 4:
            return clip.shape[0]
        raise ValueError("each video must be a (frames, height, width, 3) array/tensor or a list of frames, got "
                         f"{type(clip).__name__} with shape {getattr(clip, 'shape', None)}")

    def preprocess(self, videos, annotations=None, person_boxes=None, **kwargs: Unpack[BMViTVideoProcessorKwargs]):
        r"""
        Args:
            videos: one clip or a list of clips, each `(num_frames, H, W, 3)` (numpy/torch, uint8) or a list of
                PIL images / arrays; already sampled around the keyframe (see :meth:`sample_clip`).
            annotations (`dict` or `list[dict]`, *optional*): per clip the keyframe's people: `"boxes"` `(G, 4)`
                normalised `(x1, y1, x2, y2)` (AVA), and `"action_labels"` `(G, num_action_labels)` multi-hot or
                `"action_ids"` (per person a list of 1-based action ids).
            person_boxes (`list`, *optional*): for the two-stage baseline, per clip the `(K, 4)` normalised
                `(x1, y1, x2, y2)` boxes to classify, or `(K, 5)` with the detector's score last (AVA's person-box
                CSV: `hfvid.data.formats.ava.read_ava_person_boxes`); see :meth:`person_box_inputs`.

        Returns:
            `BatchFeature` with `pixel_values` `(B, num_frames, 3, height, width)` and, with annotations, `labels`:
            per clip `{"boxes": (G, 4) normalised cx, cy, w, h, "class_labels": zeros (G,), "action_labels":
            (G, num_action_labels)}`; with `person_boxes`, `person_boxes` `(B, K, 4)` cxcywh and `person_scores`
            `(B, K)`.
        """
        single = not isinstance(videos, (list, tuple)) or (len(videos) and not isinstance(
            videos[0], (list, tuple, np.ndarray, torch.Tensor)) or (
            isinstance(videos[0], (np.ndarray, torch.Tensor)) and videos[0].ndim == 3))
        clips = [videos] if single else list(videos)
        num_frames = kwargs.get("num_frames") or self.num_frames
        for index, clip in enumerate(clips):
            length = self._clip_length(clip)
            if length != num_frames:
                problem = "shorter than" if length < num_frames else "longer than"
                raise ValueError(f"video {index} has {length} frames, {problem} the model's num_frames={num_frames};"
                                 " sample clips around their keyframes with BMViTVideoProcessor.sample_clip")
        clips = [np.stack([np.asarray(f) for f in clip]) if isinstance(clip, (list, tuple)) else clip
                 for clip in clips]
        kwargs.pop("num_frames", None)
        batch = super().preprocess(clips, return_tensors=kwargs.pop("return_tensors", "pt"), **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")
        if annotations is not None:
            annotations = [annotations] if isinstance(annotations, dict) else list(annotations)
            if len(annotations) != len(clips):
                raise ValueError(f"got {len(clips)} videos but {len(annotations)} annotations")
            batch["labels"] = [self._target(a, i) for i, a in enumerate(annotations)]
        if person_boxes is not None:
            if len(person_boxes) != len(clips):
                raise ValueError(f"got {len(clips)} videos but {len(person_boxes)} person_boxes entries")
            batch["person_boxes"], batch["person_scores"] = self.person_box_inputs(person_boxes)
        return batch

    @staticmethod
    def person_box_inputs(person_boxes) -> tuple[torch.Tensor, torch.Tensor]:
        """Per clip `(K_i, 4)` normalised AVA `(x1, y1, x2, y2)` (or `(K_i, 5)` with a score last) -> the two-stage
        model's `person_boxes` `(B, K, 4)` normalised cxcywh and `person_scores` `(B, K)` (score 1 when not given),
        padded to the largest K with whole-frame boxes of score 0 (dropped by any person threshold > 0)."""
        clips = []
        for index, boxes in enumerate(person_boxes):
            boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32))
            boxes = boxes.reshape(0, 4) if boxes.numel() == 0 else boxes
            if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
                raise ValueError(f"person_boxes[{index}] must be (K, 4) x1, y1, x2, y2 or (K, 5) with a score, got "
                                 f"shape {tuple(boxes.shape)}")
            corners = boxes[:, :4]
            if not torch.isfinite(boxes).all() or len(corners) and (
                    corners.min() < 0 or corners.max() > 1 or (corners[:, 2:] < corners[:, :2]).any()):
                raise ValueError(f"person_boxes[{index}] must be finite normalised x1, y1, x2, y2 in [0, 1] with "
                                 f"x2 >= x1 and y2 >= y1 (as read_ava_person_boxes), got {boxes.tolist()}")
            scores = boxes[:, 4] if boxes.shape[1] == 5 else torch.ones(len(boxes))
            clips.append((xyxy_to_cxcywh(corners), scores))
        count = max([len(b) for b, _ in clips] + [1])
        out_boxes = torch.tensor([0.5, 0.5, 1.0, 1.0]).repeat(len(clips), count, 1)
        out_scores = torch.zeros(len(clips), count)
        for i, (boxes, scores) in enumerate(clips):
            out_boxes[i, : len(boxes)], out_scores[i, : len(boxes)] = boxes, scores
        return out_boxes, out_scores

    def _target(self, annotation: dict, index: int) -> dict:
        """One clip's AVA-style annotation -> the model's target dict (boxes converted to cxcywh exactly once)."""
        boxes = torch.as_tensor(np.asarray(annotation.get("boxes", []), dtype=np.float32)).reshape(-1, 4)
        if len(boxes) and (boxes.min() < 0 or boxes.max() > 1):
            raise ValueError(f"annotation {index}: boxes must be normalised to [0, 1] (AVA x1, y1, x2, y2), got "
                             f"values in [{boxes.min():.3g}, {boxes.max():.3g}]")
        if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
            raise ValueError(f"annotation {index}: boxes must satisfy x2 > x1 and y2 > y1")
        classes = self.num_action_labels
        if "action_labels" in annotation:
            actions = torch.as_tensor(np.asarray(annotation["action_labels"], dtype=np.float32)).reshape(len(boxes), -1)
            if actions.shape[1] != classes:
                raise ValueError(f"annotation {index}: action_labels must have {classes} columns, got "
                                 f"{actions.shape[1]}")
        else:
            ids = annotation.get("action_ids", [[] for _ in range(len(boxes))])
            if len(ids) != len(boxes):
                raise ValueError(f"annotation {index}: one action_ids list per box expected, got {len(ids)} for "
                                 f"{len(boxes)} boxes")
            actions = torch.zeros(len(boxes), classes)
            for person, person_ids in enumerate(ids):
                for action in person_ids:
                    if not (isinstance(action, (int, np.integer)) and 1 <= action <= classes):
                        raise ValueError(f"annotation {index}: action id {action!r} is not in 1..{classes}")
                    actions[person, action - 1] = 1.0
        return {"boxes": xyxy_to_cxcywh(boxes), "class_labels": torch.zeros(len(boxes), dtype=torch.int64),
                "action_labels": actions}

    # ------------------------------------------------------------------ post-processing
    def post_process_action_localization(self, outputs, person_threshold: float = 0.5, top_k: int | None = None,
                                         target_sizes=None) -> list[dict]:
        """Model outputs -> per clip `{"scores" (K,), "boxes" (K, 4) xyxy, "action_scores" (K, C)}`.

        `scores` is the person probability pi (softmax); `action_scores` = pi * sigmoid(action logit), per class
        (multi-label, no NMS). Tokens with pi < `person_threshold` are dropped, then the `top_k` by pi are kept.
        Boxes are normalised, or in pixels of each clip's original `(height, width)` in `target_sizes`.
        """
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        boxes = outputs["pred_boxes"] if isinstance(outputs, dict) else outputs.pred_boxes
        actions = outputs["action_logits"] if isinstance(outputs, dict) else outputs.action_logits
        if target_sizes is not None and len(target_sizes) != len(logits):
            raise ValueError(f"target_sizes needs one (height, width) per clip: {len(logits)} clips, got "
                             f"{len(target_sizes)}")
        person = logits.float().softmax(-1)[..., 0]
        action_scores = person[..., None] * actions.float().sigmoid()
        corners = cxcywh_to_xyxy(boxes.float()).clamp(0.0, 1.0)
        results = []
        for b in range(len(logits)):
            keep = torch.nonzero(person[b] >= person_threshold).flatten()
            keep = keep[person[b, keep].argsort(descending=True, stable=True)]
            if top_k is not None:
                keep = keep[:top_k]
            clip_boxes = corners[b, keep]
            if target_sizes is not None:
                height, width = (float(v) for v in target_sizes[b])
                clip_boxes = clip_boxes * clip_boxes.new_tensor([width, height, width, height])
            results.append({"scores": person[b, keep], "boxes": clip_boxes, "action_scores": action_scores[b, keep]})
        return results

    @staticmethod
    def to_ava_rows(result: dict, video_id: str, timestamp: int, eval_label_ids=None) -> list[dict]:
        """AVA results rows `{video_id, timestamp, box, action_id, score}` of one keyframe's (normalised) result.

        Column `c` of `action_scores` is action id `c + 1`; only `eval_label_ids` (e.g. the 60 AVA ids) are kept.
        """
        from ...data.formats.ava import predictions_to_rows

        scores = result["action_scores"].detach().cpu().numpy()
        ids = np.arange(1, scores.shape[1] + 1)
        if eval_label_ids is not None:
            columns = np.asarray(sorted(eval_label_ids)) - 1
            scores, ids = scores[:, columns], ids[columns]
        return predictions_to_rows(video_id, timestamp, result["boxes"].detach().cpu().numpy(), scores, ids)


__all__ = ["BMViTVideoProcessor", "KINETICS_MEAN", "KINETICS_STD"]
