"""300W-LP root layout and HRNet's AFLW CSV lists, read back from small files written in the real formats."""

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from hfvid.data.formats.aflw_csv import read_aflw_csv, write_aflw_csv
from hfvid.data.formats.ls3d import write_pts_mat
from hfvid.data.formats.w300lp import load_300w_lp
from hfvid.data.synthetic import synthetic_faces
from hfvid.modules.heatmaps import IBUG68_FLIP_PERMUTATION, flip_points

SIZE = 96


def make_300w_lp(root, faces):
    """``AFW/`` images with ``pt2d`` .mat files, ``AFW_Flip/`` mirrored copies whose pt2d keeps the original point
    order (x mirrored only), and ``landmarks/AFW/<name>_pts.mat`` with distinct pts_2d / pts_3d."""
    for folder in ("AFW", "AFW_Flip", "landmarks/AFW"):
        (root / folder).mkdir(parents=True)
    for i, face in enumerate(faces):
        name = f"AFW_{1000 + i}_1_{i}"
        points = face["landmarks"].astype(np.float64)
        Image.fromarray(face["image"]).save(root / "AFW" / f"{name}.jpg")
        Image.fromarray(face["image"][:, ::-1]).save(root / "AFW_Flip" / f"{name}.jpg")
        pose = np.array([[0.1, 0.2 * (i + 1), 0.0, 0, 0, 0, 1.0]])
        savemat(root / "AFW" / f"{name}.mat", {"pt2d": points.T, "Pose_Para": pose, "Shape_Para": np.zeros((199, 1))})
        mirrored = points.copy()
        mirrored[:, 0] = SIZE - 1 - mirrored[:, 0]
        savemat(root / "AFW_Flip" / f"{name}.mat", {"pt2d": mirrored.T, "Pose_Para": pose})
        write_pts_mat(root / "landmarks" / "AFW" / f"{name}_pts.mat", points, points + 0.5)
    Image.fromarray(faces[0]["image"]).save(root / "AFW" / "unannotated.jpg")


def test_300w_lp_reads_landmarks_folder_and_pt2d(tmp_path):
    faces = synthetic_faces(3, SIZE, seed=0)
    make_300w_lp(tmp_path, faces)
    records = load_300w_lp(tmp_path)
    assert len(records) == 3 and all(r["subset"] == "AFW" for r in records)
    np.testing.assert_allclose(records[1]["landmarks"], faces[1]["landmarks"], atol=1e-5)
    points = records[0]["landmarks"]
    assert records[0]["box"] == pytest.approx([points[:, 0].min(), points[:, 1].min(),
                                               points[:, 0].max(), points[:, 1].max()])
    np.testing.assert_allclose(load_300w_lp(tmp_path, "pts_3d")[0]["landmarks"], faces[0]["landmarks"] + 0.5,
                               atol=1e-5)
    pt2d = load_300w_lp(tmp_path, "pt2d")
    np.testing.assert_allclose(pt2d[2]["landmarks"], faces[2]["landmarks"], atol=1e-5)
    assert pt2d[2]["yaw"] == pytest.approx(np.degrees(0.6))


def test_300w_lp_mirrored_copies_get_one_point_order(tmp_path):
    """A _Flip copy whose pt2d is only x-mirrored is re-ordered with the mirror table: point 36 (the subject's right
    outer eye corner) is again on the image left, and equals the mirrored point 45 of the original."""
    faces = synthetic_faces(3, SIZE, seed=1)
    make_300w_lp(tmp_path, faces)
    records = load_300w_lp(tmp_path, "pt2d", include_flipped=True)
    flipped = [r for r in records if r["subset"] == "AFW_Flip"]
    assert len(records) == 6 and len(flipped) == 3
    import torch

    for record, face in zip(flipped, faces):
        expected = flip_points(torch.tensor(face["landmarks"]), SIZE, IBUG68_FLIP_PERMUTATION).numpy()
        np.testing.assert_allclose(record["landmarks"], expected, atol=1e-4)
        assert record["landmarks"][36:42, 0].mean() < record["landmarks"][42:48, 0].mean()
    # a flip folder already in the mirrored order is left alone
    ordered = flip_points(torch.tensor(faces[0]["landmarks"]), SIZE, IBUG68_FLIP_PERMUTATION).numpy()
    for name in sorted(p.stem for p in (tmp_path / "AFW_Flip").glob("*.mat")):
        savemat(tmp_path / "AFW_Flip" / f"{name}.mat", {"pt2d": ordered.T.astype(np.float64),
                                                        "Pose_Para": np.zeros((1, 7))})
    again = [r for r in load_300w_lp(tmp_path, "pt2d", include_flipped=True) if r["subset"] == "AFW_Flip"]
    np.testing.assert_allclose(again[0]["landmarks"], ordered, atol=1e-4)


