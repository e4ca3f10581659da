"""Draw pipeline results: landmarks and labelled boxes on images, affect time plots, action boxes on videos,
GANnotation sequences, loss curves.

Every ``hfvid`` pipeline result can be passed in as returned (see each function for the formats it reads). Images
come back as PIL images; videos are written to mp4 with PyAV (:func:`hfvid.data.video.write_video`). matplotlib
(Agg backend, no display needed) is imported only by the plotting functions, so drawing on images needs only Pillow.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# iBUG-68 contours: (first, last, closed). The 66-point variant drops the inner mouth corners 60 and 64.
IBUG68_CONTOURS = ((0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
                   (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True))
IBUG66_CONTOURS = IBUG68_CONTOURS[:-1] + ((60, 65, True),)
PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128))
_RECORD_KEYS = {"frame", "time", "face_id", "success", "box", "box_x1", "box_y1", "box_x2", "box_y2"}


def to_pil(image) -> Image.Image:
    """A path, PIL image, ``(H, W, 3)`` array (uint8, or float in [0, 1]) or ``(3, H, W)`` tensor -> RGB PIL."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, Path)):  # the pipelines' loader: missing and corrupt files named the same way
        from .validation import load_image

        return load_image(image, "image")
    if hasattr(image, "detach"):  # torch tensor (3, H, W) or (H, W, 3)
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] not in (1, 3):
            image = image.transpose(1, 2, 0)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be (H, W, 3) or (3, H, W), got an array of shape {array.shape}")
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(array[..., :3] if array.shape[2] != 1 else np.repeat(array, 3, axis=2))


