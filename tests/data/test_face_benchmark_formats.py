"""Readers of the FRL benchmark datasets on tiny files written in the real formats: AffectNet CSV, AFLW2000-3D /
300W-LP .mat, COFW .mat, LFW pairs + identity folders (VGGFace2 boxes), IJB protocol files."""

import numpy as np
import pytest

from hfvid.data.formats.affectnet import read_affectnet_csv, write_affectnet_csv
from hfvid.data.formats.aflw2000 import load_aflw2000_folder, read_aflw2000_mat, write_aflw2000_mat
from hfvid.data.formats.cofw import load_cofw, read_cofw_mat, write_cofw_mat
from hfvid.data.formats.ijb import read_ijb_protocol
from hfvid.data.formats.lfw import read_identity_folders, read_lfw_pairs, read_vggface2_boxes, write_lfw_pairs


def test_affectnet_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"relative_path": f"1/{i}.jpg", "box": [10, 20, 60, 90], "landmarks": rng.uniform(0, 99, (68, 2)),
             "label": label, "valence": va, "arousal": 0.25}
            for i, (label, va) in enumerate([(0, 0.5), (7, -0.5), (8, 0.0), (10, -2), (3, -2)])]
    path = write_affectnet_csv(tmp_path / "training.csv", rows)
    assert path.read_text().splitlines()[0] == ("subDirectory_filePath,face_x,face_y,face_width,face_height,"
                                                "facial_landmarks,expression,valence,arousal")
    records = read_affectnet_csv(path, tmp_path / "images")
    assert [r["label"] for r in records] == [0, 7, 3]  # 8 (None) and 10 (No-Face) dropped
    assert records[0]["box"] == [10.0, 20.0, 60.0, 90.0] and records[0]["image_path"].endswith("images/1/0.jpg")
    np.testing.assert_allclose(records[0]["landmarks"], rows[0]["landmarks"], atol=0.006)
    assert np.isnan(records[2]["valence_arousal"][0]) and records[2]["valence_arousal"][1] == 0.25  # -2 -> NaN
    assert [r["label"] for r in read_affectnet_csv(path, drop_invalid_valence_arousal=True)] == [0, 7]

    text = path.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([text[0], text[1].replace(",0,0.5,", ",12,0.5,")]) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: expected expression in 0-10"):
        read_affectnet_csv(bad)
    bad.write_text("\n".join([text[0], text[1].replace(",0,0.5,", ",0,1.5,")]) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: expected valence in \[-1, 1\]"):
        read_affectnet_csv(bad)
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"bad.csv:1: expected the AffectNet header"):
        read_affectnet_csv(bad)


