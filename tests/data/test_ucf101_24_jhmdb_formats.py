"""UCF101-24 (finalAnnots.mat) and JHMDB-21 (puppet masks, split files) readers on files written in those layouts."""

import numpy as np
import pytest
from scipy.io import savemat

from hfvid.data.formats.action_tubes import tubes_to_groundtruth, tubes_to_keyframes
from hfvid.data.formats.jhmdb import JHMDB_CLASSES, mask_boxes, read_jhmdb, read_jhmdb_split
from hfvid.data.formats.ucf101_24 import UCF101_24_CLASSES, read_ucf101_24, read_ucf101_24_mat


def struct_array(rows, fields):
    """A MATLAB struct array (1 x n) as scipy.io.savemat writes it."""
    array = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            array[0, i][f] = row[f]
    return array


def write_final_annots(path):
    """Two videos in finalAnnots.mat's layout: one tube (Basketball) and two tubes (Fencing)."""
    tube = lambda sf, ef, cls, box: {"sf": float(sf), "ef": float(ef), "class": float(cls),  # noqa: E731
                                     "boxes": np.tile(np.array(box, float), (ef - sf + 1, 1))}
    tubes_fields = ("ef", "sf", "class", "boxes")
    annot = struct_array([
        {"num_imgs": 40.0, "name": "Basketball/v_Basketball_g01_c01",
         "tubes": struct_array([tube(3, 6, 1, [11, 21, 50, 100])], tubes_fields)},
        {"num_imgs": 30.0, "name": "Fencing/v_Fencing_g01_c02",
         "tubes": struct_array([tube(1, 2, 7, [1, 1, 32, 24]), tube(2, 3, 7, [161, 121, 160, 120])], tubes_fields)},
    ], ("num_imgs", "name", "tubes"))
    savemat(path, {"annot": annot})


def test_ucf101_24_mat_boxes_frames_and_split(tmp_path):
    write_final_annots(tmp_path / "finalAnnots.mat")
    (tmp_path / "testlist01.txt").write_text("Fencing/v_Fencing_g01_c02\n")
    videos = read_ucf101_24_mat(tmp_path / "finalAnnots.mat")
    assert [v["video_id"] for v in videos] == ["Basketball/v_Basketball_g01_c01", "Fencing/v_Fencing_g01_c02"]
    basketball = videos[0]["tubes"][0]
    assert basketball["action_id"] == 1 and basketball["frames"].tolist() == [3, 4, 5, 6]
    np.testing.assert_allclose(basketball["boxes"][0], [10, 20, 60, 120])  # 1-based x, y, w, h -> 0-based corners
    assert videos[1]["num_frames"] == 30 and len(videos[1]["tubes"]) == 2
    assert UCF101_24_CLASSES[videos[1]["tubes"][0]["action_id"] - 1] == "Fencing"

    train = read_ucf101_24(tmp_path / "finalAnnots.mat", tmp_path / "testlist01.txt", "train")
    test = read_ucf101_24(tmp_path / "finalAnnots.mat", tmp_path / "testlist01.txt", "test")
    assert [v["video_id"] for v in train] == ["Basketball/v_Basketball_g01_c01"]
    assert [v["video_id"] for v in test] == ["Fencing/v_Fencing_g01_c02"]

    # per-frame records: frame 2 of Fencing holds both actors, normalised by 320 x 240
    records = tubes_to_keyframes(test, num_classes=24)
    assert [r["timestamp"] for r in records] == [1, 2, 3]
    frame2 = records[1]
    np.testing.assert_allclose(frame2["boxes"], [[0, 0, 0.1, 0.1], [0.5, 0.5, 1.0, 1.0]])
    assert frame2["labels"].shape == (2, 24) and frame2["labels"][:, 6].tolist() == [1.0, 1.0]
    assert frame2["person_ids"].tolist() == [0, 1]
    assert [r["timestamp"] for r in tubes_to_keyframes(test, 24, frame_step=2)] == [1, 3]
    tubes, rows = tubes_to_groundtruth(test)
    assert [t["frames"].tolist() for t in tubes] == [[1, 2], [2, 3]] and len(rows) == 4


