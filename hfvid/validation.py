"""One input contract for every hfvid pipeline (and the processors and modules that read the same inputs).

Every pipeline checks its inputs with these helpers *before* any model work, so bad input gets the same kind of
error everywhere: ``FileNotFoundError`` for a missing file, ``ValueError`` naming the argument, the value and what
is expected for everything else. Outputs go through :func:`to_json_number` so results are strict JSON (no NaN/inf).
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Video pipelines show a progress bar by default on videos longer than this many frames (10 s at 30 fps).
PROGRESS_BAR_MIN_FRAMES = 300


def check_file(path, argument: str, kind: str = "file") -> str:
    """``path`` as a string; ``FileNotFoundError`` naming the argument and path when nothing is there."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{argument}: {kind} not found: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{argument}: expected a {kind}, got the directory {path!r}")
    return path


def load_image(image, argument: str = "images", *, min_size: int = 2, timeout: float | None = None) -> Image.Image:
    """Path / URL / PIL / numpy / torch image -> decoded RGB ``PIL.Image``.

    Decodes eagerly (``img.load()``) so a truncated or corrupt file fails here with its name, not deep in a model.
    """
    if isinstance(image, (str, os.PathLike)):
        source = os.fspath(image)
        if source.startswith(("http://", "https://")):
            from transformers.image_utils import load_image as load_url

            image = load_url(source, timeout=timeout)
        else:
            check_file(source, argument, "image file")
            try:
                with Image.open(source) as opened:
                    opened.load()
                    image = ImageOps.exif_transpose(opened)
                    image.load()
            except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
                raise ValueError(
                    f"{argument}: could not read image file {source!r}: {error} (expected a JPEG/PNG/BMP/... file)"
                ) from None
    if isinstance(image, Image.Image):
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"{argument}: could not decode the PIL image: {error}") from None
        image = image.convert("RGB")
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        from hfvid.modules.images import image_to_tensor

        if (torch.is_floating_point(image) if isinstance(image, torch.Tensor) else image.dtype.kind == "f") and not (
            np.isfinite(np.asarray(image)).all() if isinstance(image, np.ndarray) else torch.isfinite(image).all()
        ):
            raise ValueError(f"{argument}: the image array contains NaN or inf values")
        try:
            tensor = image_to_tensor(image)
        except ValueError as error:
            raise ValueError(f"{argument}: {error}") from None
        array = (tensor.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        image = Image.fromarray(array, "RGB")
    else:
        raise ValueError(
            f"{argument}: expected an image as a file path, URL, PIL image, numpy array or torch tensor, "
            f"got {type(image).__name__}"
        )
    if min(image.size) < min_size:
        raise ValueError(
            f"{argument}: image of {image.width}x{image.height} pixels is too small (expected at least "
            f"{min_size} pixels on each side)"
        )
    return image


def _numeric_array(values, argument: str, what: str) -> np.ndarray:
    """Nested list / numpy / torch of numbers -> float64 array; strings, booleans and ragged lists are rejected."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{argument}: expected {what}, got the string {values!r}")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{argument}: expected {what}, got {values!r} ({error})") from None
    if array.dtype.kind not in "iuf" and not (array.dtype.kind == "O" and array.size == 0):
        raise ValueError(f"{argument}: expected {what} (numbers), got {values!r}")
    return array.astype(np.float64)


def check_boxes(boxes, width: float | None, height: float | None, argument: str = "boxes") -> torch.Tensor:
    """Validated ``[x1, y1, x2, y2]`` boxes in image pixels -> float32 tensor ``(K, 4)`` (``K == 0`` allowed).

    A box may be partly outside the image (faces at the border), but not wholly outside, reversed or non-finite.
    A single flat box ``[x1, y1, x2, y2]`` is read as one box.
    """
    what = "boxes as [[x1, y1, x2, y2], ...] in pixels"
    array = _numeric_array(boxes, argument, what)
    if array.size == 0:
        return torch.zeros(0, 4)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{argument}: expected {what}, got an array of shape {array.shape}")
    for index, (x1, y1, x2, y2) in enumerate(array.tolist()):
        box = [x1, y1, x2, y2]
        if not all(math.isfinite(v) for v in box):
            raise ValueError(f"{argument}[{index}] = {box} contains NaN or inf (expected finite pixel coordinates)")
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{argument}[{index}] = {box} is empty or reversed (expected x1 < x2 and y1 < y2)")
        if width is not None and height is not None and (x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height):
            raise ValueError(
                f"{argument}[{index}] = {box} lies wholly outside the {width}x{height} image "
                f"(expected a box overlapping [0, {width}] x [0, {height}])"
            )
    return torch.from_numpy(array).float()


def check_positive_int(value, argument: str, *, optional: bool = False):
    """``value`` if it is a positive integer (or ``None`` when ``optional``); a ``ValueError`` naming it otherwise."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{argument}: expected a positive integer{' or None' if optional else ''}, got {value!r}")
    return int(value)


