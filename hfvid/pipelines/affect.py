"""`hfvid-affect` and `hfvid-au-intensity`: a face video -> per-frame valence/arousal or AU intensities (0-5).

Streaming with bounded memory: frames are decoded one at a time (``hfvid.data.video.iter_frames``, PyAV), cropped
and encoded by the backbone in batches of ``batch_size``, and pushed through overlapping windows
(``SlidingWindowStitcher``); a frame's record is emitted as soon as no later window can change it, so only one
window of features is ever held. :meth:`stream` yields records one by one; calling the pipeline returns the list.
Without ``boxes`` the faces are found by a face detector (default: the built-in MTCNN,
:mod:`hfvid.modules.face_detection`) run every ``detect_every`` frames and tracked in between (IoU), so each keeps
its integer ``face_id``. Every tracked face (or the ``max_faces`` best-scoring ones) is followed in its own
temporal context: one stitcher per track, so one person's frames never feed another's windows; a track ends, and
its last windows are flushed, when a detection no longer finds that face (a face found again later is a new
track). Records come per (frame, face), in frame order then ``face_id`` order, like OpenFace's multi-face CSV,
with the face's ``box``; memory holds one window per live track. A frame with no face gets one record with
``face_id=None``, ``box=None``, ``success=False`` and ``None`` values (in no context). Given ``boxes`` (one per
frame) and ``face_detector="full_image"`` (whole frames are the face: face-crop videos) make one track,
``face_id`` 0, in which frames without a box are masked.

Exports: :func:`to_dataframe` (pandas) and :func:`to_csv` with OpenFace column names (``frame`` 1-based,
``face_id``, ``timestamp``, ``confidence``, ``success``, ``box_x1`` ... ``box_y2``, ``AU01_r`` ...; valence/arousal
keep their names): one row per frame and face.
"""

from collections.abc import Callable, Iterator

import numpy as np
import torch
from transformers.pipelines.base import Pipeline

from ..validation import check_boxes, check_positive_int, to_json_number

_MISSING = object()


def _openface_name(name: str) -> str:
    return f"{name}_r" if name.upper().startswith("AU") and name[2:].isdigit() else name


