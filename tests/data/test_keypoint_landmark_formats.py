"""CelebA/MAFL lists, AFLWinfo_release.mat, 300W-LP/LS3D annotations and the landmark JSON: small files written in
the real formats, read back, and malformed content reported with file (and line)."""

import json

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.aflw import load_aflw, read_aflw_info, read_aflw_sqlite, write_aflw_info
from hfvid.data.formats.celeba import (
    load_celeba_landmarks,
    read_celeba_boxes,
    read_celeba_landmarks,
    read_celeba_partition,
    read_image_list,
    write_celeba_landmarks,
)
from hfvid.data.formats.ibug_pts import write_pts
from hfvid.data.formats.landmark_json import load_image_folder, read_landmark_json
from hfvid.data.formats.ls3d import load_ls3d_folder, read_pts_mat, write_pts_mat

# the first rows of the released files, verbatim layout (multiple spaces between the columns)
CELEBA_LANDMARKS = """4
lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y
000001.jpg 69  109  106  113   77  142   73  152  108  154
000002.jpg 69  110  107  112   81  135   70  151  108  153
000003.jpg 76  112  104  106  108  128   74  156   98  158
000004.jpg 72  113  108  108  101  138   71  155  101  151
"""
CELEBA_BOXES = """2
image_id x_1 y_1 width height
000001.jpg    95  71 226 313
000002.jpg    72  94 221 306
"""
PARTITION = "000001.jpg 0\n000002.jpg 0\n000003.jpg 0\n000004.jpg 2\n"


def celeba_folder(tmp_path):
    images = tmp_path / "img_align_celeba"
    images.mkdir()
    for i in range(1, 5):
        Image.new("RGB", (178, 218)).save(images / f"{i:06d}.jpg")
    (tmp_path / "landmarks.txt").write_text(CELEBA_LANDMARKS)
    (tmp_path / "partition.txt").write_text(PARTITION)
    (tmp_path / "mafl_train.txt").write_text("000001.jpg\n000002.jpg\n")
    (tmp_path / "mafl_test.txt").write_text("000003.jpg\n")
    return images


def test_celeba_lists_read_in_the_released_layout(tmp_path):
    (tmp_path / "landmarks.txt").write_text(CELEBA_LANDMARKS)
    landmarks = read_celeba_landmarks(tmp_path / "landmarks.txt")
    assert list(landmarks) == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    np.testing.assert_array_equal(landmarks["000001.jpg"], [[69, 109], [106, 113], [77, 142], [73, 152], [108, 154]])
    write_celeba_landmarks(tmp_path / "again.txt", landmarks)
    assert (tmp_path / "again.txt").read_text().splitlines()[1] == CELEBA_LANDMARKS.splitlines()[1]
    assert {k: v.tolist() for k, v in read_celeba_landmarks(tmp_path / "again.txt").items()} == \
        {k: v.tolist() for k, v in landmarks.items()}
    (tmp_path / "boxes.txt").write_text(CELEBA_BOXES)
    assert read_celeba_boxes(tmp_path / "boxes.txt")["000001.jpg"] == [95, 71, 321, 384]
    (tmp_path / "partition.txt").write_text(PARTITION)
    assert read_celeba_partition(tmp_path / "partition.txt") == {"000001.jpg": 0, "000002.jpg": 0,
                                                                 "000003.jpg": 0, "000004.jpg": 2}
    (tmp_path / "list.txt").write_text("000003.jpg\n\n000001.jpg\n")
    assert read_image_list(tmp_path / "list.txt") == ["000003.jpg", "000001.jpg"]


