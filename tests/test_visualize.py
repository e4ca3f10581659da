"""hfvid.visualize: every drawer on small synthetic inputs; pixels change where something was drawn, nowhere else."""

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid import visualize
from hfvid.data.synthetic import synthetic_faces


def _blank(size=(96, 128)):
    return np.zeros((*size, 3), np.uint8)


def _changed(before, after) -> np.ndarray:
    return np.any(np.asarray(before, np.int16) != np.asarray(after, np.int16), axis=-1)


def test_draw_landmarks_ibug68_draws_contours_between_points():
    face = synthetic_faces(1, image_size=128, seed=0)[0]
    result = [{"box": face["box"].tolist(), "landmarks": face["landmarks"].tolist(), "scores": [1.0] * 68}]
    drawn = visualize.draw_landmarks(face["image"], result)
    changed = _changed(visualize.to_pil(face["image"]), drawn)
    assert drawn.size == visualize.to_pil(face["image"]).size
    # the midpoint of two jaw points lies on the contour line; every landmark has a dot
    mid = np.round((face["landmarks"][3] + face["landmarks"][4]) / 2).astype(int)
    assert changed[mid[1] - 1:mid[1] + 2, mid[0] - 1:mid[0] + 2].any()
    for x, y in face["landmarks"].round().astype(int):
        if 0 <= x < 128 and 0 <= y < 128:
            assert changed[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].any()
    x1, y1, x2, y2 = np.round(face["box"]).astype(int)
    assert changed[np.clip(y1, 0, 127), np.clip((x1 + x2) // 2, 0, 127)]  # the box's top edge


def test_draw_landmarks_plain_points_have_no_lines():
    points = np.array([[20.0, 20.0], [80.0, 20.0], [50.0, 70.0]])
    drawn = visualize.draw_landmarks(_blank(), points, radius=2)
    changed = _changed(_blank(), drawn)
    assert all(changed[int(y), int(x)] for x, y in points)
    assert not changed[20, 50]  # between two points: no line for a 3-point shape
    assert changed.sum() < 3 * 30


def test_draw_landmarks_accepts_tensor_image_and_dict():
    image = torch.zeros(3, 64, 64)
    drawn = visualize.draw_landmarks(image, {"landmarks": [[10, 10]], "box": None})
    assert np.asarray(drawn)[10, 10].tolist() == [0, 255, 0]
    with pytest.raises(ValueError, match="landmarks"):
        visualize.draw_landmarks(image, [{"box": [0, 0, 1, 1]}])


def test_scale_enlarges_image_and_drawing_together():
    drawn = visualize.draw_landmarks(_blank((20, 30)), np.array([[10.0, 5.0]]), radius=1, scale=4)
    assert drawn.size == (120, 80) and np.asarray(drawn)[20, 40].tolist() == [0, 255, 0]
    boxed = visualize.draw_boxes(_blank((20, 30)), [[2, 2, 10, 10]], scale=3)
    assert _changed(_blank((60, 90)), boxed)[18, 6] and not _changed(_blank((60, 90)), boxed)[18, 18]
    with pytest.raises(ValueError, match="scale"):
        visualize.draw_landmarks(_blank(), np.zeros((1, 2)), scale=0)


def test_draw_boxes_reads_action_keyframes_and_writes_labels():
    keyframe = {"timestamp": 1.0, "detections": [
        {"score": 0.9, "box": {"xmin": 20, "ymin": 30, "xmax": 60, "ymax": 80},
         "labels": [{"label": "walk", "score": 0.8}, {"label": "run", "score": 0.1}]}]}
    drawn = visualize.draw_boxes(_blank(), keyframe)
    changed = _changed(_blank(), drawn)
    assert changed[55, 20] and changed[55, 60] and changed[80, 40]  # left, right, bottom edges
    assert not changed[55, 40]  # inside stays untouched
    assert changed[20:30, 20:60].any()  # the label sits above the box
    plain = visualize.draw_boxes(_blank(), [[10, 10, 30, 30]], labels=["face"])
    assert _changed(_blank(), plain)[20, 10]
    embeddings = [{"box": None, "embedding": [1.0]}, {"box": [5, 5, 20, 20], "embedding": [0.0]}]
    assert _changed(_blank(), visualize.draw_boxes(_blank(), embeddings))[12, 5]  # None box: whole image, skipped
    with pytest.raises(ValueError, match="4 values"):
        visualize.draw_boxes(_blank(), [[1, 2, 3]])
    with pytest.raises(ValueError, match="needs a 'box'"):
        visualize.draw_boxes(_blank(), [{"label": "x"}])
    with pytest.raises(ValueError, match="labels has 2"):
        visualize.draw_boxes(_blank(), [[10, 10, 30, 30]], labels=["a", "b"])


def test_plot_affect_draws_each_output_and_rejects_unknown_names():
    pytest.importorskip("matplotlib")
    records = [{"frame": i, "time": i / 10, "face_id": 0, "success": True, "valence": np.sin(i / 5),
                "arousal": np.cos(i / 5), "valence_std": 0.1, "arousal_std": 0.1} for i in range(50)]
    image = visualize.plot_affect(records, title="affect")
    array = np.asarray(image)
    assert image.size == (800, 320) and array.std() > 5  # not a blank canvas
    only_one = np.asarray(visualize.plot_affect(records, names=["valence"]))
    assert _changed(array, only_one).any()
    with pytest.raises(ValueError, match="AU12"):
        visualize.plot_affect(records, names=["AU12"])
    with pytest.raises(ValueError, match="empty"):
        visualize.plot_affect([])


def test_plot_loss_curve_and_label_scores():
    pytest.importorskip("matplotlib")
    image = visualize.plot_loss_curve({"losses": [(1, 2.0), (2, 1.0), (3, 0.5)]})
    assert np.asarray(image).std() > 5
    bars = visualize.plot_label_scores([{"label": "cat", "score": 0.7, "score_std": 0.1},
                                        {"label": "dog", "score": 0.3, "score_std": 0.05}])
    assert np.asarray(bars).std() > 5
    with pytest.raises(ValueError, match="step, loss"):
        visualize.plot_loss_curve([])


def test_draw_action_video_boxes_on_frames_near_keyframes(tmp_path):
    from hfvid.data.video import iter_frames

    frames = [np.full((64, 80, 3), 40, np.uint8) for _ in range(20)]  # 2 s at 10 fps
    results = [{"timestamp": 0.5, "detections": [{"box": {"xmin": 10, "ymin": 10, "xmax": 50, "ymax": 50},
                                                  "labels": [{"label": "wave", "score": 0.9}]}]},
               {"timestamp": 1.5, "detections": []}]
    path = visualize.draw_action_video(frames, results, tmp_path / "actions.mp4", fps=10)
    decoded = [frame.image for frame in iter_frames(path)]
    assert len(decoded) == 20 and decoded[0].shape == (64, 80, 3)
    # frames 0-9 are nearest to the 0.5 s keyframe: their box edge is bright; frames 10-19 stay plain
    assert np.abs(decoded[5][30, 10].astype(int) - 40).max() > 60
    assert np.abs(decoded[15].astype(int) - 40).max() < 20


def test_draw_keyframe_picks_the_nearest_frame_and_scales(tmp_path):
    frames = [np.full((16, 20, 3), 10 * i, np.uint8) for i in range(10)]  # 1 s at 10 fps, brightness = index
    keyframe = {"timestamp": 0.42, "detections": [{"box": [2, 2, 10, 10], "labels": [{"label": "x", "score": 1.0}]}]}
    drawn = np.asarray(visualize.draw_keyframe(frames, keyframe, fps=10, scale=2))
    assert drawn.shape == (32, 40, 3) and drawn[30, 38].tolist() == [40, 40, 40]  # frame 4, enlarged
    assert drawn[12, 4].tolist() != [40, 40, 40]  # the box's left edge
    with pytest.raises(ValueError, match="timestamp"):
        visualize.draw_keyframe(frames, [keyframe])


def test_gannotation_grid_and_video(tmp_path):
    from hfvid.data.video import iter_frames

    images = np.stack([np.full((32, 32, 3), value, np.float32) for value in (0.1, 0.5, 0.9)])
    landmarks = np.tile(np.array([[16.0, 16.0]]), (3, 1, 1))
    grid = visualize.gannotation_grid((images, landmarks), columns=2)
    assert grid.size == (64, 64)
    array = np.asarray(grid)
    assert abs(int(array[2, 34, 0]) - 128) <= 1  # second face, away from its landmark
    assert array[16, 16].tolist() == [0, 255, 0]  # landmark dot on the first face
    assert array[40, 40].tolist() == [255, 255, 255]  # the empty fourth cell
    path = visualize.gannotation_video((images, landmarks), tmp_path / "sequence.mp4", fps=5)
    decoded = [frame.image for frame in iter_frames(path)]
    assert len(decoded) == 3 and decoded[2].mean() > decoded[0].mean() + 100


def test_to_pil_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        visualize.to_pil(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="shape"):
        visualize.to_pil(np.zeros((4, 4, 5)))
    assert visualize.to_pil(Image.new("L", (4, 4))).mode == "RGB"


def test_quickstart_picture_is_saved_and_listed_in_the_table(tmp_path):
    pytest.importorskip("matplotlib")
    from hfvid.quickstart import QuickstartRow, format_table, loss_picture, save_picture

    path = loss_picture(tmp_path / "method", {"losses": [(1, 1.0), (2, 0.5)]}, "tiny")
    assert path == str(tmp_path / "method" / "quickstart.png") and Image.open(path).size == (450, 280)

    def missing_dependency():
        raise ImportError("No module named 'matplotlib'")

    assert save_picture(tmp_path / "other", missing_dependency) is None  # a by-product never fails the recipe
    table = format_table([QuickstartRow("m", 2, 1.0, 0.5, "acc 1", str(tmp_path), 1.0, path),
                          QuickstartRow("n", 2, 1.0, 0.5, "acc 2", str(tmp_path), 1.0)])
    assert "| picture " in table and path in table and "| 1 -> 0.5 " in table