def to_dataframe(records: list[dict], format: str = "hfvid"):
    """Records -> ``pandas.DataFrame`` (one row per frame and face; ``box`` split into numeric ``box_x1``,
    ``box_y1``, ``box_x2``, ``box_y2`` columns, NaN without a face); ``format="openface"`` renames columns as
    OpenFace 2 writes them."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records)
    if "box" in frame.columns:
        corners = [b if b is not None else [float("nan")] * 4 for b in frame["box"]]
        at = frame.columns.get_loc("box")
        frame = frame.drop(columns="box")
        for i, name in enumerate(("box_x1", "box_y1", "box_x2", "box_y2")):
            frame.insert(at + i, name, [float(c[i]) for c in corners])
    if "face_id" in frame.columns:  # integers, empty where no face (not floats)
        frame["face_id"] = frame["face_id"].astype("Int64")
    if format == "hfvid":
        return frame
    if format != "openface":
        raise ValueError(f"format must be 'hfvid' or 'openface', got {format!r}")
    frame = frame.rename(columns={c: _openface_name(c) for c in frame.columns})
    frame = frame.rename(columns={"time": "timestamp"})
    frame["frame"] = frame["frame"] + 1  # OpenFace counts frames from 1
    frame.insert(3, "confidence", frame["success"].astype(float))
    frame["success"] = frame["success"].astype(int)
    return frame


def to_csv(records: list[dict], path, format: str = "openface"):
    """Write records as a CSV (OpenFace column names by default); returns the path."""
    to_dataframe(records, format).to_csv(path, index=False)
    return path


def _check_checkpoint_fits(model, action_units: bool) -> None:
    """Refuse, at construction, a checkpoint whose outputs are not the pipeline's task, or whose task head was
    never trained (a pre-training checkpoint loaded into the task class: its head would be random)."""
    name, saved_as = type(model).__name__, list(getattr(model.config, "architectures", None) or [])
    pretraining = [a for a in saved_as if a.endswith("ForPreTraining")]
    if pretraining and name not in saved_as:
        raise ValueError(f"this checkpoint was saved by {pretraining[0]} (pre-training), so {name}'s output head "
                         "is untrained; fine-tune it first (e.g. training_scripts/train_contrastive_au.py --init "
                         "<this folder>) and give the pipeline that output folder")
    outputs = getattr(model.config, "output_names", None)
    if outputs is None:
        raise ValueError(f"{name} (model type {model.config.model_type!r}) is not an affect model (its config names "
                         "no outputs); hfvid-affect and hfvid-au-intensity serve Affective-Process and Contrastive "
                         "AU checkpoints")
    outputs = list(outputs)
    au = [o.upper().startswith("AU") and o[2:].isdigit() for o in outputs]
    if action_units and not all(au):
        raise ValueError(f"hfvid-au-intensity needs a model predicting action units (AU01, AU06, ...), but "
                         f"{name} predicts {outputs}: use pipeline('hfvid-affect', model=...) for it")
    if not action_units and all(au):
        raise ValueError(f"hfvid-affect needs a model predicting affect dimensions (valence, arousal), but {name} "
                         f"predicts action units {outputs}: use pipeline('hfvid-au-intensity', model=...) for it")


class _AffectVideoPipeline(Pipeline):
    """Shared streaming core of the affect and AU-intensity pipelines."""

    _load_image_processor = False
    _load_video_processor = True
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False
    predicts_action_units = False  # the task: AU intensities (hfvid-au-intensity) or affect dimensions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check_checkpoint_fits(self.model, self.predicts_action_units)

    def __call__(self, video, **kwargs) -> list[dict]:
        """
        Args:
            video: a video file path, or an iterable of frames (`(H, W, 3)` arrays, `(timestamp, array)` pairs or
                `VideoFrame`s; a generator is consumed lazily).
            fps (`float`, *optional*): decode at this rate (default: every frame).
            boxes (`list`, *optional*): one face box `[x1, y1, x2, y2]` or `None` (no face) per decoded frame.
            face_detector (*optional*, defaults to `"mtcnn"`): used when `boxes` is not given: a built-in name
                (`"mtcnn"`; `"full_image"`: whole frames are the face), a Hub id or folder of a transformers
                object-detection model, or a callable `PIL.Image -> boxes` (`None`/`[]` = no face in that frame).
            min_score (`float`, *optional*): drop detections scoring below this (default per detector).
            detect_every (`int`, *optional*, defaults to 5): run the detector every this many frames; faces are
                tracked by IoU in between.
            max_faces (`int`, *optional*): follow at most this many faces per detection (the best-scoring);
                default: all.
            batch_size (`int`, *optional*, defaults to 32): frames per backbone pass.
            num_samples (`int`, *optional*): latent samples for the predictive std (0: `z = mu_z`).
            return_std (`bool`, *optional*, defaults to `False`): add `<name>_std` (model uncertainty).
            output_format (`str`, *optional*, defaults to `"records"`): `"records"`, `"pandas"` or `"openface"`
                (a DataFrame with OpenFace column names).
            progress_bar (`bool`, *optional*): a tqdm bar over frames (default: on above 300 frames).

        Returns:
            one record per decoded frame and tracked face, in frame order then `face_id` order:
            `{"frame", "time", "face_id", "success", "box", <outputs>...}` (`box`: `[x1, y1, x2, y2]` of the
            crop); a frame without a face has one record with `face_id`, `box` and outputs `None` (strict JSON).
        """
        import inspect

        from ..validation import reject_unknown_kwargs

        expected = set(inspect.signature(self.stream).parameters) - {"video"}
        reject_unknown_kwargs(self.task or "hfvid-affect", {k: v for k, v in kwargs.items() if k not in expected
                                                            and k != "output_format"}, expected | {"output_format"})
        output_format = kwargs.pop("output_format", "records")
        records = list(self.stream(video, **kwargs))
        if output_format == "records":
            return records
        if output_format == "pandas":
            return to_dataframe(records)
        if output_format == "openface":
            return to_dataframe(records, "openface")
        raise ValueError(f"output_format must be 'records', 'pandas' or 'openface', got {output_format!r}")

    def _sanitize_parameters(self, **kwargs):
        return {}, kwargs, {}

    def preprocess(self, inputs):
        return inputs

    def _forward(self, inputs, **kwargs):
        return {"records": list(self.stream(inputs, **kwargs))}

    def postprocess(self, outputs):
        return outputs["records"]

    def _processor(self):
        if self.video_processor is None:
            from ..models.affective_process import AffectiveProcessVideoProcessor

            size = self.model.config.image_size
            self.video_processor = AffectiveProcessVideoProcessor(size={"height": size, "width": size})
        return self.video_processor

    def _encode(self, frames, boxes):
        """Crops of a batch of frames -> (features (n, D), pseudo-labels (n, K), mask (n,)) numpy arrays."""
        batch = self._processor()(frames, boxes=boxes)
        pixel_values = batch["pixel_values"].to(self.device, self.model.dtype)
        mask = batch["frame_mask"].to(self.device)
        with torch.no_grad():
            features, pseudo, _, _ = self._encoder().encode_frames(pixel_values=pixel_values, frame_mask=mask)
        pseudo = None if pseudo is None else pseudo[0].float().cpu().numpy()  # models without frame predictions
        return features[0].float().cpu().numpy(), pseudo, mask[0].cpu().numpy()

    def _encoder(self):
        """The module with `frame_encoder` and `encode_frames`: AP keeps it in `.affective_process`, other models
        (Contrastive AU) expose both themselves, with `window_stitcher` for the streaming part."""
        return getattr(self.model, "affective_process", self.model)

    def stream(self, video, fps: float | None = None, boxes=None, face_detector: Callable | str | None = None,
               batch_size: int = 32, num_samples: int | None = None, return_std: bool = False,
               progress_bar: bool | None = None, generator=None, min_score: float | None = None,
               detect_every: int = 5, max_faces: int | None = None) -> Iterator[dict]:
        """Yield one record per (frame, face), in frame order then ``face_id`` order, as soon as it is final
        (bounded memory; see the module doc)."""
        from tqdm.auto import tqdm

        from pathlib import Path

        from ..data.video import iter_frames, video_info

        config = self.model.config
        if self._encoder().frame_encoder is None:
            raise ValueError("this checkpoint has no backbone (use_backbone=False); it predicts from features, use "
                             "model.predict_sequence(features, pseudo_labels) instead of the video pipeline")
        processor = self._processor()
        if isinstance(boxes, (str, bytes)) or (boxes is not None and not hasattr(boxes, "__iter__")):
            raise ValueError(f"boxes: expected one box [x1, y1, x2, y2] or None per frame, got {boxes!r}")
        check_positive_int(max_faces, "max_faces", optional=True)  # also when boxes are given (then unused)
        box_stream = iter(boxes) if boxes is not None else None
        tracker = None
        if boxes is None:
            from ..modules.face_detection import FaceTracker

            tracker = FaceTracker(face_detector, detect_every=detect_every, min_score=min_score, max_faces=max_faces,
                                  device=self.device)
            if tracker.detector.name == "full_image":
                tracker = None  # whole frames are the face: one track, the processor's no-box path
        # Per-track state: its own stitcher (temporal context) and the frames it holds. Given boxes and whole
        # frames make one track (key 0) that also takes the no-face frames, masked, as it always did; detected
        # faces make one track per face_id, which ends (its stitcher flushed) when the tracker loses the face.
        tracks: dict[int, dict] = {}
        slots: dict[int, dict] = {}  # frame count -> {face_id: record or None (not final yet)}, emitted in order
        emitted = [0]  # the next frame count to emit
        pending: list = []  # (count, frame index, time, image, box, track key) waiting for the backbone
        k = config.num_outputs
        count = 0

        def track(key):
            if key not in tracks:
                tracks[key] = {"stitcher": self.model.window_stitcher(num_samples, generator), "meta": {}, "pushed": 0}
            return tracks[key]

        def record(row, frame_index, time, valid, face_id, box):
            (raw,) = processor.post_process_affect(
                row[None, :k], row[None, k:] if return_std else None, frame_mask=[valid], timestamps=[time],
                frame_indices=[frame_index], output_names=config.output_names, output_range=config.output_range)
            raw["face_id"] = face_id
            out = {}
            for key, value in raw.items():
                out[key] = to_json_number(value) if isinstance(value, float) else value
                if key == "success":
                    out["box"] = box
            return out

        def collect(key, ready):
            """Stitcher rows -> records in their frame's slot."""
            for local, row in ready:
                frame_count, frame_index, time, valid, box = tracks[key]["meta"].pop(local)
                face_id = key if box is not None or tracker is not None else None
                slots[frame_count][key] = record(row, frame_index, time, valid, face_id, box)

        def emit():
            """The records of every leading frame whose faces are all final."""
            while emitted[0] in slots and all(r is not None for r in slots[emitted[0]].values()):
                yield from slots.pop(emitted[0]).values()
                emitted[0] += 1

        def flush_pending():
            frames = [p[3] for p in pending]
            frame_boxes = [p[4] for p in pending] if (boxes is not None or tracker is not None) else None
            features, pseudo, mask = self._encode(frames, frame_boxes)
            for t, (frame_count, frame_index, time, _, box, key) in enumerate(pending):
                state = tracks[key]
                state["meta"][state["pushed"]] = (frame_count, frame_index, time, bool(mask[t]), box)
                state["pushed"] += 1
                collect(key, state["stitcher"].push((features[t], None if pseudo is None else pseudo[t],
                                                     bool(mask[t]))))
            pending.clear()

        def end(keys):
            """Finish tracks: their pending frames through the backbone, then their stitchers flushed."""
            if pending:
                flush_pending()
            for key in sorted(keys):
                collect(key, tracks[key]["stitcher"].flush())
                del tracks[key]

        self.model.eval()
        from ..validation import use_progress_bar

        total = (video_info(video)["num_frames"] if isinstance(video, (str, Path))
                 else len(video) if hasattr(video, "__len__") else None)
        no_face = np.full(2 * k, np.nan)
        for frame in tqdm(iter_frames(video, fps=fps), disable=not use_progress_bar(progress_bar, total), unit="frame"):
            height, width = frame.image.shape[:2]
            if tracker is not None:
                faces = sorted(tracker(frame.image), key=lambda face: face["face_id"])
                lost = [key for key in tracks if key not in {face["face_id"] for face in faces}]
                if lost:
                    end(lost)
                faces = [(face["face_id"], face["box"]) for face in faces]
            elif box_stream is not None:
                box = next(box_stream, _MISSING)
                if box is _MISSING:
                    raise ValueError(f"boxes: got {count} boxes but the video has more frames (expected one box "
                                     "[x1, y1, x2, y2] or None per decoded frame)")
                if box is not None and len(box):
                    box = check_boxes(box, width, height, f"boxes[{count}]")[0].tolist()
                faces = [(0, box if box is not None and len(box) else None)]
            else:
                faces = [(0, [0.0, 0.0, float(width), float(height)])]
            if faces:
                slots[count] = {key: None for key, _ in faces}
                for key, box in faces:
                    track(key)
                    pending.append((count, frame.index, frame.timestamp, frame.image, box, key))
            else:  # no face tracked: one record, in no context
                slots[count] = {None: record(no_face, frame.index, frame.timestamp, False, None, None)}
            count += 1
            if len(pending) >= batch_size:
                flush_pending()
            yield from emit()
        if count == 0:
            raise ValueError(f"the video has no frames: {video if isinstance(video, str) else type(video).__name__}")
        if box_stream is not None and next(box_stream, _MISSING) is not _MISSING:
            raise ValueError(f"boxes: got more boxes than the {count} decoded frames (expected one box or None per "
                             "frame)")
        end(list(tracks))
        yield from emit()


class AffectEstimationPipeline(_AffectVideoPipeline):
    """Per-frame valence and arousal in [-1, 1] of a face video with an Affective-Process model.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-affect", model="path/or/hub-id")  # doctest: +SKIP
    >>> records = pipe("face_video.mp4")  # doctest: +SKIP
    >>> records[0]  # one record per frame and face  # doctest: +SKIP
    {'frame': 0, 'time': 0.0, 'face_id': 0, 'success': True, 'box': [88.9, 29.0, 133.9, 86.8], 'valence': 0.12,
     'arousal': -0.05}
    ```
    """


class AUIntensityPipeline(_AffectVideoPipeline):
    """Per-frame facial action unit intensities on the FACS 0-5 scale (automatic estimates, not certified coding).

    `pipe(video, output_format="openface")` gives a DataFrame with OpenFace's `AU01_r`-style columns; records keep
    `AU01` ... names.
    """

    predicts_action_units = True


__all__ = ["AUIntensityPipeline", "AffectEstimationPipeline", "to_csv", "to_dataframe"]
