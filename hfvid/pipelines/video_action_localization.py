"""`hfvid-video-action-localization`: a video (path or frames) + keyframe times -> people boxes and their actions.

Frames are decoded once, front to back, and only a sliding window around the next keyframe is kept: each keyframe
becomes one chunk (its clip) as soon as the frames after it have arrived, so long videos stream in bounded memory.
"""

from collections import deque
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline

from ..validation import (
    check_model_type,
    check_positive_int,
    check_timestamps,
    reject_unknown_kwargs,
    to_json_number,
    use_progress_bar,
)

TASK = "hfvid-video-action-localization"
CALL_ARGUMENTS = ("keyframe_timestamps", "person_boxes", "fps", "person_threshold", "top_k", "top_k_actions", "progress_bar",
                  "batch_size", "num_workers")


class ActionScore(TypedDict):
    label: str
    score: float


class ActorDetection(TypedDict):
    score: float
    box: dict[str, float]
    labels: list[ActionScore]


class KeyframeResult(TypedDict):
    timestamp: float
    detections: list[ActorDetection]


def default_keyframes(duration: float) -> list[float]:
    """Every whole second inside the video (AVA's 1 Hz keyframes); the middle for videos shorter than 1 s."""
    seconds = [float(t) for t in np.arange(1.0, duration, 1.0)]
    return seconds or [duration / 2.0]


