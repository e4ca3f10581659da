"""REST zero-shot evaluation script on tiny UCF101 / K600 annotation files in the real formats and tiny videos."""

import json

import numpy as np
import pytest
import torch

from hfvid.data.synthetic_video import shapes_in_motion
from hfvid.data.video import write_video
from hfvid.metrics.classification import top_k_accuracy
from hfvid.models.rest import RESTForZeroShotVideoClassification
from hfvid.data.rest_videos import tiny_synthetic_components
from hfvid.quickstart import load_training_script

CLASSES = ["RedSquareMovesLeft", "RedSquareMovesRight", "BlueSquareMovesUp", "GreenSquareMovesDown", "BlueSquare"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A saved tiny random REST model, 6 videos in UCF101's layout, classInd.txt and two test lists."""
    root = tmp_path_factory.mktemp("rest_eval")
    config, processor = tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1)
    torch.manual_seed(0)
    RESTForZeroShotVideoClassification(config).save_pretrained(root / "model")
    processor.save_pretrained(root / "model")
    notes = root / "ucfTrainTestlist"
    notes.mkdir()
    (notes / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    videos = []
    for i, video in enumerate(shapes_in_motion(6, image_size=16, seed=5)):
        name = f"{CLASSES[i % 5]}/v_{CLASSES[i % 5]}_g0{i}_c01.avi"
        write_video(root / "videos" / name, video["frames"], fps=4)
        videos.append(name)
    (notes / "testlist01.txt").write_text("\n".join(videos[:4]) + "\n")
    (notes / "testlist02.txt").write_text("\n".join(videos[2:]) + "\n")
    return root, processor, videos


def _argv(root, out, *extra):
    return ["--model_name_or_path", str(root / "model"), "--dataset", "ucf101", "--annotation_dir",
            str(root / "ucfTrainTestlist"), "--video_root", str(root / "videos"), "--splits", "1", "2",
            "--scoring", "likelihood", "--hypothesis_template", "a {}", "--batch_size", "3", "--cpu",
            "--output_dir", str(out), *extra]


def test_ucf101_protocol_per_split_mean_std_and_determinism(setup, tmp_path):
    root, processor, videos = setup
    script = load_training_script("evaluate_rest_zero_shot")
    results = script.main(script.parse_args(_argv(root, tmp_path / "a")))
    assert [s["name"] for s in results["splits"]] == ["split1", "split2"]
    assert [s["num_videos"] for s in results["splits"]] == [4, 4] and results["splits"][0]["num_classes"] == 5
    for key in ("top1", "top5"):
        values = [s[key] for s in results["splits"]]
        assert results["mean"][key] == pytest.approx(np.mean(values))
        assert results["std"][key] == pytest.approx(np.std(values, ddof=0))
    assert all(s["top5"] >= s["top1"] for s in results["splits"])

    # the script's split-1 top-1 equals scoring the same decoded videos with the model directly
    model = RESTForZeroShotVideoClassification.from_pretrained(root / "model").eval()
    pixels = processor.video_processor([str(root / "videos" / v) for v in videos[:4]])["pixel_values"]
    prompts = processor.tokenize_captions([f"a {c}" for c in ("red square moves left", "red square moves right",
                                                              "blue square moves up", "green square moves down",
                                                              "blue square")])
    with torch.no_grad():
        scores = model.score_texts(pixels, prompts["input_ids"], prompts["attention_mask"], prompts["labels"])
    assert results["splits"][0]["top1"] == pytest.approx(top_k_accuracy(scores, [0, 1, 2, 3], 1))

    saved = json.loads((tmp_path / "a" / "zero_shot_results.json").read_text())
    assert saved["splits"] == results["splits"] and saved["scoring"] == "likelihood"
    table = (tmp_path / "a" / "zero_shot_results.md").read_text()
    assert "| split1 | 5 | 4 |" in table and "mean ± std" in table
    again = script.main(script.parse_args(_argv(root, tmp_path / "b", "--batch_size", "1")))
    assert again["splits"] == results["splits"]  # deterministic (likelihood: independent of batching)


def test_kinetics600_protocol_missing_videos_and_bad_arguments(setup, tmp_path):
    root, _, videos = setup
    script = load_training_script("evaluate_rest_zero_shot")
    for video in videos[:3]:  # a flat folder of Kinetics-named clips
        target = tmp_path / "k600" / f"{video.split('/')[1][:-4]}_000000_000010.mp4"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((root / "videos" / video).read_bytes())
    lines = ["label,youtube_id,time_start,time_end,split"]
    lines += [f"{c},{v.split('/')[1][:-4]},0,10,validate" for c, v in zip(["yoga", "sailing", "surfing"], videos)]
    lines += ["juggling,missing,0,10,validate"]
    (tmp_path / "validate.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "k400.txt").write_text("yoga\n")
    argv = ["--model_name_or_path", str(root / "model"), "--dataset", "kinetics600", "--annotations",
            str(tmp_path / "validate.csv"), "--k400_classes", str(tmp_path / "k400.txt"), "--video_root",
            str(tmp_path / "k600"), "--num_class_splits", "2", "--classes_per_split", "3", "--scoring", "likelihood",
            "--cpu", "--output_dir", str(tmp_path / "out")]
    with pytest.raises(ValueError, match="1 listed videos are missing"):
        script.main(script.parse_args(argv))
    results = script.main(script.parse_args([*argv, "--skip_missing"]))
    assert [(s["num_classes"], s["num_videos"], s["num_missing"]) for s in results["splits"]] == [(3, 2, 1)] * 2
    assert results["protocol"]["class_splits"] == "random, seed 0" and "top5" not in results["mean"]
    with pytest.raises(ValueError, match="annotation_dir"):
        script.parse_args(["--model_name_or_path", "m", "--dataset", "hmdb51", "--video_root", "v",
                           "--output_dir", "o"])
    with pytest.raises(ValueError, match="k400_classes"):
        script.parse_args(["--model_name_or_path", "m", "--dataset", "kinetics600", "--annotations", "a.csv",
                           "--video_root", "v", "--output_dir", "o"])