def _xyxy(box) -> list[float]:
    """A box as ``[x1, y1, x2, y2]``: from a list/array or a ``{"xmin", "ymin", "xmax", "ymax"}`` dict."""
    if isinstance(box, dict):
        try:
            return [float(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        except KeyError as error:
            raise ValueError(f"a box dict needs xmin, ymin, xmax, ymax; got keys {sorted(box)}") from error
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size != 4:
        raise ValueError(f"a box must have 4 values [x1, y1, x2, y2], got {values.size}")
    return values.tolist()


def _label_text(item: dict) -> str:
    """``"label 0.93"`` from a detection's ``label``/``score`` or its best ``labels`` entry (empty when none)."""
    parts = []
    labels = item.get("labels")
    if labels:
        best = labels[0]
        parts.append(f"{best['label']} {best['score']:.2f}" if "score" in best else str(best["label"]))
    elif "label" in item:
        parts.append(str(item["label"]) + (f" {item['score']:.2f}" if "score" in item else ""))
    elif "score" in item:
        parts.append(f"{item['score']:.2f}")
    return " ".join(parts)


def _line_width(image: Image.Image) -> int:
    return max(1, round(min(image.size) / 160))


def _draw_box(draw: ImageDraw.ImageDraw, box, color, text: str, width: int, scale: float = 1.0) -> None:
    x1, y1, x2, y2 = (value * scale for value in _xyxy(box))
    draw.rectangle([x1, y1, x2, y2], outline=color, width=width)
    if text:
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        y = y1 - (bottom - top) - 2 if y1 - (bottom - top) - 2 >= 0 else y1
        draw.rectangle([x1, y, x1 + (right - left) + 4, y + (bottom - top) + 2], fill=color)
        draw.text((x1 + 2, y), text, fill=(255, 255, 255))


def _faces(result) -> list[dict]:
    """Landmark results in any form -> ``[{"landmarks": (N, 2), "box": ... or None}]``."""
    if isinstance(result, dict):
        result = [result]
    if isinstance(result, np.ndarray) or hasattr(result, "detach"):
        array = np.asarray(result.detach().cpu() if hasattr(result, "detach") else result, dtype=np.float64)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[2] != 2:
            raise ValueError(f"landmarks must be (N, 2) or (F, N, 2), got shape {array.shape}")
        return [{"landmarks": points, "box": None} for points in array]
    faces = []
    for face in result:
        if isinstance(face, dict):
            if "landmarks" not in face:
                raise ValueError(f"a landmark result needs a 'landmarks' key, got keys {sorted(face)}")
            faces.append({"landmarks": np.asarray(face["landmarks"], np.float64), "box": face.get("box")})
        else:
            faces.extend(_faces(np.asarray(face, np.float64)))
    return faces


def _scaled(image, scale: float) -> Image.Image:
    """A copy of ``image`` as PIL, enlarged ``scale`` times (bicubic) so small crops stay legible."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    image = to_pil(image)
    if scale == 1:
        return image.copy()
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)


def draw_landmarks(image, landmarks, draw_boxes: bool = True, radius: float | None = None,
                   color=(0, 255, 0), line_color=(255, 255, 0), scale: float = 1.0) -> Image.Image:
    """Landmarks drawn on a copy of ``image``: iBUG-68 (or 66) contour lines plus points, plain points otherwise.

    Args:
        image: anything :func:`to_pil` reads.
        landmarks: a ``hfvid-facial-landmarks`` / ``hfvid-unsupervised-landmarks`` result for this image (a list of
            ``{"box", "landmarks", "scores"}``, or one such dict), or points ``(N, 2)`` / ``(F, N, 2)`` in pixels.
        draw_boxes: also draw each face's ``box`` when the result has one.
        scale: enlarge the image (and the points) this many times first, for small crops.
    """
    canvas = _scaled(image, scale)
    draw = ImageDraw.Draw(canvas)
    width = _line_width(canvas)
    radius = radius if radius is not None else max(1.0, min(canvas.size) / 128)
    for index, face in enumerate(_faces(landmarks)):
        points = face["landmarks"] * scale
        if draw_boxes and face["box"] is not None:
            _draw_box(draw, face["box"], PALETTE[index % len(PALETTE)], "", width, scale)
        contours = {68: IBUG68_CONTOURS, 66: IBUG66_CONTOURS}.get(len(points), ())
        for first, last, closed in contours:
            line = [tuple(p) for p in points[first:last + 1]]
            draw.line(line + line[:1] if closed else line, fill=line_color, width=width)
        for x, y in points:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    return canvas


def _detections(result) -> list[dict]:
    """Detections in any form -> ``[{"box": ..., <label keys>}]``."""
    if isinstance(result, dict):
        result = result["detections"] if "detections" in result else [result]
    items = []
    for item in result:
        if isinstance(item, dict):
            if "box" not in item:
                raise ValueError(f"a detection needs a 'box', got keys {sorted(item)}")
            if item["box"] is not None:  # None: a whole-image result (face_detector="full_image"), nothing to draw
                items.append(item)
        else:
            items.append({"box": item})
    return items


def draw_boxes(image, detections, labels: Sequence[str] | None = None, scale: float = 1.0) -> Image.Image:
    """Labelled boxes drawn on a copy of ``image``.

    Args:
        detections: one keyframe of ``hfvid-video-action-localization`` / ``hfvid-long-term-action-detection``
            (``{"timestamp", "detections": [{"box": {xmin, ...}, "labels": [...], "score"?}]}``), its
            ``detections`` list, a ``hfvid-face-embedding`` / ``hfvid-facial-landmarks`` result (dicts with
            ``box``; ``None`` boxes, whole-image results, are skipped), or bare boxes ``[x1, y1, x2, y2]``.
        labels: text per box, overriding the one read from the detections.
        scale: enlarge the image (and the boxes) this many times first, for small frames.
    """
    canvas = _scaled(image, scale)
    draw = ImageDraw.Draw(canvas)
    items = _detections(detections)
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"labels has {len(labels)} entries but there are {len(items)} boxes")
    for index, item in enumerate(items):
        text = labels[index] if labels is not None else _label_text(item)
        _draw_box(draw, item["box"], PALETTE[index % len(PALETTE)], text, _line_width(canvas), scale)
    return canvas


def _figure_to_image(figure) -> Image.Image:
    """Render a matplotlib figure with the Agg canvas (no display) and close it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    figure.clear()
    return image


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure  # a bare Figure never touches pyplot's global state or a GUI backend

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_affect(records, names: Sequence[str] | None = None, title: str | None = None) -> Image.Image:
    """Per-frame values of ``hfvid-affect`` / ``hfvid-au-intensity`` over time, one line each (matplotlib).

    Args:
        records: the pipeline's records (``{"frame", "time", "face_id", "success", <name>: value, <name>_std?}``),
            or the DataFrame it returns with ``output_format="pandas"``.
        names: which outputs to plot (default: all). ``<name>_std`` columns, when present, are drawn as a band.
    """
    if hasattr(records, "to_dict"):
        records = records.to_dict("records")
    records = list(records)
    if not records:
        raise ValueError("records is empty: nothing to plot")
    available = [key for key in records[0] if key not in _RECORD_KEYS and not key.endswith("_std")]
    names = list(names) if names is not None else available
    missing = [name for name in names if name not in available]
    if missing:
        raise ValueError(f"names {missing} are not in the records; available: {available}")
    times = np.array([r.get("time", r.get("frame", i)) for i, r in enumerate(records)], dtype=np.float64)
    figure = _new_figure(8, 3.2)
    axes = figure.add_subplot()
    ids = [r.get("face_id") if isinstance(r.get("face_id"), (int, np.integer)) else None for r in records]
    face_ids = sorted(set(ids) - {None})
    for face_id in face_ids if len(face_ids) > 1 else [None]:  # several faces: one line per face and output
        rows = [i for i, other in enumerate(ids) if face_id is None or other == face_id]
        for name in names:
            values = np.array([records[i][name] for i in rows], dtype=np.float64)
            label = name if face_id is None else f"{name} (face {face_id})"
            (line,) = axes.plot(times[rows], values, label=label, linewidth=1.2)
            if f"{name}_std" in records[0]:
                std = np.array([records[i][f"{name}_std"] for i in rows], dtype=np.float64)
                axes.fill_between(times[rows], values - std, values + std, color=line.get_color(), alpha=0.2)
    axes.set_xlabel("time (s)" if "time" in records[0] else "frame")
    axes.set_ylabel("value")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=7, ncols=min(len(names), 6))
    if title:
        axes.set_title(title)
    return _figure_to_image(figure)


def plot_loss_curve(history, title: str | None = None) -> Image.Image:
    """Training loss over steps (matplotlib): a training loop history (``{"losses": [(step, loss)], ...}``) or the
    ``[(step, loss)]`` list itself."""
    losses = history["losses"] if isinstance(history, dict) else history
    losses = np.asarray(list(losses), dtype=np.float64)
    if losses.ndim != 2 or losses.shape[1] != 2 or len(losses) == 0:
        raise ValueError(f"losses must be a non-empty list of (step, loss) pairs, got shape {losses.shape}")
    figure = _new_figure(4.5, 2.8)
    axes = figure.add_subplot()
    axes.plot(losses[:, 0], losses[:, 1], linewidth=1.2)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if np.all(losses[:, 1] > 0) and losses[:, 1].max() / losses[:, 1].min() > 20:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title)
    return _figure_to_image(figure)


