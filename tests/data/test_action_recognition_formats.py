"""UCF101 / HMDB51 / Kinetics annotation readers and the zero-shot class splits, on tiny files in the real formats."""

import pytest

from hfvid.data.formats.hmdb51 import hmdb51_class_text, hmdb51_zero_shot_splits, read_hmdb51_split_file
from hfvid.data.formats.kinetics import (
    kinetics600_zero_shot_splits,
    kinetics_novel_classes,
    random_class_splits,
    read_kinetics_classes,
    read_kinetics_csv,
)
from hfvid.data.formats.ucf101 import read_ucf101_classes, read_ucf101_list, ucf101_class_text, ucf101_zero_shot_splits


def _ucf(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 YoYo\n3 PlayingDaf\n\n")
    (tmp_path / "trainlist01.txt").write_text("YoYo/v_YoYo_g08_c01.avi 2\nPlayingDaf/v_PlayingDaf_g09_c02.avi 3\n")
    for split in (1, 2, 3):
        (tmp_path / f"testlist0{split}.txt").write_text(
            f"ApplyEyeMakeup/v_ApplyEyeMakeup_g0{split}_c01.avi\nPlayingDaf/v_PlayingDaf_g0{split}_c03.avi\n")
    return tmp_path


def test_ucf101_lists_and_zero_shot_splits(tmp_path):
    folder = _ucf(tmp_path)
    classes = read_ucf101_classes(folder / "classInd.txt")
    assert classes == ["ApplyEyeMakeup", "YoYo", "PlayingDaf"]
    assert [r["label"] for r in read_ucf101_list(folder / "trainlist01.txt", classes)] == [1, 2]
    splits = ucf101_zero_shot_splits(folder, splits=(1, 3))
    assert [s["name"] for s in splits] == ["split1", "split3"]
    assert splits[1]["videos"] == ["ApplyEyeMakeup/v_ApplyEyeMakeup_g03_c01.avi", "PlayingDaf/v_PlayingDaf_g03_c03.avi"]
    assert splits[0]["labels"] == [0, 2] and splits[0]["class_names"] == classes  # all classes, every split
    assert [ucf101_class_text(c) for c in classes] == ["apply eye makeup", "yo yo", "playing daf"]
    assert ucf101_class_text("PlayingDHol") == "playing d hol"


def test_ucf101_errors_name_file_and_line(tmp_path):
    folder = _ucf(tmp_path)
    (folder / "classInd.txt").write_text("1 ApplyEyeMakeup\n3 YoYo\n")
    with pytest.raises(ValueError, match=r"classInd.txt:2: expected class id 2"):
        read_ucf101_classes(folder / "classInd.txt")
    classes = ["ApplyEyeMakeup", "YoYo"]
    (folder / "bad.txt").write_text("YoYo/v_YoYo_g08_c01.avi 2\nYoYo/v_YoYo_g08_c02.avi 1\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected class id 2 for YoYo"):
        read_ucf101_list(folder / "bad.txt", classes)
    (folder / "bad.txt").write_text("Surfing/v_Surfing_g01_c01.avi\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: class folder 'Surfing'"):
        read_ucf101_list(folder / "bad.txt", classes)
    with pytest.raises(ValueError, match="test splits 1, 2 and 3"):
        ucf101_zero_shot_splits(_ucf(folder), splits=(4,))


def test_hmdb51_split_files(tmp_path):
    for name in ("brush_hair", "shoot_bow"):
        for split in (1, 2):
            (tmp_path / f"{name}_test_split{split}.txt").write_text(
                f"{name}_a.avi {split}\n{name}_b.avi 2\n{name}_c.avi 0\n")
    assert read_hmdb51_split_file(tmp_path / "brush_hair_test_split1.txt") == (
        "brush_hair", 1, [("brush_hair_a.avi", 1), ("brush_hair_b.avi", 2), ("brush_hair_c.avi", 0)])
    one, two = hmdb51_zero_shot_splits(tmp_path, splits=(1, 2))
    assert one["class_names"] == ["brush_hair", "shoot_bow"]
    assert one["videos"] == ["brush_hair/brush_hair_b.avi", "shoot_bow/shoot_bow_b.avi"] and one["labels"] == [0, 1]
    assert len(two["videos"]) == 4  # in split 2 the "a" videos are test videos too
    assert hmdb51_class_text("shoot_bow") == "shoot bow"
    with pytest.raises(ValueError, match="no split 3"):
        hmdb51_zero_shot_splits(tmp_path, splits=(3,))
    (tmp_path / "shoot_bow_test_split1.txt").write_text("x.avi 1\ny.avi 5\n")
    with pytest.raises(ValueError, match=r"shoot_bow_test_split1.txt:2: expected '<video>.avi <0\|1\|2>'"):
        hmdb51_zero_shot_splits(tmp_path)


K600_CSV = """label,youtube_id,time_start,time_end,split
abseiling,aaa,10,20,validate
"playing cards, poker",bbb,0,10,validate
sailing,ccc,5,15,validate
surfing crowds,ddd,1,11,validate
yoga,eee,3,13,validate
abseiling,fff,7,17,validate
"""


def test_kinetics_csv_and_novel_class_splits(tmp_path):
    (tmp_path / "validate.csv").write_text(K600_CSV)
    rows = read_kinetics_csv(tmp_path / "validate.csv")
    assert rows[1]["label"] == "playing cards, poker" and rows[0]["video"] == "aaa_000010_000020.mp4"
    (tmp_path / "k400.txt").write_text("abseiling\nyoga\n")
    assert read_kinetics_classes(tmp_path / "k400.txt") == ["abseiling", "yoga"]
    novel = kinetics_novel_classes(read_kinetics_classes(tmp_path / "validate.csv"), ["abseiling", "yoga"],
                                   expected=None)
    assert novel == ["playing cards, poker", "sailing", "surfing crowds"]
    splits = kinetics600_zero_shot_splits(tmp_path / "validate.csv", tmp_path / "k400.txt", num_splits=3,
                                          classes_per_split=2, seed=1)
    assert len(splits) == 3 and all(len(s["class_names"]) == 2 and set(s["class_names"]) <= set(novel)
                                    for s in splits)
    for split in splits:  # only clips of the split's classes, labelled by their position in it
        for video, label in zip(split["videos"], split["labels"]):
            assert video.startswith(split["class_names"][label] + "/")
    explicit = kinetics600_zero_shot_splits(tmp_path / "validate.csv", None, novel_classes=novel,
                                            class_splits=[["sailing", "surfing crowds"]])
    assert explicit[0]["videos"] == ["sailing/ccc_000005_000015.mp4", "surfing crowds/ddd_000001_000011.mp4"]


def test_random_class_splits_are_seeded_and_order_free():
    classes = [f"c{i:02d}" for i in range(20)]
    a = random_class_splits(classes, num_splits=10, classes_per_split=10, seed=3)
    assert a == random_class_splits(classes[::-1], num_splits=10, classes_per_split=10, seed=3)
    assert a != random_class_splits(classes, num_splits=10, classes_per_split=10, seed=4)
    assert all(len(set(s)) == 10 and s == sorted(s) for s in a) and len({tuple(s) for s in a}) > 1
    with pytest.raises(ValueError, match="classes_per_split"):
        random_class_splits(classes, num_splits=3, classes_per_split=21)


def test_kinetics_errors_name_file_and_line(tmp_path):
    (tmp_path / "a.csv").write_text("label,youtube_id,time_start,split\nyoga,x,1,val\n")
    with pytest.raises(ValueError, match=r"a.csv:1: expected the header columns .* missing \['time_end'\]"):
        read_kinetics_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("label,youtube_id,time_start,time_end,split\nyoga,x,1,2,val\nyoga,y,one,2,val\n")
    with pytest.raises(ValueError, match=r"b.csv:3: expected integer time_start"):
        read_kinetics_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("label,youtube_id,time_start,time_end,split\n,x,1,2,test\n")
    with pytest.raises(ValueError, match=r"c.csv:2: expected a non-empty label"):
        read_kinetics_csv(tmp_path / "c.csv")
    assert read_kinetics_csv(tmp_path / "c.csv", require_label=False)[0]["label"] is None
    (tmp_path / "validate.csv").write_text(K600_CSV)
    with pytest.raises(ValueError, match="no validation clip"):
        kinetics600_zero_shot_splits(tmp_path / "validate.csv", None, novel_classes=["sailing", "skiing"])
