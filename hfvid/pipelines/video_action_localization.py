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
    """Spatio-temporal action localisation with BMViT (single stage: no person detector).

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

    def __call__(self, inputs, keyframe_timestamps=None, **kwargs) -> list[KeyframeResult]:
        """
        Args:
            inputs: a video file path, a `(T, H, W, 3)` uint8 array, or a list of frames (PIL images / arrays); a
                list of paths runs each video.
            keyframe_timestamps (`list[float]`, *optional*): keyframe times in seconds (default: every second).
            fps (`float`, *optional*): frame rate of in-memory frames (default: the processor's `base_fps`).
            person_threshold (`float`, *optional*): minimum person score (default: the model config's).
            top_k (`int`, *optional*): most people per keyframe (default: the model config's `top_k_eval`).
            top_k_actions (`int`, *optional*, defaults to 5): actions listed per person.
            batch_size (`int`, *optional*): keyframe clips per forward pass.

        Returns:
            per keyframe `{"timestamp", "detections": [{"score", "box": {"xmin", "ymin", "xmax", "ymax"} in pixels,
            "labels": [{"label", "score"}, ...]}]}` (a list of these lists for a list of videos). A keyframe with
            nobody gives `"detections": []`.
        """
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (str, Path)):
            items = [{"video": video, "keyframes": keyframe_timestamps} for video in inputs]
        else:
            items = {"video": inputs, "keyframes": keyframe_timestamps}
        return super().__call__(items, **kwargs)

    def _sanitize_parameters(self, fps=None, person_threshold=None, top_k=None, top_k_actions=None, **kwargs):
        preprocess = {"fps": fps} if fps is not None else {}
        postprocess = {key: value for key, value in dict(person_threshold=person_threshold, top_k=top_k,
                                                         top_k_actions=top_k_actions).items() if value is not None}
        return preprocess, {}, postprocess

    def _frames(self, video, fps):
        """(frame iterator, duration in seconds) of a path or in-memory frames; frames come as VideoFrames."""
        from ..data.video import iter_frames, video_info

        if isinstance(video, (str, Path)):
            return iter_frames(video), video_info(video)["duration"]
        if isinstance(video, np.ndarray) and video.ndim != 4:
            raise ValueError(f"frames must be a (T, H, W, 3) array or a list of frames, got shape {video.shape}")
        frames = [np.asarray(frame.convert("RGB")) if hasattr(frame, "convert") else np.asarray(frame)
                  for frame in video]
        rate = fps or self.video_processor.base_fps
        return iter_frames(frames, input_fps=rate), len(frames) / rate

    def preprocess(self, item, fps=None):
        processor = self.video_processor
        frames, duration = self._frames(item["video"], fps)
        keyframes = sorted(float(t) for t in (item["keyframes"] if item["keyframes"] is not None
                                              else default_keyframes(duration or 0.0)))
        before, after = processor.clip_span
        window = deque()  # (timestamp, image) of the frames a pending keyframe may still need
        pending = list(keyframes)
        chunks = []

        def emit(keyframe):
            times, images = zip(*window)
            clip = processor.sample_clip(times, images, keyframe)
            inputs = processor(clip, return_tensors="pt")
            height, width = clip.shape[1:3]
            return {"pixel_values": inputs["pixel_values"].to(self.dtype), "timestamp": torch.tensor([keyframe], dtype=torch.float64),
                    "size": torch.tensor([[height, width]]), "valid": torch.ones(1, dtype=torch.bool)}

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
        if not chunks and not window:  # no frames: one placeholder keeps the item in the stream
            size = processor.size
            chunks.append({"pixel_values": torch.zeros(1, processor.num_frames, 3, size.height, size.width,
                                                       dtype=self.dtype),
                           "timestamp": torch.zeros(1), "size": torch.zeros(1, 2, dtype=torch.long),
                           "valid": torch.zeros(1, dtype=torch.bool)})
        yield from self._flush(chunks, last=True)

    @staticmethod
    def _flush(chunks, last=False):
        """Yield the ready chunks; the very last one of the video carries `is_last`."""
        keep = 1 if not last else 0
        while len(chunks) > keep:
            chunk = chunks.pop(0)
            yield {**chunk, "is_last": last and not chunks}

    def _forward(self, inputs):
        outputs = self.model(pixel_values=inputs["pixel_values"])
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
                    "score": float(score),
                    "box": dict(zip(("xmin", "ymin", "xmax", "ymax"), (float(v) for v in box))),
                    "labels": [{"label": config.id2label[int(c)], "score": float(actions[c])} for c in best],
                })
            results.append({"timestamp": float(output["timestamp"].reshape(-1)[0]), "detections": detections})
        return results


__all__ = ["ActorDetection", "KeyframeResult", "VideoActionLocalizationPipeline", "default_keyframes"]