def plot_label_scores(scores, title: str | None = None, top_k: int = 10) -> Image.Image:
    """Horizontal bars of a classification result (``[{"label", "score", "score_std"?}]``, e.g. zero-shot image or
    video classification), best first; ``score_std`` (Bayesian prompts) is drawn as an error bar."""
    scores = list(scores)[:top_k]
    if not scores or not all(isinstance(s, dict) and "label" in s and "score" in s for s in scores):
        raise ValueError("scores must be a non-empty list of {'label', 'score'} dicts")
    figure = _new_figure(4.5, 0.4 + 0.3 * len(scores))
    axes = figure.add_subplot()
    positions = np.arange(len(scores))[::-1]
    errors = [s["score_std"] for s in scores] if all("score_std" in s for s in scores) else None
    axes.barh(positions, [s["score"] for s in scores], xerr=errors, color="tab:blue")
    axes.set_yticks(positions, [str(s["label"]) for s in scores])
    axes.set_xlabel("score")
    if title:
        axes.set_title(title)
    return _figure_to_image(figure)


def _even(image: np.ndarray) -> np.ndarray:
    """Crop to even height and width (yuv420p needs them)."""
    return image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]


def _frames_of(video, fps: float | None):
    """(frame iterator, rate) of a video path or in-memory frames (default 25 fps)."""
    from .data.video import iter_frames, video_info

    if isinstance(video, (str, Path)):
        return iter_frames(video), video_info(video).get("fps") or 25.0
    return iter_frames(video, input_fps=fps or 25.0), fps or 25.0


def draw_keyframe(video, keyframe: dict, fps: float | None = None, scale: float = 1.0) -> Image.Image:
    """The frame of ``video`` nearest to ``keyframe["timestamp"]`` with the keyframe's detections drawn (one
    element of a ``hfvid-video-action-localization`` / ``hfvid-long-term-action-detection`` result)."""
    if not isinstance(keyframe, dict) or "timestamp" not in keyframe or "detections" not in keyframe:
        raise ValueError("keyframe must be a {'timestamp', 'detections'} dict (one element of an action result)")
    frames, _ = _frames_of(video, fps)
    nearest = min(frames, key=lambda frame: abs(frame.timestamp - keyframe["timestamp"]), default=None)
    if nearest is None:
        raise ValueError("the video has no frames")
    return draw_boxes(nearest.image, keyframe["detections"], scale=scale)


