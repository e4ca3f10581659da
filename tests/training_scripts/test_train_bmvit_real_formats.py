"""train_bmvit.py on real-format data: JHMDB-21 (puppet masks, splits, frame folders) with augmentation, reporting
frame- and video-mAP; AVA excluded keyframes dropped from training and the 15-minute-cut time offset."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.data.formats.ava import drop_excluded, video_time, write_ava_csv
from hfvid.quickstart import load_training_script
from tests.data.test_ucf101_24_jhmdb_formats import write_jhmdb
from tests.training_scripts.test_train_bmvit import BACKBONE


def test_jhmdb_training_reports_frame_and_video_map(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    masks = write_jhmdb(tmp_path / "jhmdb")
    for video_id, mask in masks.items():
        folder = tmp_path / "frames" / video_id
        folder.mkdir(parents=True)
        for t in range(mask.shape[2]):
            Image.fromarray((np.stack([mask[:, :, t]] * 3, -1) > 0).astype(np.uint8) * 200).save(
                folder / f"{t + 1:05d}.png")
    script = load_training_script("train_bmvit")
    argv = ["--dataset_format", "jhmdb", "--annotations", str(tmp_path / "jhmdb"), "--train_dir",
            str(tmp_path / "frames"), "--output_dir", str(tmp_path / "run"), "--backbone_config", BACKBONE,
            "--max_train_steps", "2", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "4",
            "--scale_jitter", "1.0", "1.2", "--colour_jitter", "0.2", "--frame_stride", "1", "--cpu"]
    try:
        script.main(script.parse_args(argv))
    finally:
        torch.set_num_threads(threads)
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    for key in ("eval_frame_mAP", "eval_video_mAP_20", "eval_video_mAP_50"):
        assert 0.0 <= results[key] <= 1.0, key
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["num_action_labels"] == 21 and config["id2label"]["1"] == "catch"


def test_ava_excluded_keyframes_leave_training_and_time_offset(tmp_path):
    rows = [{"video_id": "v", "timestamp": t, "box": (0.1, 0.1, 0.5, 0.5), "action_id": 12, "person_id": 0}
            for t in (902, 903, 904)]
    write_ava_csv(tmp_path / "train.csv", rows)
    (tmp_path / "excluded.csv").write_text("v,0903\n")
    script = load_training_script("train_bmvit")
    args = script.parse_args(["--train_dir", str(tmp_path), "--annotations", str(tmp_path / "train.csv"),
                              "--excluded_timestamps", str(tmp_path / "excluded.csv"), "--output_dir",
                              str(tmp_path / "out"), "--time_offset", "900", "--cpu"])
    train = script.AVAKeyframeClips(args.annotations, args.train_dir, None, 80, excluded=script.read_excluded(args),
                                    time_offset=args.time_offset)
    assert [r["timestamp"] for r in train.records] == [902, 904] and train.time_offset == 900
    assert drop_excluded(rows, {("v", 902)}) == rows[1:]
    assert video_time(902, 900) == 2.0 and video_time(902) == 902.0
    with pytest.raises(ValueError, match="time_offset 1000 is negative"):
        video_time(902, 1000)
