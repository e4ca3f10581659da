"""DISFA, BP4D/FERA2015, Aff-Wild2 and SEWA label readers: round trips and errors naming file and line."""

import json
import math

import numpy as np
import pytest

from hfvid.data.formats.affect_labels import group_sequences
from hfvid.data.formats.affwild2 import load_affwild2_va, write_affwild2_va
from hfvid.data.formats.bp4d import load_bp4d_labels, write_bp4d_video
from hfvid.data.formats.disfa import DISFA_AUS, load_disfa_labels, write_disfa_subject
from hfvid.data.formats.sewa import load_sewa_manifest


def test_disfa_round_trip_and_errors(tmp_path):
    labels = np.random.default_rng(0).integers(0, 6, size=(7, len(DISFA_AUS)))
    folder = write_disfa_subject(tmp_path / "ActionUnit_Labels", "SN001", labels)
    dataset = load_disfa_labels(tmp_path)
    assert dataset.column_names == ["video_id", "subject_id", "frame", "labels"]
    assert dataset["frame"] == list(range(7))  # 1-based in the file, 0-based here
    np.testing.assert_array_equal(np.array(dataset["labels"]), labels)
    with pytest.raises(ValueError, match=r"SN001_au1\.txt:7: expected 9 lines"):
        load_disfa_labels(tmp_path, num_frames=9)
    short = folder / "SN001_au2.txt"
    short.write_text("\n".join(short.read_text().splitlines()[:5]) + "\n")
    with pytest.raises(ValueError, match=r"SN001_au2\.txt:5: has 5 frames"):
        load_disfa_labels(tmp_path)
    assert len(load_disfa_labels(tmp_path, strict=False)) == 5  # SN010-style mismatch: common frames kept
    bad = folder / "SN001_au4.txt"
    bad.write_text("1,0\n2,7\n")
    with pytest.raises(ValueError, match=r"SN001_au4\.txt:2: expected an integer in \[0, 5\], got '7'"):
        load_disfa_labels(tmp_path, strict=False)


def test_bp4d_not_coded_is_nan_and_errors(tmp_path):
    labels = np.array([[0, 1, 2, 3, 4], [5, np.nan, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=float)
    write_bp4d_video(tmp_path / "AU_INT", "F001", "T1", labels, first_frame=10)
    dataset = load_bp4d_labels(tmp_path)
    sequences = group_sequences(dataset)
    assert list(sequences) == ["F001_T1"] and sequences["F001_T1"]["frames"].tolist() == [9, 10, 11]
    got = sequences["F001_T1"]["labels"]
    assert math.isnan(got[1, 1]) and got[1, 0] == 5  # 9 = not coded -> NaN, never 0
    (tmp_path / "AU_INT" / "AU06" / "F001_T1_AU06.csv").write_text("10,0\n11,6\n")
    with pytest.raises(ValueError, match=r"F001_T1_AU06\.csv:2: expected an integer in \[0, 5\]"):
        load_bp4d_labels(tmp_path)


def test_affwild2_invalid_frames_and_errors(tmp_path):
    labels = np.array([[0.5, -0.25], [np.nan, np.nan], [-1.0, 1.0]])
    write_affwild2_va(tmp_path / "12-24-1920x1080_left.txt", labels)
    dataset = load_affwild2_va(tmp_path)
    assert dataset["video_id"][0] == "12-24-1920x1080_left" and dataset["subject_id"][0] == "12-24-1920x1080"
    assert dataset["frame"] == [0, 1, 2]
    assert all(math.isnan(v) for v in dataset["labels"][1])  # -5 -> invalid
    bad = tmp_path / "bad.txt"
    bad.write_text("valence,arousal\n0.1,0.2\n1.5,0.0\n")
    with pytest.raises(ValueError, match=r"bad\.txt:3: values must be in \[-1, 1\] or -5"):
        load_affwild2_va(tmp_path)
    bad.write_text("v,a\n0.1,0.2\n")
    with pytest.raises(ValueError, match=r"bad\.txt:1: expected the header"):
        load_affwild2_va(tmp_path)


def test_sewa_manifest(tmp_path):
    path = tmp_path / "sewa.json"
    path.write_text(json.dumps([{"video": "SEW1101", "frame": 0, "time": 0.0, "valence": 0.1, "arousal": None},
                                {"video": "SEW1101", "frame": 1, "time": 0.02, "valence": 0.2, "arousal": 0.3}]))
    dataset = load_sewa_manifest(path)
    assert len(dataset) == 2 and math.isnan(dataset["labels"][0][1])
    path.write_text(json.dumps([{"video": "x", "frame": 0, "valence": 2.0, "arousal": 0.0}]))
    with pytest.raises(ValueError, match=r"sewa\.json:record 0: valence/arousal must be in \[-1, 1\]"):
        load_sewa_manifest(path)