def draw_action_video(video, results, path, fps: float | None = None, max_gap: float | None = None,
                      scale: float = 1.0) -> Path:
    """Write ``video`` with each frame's actor boxes and best action labels drawn on it, as an mp4.

    Args:
        video: a video path or frames (what :func:`hfvid.data.video.iter_frames` reads).
        results: a ``hfvid-video-action-localization`` or ``hfvid-long-term-action-detection`` result: one
            ``{"timestamp", "detections"}`` per keyframe. A frame shows the detections of the nearest keyframe.
        path: output ``.mp4``.
        fps: rate of in-memory frames (default 25); a file keeps its own rate.
        max_gap: frames farther than this (seconds) from every keyframe are left undrawn (default: half the
            keyframe spacing, so consecutive keyframes' boxes form continuous tubes).
        scale: enlarge the frames (and boxes) this many times, for small videos.
    """
    from .data.video import write_video

    keyframes = sorted(results, key=lambda r: r["timestamp"])
    if not keyframes:
        raise ValueError("results is empty: no keyframes to draw")
    times = np.array([k["timestamp"] for k in keyframes], dtype=np.float64)
    if max_gap is None:
        max_gap = float(np.median(np.diff(times))) / 2 if len(times) > 1 else 0.5
    frames, rate = _frames_of(video, fps)

    def drawn():
        for frame in frames:
            nearest = int(np.argmin(np.abs(times - frame.timestamp)))
            if abs(times[nearest] - frame.timestamp) <= max_gap + 1e-6 and keyframes[nearest]["detections"]:
                image = draw_boxes(frame.image, keyframes[nearest]["detections"], scale=scale)
            else:
                image = _scaled(frame.image, scale)
            yield _even(np.asarray(image))

    return write_video(path, drawn(), fps=rate)


def _sequence(output):
    """(images list of PIL, landmarks (T, N, 2) or None) of a GANnotation pipeline output or a bare image list."""
    images, landmarks = output, None
    if hasattr(output, "images"):
        images, landmarks = output.images, getattr(output, "landmarks", None)
    elif isinstance(output, tuple) and len(output) >= 2:
        images, landmarks = output[0], output[1]
    if hasattr(images, "detach"):  # (T, 3, H, W) tensor
        images = list(images)
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    images = [to_pil(image) for image in images]
    if not images:
        raise ValueError("the sequence has no images")
    if landmarks is not None:
        landmarks = np.asarray(landmarks, np.float64)
        if landmarks.ndim != 3 or len(landmarks) != len(images):
            raise ValueError(f"landmarks must be (T, N, 2) with T={len(images)}, got shape {landmarks.shape}")
    return images, landmarks


def gannotation_grid(output, columns: int | None = None, show_landmarks: bool = True,
                     scale: float = 1.0) -> Image.Image:
    """A GANnotation trajectory (the pipeline output, ``(images, landmarks)`` or a list of images) as one grid
    image, left to right then top to bottom; the target landmarks are drawn on each face when known. ``scale``
    enlarges every face (small crops)."""
    images, landmarks = _sequence(output)
    columns = columns or min(len(images), 8)
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    width, height = round(images[0].width * scale), round(images[0].height * scale)
    rows = -(-len(images) // columns)
    grid = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    for index, image in enumerate(images):
        if show_landmarks and landmarks is not None:
            image = draw_landmarks(image, landmarks[index], radius=max(1.0, width / 48), scale=scale)
        else:
            image = _scaled(image, scale)
        grid.paste(image.resize((width, height)), ((index % columns) * width, (index // columns) * height))
    return grid


def gannotation_video(output, path, fps: float = 10.0, show_landmarks: bool = False, scale: float = 1.0) -> Path:
    """A GANnotation trajectory written as an mp4 (one synthesised face per frame, enlarged ``scale`` times)."""
    from .data.video import write_video

    images, landmarks = _sequence(output)
    frames = (np.asarray(draw_landmarks(image, landmarks[i], scale=scale) if show_landmarks and landmarks is not None
                         else _scaled(image, scale)) for i, image in enumerate(images))
    return write_video(path, (_even(frame) for frame in frames), fps=fps)


def side_by_side(images: Iterable, background=(255, 255, 255)) -> Image.Image:
    """Images pasted left to right at the height of the tallest (for comparing results)."""
    images = [to_pil(image) for image in images]
    if not images:
        raise ValueError("no images to place side by side")
    height = max(image.height for image in images)
    canvas = Image.new("RGB", (sum(image.width for image in images), height), background)
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    return canvas


__all__ = ["IBUG66_CONTOURS", "IBUG68_CONTOURS", "draw_action_video", "draw_boxes", "draw_keyframe", "draw_landmarks",
           "gannotation_grid", "gannotation_video", "plot_affect", "plot_label_scores", "plot_loss_curve",
           "side_by_side", "to_pil"]