@pytest.mark.parametrize("text, match", [
    (CELEBA_LANDMARKS.replace("4\n", "5\n", 1), "says 5 images but 4"),
    (CELEBA_LANDMARKS.replace("lefteye_x", "image", 1), ":2: expected the header"),
    (CELEBA_LANDMARKS.replace("  154", ""), ":3: expected an image name and 10 numbers"),
    (CELEBA_LANDMARKS.replace("69  110", "69  x"), "non-numeric"),
    (CELEBA_LANDMARKS.replace("000002.jpg", "000001.jpg"), ":4: image '000001.jpg' appears twice"),
    (CELEBA_LANDMARKS.replace("4\n", "four\n", 1), ":1: expected the number of images"),
    ("4\n", "too short"),
])
def test_malformed_celeba_landmarks_name_file_and_line(tmp_path, text, match):
    (tmp_path / "landmarks.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_celeba_landmarks(tmp_path / "landmarks.txt")


def test_malformed_partition_and_missing_files(tmp_path):
    (tmp_path / "partition.txt").write_text("000001.jpg 0\n000002.jpg 3\n")
    with pytest.raises(ValueError, match="partition.txt:2: expected '<image> <0|1|2>'"):
        read_celeba_partition(tmp_path / "partition.txt")
    with pytest.raises(ValueError, match="not found"):
        read_celeba_landmarks(tmp_path / "absent.txt")
    (tmp_path / "list.txt").write_text("a.jpg b.jpg\n")
    with pytest.raises(ValueError, match="list.txt:1: expected one image name"):
        read_image_list(tmp_path / "list.txt")


def test_celeba_and_mafl_splits(tmp_path):
    images = celeba_folder(tmp_path)
    files = dict(partition_file=tmp_path / "partition.txt", mafl_train_file=tmp_path / "mafl_train.txt",
                 mafl_test_file=tmp_path / "mafl_test.txt")

    def names(split, **kwargs):
        records = load_celeba_landmarks(images, tmp_path / "landmarks.txt", split, **kwargs)
        assert all(r["landmarks"].shape == (5, 2) for r in records)
        return [r["image"].rsplit("/", 1)[1] for r in records]

    assert names("train", **files) == ["000001.jpg", "000002.jpg"]  # MAFL-test image 3 left out of training
    assert names("train", partition_file=files["partition_file"]) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert names("test", **files) == ["000004.jpg"]
    assert names("mafl_train", **files) == ["000001.jpg", "000002.jpg"]
    assert names("mafl_test", **files) == ["000003.jpg"]
    assert len(names("all")) == 4
    (tmp_path / "boxes.txt").write_text(CELEBA_BOXES)
    records = load_celeba_landmarks(images, tmp_path / "landmarks.txt", "mafl_train", bbox_file=tmp_path / "boxes.txt",
                                    **{k: v for k, v in files.items() if k != "partition_file"})
    assert records[1]["box"] == [72, 94, 293, 400]
    with pytest.raises(ValueError, match="partition_file"):
        load_celeba_landmarks(images, tmp_path / "landmarks.txt", "train")
    with pytest.raises(ValueError, match="split must be"):
        load_celeba_landmarks(images, tmp_path / "landmarks.txt", "val")
    (images / "000004.jpg").unlink()
    with pytest.raises(ValueError, match="'000004.jpg' of split 'test' is not in"):
        load_celeba_landmarks(images, tmp_path / "landmarks.txt", "test", **files)


def test_aflw_info_mat_round_trip_and_splits(tmp_path, monkeypatch):
    import hfvid.data.formats.aflw as aflw

    monkeypatch.setattr(aflw, "NUM_TRAIN", 2)  # the release has 24,386 faces, 20,000 of them for training
    rng = np.random.default_rng(0)
    names = [f"3/image{i:05d}.jpg" for i in range(4)]
    (tmp_path / "flickr" / "3").mkdir(parents=True)
    for name in names:
        Image.new("RGB", (64, 64)).save(tmp_path / "flickr" / name)
    landmarks = rng.uniform(5, 60, size=(4, 19, 2))
    boxes = np.array([[1, 2, 50, 60]] * 4, np.float64)
    visible = np.ones((4, 19))
    visible[3, 5] = 0
    write_aflw_info(tmp_path / "AFLWinfo_release.mat", names, landmarks, boxes, visible, order=[3, 1, 0, 2])
    faces = read_aflw_info(tmp_path / "AFLWinfo_release.mat")
    assert [f["name"] for f in faces] == [names[3], names[1], names[0], names[2]]  # ra order
    np.testing.assert_allclose(faces[0]["landmarks"], landmarks[3], rtol=1e-6)
    assert faces[0]["box"] == [1, 2, 50, 60] and not faces[0]["visible"][5]
    assert [f["split"] for f in faces] == ["train", "train", "test", "test"]
    test = load_aflw(tmp_path / "flickr", tmp_path / "AFLWinfo_release.mat", "test")
    assert [r["image"].endswith(n) for r, n in zip(test, [names[0], names[2]])] == [True, True]
    assert len(load_aflw(tmp_path / "flickr", tmp_path / "AFLWinfo_release.mat", "test_frontal")) == 2
    assert len(load_aflw(tmp_path / "flickr", tmp_path / "AFLWinfo_release.mat", "all")) == 4


def test_malformed_aflw_info_is_reported(tmp_path):
    from scipy.io import savemat

    savemat(str(tmp_path / "a.mat"), {"data": np.zeros((2, 38)), "bbox": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="missing \\['mask_new', 'nameList', 'ra'\\]"):
        read_aflw_info(tmp_path / "a.mat")
    write_aflw_info(tmp_path / "b.mat", ["x.jpg"], np.zeros((1, 19, 2)), [[5, 5, 1, 1]])
    with pytest.raises(ValueError, match="bad bbox"):
        read_aflw_info(tmp_path / "b.mat")
    (tmp_path / "c.mat").write_text("not a mat file")
    with pytest.raises(ValueError, match="MATLAB"):
        read_aflw_info(tmp_path / "c.mat")


def test_ls3d_300w_lp_mat_and_pts_folders(tmp_path):
    rng = np.random.default_rng(1)
    points_2d, points_3d = rng.uniform(0, 60, (68, 2)), rng.uniform(0, 60, (68, 2))
    root = tmp_path / "300W_LP"  # <root>/AFW/<name>.jpg + <root>/landmarks/AFW/<name>_pts.mat
    (root / "AFW").mkdir(parents=True)
    (root / "landmarks" / "AFW").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "AFW" / "AFW_1_1_0.jpg")
    Image.new("RGB", (64, 64)).save(root / "AFW" / "AFW_1_1_1.jpg")  # no annotation: skipped
    write_pts_mat(root / "landmarks" / "AFW" / "AFW_1_1_0_pts.mat", points_2d, points_3d)
    np.testing.assert_allclose(read_pts_mat(root / "landmarks" / "AFW" / "AFW_1_1_0_pts.mat", "2d"), points_2d,
                               rtol=1e-6)
    records = load_ls3d_folder(root, root / "landmarks")  # default: the 3D-consistent points
    assert len(records) == 1
    np.testing.assert_allclose(records[0]["landmarks"], points_3d, rtol=1e-6)
    assert records[0]["box"] == pytest.approx([*points_3d.min(0), *points_3d.max(0)], rel=1e-5)

    ls3d = tmp_path / "LS3D-W"
    ls3d.mkdir()
    Image.new("RGB", (64, 64)).save(ls3d / "a.jpg")
    (ls3d / "a.t7").write_bytes(b"\x04\x00\x00\x00")  # Torch7 serialised: never read
    with pytest.raises(ValueError, match="Torch7 .t7 .*convert them to .pts"):
        load_ls3d_folder(ls3d)
    write_pts(ls3d / "a.pts", points_2d)
    np.testing.assert_allclose(load_ls3d_folder(ls3d)[0]["landmarks"], points_2d, atol=1e-4)
    with pytest.raises(ValueError, match="point_type"):
        read_pts_mat(root / "landmarks" / "AFW" / "AFW_1_1_0_pts.mat", "3D")
    from scipy.io import savemat

    savemat(str(tmp_path / "bad_pts.mat"), {"pts_2d": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="pts_2d of shape \\(68, 2\\)"):
        read_pts_mat(tmp_path / "bad_pts.mat", "2d")


def test_landmark_json_folder(tmp_path):
    for i in range(2):
        Image.new("RGB", (32, 24)).save(tmp_path / f"{i}.png")
    (tmp_path / "ann.json").write_text(json.dumps({"0.png": {"landmarks": [[1, 2], [3, 4]]},
                                                   "1.png": {"box": [1, 1, 9, 9]}}))
    records = load_image_folder(tmp_path, tmp_path / "ann.json")
    assert records[0]["box"] == [0.0, 0.0, 31.0, 23.0] and records[0]["landmarks"].shape == (2, 2)
    assert records[1]["box"] == [1, 1, 9, 9] and "landmarks" not in records[1]
    assert len(load_image_folder(tmp_path)) == 2  # no JSON: every image, whole-image boxes
    (tmp_path / "ann.json").write_text(json.dumps({"x.png": {"landmarks": [[1, 2], [None, 4]]}}))
    with pytest.raises(ValueError, match="missing"):
        read_landmark_json(tmp_path / "ann.json")
    (tmp_path / "ann.json").write_text(json.dumps({"x.png": {"box": [5, 5, 1, 1]}}))
    with pytest.raises(ValueError, match="bad box"):
        read_landmark_json(tmp_path / "ann.json")
    (tmp_path / "ann.json").write_text('{"x.png": {"box": [1, 2,\n}')
    with pytest.raises(ValueError, match="ann.json:2: not valid JSON"):
        read_landmark_json(tmp_path / "ann.json")


def test_aflw_sqlite_21_points(tmp_path):
    import sqlite3

    schema = """
    CREATE TABLE Faces (face_id INTEGER PRIMARY KEY, file_id CHAR, db_id CHAR);
    CREATE TABLE FaceImages (image_id INTEGER PRIMARY KEY, db_id CHAR, file_id CHAR, filepath CHAR, bw INTEGER,
                             width INTEGER, height INTEGER);
    CREATE TABLE FaceRect (face_id INTEGER, x INTEGER, y INTEGER, w INTEGER, h INTEGER, annot_type_id INTEGER);
    CREATE TABLE FeatureCoords (face_id INTEGER, feature_id INTEGER, x REAL, y REAL, annot_type_id INTEGER);
    """
    with sqlite3.connect(tmp_path / "aflw.sqlite") as db:
        db.executescript(schema)
        db.execute("INSERT INTO FaceImages VALUES (1, 'flickr', 'image00002.jpg', '3/image00002.jpg', 0, 100, 80)")
        for face_id, x in ((39341, 10), (39342, 50)):
            db.execute("INSERT INTO Faces VALUES (?, 'image00002.jpg', 'flickr')", (face_id,))
            db.execute("INSERT INTO FaceRect VALUES (?, ?, 5, 30, 40, 1)", (face_id, x))
        for feature_id in range(1, 22):
            if feature_id != 7:  # point 7 of face 39341 not annotated
                db.execute("INSERT INTO FeatureCoords VALUES (39341, ?, ?, ?, 1)", (feature_id, feature_id, 2.5))
    faces = read_aflw_sqlite(tmp_path / "aflw.sqlite")
    assert [f["name"] for f in faces] == ["3/image00002.jpg"] * 2
    assert faces[0]["box"] == [10, 5, 40, 45] and faces[1]["box"] == [50, 5, 80, 45]
    assert faces[0]["landmarks"].shape == (21, 2) and faces[0]["landmarks"][20].tolist() == [21, 2.5]
    assert np.isnan(faces[0]["landmarks"][6]).all() and faces[0]["visible"].sum() == 20
    assert not faces[1]["visible"].any()
    (tmp_path / "broken.sqlite").write_bytes(b"not a database at all, just bytes" * 10)
    with pytest.raises(ValueError, match="AFLW SQLite database"):
        read_aflw_sqlite(tmp_path / "broken.sqlite")
