"""read_ava_person_boxes: a detector's AVA person-box CSV (LFB/PySlowFast ava_val_predicted_boxes.csv layout)."""

import numpy as np
import pytest

from hfvid.data.formats.ava import read_ava_person_boxes


def test_threshold_layouts_and_duplicates(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text(
        "vidA,0902,0.1,0.2,0.5,0.9,,0.95\n"      # PySlowFast: empty action_id, then the score
        "vidA,0902,0.5,0.1,0.9,0.8,-1,0.79\n"    # below 0.8: dropped
        "vidA,0902,0.1,0.2,0.5,0.9,,0.97\n"      # the same box again: kept once with its best score
        "vidA,0903,0.0,0.0,1.0,1.0,0.80\n"       # 7 fields: score last; exactly at the threshold: kept
        "vidB,0902,0.2,0.2,0.4,0.4\n"            # 6 fields: no score (kept at any threshold)
        "vidB,0905,0.2,0.2,0.4,0.4,,0.1\n"       # a keyframe whose only box is dropped: absent
    )
    found = read_ava_person_boxes(path, threshold=0.8)
    assert sorted(found) == [("vidA", 902), ("vidA", 903), ("vidB", 902)]
    np.testing.assert_allclose(found[("vidA", 902)]["boxes"], [[0.1, 0.2, 0.5, 0.9]])
    np.testing.assert_allclose(found[("vidA", 902)]["scores"], [0.97])
    assert found[("vidB", 902)]["scores"].tolist() == [1.0]
    assert len(read_ava_person_boxes(path)[("vidA", 902)]["boxes"]) == 2  # threshold 0 keeps both boxes


def test_bad_rows_name_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("vidA,0902,0.1,0.2,0.5,0.9,,0.95\nvidA,0902,0.6,0.2,0.5,0.9,,0.95\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: box must be normalised"):
        read_ava_person_boxes(path)
    path.write_text("vidA,0902,0.1,0.2\n")
    with pytest.raises(ValueError, match=r"bad.csv:1: expected 6-8"):
        read_ava_person_boxes(path)
    with pytest.raises(ValueError, match="threshold"):
        read_ava_person_boxes(path, threshold=80)