class VideoActionLocalizationPipeline(ChunkPipeline):
    """Spatio-temporal action localisation with BMViT (single stage: no person detector); a two-stage checkpoint
    (`BMViTConfig(localization="two_stage")`) classifies the `person_boxes` given per keyframe instead.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-video-action-localization", model="path/or/hub-id")  # doctest: +SKIP
    >>> pipe("movie.mp4", keyframe_timestamps=[902, 903])  # doctest: +SKIP
    [{'timestamp': 902.0, 'detections': [{'score': 0.97, 'box': {'xmin': 12.0, ...}, 'labels': [...]}]}, ...]
    ```
    """

    _load_video_processor = True
    _load_image_processor = False
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.feature_extractor is None:
            # transformers' batch collation (`pad_collate_fn`) only consults a tokenizer, feature extractor or image
            # processor, never a video processor; clips all have one shape, so it only needs a non-None object.
            self.feature_extractor = self.video_processor
        check_model_type(self.model, TASK, ["hfvid-bmvit"], "BMViT")

    def __call__(self, inputs, keyframe_timestamps=None, person_boxes=None, **kwargs) -> list[KeyframeResult]:
        """
        Args:
            inputs: a video file path, a `(T, H, W, 3)` uint8 array, or a list of frames (PIL images / arrays); a
                list of paths runs each video.
            keyframe_timestamps (`list[float]`, *optional*): keyframe times in seconds (default: every second).
            person_boxes (`list`, *optional*): required by a two-stage checkpoint (`localization="two_stage"`), one
                entry per keyframe of `keyframe_timestamps`: `(K, 4)` normalised `(x1, y1, x2, y2)` boxes (a
                detector's, e.g. AVA's person-box CSV), or `(K, 5)` with the detector score last.
            fps (`float`, *optional*): frame rate of in-memory frames (default: the processor's `base_fps`).
            person_threshold (`float`, *optional*): minimum person score (default: the model config's).
            top_k (`int`, *optional*): most people per keyframe (default: the model config's `top_k_eval`).
            top_k_actions (`int`, *optional*, defaults to 5): actions listed per person.
            batch_size (`int`, *optional*): keyframe clips per forward pass.
            progress_bar (`bool`, *optional*): a tqdm bar over decoded frames (default: on above 300 frames).

        Keyframe times are checked against the video's duration (finite, in `[0, duration]`) before any model work.

        Returns:
            per keyframe `{"timestamp", "detections": [{"score", "box": {"xmin", "ymin", "xmax", "ymax"} in pixels,
            "labels": [{"label", "score"}, ...]}]}` (a list of these lists for a list of videos). A keyframe with
            nobody gives `"detections": []`.
        """
        if isinstance(inputs, (list, tuple)) and not len(inputs):
            raise ValueError("inputs: got an empty list (expected a video file path, frames, or a list of paths)")
        boxes = None
        two_stage = getattr(self.model.config, "localization", "single_stage") == "two_stage"
        if person_boxes is not None and not two_stage:
            raise ValueError("person_boxes: this single-stage checkpoint finds the people itself (only a two-stage "
                             "checkpoint, localization='two_stage', takes boxes)")
        if two_stage:
            if person_boxes is None or keyframe_timestamps is None or len(person_boxes) != len(keyframe_timestamps):
                raise ValueError("person_boxes: a two-stage checkpoint classifies given boxes; pass keyframe_timestamps"
                                 " and one (K, 4) normalised x1, y1, x2, y2 array per keyframe, got "
                                 f"{None if person_boxes is None else len(person_boxes)} entries")
            for keyframe, entry in zip(keyframe_timestamps, person_boxes):  # checked before any decoding
                try:
                    self.video_processor.person_box_inputs([entry])
                except ValueError as error:
                    raise ValueError(f"person_boxes of keyframe {keyframe}: {error}") from None
            boxes = {float(t): b for t, b in zip(keyframe_timestamps, person_boxes)}
        if isinstance(inputs, (list, tuple)) and isinstance(inputs[0], (str, Path)):
            items = [{"video": video, "keyframes": keyframe_timestamps, "boxes": boxes} for video in inputs]
        else:
            items = {"video": inputs, "keyframes": keyframe_timestamps, "boxes": boxes}
        return super().__call__(items, **kwargs)

    def _sanitize_parameters(self, fps=None, person_threshold=None, top_k=None, top_k_actions=None, progress_bar=None,
                             **kwargs):
        reject_unknown_kwargs(TASK, kwargs, CALL_ARGUMENTS)
        if fps is not None and not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps: expected a frame rate > 0, got {fps!r}")
        for name, value in (("top_k", top_k), ("top_k_actions", top_k_actions)):
            check_positive_int(value, name, optional=True)
        use_progress_bar(progress_bar, 0)  # type check
        preprocess = {key: value for key, value in dict(fps=fps, progress_bar=progress_bar).items() if value is not None}
        postprocess = {key: value for key, value in dict(person_threshold=person_threshold, top_k=top_k,
                                                         top_k_actions=top_k_actions).items() if value is not None}
        return preprocess, {}, postprocess

    def _frames(self, video, fps):
        """(frame iterator, duration in seconds, frame count) of a path or in-memory frames (as VideoFrames)."""
        from ..data.video import iter_frames, video_info

        if isinstance(video, (str, Path)):
            info = video_info(video)
            return iter_frames(video), info["duration"], info["num_frames"]
        if isinstance(video, np.ndarray) and video.ndim != 4:
            raise ValueError(f"inputs: frames must be a (T, H, W, 3) array or a list of frames, got shape {video.shape}")
        if not isinstance(video, (list, tuple, np.ndarray, torch.Tensor)):
            raise ValueError(f"inputs: expected a video file path, a (T, H, W, 3) array or a list of frames, got "
                             f"{type(video).__name__}")
        frames = [np.asarray(frame.convert("RGB")) if hasattr(frame, "convert") else np.asarray(frame)
                  for frame in video]
        if not frames:
            raise ValueError("inputs: got no frames (expected a video file path or a non-empty list of frames)")
        if any(frame.ndim != 3 or frame.shape[-1] != 3 for frame in frames):
            raise ValueError(f"inputs: frames must be (H, W, 3) RGB images, got shape {frames[0].shape}")
        rate = fps or self.video_processor.base_fps
        return iter_frames(frames, input_fps=rate), len(frames) / rate, len(frames)

    def preprocess(self, item, fps=None, progress_bar=None):
        from tqdm.auto import tqdm

        processor = self.video_processor
        frames, duration, num_frames = self._frames(item["video"], fps)
        if item["keyframes"] is None:
            keyframes = default_keyframes(duration or 0.0)
        else:
            keyframes = sorted(check_timestamps(item["keyframes"], "keyframe_timestamps", duration=duration))
        frames = tqdm(frames, total=num_frames or None, unit="frame",
                      disable=not use_progress_bar(progress_bar, num_frames))
        before, after = processor.clip_span
        window = deque()  # (timestamp, image) of the frames a pending keyframe may still need
        pending = list(keyframes)
        chunks = []

        def emit(keyframe):
            times, images = zip(*window)
            clip = processor.sample_clip(times, images, keyframe)
            inputs = processor(clip, return_tensors="pt")
            height, width = clip.shape[1:3]
            chunk = {"pixel_values": inputs["pixel_values"].to(self.dtype),
                     "timestamp": torch.tensor([keyframe], dtype=torch.float64),
                     "size": torch.tensor([[height, width]]), "valid": torch.ones(1, dtype=torch.bool)}
            if item.get("boxes") is not None:  # two stage: padded across a batch with zero boxes of score 0
                boxes = item["boxes"][float(keyframe)]
                chunk["person_boxes"], chunk["person_scores"] = processor.person_box_inputs([boxes])
            return chunk

        for frame in frames:
            window.append((frame.timestamp, frame.image))
            while pending and frame.timestamp >= pending[0] + after:
                chunks.append(emit(pending.pop(0)))
            horizon = (pending[0] - before) if pending else float("inf")
            while len(window) > 1 and window[1][0] <= horizon:  # keep one frame before the next window
                window.popleft()
            if not pending:
                break
            if chunks:
                yield from self._flush(chunks)
        while pending and window:
            chunks.append(emit(pending.pop(0)))
        if not chunks and not window:
            raise ValueError(f"inputs: could not decode any frame of {item['video']!r}")
        yield from self._flush(chunks, last=True)

    @staticmethod
    def _flush(chunks, last=False):
        """Yield the ready chunks; the very last one of the video carries `is_last`."""
        keep = 1 if not last else 0
        while len(chunks) > keep:
            chunk = chunks.pop(0)
            yield {**chunk, "is_last": last and not chunks}

    def _forward(self, inputs):
        given = {k: inputs[k] for k in ("person_boxes", "person_scores") if k in inputs}
        outputs = self.model(pixel_values=inputs["pixel_values"], **given)
        return {"logits": outputs.logits, "pred_boxes": outputs.pred_boxes, "action_logits": outputs.action_logits,
                "timestamp": inputs["timestamp"], "size": inputs["size"], "valid": inputs["valid"],
                "is_last": inputs["is_last"]}

    def postprocess(self, all_outputs, person_threshold=None, top_k=None, top_k_actions=5) -> list[KeyframeResult]:
        config = self.model.config
        threshold = config.person_threshold if person_threshold is None else person_threshold
        top_k = config.top_k_eval if top_k is None else top_k
        results = []
        for output in all_outputs:
            if not bool(output["valid"].reshape(-1)[0]):
                continue
            found = self.video_processor.post_process_action_localization(
                output, person_threshold=threshold, top_k=top_k, target_sizes=output["size"])[0]
            detections = []
            for score, box, actions in zip(found["scores"], found["boxes"], found["action_scores"]):
                best = actions.argsort(descending=True)[:top_k_actions]
                detections.append({
                    "score": to_json_number(score),
                    "box": dict(zip(("xmin", "ymin", "xmax", "ymax"), (to_json_number(v) for v in box))),
                    "labels": [{"label": config.id2label[int(c)], "score": to_json_number(actions[c])} for c in best],
                })
            results.append({"timestamp": float(output["timestamp"].reshape(-1)[0]), "detections": detections})
        return results


__all__ = ["ActorDetection", "KeyframeResult", "VideoActionLocalizationPipeline", "default_keyframes"]