def check_timestamps(values, argument: str, *, duration: float | None = None) -> list[float]:
    """A number or a list of numbers (seconds) -> list of finite floats in ``[0, duration]``.

    Strings are refused ("12" is not a timestamp); an empty list is refused (nothing to do).
    """
    if isinstance(values, (numbers.Real, np.generic)) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, Iterable) and not isinstance(values, (str, bytes, np.ndarray, torch.Tensor)):
        values = list(values)
    if isinstance(values, bool) or (isinstance(values, list) and any(isinstance(v, bool) for v in values)):
        raise ValueError(f"{argument}: expected a time in seconds or a list of them, got {values!r}")
    array = _numeric_array(values, argument, "a time in seconds or a list of them")
    if array.ndim > 1:
        raise ValueError(f"{argument}: expected a flat list of times in seconds, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{argument}: got an empty list (expected at least one time in seconds)")
    for value in array.tolist():
        if not math.isfinite(value):
            raise ValueError(f"{argument}: {value} is not a finite time in seconds")
        if value < 0:
            raise ValueError(f"{argument}: {value} is negative (expected a time >= 0 s)")
        if duration is not None and value > duration:
            raise ValueError(
                f"{argument}: {value} s is after the end of the video (duration {duration:.3f} s; expected a "
                f"time in [0, {duration:.3f}])"
            )
    return [float(v) for v in array.tolist()]


def check_candidate_labels(labels, argument: str = "candidate_labels") -> list[str]:
    """One rule for every zero-shot pipeline: a bare string is split on commas (as transformers'
    ``zero-shot-classification``); entries must be non-empty, distinct strings."""
    if labels is None:
        raise ValueError(f"{argument} is required (a list of class names, or one comma-separated string)")
    if isinstance(labels, str):
        labels = [label.strip() for label in labels.split(",") if label.strip()]
    if not isinstance(labels, (list, tuple)):
        raise ValueError(f"{argument}: expected a list of strings or a comma-separated string, got {labels!r}")
    if not labels:
        raise ValueError(f"{argument}: got no labels (expected at least one class name)")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{argument}: every label must be a non-empty string, got {label!r} in {list(labels)!r}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"{argument}: duplicate labels {duplicates} (expected distinct class names)")
    return list(labels)


def reject_unknown_kwargs(task: str, unknown: Mapping, expected: Iterable[str] = ()) -> None:
    """Raise a ``ValueError`` naming misspelt keyword arguments (``box=`` for ``boxes=``) instead of ignoring them."""
    if not unknown:
        return
    expected = sorted(expected)
    names = ", ".join(repr(name) for name in unknown)
    message = f"{task} got unexpected keyword argument(s) {names}"
    if expected:
        message += f"; expected one of {', '.join(expected)}"
        hints = [f"{name!r} -> {match[0]!r}" for name in unknown if (match := difflib.get_close_matches(name, expected, 1))]
        if hints:
            message += f" (did you mean {', '.join(hints)}?)"
    raise ValueError(message)


def check_model_type(model, task: str, expected: Iterable[str], method: str) -> None:
    """Refuse, at pipeline construction, a checkpoint of another method (it would load and run, but mean nothing)."""
    expected = tuple(expected)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in expected:
        source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
        raise ValueError(
            f"model: {task} needs a {method} checkpoint (model_type {' or '.join(map(repr, expected))}), got "
            f"model_type {model_type!r}" + (f" from {source!r}" if source else "")
        )


def to_json_number(x) -> float | None:
    """A finite Python float, or ``None`` for NaN/inf/None, so results pass ``json.dumps(allow_nan=False)``."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        x = x.item()
    value = float(x)
    return value if math.isfinite(value) else None


def use_progress_bar(progress_bar: bool | None, num_frames: int | None) -> bool:
    """``progress_bar=None`` (the default of every video pipeline) means on above ``PROGRESS_BAR_MIN_FRAMES``."""
    if progress_bar is None:
        return num_frames is not None and num_frames > PROGRESS_BAR_MIN_FRAMES
    if not isinstance(progress_bar, bool):
        raise ValueError(f"progress_bar: expected True, False or None (automatic), got {progress_bar!r}")
    return progress_bar


__all__ = [
    "PROGRESS_BAR_MIN_FRAMES",
    "check_boxes",
    "check_candidate_labels",
    "check_file",
    "check_model_type",
    "check_positive_int",
    "check_timestamps",
    "load_image",
    "reject_unknown_kwargs",
    "to_json_number",
    "use_progress_bar",
]
