"""The shared input-contract helpers (hfvid/validation.py)."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.validation import (
    check_boxes,
    check_candidate_labels,
    check_timestamps,
    load_image,
    reject_unknown_kwargs,
    to_json_number,
    use_progress_bar,
)


@pytest.fixture(scope="module")
def jpeg_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    good = folder / "good.jpg"
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (32, 40, 3), dtype=np.uint8)).save(good, quality=90)
    data = good.read_bytes()
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    text = folder / "notes.jpg"
    text.write_text("not an image")
    return good, truncated, text


def test_load_image_sources(jpeg_files):
    good, _, _ = jpeg_files
    from_path = load_image(str(good))
    assert from_path.mode == "RGB" and from_path.size == (40, 32)
    assert load_image(good).size == (40, 32)  # pathlib
    gray = Image.new("L", (8, 6), 128)
    assert load_image(gray).mode == "RGB"
    assert load_image(Image.new("RGBA", (8, 6))).mode == "RGB"
    array = np.asarray(from_path)
    assert np.array_equal(np.asarray(load_image(array)), array)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
    assert np.abs(np.asarray(load_image(tensor)).astype(int) - array).max() <= 1


def test_load_image_errors_name_the_file(jpeg_files, tmp_path):
    _, truncated, text = jpeg_files
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(str(missing))
    with pytest.raises(ValueError, match="truncated.jpg"):
        load_image(str(truncated))
    with pytest.raises(ValueError, match="notes.jpg.*expected a JPEG"):
        load_image(str(text))
    with pytest.raises(ValueError, match="images: expected an image.*got int"):
        load_image(3)
    with pytest.raises(ValueError, match="image: .*NaN"):
        load_image(np.full((4, 4, 3), np.nan, dtype=np.float32), argument="image")
    with pytest.raises(ValueError, match="1x1 pixels is too small.*at least 8"):
        load_image(Image.new("RGB", (1, 1)), min_size=8)


def test_check_boxes():
    boxes = check_boxes([[0, 0, 10, 10], [-5, 2, 5, 20]], 32, 32)
    assert boxes.dtype == torch.float32 and boxes.shape == (2, 4)
    assert check_boxes([1, 2, 3, 4], 32, 32).shape == (1, 4)  # one flat box
    assert check_boxes([], 32, 32).shape == (0, 4)
    assert check_boxes(np.zeros((0, 4)), 32, 32).shape == (0, 4)
    assert check_boxes(torch.tensor([[1.0, 1, 5, 5]]), None, None).shape == (1, 4)
    cases = [
        ([[0, 0, float("nan"), 5]], "NaN"),
        ([[0, 0, float("inf"), 5]], "NaN or inf"),
        ([[10, 0, 5, 5]], "reversed"),
        ([[0, 0, 5, 5], [0, 8, 5, 5]], r"boxes\[1\].*reversed"),
        ([[40, 40, 50, 50]], "wholly outside the 32x32 image"),
        ([[-20, 0, -1, 5]], "wholly outside"),
        ([["0", 0, 5, 5]], "numbers"),
        ("0 0 5 5", "string"),
        ([[0, 0, 5]], r"shape \(1, 3\)"),
        ([[0, 0, 5, 5], [1, 2]], "expected boxes"),
    ]
    for value, message in cases:
        with pytest.raises(ValueError, match=message):
            check_boxes(value, 32, 32)


def test_check_timestamps():
    assert check_timestamps(3, "t") == [3.0]
    assert check_timestamps([0, 1.5, np.float32(2)], "t", duration=2.0) == [0.0, 1.5, 2.0]
    assert check_timestamps(torch.tensor([1.0]), "t") == [1.0]
    cases = [
        ("12", "string '12'"),
        (["12"], "numbers"),
        ([-1], "negative"),
        ([float("nan")], "finite"),
        ([5.0], r"after the end of the video \(duration 4.000 s"),
        ([], "empty"),
        (True, "True"),
        ([[1, 2]], "flat list"),
    ]
    for value, message in cases:
        with pytest.raises(ValueError, match=f"keyframe_times: .*{message}"):
            check_timestamps(value, "keyframe_times", duration=4.0)


def test_check_candidate_labels_one_rule():
    assert check_candidate_labels("dog") == ["dog"]
    assert check_candidate_labels("dog, cat ,") == ["dog", "cat"]
    assert check_candidate_labels(("a", "b")) == ["a", "b"]
    for value, message in [
        (None, "required"),
        ([], "no labels"),
        ("", "no labels"),
        ([1, 2], "non-empty string, got 1"),
        (["a", " "], "non-empty string"),
        (["a", "a"], "duplicate labels"),
        ({"a": 1}, "expected a list"),
    ]:
        with pytest.raises(ValueError, match=f"candidate_labels.*{message}"):
            check_candidate_labels(value)


def test_reject_unknown_kwargs():
    reject_unknown_kwargs("hfvid-x", {})
    with pytest.raises(ValueError, match=r"hfvid-x got unexpected keyword argument\(s\) 'box'.*did you mean 'box' -> 'boxes'"):
        reject_unknown_kwargs("hfvid-x", {"box": 1}, ["boxes", "flip_test"])
    with pytest.raises(ValueError, match="'zzz'"):
        reject_unknown_kwargs("hfvid-x", {"zzz": 1})


def test_to_json_number_and_progress_bar():
    values = [to_json_number(v) for v in (1, np.float32(0.5), torch.tensor(2.0), float("nan"), math.inf, None)]
    assert values == [1.0, 0.5, 2.0, None, None, None]
    json.dumps(values, allow_nan=False)
    assert use_progress_bar(None, 1000) and not use_progress_bar(None, 100) and not use_progress_bar(None, None)
    assert use_progress_bar(True, 1) and not use_progress_bar(False, 10_000)
    with pytest.raises(ValueError, match="progress_bar"):
        use_progress_bar("yes", 10)
