"""AVA and Charades readers/writers: round trips, label maps, and malformed rows named by file:line."""

import numpy as np
import pytest

from hfvid.data.formats.ava import (
    group_keyframes,
    predictions_to_rows,
    read_ava_annotations,
    read_ava_csv,
    read_ava_label_map,
    read_excluded_timestamps,
    write_ava_csv,
)
from hfvid.data.formats.charades import (
    parse_actions,
    read_charades_classes,
    read_charades_csv,
    read_charades_submission,
    write_charades_csv,
    write_charades_submission,
)

AVA_ROWS = """-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,12,1
-5KQ66BBWC4,0902,0.332,0.194,0.481,0.891,17,0
-5KQ66BBWC4,0903,0.5,0.5,0.6,0.6,1,2
"""


def test_ava_annotations_round_trip(tmp_path):
    path = tmp_path / "ava_val_v2.2.csv"
    path.write_text(AVA_ROWS)
    rows = read_ava_csv(path)
    assert rows[0] == {"video_id": "-5KQ66BBWC4", "timestamp": 902, "box": (0.077, 0.151, 0.283, 0.811),
                       "action_id": 80, "person_id": 1}
    write_ava_csv(tmp_path / "copy.csv", rows)
    assert read_ava_csv(tmp_path / "copy.csv") == rows
    keyframes = group_keyframes(rows)
    assert [(k["timestamp"], len(k["boxes"])) for k in keyframes] == [(902, 2), (903, 1)]
    assert sorted(np.flatnonzero(keyframes[0]["labels"][0]) + 1) == [12, 80]
    dataset = read_ava_annotations(path)
    assert len(dataset) == 2 and dataset[0]["person_ids"] == [1, 0]


def test_ava_results_label_map_and_exclusions(tmp_path):
    rows = predictions_to_rows("vid", 902, [[0.1, 0.1, 0.5, 0.5]], [[0.25, 0.75]], action_ids=[1, 3])
    write_ava_csv(tmp_path / "results.csv", rows)
    assert [(r["action_id"], r["score"]) for r in read_ava_csv(tmp_path / "results.csv", "detections")] == [
        (1, 0.25), (3, 0.75)]
    (tmp_path / "excluded.csv").write_text("vid,0902\nother,1000\n")
    assert read_excluded_timestamps(tmp_path / "excluded.csv") == {("vid", 902), ("other", 1000)}
    (tmp_path / "list.pbtxt").write_text('item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem {\n'
                                         '  name: "crouch/kneel"\n  id: 3\n}\n')
    assert read_ava_label_map(tmp_path / "list.pbtxt") == {1: "bend/bow (at the waist)", 3: "crouch/kneel"}
    (tmp_path / "full.pbtxt").write_text('label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n')
    assert read_ava_label_map(tmp_path / "full.pbtxt") == {12: "stand"}


@pytest.mark.parametrize("line,fragment", [
    ("vid,0902,0.1,0.1,0.5", "expected 7 or 8"),
    ("vid,0902,0.1,0.1,0.5,zero,3,1", "y2 must be a number"),
    ("vid,0902,0.5,0.1,0.4,0.5,3,1", "box must be normalised"),
    ("vid,noon,0.1,0.1,0.5,0.5,3,1", "timestamp must be a number"),
])
def test_malformed_ava_rows_name_the_line(tmp_path, line, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(AVA_ROWS + line + "\n")
    with pytest.raises(ValueError, match=fragment) as error:
        read_ava_csv(path)
    assert f"{path}:5" in str(error.value)
    (tmp_path / "bad.pbtxt").write_text('item {\n  name: "x"\n}\n')
    with pytest.raises(ValueError, match="bad.pbtxt:1"):
        read_ava_label_map(tmp_path / "bad.pbtxt")


def test_charades_round_trip_and_errors(tmp_path):
    records = [{"id": "46GP8", "scene": "Kitchen", "actions": [(92, 11.9, 21.2), (147, 0.0, 12.6)], "length": 24.83},
               {"id": "N11GT", "actions": [], "length": 30.0}]
    write_charades_csv(tmp_path / "Charades_v1_test.csv", records)
    read = read_charades_csv(tmp_path / "Charades_v1_test.csv")
    assert read[0]["actions"] == [(92, 11.9, 21.2), (147, 0.0, 12.6)] and read[0]["scene"] == "Kitchen"
    assert np.flatnonzero(read[0]["labels"]).tolist() == [92, 147] and read[1]["labels"].sum() == 0
    assert parse_actions("c000 0.0 1.0") == [(0, 0.0, 1.0)]
    (tmp_path / "classes.txt").write_text("c000 Holding some clothes\nc001 Putting clothes somewhere\n")
    assert read_charades_classes(tmp_path / "classes.txt") == {0: "Holding some clothes", 1: "Putting clothes somewhere"}
    write_charades_submission(tmp_path / "sub.txt", ["a", "b"], [[0.1, 0.9], [0.5, 0.5]])
    ids, scores = read_charades_submission(tmp_path / "sub.txt")
    assert ids == ["a", "b"] and np.allclose(scores, [[0.1, 0.9], [0.5, 0.5]])
    bad = tmp_path / "bad.csv"
    bad.write_text("id,actions,length\nX,c09 1.0 2.0,3\n")
    with pytest.raises(ValueError, match=f"{bad}:2: expected a class"):
        read_charades_csv(bad)
