"""training_scripts/compare_bmvit_two_stage.py: one run gives both frame-mAPs, the clips/s and the speed ratios."""

import json

import pytest

from hfvid.quickstart import load_training_script


pytestmark = pytest.mark.usefixtures("one_thread")


def test_table_of_both_models(tmp_path, capsys):
    script = load_training_script("compare_bmvit_two_stage")
    out = tmp_path / "nested" / "report.json"
    report = script.main(script.parse_args([
        "--steps", "3", "--batch_size", "4", "--train_samples", "8", "--eval_samples", "6", "--detector", "none",
        "--speed_batch", "2", "--speed_repeats", "1", "--output_json", str(out)]))
    assert json.loads(out.read_text())["frame_mAP"] == report["frame_mAP"]
    assert set(report["frame_mAP"]) == {"single_stage", "two_stage_gt_boxes", "two_stage_jitter_0.1"}
    assert all(0.0 <= v <= 1.0 for v in report["frame_mAP"].values())
    assert set(report["clips_per_second"]) == {"single_stage", "two_stage_given_boxes"}
    ratio = report["speed_ratio"]["single_stage / two_stage_given_boxes"]
    rates = report["clips_per_second"]
    assert ratio == pytest.approx(rates["single_stage"] / rates["two_stage_given_boxes"])
    assert all(len(report[f"{name}_loss"]) == 2 for name in ("single_stage", "two_stage"))
    printed = capsys.readouterr().out
    assert "| BMViT single stage |" in printed and "speed ratio single_stage / two_stage_given_boxes" in printed


def test_jittered_boxes_stay_valid():
    import numpy as np

    script = load_training_script("compare_bmvit_two_stage")
    boxes = np.array([[0.0, 0.0, 0.2, 0.3], [0.8, 0.7, 1.0, 1.0]], np.float32)
    moved = script.jittered(boxes, 0.3, np.random.default_rng(0))
    assert moved.shape == boxes.shape and (moved >= 0).all() and (moved <= 1).all()
    assert (moved[:, 2:] > moved[:, :2]).all() and not np.allclose(moved, boxes)
    assert script.jittered(boxes, 0.0, None) is boxes


@pytest.mark.parametrize("argv, fragment", [(["--steps", "0"], "--steps"), (["--box_jitter", "0.6"], "--box_jitter")])
def test_bad_arguments(argv, fragment):
    script = load_training_script("compare_bmvit_two_stage")
    with pytest.raises(ValueError, match=fragment):
        script.parse_args(argv)


def test_train_bmvit_trains_and_evaluates_the_two_stage_baseline(tmp_path):
    """train_bmvit.py --config_overrides localization=two_stage: BCE on ground-truth boxes, evaluated on the ground
    truth's boxes or on an AVA person-box CSV (here the ground truth written as one, so both give the same mAP)."""
    from hfvid.data.synthetic_actors import synthetic_actor_clips

    script = load_training_script("train_bmvit")
    backbone = json.dumps({"image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
                           "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]],
                           "stride_kv": [[1, 4, 4], [1, 2, 2]]})

    def run(name, *extra):
        argv = ["--dataset_name", "synthetic", "--output_dir", str(tmp_path / name), "--backbone_config", backbone,
                "--config_overrides", "localization=two_stage", "--max_train_steps", "2",
                "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "3", "--synthetic_train_samples",
                "8", "--synthetic_eval_samples", "7", "--detection_warmup_steps", "1", "--cpu", "--seed", "0", *extra]
        return script.main(script.parse_args(argv))

    truth = run("gt")
    assert truth["history"]["last_loss"] > 0  # the warm-up does not zero the two-stage loss
    rows = []
    for index, clip in enumerate(synthetic_actor_clips(7, seed=1, num_frames=4, image_size=32)):  # the eval seed
        rows += [f"synthetic,{index},{','.join(f'{v:.6f}' for v in box)},,0.9" for box in clip["boxes"]]
    csv = tmp_path / "boxes.csv"
    csv.write_text("\n".join(rows) + "\n")
    detected = run("csv", "--person_boxes", str(csv))
    assert 0.0 <= truth["results"]["frame_mAP"] <= 1.0
    assert detected["results"]["frame_mAP"] == pytest.approx(truth["results"]["frame_mAP"], abs=1e-4)
    assert detected["results"]["person_AP"] == pytest.approx(1.0)  # every given box is a person
    with pytest.raises(ValueError, match="--person_boxes"):
        script.main(script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path / "single"),
                                       "--backbone_config", backbone, "--max_train_steps", "1", "--cpu",
                                       "--person_boxes", str(csv)]))