def test_ucf101_24_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="finalAnnots"):
        read_ucf101_24_mat(tmp_path / "missing.mat")
    savemat(tmp_path / "other.mat", {"gt": np.zeros(2)})
    with pytest.raises(ValueError, match="struct array 'annot'"):
        read_ucf101_24_mat(tmp_path / "other.mat")
    write_final_annots(tmp_path / "finalAnnots.mat")
    with pytest.raises(ValueError, match="no annotation"):
        read_ucf101_24_mat(tmp_path / "finalAnnots.mat", videos=["Diving/v_Diving_g01_c01"])
    with pytest.raises(ValueError, match="subset"):
        read_ucf101_24(tmp_path / "finalAnnots.mat", tmp_path / "finalAnnots.mat", "val")


def write_jhmdb(root):
    """Two 'catch' videos and one 'wave' video with 3-frame puppet masks; split 1 marks one catch video test."""
    masks = {}
    for video_id, offset in (("catch/Ball_catch_1", 0), ("catch/Ball_catch_2", 5), ("wave/Hello_3", 10)):
        mask = np.zeros((24, 32, 3), np.uint8)
        for t in range(3):
            mask[4 + t:10 + t, offset + 2:offset + 8, t] = 1 + t  # part ids: any non-zero value is the actor
        mask[:, :, 2] = 0 if video_id == "wave/Hello_3" else mask[:, :, 2]  # an empty frame has no box
        (root / "puppet_mask" / video_id).mkdir(parents=True)
        savemat(root / "puppet_mask" / video_id / "puppet_mask.mat", {"part_mask": mask})
        masks[video_id] = mask
    (root / "splits").mkdir()
    (root / "splits" / "catch_test_split1.txt").write_text("Ball_catch_1.avi 1\nBall_catch_2.avi 2\n")
    (root / "splits" / "wave_test_split1.txt").write_text("Hello_3.avi 1\n")
    return masks


def test_jhmdb_boxes_from_puppet_masks_and_splits(tmp_path):
    write_jhmdb(tmp_path)
    assert read_jhmdb_split(tmp_path / "splits", 1) == {
        "catch/Ball_catch_1": "train", "catch/Ball_catch_2": "test", "wave/Hello_3": "train"}
    train = read_jhmdb(tmp_path, split=1, subset="train")
    assert [v["video_id"] for v in train] == ["catch/Ball_catch_1", "wave/Hello_3"]
    catch = train[0]
    assert (catch["height"], catch["width"], catch["num_frames"]) == (24, 32, 3)
    tube = catch["tubes"][0]
    assert JHMDB_CLASSES[tube["action_id"] - 1] == "catch" and tube["frames"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(tube["boxes"], [[2, 4, 8, 10], [2, 5, 8, 11], [2, 6, 8, 12]])
    assert train[1]["tubes"][0]["frames"].tolist() == [1, 2]  # the empty third mask frame has no box
    test = read_jhmdb(tmp_path, split=1, subset="test")
    np.testing.assert_allclose(test[0]["tubes"][0]["boxes"][0], [7, 4, 13, 10])
    records = tubes_to_keyframes(test, num_classes=21)
    np.testing.assert_allclose(records[0]["boxes"][0], [7 / 32, 4 / 24, 13 / 32, 10 / 24], rtol=1e-6)


def test_jhmdb_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="test_split2"):
        read_jhmdb_split(tmp_path, 2)
    with pytest.raises(ValueError, match="split must be"):
        read_jhmdb_split(tmp_path, 4)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "catch_test_split1.txt").write_text("Ball_catch_1.avi 3\n")
    with pytest.raises(ValueError, match=r"catch_test_split1.txt:1: expected"):
        read_jhmdb_split(tmp_path / "splits", 1)
    (tmp_path / "splits" / "catch_test_split1.txt").write_text("Ball_catch_1.avi 1\n")
    with pytest.raises(FileNotFoundError, match="puppet_mask.mat not found"):
        read_jhmdb(tmp_path, 1, "train")
    with pytest.raises(ValueError, match="part_mask must be"):
        mask_boxes(np.zeros((2, 2, 2, 2)))