def test_aflw2000_mat(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    points = rng.uniform(10, 400, (68, 3))
    write_aflw2000_mat(tmp_path / "image00002.mat", points, [0.1, np.deg2rad(40), 0.0, 1, 2, 3, 0.001])
    record = read_aflw2000_mat(tmp_path / "image00002.mat")
    np.testing.assert_allclose(record["landmarks_3d"], points, rtol=1e-6)
    assert record["yaw"] == pytest.approx(40.0) and record["pose"].shape == (7,)
    (tmp_path / "image00002.jpg").write_bytes(b"")  # only its existence is checked by the folder reader
    savemat(str(tmp_path / "lp.mat"), {"pt2d": points[:, :2].T, "Pose_Para": np.zeros((1, 7))})  # 300W-LP style
    lp = read_aflw2000_mat(tmp_path / "lp.mat")
    assert np.isnan(lp["landmarks_3d"][:, 2]).all() and np.allclose(lp["landmarks_3d"][:, :2], points[:, :2])
    folder = load_aflw2000_folder(tmp_path)  # lp.mat has no image: skipped
    assert len(folder) == 1 and np.allclose(folder[0]["box"], [*points[:, :2].min(0), *points[:, :2].max(0)])

    savemat(str(tmp_path / "bad.mat"), {"pt3d_68": np.zeros((3, 5)), "Pose_Para": np.zeros((1, 7))})
    with pytest.raises(ValueError, match=r"bad.mat: expected pt3d_68 of shape \(3, 68\)"):
        read_aflw2000_mat(tmp_path / "bad.mat")
    savemat(str(tmp_path / "bad.mat"), {"something": np.zeros(3)})
    with pytest.raises(ValueError, match="bad.mat: expected a 'pt3d_68'"):
        read_aflw2000_mat(tmp_path / "bad.mat")
    (tmp_path / "bad.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="bad.mat: expected a MATLAB v5"):
        read_aflw2000_mat(tmp_path / "bad.mat")


def test_cofw_mat(tmp_path):
    rng = np.random.default_rng(2)
    records = [{"image": rng.integers(0, 255, (40, 30, 3), dtype=np.uint8),
                "landmarks": rng.uniform(2, 25, (29, 2)), "occluded": rng.random(29) > 0.5, "box": [1, 2, 28, 35]},
               {"image": rng.integers(0, 255, (20, 24), dtype=np.uint8),  # grayscale, as in COFW
                "landmarks": rng.uniform(2, 18, (29, 2)), "box": [0, 0, 20, 18]}]
    write_cofw_mat(tmp_path / "COFW_train_color.mat", records, "train")
    write_cofw_mat(tmp_path / "COFW_test_color.mat", records[:1], "test")
    train = read_cofw_mat(tmp_path / "COFW_train_color.mat")
    np.testing.assert_allclose(train[0]["landmarks"], records[0]["landmarks"], rtol=1e-6)
    np.testing.assert_array_equal(train[0]["occluded"], records[0]["occluded"])
    np.testing.assert_array_equal(train[0]["image"], records[0]["image"])
    assert train[1]["image"].shape == (20, 24, 3) and np.allclose(train[1]["box"], [0, 0, 20, 18])
    both = load_cofw(tmp_path)
    assert len(both["train"]) == 2 and len(both["test"]) == 1
    with pytest.raises(ValueError, match="expected the COFW variables"):
        read_cofw_mat(tmp_path / "COFW_test_color.mat", "train")
    with pytest.raises(ValueError, match="missing"):
        load_cofw(tmp_path / "elsewhere")


def test_lfw_pairs_and_identity_folders(tmp_path):
    pairs = [("Ann", 1, "Ann", 2), ("Ann", 1, "Bob", 1), ("Bob", 1, "Bob", 3), ("Bob", 2, "Ann", 2)]
    path = write_lfw_pairs(tmp_path / "pairs.txt", pairs, folds=2)
    read = read_lfw_pairs(path)
    assert [(p["same"], p["fold"]) for p in read] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert read[1]["first"].endswith("lfw/Ann/Ann_0001.jpg") and read[1]["second"].endswith("lfw/Bob/Bob_0001.jpg")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["Ann\t1\t2"] + lines[3:]) + "\n")  # 3 fields where 4 are due
    with pytest.raises(ValueError, match=r"pairs.txt:3: expected a mismatched 'name1 n1 name2 n2' line"):
        read_lfw_pairs(path)
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="header promises 2 folds"):
        read_lfw_pairs(path)

    for identity, count in (("n000002", 2), ("n000005", 1)):
        (tmp_path / "ids" / identity).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "ids" / identity / f"{i + 1:04d}_01.jpg").write_bytes(b"")
    boxes = tmp_path / "loose_bb_train.csv"
    boxes.write_text('NAME_ID,X,Y,W,H\n"n000002/0001_01",10,20,30,40\n')
    assert np.allclose(read_vggface2_boxes(boxes)["n000002/0001_01"], [10, 20, 40, 60])
    records = read_identity_folders(tmp_path / "ids", boxes)
    assert [r["identity"] for r in records] == ["n000002", "n000002", "n000005"]
    assert records[0]["box"] is not None and records[1]["box"] is None
    boxes.write_text("NAME_ID,X,Y,W,H\nn000002/0001_01,10,20,0,40\n")
    with pytest.raises(ValueError, match=r"loose_bb_train.csv:2: expected NAME_ID,X,Y,W,H"):
        read_vggface2_boxes(boxes)


def test_ijb_protocol(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "ijbb_face_tid_mid.txt").write_text("1.jpg 11 100\n2.jpg 11 101\n3.jpg 12 102\n")
    (meta / "ijbb_template_pair_label.txt").write_text("11 12 0\n11 11 1\n")
    (meta / "ijbb_name_5pts_score.txt").write_text("".join(f"{i}.jpg " + " ".join(["1.5"] * 10) + " 0.9\n"
                                                           for i in (1, 2, 3)))
    protocol = read_ijb_protocol(tmp_path, "ijbb")
    assert protocol["images"][0].endswith("loose_crop/1.jpg") and protocol["templates"].tolist() == [11, 11, 12]
    assert protocol["pairs"].tolist() == [[11, 12], [11, 11]] and protocol["labels"].tolist() == [False, True]
    assert protocol["landmarks"].shape == (3, 5, 2) and protocol["scores"].tolist() == pytest.approx([0.9] * 3)
    (meta / "ijbb_template_pair_label.txt").write_text("11 13 0\n")
    with pytest.raises(ValueError, match=r"templates \[13\] have no image"):
        read_ijb_protocol(tmp_path, "ijbb")
    (meta / "ijbb_template_pair_label.txt").write_text("11 12\n")
    with pytest.raises(ValueError, match=r"ijbb_template_pair_label.txt:1: expected 3 fields"):
        read_ijb_protocol(tmp_path, "ijbb")
    with pytest.raises(ValueError, match="missing IJB protocol file"):
        read_ijb_protocol(tmp_path, "ijbc")
