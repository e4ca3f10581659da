"""`hfvid-long-term-action-detection`: a long video + person boxes -> per-keyframe multi-label actions, streaming.

The video is decoded one frame at a time (``hfvid.data.video.iter_frames``) and processed second by second: the
actors of each second are encoded by a short-term *actor encoder*, folded into the long-term memory, and, at the
keyframes, classified with that memory. With MeMSVD the memory is the incremental-SVD state (``U`` d x k and
``s`` k), so memory use is the same for a one-minute clip and a two-hour film; the attention baseline keeps a
bounded window of raw features instead. Streaming is causal: a keyframe sees the memory up to its own second, while
offline training windows also contain future seconds (expect slightly lower scores than the offline protocol).

The actor encoder is pluggable: any callable ``(frames, boxes) -> (K, d)``, where ``frames`` is the list of
``(H, W, C)`` frames of the clip around the second and ``boxes`` are ``(K, 4)`` pixel boxes. A model with its own
short-term sub-model (``config.actor_encoder_config``) uses it by default (``VideoBackboneActorEncoder.from_model``);
``VideoBackboneActorEncoder.from_pretrained`` builds one from an MViTv2 checkpoint, and ``RoIAlignActorEncoder()``
treats the frames themselves as feature maps (the synthetic quickstart). They live in ``hfvid.models.memsvd``.
"""

import itertools
import math
import numbers
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from transformers.pipelines.base import Pipeline

from ..models.memsvd.actor_encoder_memsvd import RoIAlignActorEncoder, VideoBackboneActorEncoder
from ..validation import (
    check_boxes,
    check_positive_int,
    check_model_type,
    check_timestamps,
    reject_unknown_kwargs,
    to_json_number,
    use_progress_bar,
)

TASK = "hfvid-long-term-action-detection"
CALL_ARGUMENTS = ("boxes", "person_detector", "actor_encoder", "keyframes", "clip_duration", "fps", "top_k",
                  "threshold", "progress_bar", "batch_size", "num_workers")


class ActionLabel(TypedDict):
    label: str
    score: float


class ActorActions(TypedDict):
    box: dict  # {"xmin", "ymin", "xmax", "ymax"} in pixels
    labels: list[ActionLabel]


class KeyframeActions(TypedDict):
    timestamp: float
    detections: list[ActorActions]