def test_300w_lp_bad_input_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_300w_lp(tmp_path / "missing")
    with pytest.raises(ValueError, match="no image"):
        load_300w_lp(tmp_path)
    with pytest.raises(ValueError, match="annotation must be one of"):
        load_300w_lp(tmp_path, "pts_4d")
    with pytest.raises(ValueError, match="include_flipped needs annotation='pt2d'"):
        load_300w_lp(tmp_path, include_flipped=True)
    with pytest.raises(ValueError, match="subsets must be among"):
        load_300w_lp(tmp_path, subsets=["MENPO"])
    (tmp_path / "AFW").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "AFW" / "a.jpg")
    savemat(tmp_path / "AFW" / "a.mat", {"pt2d": np.zeros((2, 5)), "Pose_Para": np.zeros((1, 7))})
    with pytest.raises(ValueError, match=r"a\.mat.*pt2d of shape \(2, 68\)"):
        load_300w_lp(tmp_path, "pt2d")


@pytest.mark.parametrize("num_points", [19, 21])
def test_aflw_csv_round_trip(tmp_path, num_points):
    (tmp_path / "flickr" / "0").mkdir(parents=True)
    rng = np.random.default_rng(num_points)
    names = [f"0/image{i:05d}.jpg" for i in range(3)]
    for name in names:
        Image.new("RGB", (64, 64)).save(tmp_path / "flickr" / name)
    landmarks = rng.uniform(10, 50, size=(3, num_points, 2))
    boxes = [[8.0, 9.0, 52.0, 53.0], [5.5, 6.5, 45.5, 46.5], [0.0, 0.0, 60.0, 60.0]]
    csv_file = write_aflw_csv(tmp_path / "face_landmarks_aflw_train.csv", names, landmarks, boxes)
    header = csv_file.read_text().splitlines()[0].split(",")
    assert header[:5] == ["image_name", "scale", "box_size", "center_w", "center_h"]
    assert len(header) == 5 + 2 * num_points
    records = read_aflw_csv(csv_file, tmp_path / "flickr")
    assert [r["image"] for r in records] == [str(tmp_path / "flickr" / n) for n in names]
    for record, points, box in zip(records, landmarks, boxes):
        np.testing.assert_allclose(record["landmarks"], points, atol=1e-5)
        assert record["box"] == pytest.approx(box) and record["box_size"] == pytest.approx(box[2] - box[0])


def test_aflw_csv_hand_written_line_and_errors(tmp_path):
    """A line as HRNet ships it (no header needed), then malformed files fail with file:line."""
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "a.jpg")
    coords = ",".join(f"{10 + i}.5,{20 + i}.25" for i in range(19))
    good = tmp_path / "good.csv"
    good.write_text(f"img/a.jpg,0.5,100,50.0,60.0,{coords}\n")
    (record,) = read_aflw_csv(good, tmp_path)
    assert record["landmarks"][3].tolist() == [13.5, 23.25] and record["box"] == [0.0, 10.0, 100.0, 110.0]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"image_name,scale,box_size,center_w,center_h\nimg/a.jpg,0.5,100,50,60,{coords},1.0\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: expected 5 fields"):
        read_aflw_csv(bad, tmp_path)
    bad.write_text(f"img/a.jpg,0.5,-1,50,60,{coords}\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: expected box_size > 0"):
        read_aflw_csv(bad, tmp_path)
    bad.write_text(f"img/missing.jpg,0.5,100,50,60,{coords}\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: image 'img/missing.jpg' is not in"):
        read_aflw_csv(bad, tmp_path)
    coords21 = ",".join(["1"] * 42)
    bad.write_text(f"img/a.jpg,0.5,100,50,60,{coords}\nimg/a.jpg,0.5,100,50,60,{coords21}\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: 21 points, but earlier lines have 19"):
        read_aflw_csv(bad, tmp_path)
    with pytest.raises(ValueError, match="not found"):
        read_aflw_csv(tmp_path / "nope.csv", tmp_path)
