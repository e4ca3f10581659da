"""training_scripts/extract_feature_bank.py: bank from mp4 + AVA boxes, resumable per video."""

import numpy as np

from hfvid.data.video import write_video
from hfvid.quickstart import load_training_script


def test_extract_and_resume(tmp_path):
    videos = tmp_path / "videos"
    for name, level in (("vidA", 40), ("vidB", 200)):
        write_video(videos / f"{name}.mp4", [np.full((24, 32, 3), level, np.uint8)] * 40, fps=10)
    lines = [f"{v},{900 + s:04d},0.0,0.0,0.5,0.5,{a},0" for v in ("vidA", "vidB") for s in (1, 2) for a in (1, 5)]
    lines.append("vidB,0902,0.5,0.5,1.0,1.0,3,1")
    (tmp_path / "ava.csv").write_text("\n".join(lines) + "\n")
    script = load_training_script("extract_feature_bank")
    argv = ["--video_dir", str(videos), "--boxes", str(tmp_path / "ava.csv"), "--output_dir", str(tmp_path / "out"),
            "--time_offset", "900"]
    first = script.main(script.parse_args(argv))
    assert first["extracted"] == ["vidA", "vidB"]

    import datasets

    bank = datasets.load_from_disk(first["bank"])
    rows = {(r["video_id"], r["second"]): np.array(r["features"]) for r in bank}
    assert sorted(rows) == [("vidA", 901), ("vidA", 902), ("vidB", 901), ("vidB", 902)]
    assert rows[("vidB", 902)].shape == (2, 3)  # two people, RGB "features" (frames are feature maps)
    assert abs(rows[("vidA", 901)].mean() - 40) < 4 and abs(rows[("vidB", 901)].mean() - 200) < 4

    (tmp_path / "out" / "shards" / "vidB" / "DONE").unlink()  # as if interrupted while writing vidB
    second = script.main(script.parse_args(argv))
    assert second["skipped_done"] == ["vidA"] and second["extracted"] == ["vidB"]
    assert len(datasets.load_from_disk(second["bank"])) == 4


def test_extract_on_detected_person_boxes(tmp_path):
    """--eval_boxes: normalised detector boxes above the threshold, converted to pixels of each video."""
    videos = tmp_path / "videos"
    frame = np.zeros((24, 32, 3), np.uint8)
    frame[:, 16:] = 200  # right half bright: a box over it must read ~200, one over the left half ~0
    write_video(videos / "vidA.mp4", [frame] * 40, fps=10)
    (tmp_path / "det.csv").write_text(
        "vidA,0901,0.5,0.0,1.0,1.0,,0.95\nvidA,0901,0.0,0.0,0.5,1.0,,0.5\n"  # the left box is below 0.8
        "vidA,0902,0.0,0.0,0.5,1.0,,0.9\nvidA,0902,0.5,0.0,1.0,1.0,,0.85\n"
        "vidA,0903,0.0,0.0,1.0,1.0,,0.2\n"  # no detection left at 903
    )
    script = load_training_script("extract_feature_bank")
    out = script.main(script.parse_args(["--video_dir", str(videos), "--eval_boxes", str(tmp_path / "det.csv"),
                                         "--output_dir", str(tmp_path / "out"), "--time_offset", "900"]))
    import datasets

    rows = {(r["video_id"], r["second"]): np.array(r["features"]) for r in datasets.load_from_disk(out["bank"])}
    assert sorted(rows) == [("vidA", 901), ("vidA", 902)]
    assert rows[("vidA", 901)].shape == (1, 3) and rows[("vidA", 901)].mean() > 150
    assert rows[("vidA", 902)][0].mean() < 50 and rows[("vidA", 902)][1].mean() > 150  # file order kept
    import pytest

    with pytest.raises(ValueError, match="exactly one of --boxes"):
        script.parse_args(["--video_dir", "v", "--output_dir", "o"])