class LongTermActionDetectionPipeline(Pipeline):
    """Spatio-temporal action detection with long-term memory (MeMSVD, or its attention / no-memory baselines).

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-long-term-action-detection", model="path/or/hub-id")  # doctest: +SKIP
    >>> results = pipe("movie.mp4", boxes={902: [[40, 30, 210, 320]]}, actor_encoder=my_encoder)  # doctest: +SKIP
    >>> results[0]["detections"][0]["labels"][0]  # doctest: +SKIP
    {'label': 'stand', 'score': 0.91}
    ```
    """

    _load_image_processor = False
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_model_type(self.model, TASK, ["hfvid-memsvd"], "MeMSVD")

    def __call__(self, video, boxes=None, **kwargs) -> list[KeyframeActions] | list[list[KeyframeActions]]:
        """
        Args:
            video: a video path, or an iterable of frames (arrays, `(timestamp, array)` pairs or `VideoFrame`s; a
                generator is consumed lazily), or a list of paths (one result list each).
            boxes (`dict[float, list[box]]`, *optional*): person boxes `[x1, y1, x2, y2]` (pixels) per second; those
                seconds feed the memory and are the keyframes. For a list of videos, a list of such dicts.
            person_detector (`Callable[[np.ndarray], list[box]]`, *optional*): called on the middle frame of every
                second when `boxes` is not given (`None` or `[]` = nobody).
            actor_encoder (`Callable[[list[np.ndarray], np.ndarray], Tensor]`, *optional*): `(clip frames, (K, 4)
                pixel boxes) -> (K, feature_dim)`, e.g. `VideoBackboneActorEncoder.from_pretrained(...)`. Default:
                the model's own actor encoder when it has one (`config.actor_encoder_config`), else the frames
                themselves are the feature maps (only for frames with `feature_dim` channels).
            keyframes (`list[float]`, *optional*): seconds to report (default: every second with boxes).
            clip_duration (`float`, *optional*, defaults to 1.0): seconds of video around each second given to the
                encoder. fps (`float`, *optional*): decode at this rate (default: every frame).
            top_k (`int`, *optional*, defaults to 5), threshold (`float`, *optional*): labels kept per actor.
            progress_bar (`bool`, *optional*): a tqdm bar over seconds (default: on above 300 frames).

        Boxes, seconds and keyframes are checked against the video's size and duration before any model work
        (for a generator of frames, whose duration is unknown, a second after its end is an error at the end).

        Returns:
            one `{"timestamp": t, "detections": [{"box": {xmin, ymin, xmax, ymax}, "labels": [{"label", "score"}]}]}`
            per keyframe, in time order (an empty `detections` list when nobody is there).
        """
        if isinstance(video, (list, tuple)) and video and all(isinstance(v, (str, Path)) for v in video):
            if boxes is not None and (not isinstance(boxes, (list, tuple)) or len(boxes) != len(video)):
                raise ValueError(f"boxes: got {len(video)} videos, so expected a list of {len(video)} dicts "
                                 f"{{second: [[x1, y1, x2, y2], ...]}}, got {type(boxes).__name__}")
            return [self(v, boxes=None if boxes is None else boxes[i], **kwargs) for i, v in enumerate(video)]
        kwargs.pop("batch_size", None)  # one video is one sequential stream
        return super().__call__({"video": video, "boxes": boxes}, **kwargs)

    def _sanitize_parameters(self, person_detector=None, actor_encoder=None, keyframes=None, clip_duration=None,
                             fps=None, top_k=None, threshold=None, progress_bar=None, **kwargs):
        reject_unknown_kwargs(TASK, kwargs, CALL_ARGUMENTS)
        for name, value in (("person_detector", person_detector), ("actor_encoder", actor_encoder)):
            if value is not None and not callable(value):
                raise ValueError(f"{name}: expected a callable, got {type(value).__name__}")
        for name, value in (("clip_duration", clip_duration), ("fps", fps)):
            if value is not None and not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a number of seconds/frames > 0, got {value!r}")
        check_positive_int(top_k, "top_k", optional=True)
        if threshold is not None and not (isinstance(threshold, numbers.Real) and 0 <= threshold <= 1):
            raise ValueError(f"threshold: expected a score in [0, 1], got {threshold!r}")
        if keyframes is not None:
            keyframes = check_timestamps(keyframes, "keyframes")
        use_progress_bar(progress_bar, 0)  # type check
        preprocess = {k: v for k, v in dict(person_detector=person_detector, actor_encoder=actor_encoder,
                                            keyframes=keyframes, clip_duration=clip_duration, fps=fps,
                                            progress_bar=progress_bar).items() if v is not None}
        post = {k: v for k, v in dict(top_k=top_k, threshold=threshold).items() if v is not None}
        return preprocess, {}, post

    def preprocess(self, inputs, person_detector=None, actor_encoder=None, keyframes=None, clip_duration=1.0,
                   fps=None, progress_bar=None):
        """Every check that needs the video (its size, duration, channels), before any frame reaches the model."""
        from ..data.video import VideoFrame, iter_frames, video_info

        video, boxes = inputs["video"], inputs["boxes"]
        own_encoder = self._own_encoder() if actor_encoder is None else None
        if boxes is None and person_detector is None:
            raise ValueError("boxes: give person boxes per second (boxes={second: [[x1, y1, x2, y2], ...]}) or a "
                             "person_detector callable")
        if boxes is not None and not isinstance(boxes, dict):
            raise ValueError(f"boxes: expected a dict {{second: [[x1, y1, x2, y2], ...]}} (pixels), got "
                             f"{type(boxes).__name__}")
        if boxes is not None and not boxes:
            raise ValueError("boxes: got an empty dict (expected {second: [[x1, y1, x2, y2], ...]} for at least "
                             "one second)")
        if isinstance(video, (str, Path)):
            info = video_info(video)
            width, height, duration, num_frames = info["width"], info["height"], info["duration"], info["num_frames"]
            frames = iter_frames(video, fps=fps)
        else:
            if not isinstance(video, Iterable) or isinstance(video, (dict, bytes)):
                raise ValueError(f"video: expected a video file path or an iterable of frames, got "
                                 f"{type(video).__name__}")
            num_frames = len(video) if isinstance(video, (list, tuple, np.ndarray)) else None
            if num_frames == 0:
                raise ValueError("video: got no frames (expected a video file path or a non-empty list of frames)")
            duration = None
            if num_frames:  # in memory: the last frame's timestamp (bare arrays come at `fps`, else 1 per second)
                last = video[-1]
                duration = (last.timestamp if isinstance(last, VideoFrame) else float(last[0])
                            if isinstance(last, tuple) and len(last) == 2 else (num_frames - 1) / (fps or 1.0))
            frames = iter_frames(video, fps=fps)
            first = next(frames, None)
            if first is None:
                raise ValueError("video: got no frames (expected a video file path or a non-empty iterable of frames)")
            frames = itertools.chain([first], frames)
            image = np.asarray(first.image)
            if image.ndim != 3:
                raise ValueError(f"video: frames must be (H, W, C) arrays, got shape {image.shape}")
            height, width = image.shape[:2]
            channels = image.shape[2]
            if actor_encoder is None and own_encoder is None and channels != self.model.config.feature_dim:
                raise ValueError(self._missing_encoder_message(channels))
        if actor_encoder is None and own_encoder is None and isinstance(video, (str, Path)) and (
                self.model.config.feature_dim != 3):
            raise ValueError(self._missing_encoder_message(3))
        actor_encoder = actor_encoder or own_encoder
        if boxes is not None:
            seconds = check_timestamps(list(boxes), "boxes (seconds)", duration=duration)
            boxes = {second: check_boxes(value, width, height, argument=f"boxes[{key!r}]").numpy()
                     for second, (key, value) in zip(seconds, boxes.items())}
        if keyframes is not None:
            check_timestamps(keyframes, "keyframes", duration=duration)
            if boxes is not None and (missing := sorted(set(keyframes) - set(boxes))):
                raise ValueError(f"keyframes: {missing} have no boxes (expected seconds that are keys of boxes "
                                 f"{sorted(boxes)})")
            if boxes is None and (fractional := [t for t in keyframes if t != int(t)]):
                raise ValueError(f"keyframes: {fractional} are not whole seconds (with a person_detector, every "
                                 f"whole second 0, 1, 2, ... is processed)")
        return {"frames": frames, "boxes": boxes, "size": (width, height), "person_detector": person_detector,
                "actor_encoder": actor_encoder, "keyframes": keyframes, "clip_duration": clip_duration,
                "progress_bar": use_progress_bar(progress_bar, num_frames)}

    def _own_encoder(self):
        """The model's own actor encoder as a frame-level callable (built once), or `None` when it has none."""
        if self.model.memsvd.actor_encoder is None:
            return None
        if getattr(self, "_cached_encoder", None) is None:
            self._cached_encoder = VideoBackboneActorEncoder.from_model(self.model)
        return self._cached_encoder

    def _missing_encoder_message(self, channels: int) -> str:
        dim = self.model.config.feature_dim
        return (f"actor_encoder: this MeMSVD model classifies {dim}-dim actor features, so it needs an actor "
                f"encoder: pass actor_encoder=VideoBackboneActorEncoder.from_pretrained(<a video backbone with {dim} "
                f"output channels>) or any callable (frames, boxes) -> ({dim},) features per box. Without one the "
                f"frames themselves are the feature maps, which only works for frames with {dim} channels "
                f"(these have {channels})")

    def _forward(self, inputs):
        from tqdm.auto import tqdm

        from ..data.video import iter_clips

        config, boxes = self.model.config, inputs["boxes"]
        person_detector, keyframes = inputs["person_detector"], inputs["keyframes"]
        width, height = inputs["size"]
        encoder = inputs["actor_encoder"] or RoIAlignActorEncoder()
        keyframes = None if keyframes is None else set(keyframes)
        memsvd = self.model.memsvd
        per_second = config.max_features_per_second
        state = memsvd.memory.init_state(1, config.feature_dim, self.device) if config.memory_type == "memsvd" else None
        window = deque(maxlen=(config.memory_window_seconds // 2 + 1))  # attention baseline: bounded raw window
        results = []
        last_seen = [0.0]

        def frames():  # remembers the last timestamp, to tell a second after the end of a frame generator
            for frame in inputs["frames"]:
                last_seen[0] = frame.timestamp
                yield frame

        seconds = sorted(boxes) if boxes is not None else None
        clips = iter_clips(frames(), seconds, inputs["clip_duration"])
        for second, clip, middle in tqdm(clips, disable=not inputs["progress_bar"], unit="s"):
            if not clip and seconds is not None and second > last_seen[0] + inputs["clip_duration"] / 2:
                raise ValueError(f"boxes (seconds): {second} s is after the end of the video (duration "
                                 f"{last_seen[0]:.3f} s)")
            if boxes is not None:
                actor_boxes = boxes.get(second)
            elif middle is None:
                actor_boxes = None
            else:
                found = person_detector(middle.image)
                actor_boxes = check_boxes([] if found is None else found, width, height,
                                          argument=f"person_detector output at {second} s").numpy()
            report = keyframes is None or second in keyframes
            if actor_boxes is None or len(actor_boxes) == 0 or not clip:
                if report:
                    results.append({"timestamp": second, "boxes": np.zeros((0, 4), np.float32), "logits": None})
                continue
            features = torch.as_tensor(encoder(clip, actor_boxes), dtype=self.model.dtype, device=self.device)
            if features.ndim != 2 or features.shape != (len(actor_boxes), config.feature_dim):
                raise ValueError(f"actor_encoder must return ({len(actor_boxes)}, feature_dim={config.feature_dim}) "
                                 f"features, got {tuple(features.shape)}")
            new_memory = features[:per_second]
            if state is not None:
                state = memsvd.memory.update(state, new_memory[None])
            window.append(new_memory)
            if not report:
                continue
            kwargs = {"actor_features": features, "actor_batch_index": torch.zeros(len(features), dtype=torch.long,
                                                                                     device=self.device)}
            if config.memory_type == "memsvd":
                kwargs["memory_basis"] = state
            elif config.memory_type == "nonlocal":
                kwargs["memory_features"] = torch.cat(list(window))[None]
            self.model.validate_inputs(**kwargs)  # NaN features, index ranges: the checks forward leaves out
            logits = self.model(**kwargs).logits
            results.append({"timestamp": second, "boxes": actor_boxes, "logits": logits.float().cpu()})
        return {"keyframes": results}

    def postprocess(self, outputs, top_k: int = 5, threshold: float | None = None) -> list[KeyframeActions]:
        id2label = self.model.config.id2label
        problem = self.model.config.problem_type
        keyframes = []
        for frame in outputs["keyframes"]:
            detections = []
            if frame["logits"] is not None:
                scores = frame["logits"].softmax(-1) if problem == "single_label_classification" else frame["logits"].sigmoid()
                for box, row in zip(frame["boxes"], scores):
                    values, indices = row.topk(min(top_k, row.numel()))
                    labels = [{"label": id2label[int(i)], "score": to_json_number(v)} for v, i in zip(values, indices)
                              if threshold is None or float(v) >= threshold]
                    x1, y1, x2, y2 = (to_json_number(v) for v in box)
                    detections.append({"box": {"xmin": x1, "ymin": y1, "xmax": x2, "ymax": y2}, "labels": labels})
            keyframes.append({"timestamp": float(frame["timestamp"]), "detections": detections})
        return keyframes


__all__ = ["ActionLabel", "ActorActions", "KeyframeActions", "LongTermActionDetectionPipeline"]
