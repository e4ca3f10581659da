"""Round trips and error messages for the iBUG .pts and WFLW annotation readers."""

import logging

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats import (
    load_pts_folder,
    read_pts,
    read_wflw_annotations,
    write_pts,
    write_wflw_annotations,
)


def _points(n=68, seed=0):
    return np.random.default_rng(seed).uniform(0, 60, size=(n, 2)).astype(np.float32)


def test_pts_round_trip_and_one_based_file(tmp_path):
    pts = _points()
    path = tmp_path / "a.pts"
    write_pts(path, pts)
    lines = path.read_text().splitlines()
    assert lines[:3] == ["version: 1", "n_points:  68", "{"] and lines[-1] == "}"
    first = [float(v) for v in lines[3].split()]
    np.testing.assert_allclose(first, pts[0] + 1, atol=1e-5)
    back = read_pts(path)
    assert back.dtype == np.float32 and back.shape == (68, 2)
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_read_pts_tolerates_tabs_and_spacing(tmp_path):
    path = tmp_path / "b.pts"
    path.write_text("version:1\n\nn_points:\t 3\n{\n1 1\n  2.5\t3.5 \n10   20\n}\n")
    np.testing.assert_allclose(read_pts(path), [[0, 0], [1.5, 2.5], [9, 19]])


@pytest.mark.parametrize(
    "text,line,what",
    [
        ("version: 1\nn_points: 2\n{\n1 1\n1 abc\n}\n", 5, "2 numbers"),
        ("version: 1\nn_points: 2\n{\n1 1\n1 2 3\n}\n", 5, "2 coordinates"),
        ("version: 1\nn_points: 3\n{\n1 1\n2 2\n}\n", 6, "n_points: 3"),
        ("version: 1\nn_points: 2\n{\n1 1\n2 2\n", 5, "closing"),
        ("version: 1\nn_points: 2\n1 1\n2 2\n}\n", 3, "'{'"),
        ("version: 1\nn_points: two\n{\n1 1\n}\n", 2, "integer"),
    ],
)
def test_malformed_pts_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad\.pts:{line}:.*{what}"):
        read_pts(path)


def test_load_pts_folder(tmp_path, caplog):
    sub = tmp_path / "sub"
    sub.mkdir()
    expected = {}
    for i, (folder, ext) in enumerate([(tmp_path, ".png"), (sub, ".jpg")]):
        img = tmp_path / folder / f"face{i}{ext}"
        Image.new("RGB", (64, 48), (i * 50, 10, 10)).save(img)
        pts = _points(5, seed=i)
        write_pts(img.with_suffix(".pts"), pts)
        expected[str(img)] = pts
    Image.new("RGB", (8, 8)).save(tmp_path / "no_annotation.png")
    write_pts(tmp_path / "orphan.pts", _points(5))
    with caplog.at_level(logging.WARNING):
        ds = load_pts_folder(tmp_path)
    assert "orphan.pts" in caplog.text
    assert len(ds) == 2
    assert set(ds.column_names) >= {"image", "landmarks", "box", "image_path"}
    for row in ds:
        pts = expected[row["image_path"]]
        np.testing.assert_allclose(row["landmarks"], pts, atol=1e-4)
        np.testing.assert_allclose(row["box"], [*pts.min(0), *pts.max(0)], atol=1e-4)
        assert row["image"].size == (64, 48)
    assert len(load_pts_folder(tmp_path, recursive=False)) == 1


def test_load_pts_folder_empty_raises(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match="no image with a matching .pts"):
        load_pts_folder(tmp_path)


def _wflw_records():
    return [
        {
            "landmarks": _points(98, seed=i),
            "box": [1, 2, 61, 62],
            "attributes": [1, 0, 0, 1, 0, i],
            "image_path": f"{i}--Group/img_{i}.jpg",
        }
        for i in range(2)
    ]


def test_wflw_round_trip(tmp_path):
    records = _wflw_records()
    for rec in records:
        (tmp_path / rec["image_path"]).parent.mkdir(exist_ok=True)
        Image.new("RGB", (70, 70)).save(tmp_path / rec["image_path"])
    ann = tmp_path / "list_98pt_rect_attr_test.txt"
    write_wflw_annotations(ann, records)
    assert all(len(line.split()) == 207 for line in ann.read_text().splitlines())
    ds = read_wflw_annotations(ann, tmp_path)
    assert len(ds) == 2
    for rec, row in zip(records, ds):
        np.testing.assert_allclose(row["landmarks"], rec["landmarks"], atol=1e-4)
        assert row["box"] == [1.0, 2.0, 61.0, 62.0]
        assert list(row["attributes"].values()) == rec["attributes"]
        assert row["image_path"] == str(tmp_path / rec["image_path"])
        assert row["image"].size == (70, 70)


def test_wflw_malformed_line(tmp_path):
    ann = tmp_path / "list.txt"
    write_wflw_annotations(ann, _wflw_records())
    lines = ann.read_text().splitlines()
    ann.write_text(lines[0] + "\n" + " ".join(lines[1].split()[:12]) + "\n")
    with pytest.raises(ValueError, match=r"list\.txt:2: expected 207 fields.*got 12"):
        read_wflw_annotations(ann, tmp_path)
    fields = lines[1].split()
    fields[201] = "x"
    ann.write_text(lines[0] + "\n" + " ".join(fields) + "\n")
    with pytest.raises(ValueError, match=r"list\.txt:2: expected 4 integer box"):
        read_wflw_annotations(ann, tmp_path)
