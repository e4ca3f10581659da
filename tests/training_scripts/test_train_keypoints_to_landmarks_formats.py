"""train_keypoints_to_landmarks.py --dataset_format celeba|mafl|aflw|ls3d: the native readers wired into the script
(splits, MAFL regression set, inter-ocular default) and one tiny run on files in the CelebA/MAFL layout."""

import json

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.aflw import write_aflw_info
from hfvid.data.formats.celeba import write_celeba_landmarks
from hfvid.data.formats.ibug_pts import write_pts
from hfvid.data.synthetic_objects import synthetic_objects
from hfvid.quickstart import load_training_script

TINY = ("num_landmarks=3,num_clusters=4,hidden_size=16,stem_channels=8,hourglass_depth=2,image_size=32,"
        "heatmap_size=8,descriptor_dim=8,num_groups=4,min_negative_distance=1,detector_nms_radius=1,max_keypoints=8,"
        "min_keypoints=4,pairs_per_sample=16,outlier_neighbors=8,outlier_fraction=0.1")


def celeba_files(tmp_path, count=8):
    """``count`` synthetic 5-part objects saved as CelebA: images, landmark list, partition (last 2 = test), MAFL
    lists (MAFL-train = images 0-3, MAFL-test = image 4, a train-partition image)."""
    images = tmp_path / "img_align_celeba"
    images.mkdir()
    landmarks = {}
    for i, record in enumerate(synthetic_objects(count, 32, num_parts=5, num_clutter=1)):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(record["image"]).save(images / name, quality=95)
        landmarks[name] = record["landmarks"]
    write_celeba_landmarks(tmp_path / "list_landmarks_align_celeba.txt", landmarks)
    names = sorted(landmarks)
    (tmp_path / "list_eval_partition.txt").write_text(
        "".join(f"{n} {2 if i >= count - 2 else 0}\n" for i, n in enumerate(names)))
    (tmp_path / "training.txt").write_text("\n".join(names[:4]) + "\n")
    (tmp_path / "testing.txt").write_text(names[4] + "\n")
    return ["--train_dir", str(images), "--annotations", str(tmp_path / "list_landmarks_align_celeba.txt"),
            "--partition_file", str(tmp_path / "list_eval_partition.txt")]


def names(records):
    return [r["image"].rsplit("/", 1)[1] for r in records]


def test_celeba_and_mafl_formats_build_the_protocol_splits(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    files = celeba_files(tmp_path)
    args = script.parse_args(["--dataset_format", "celeba", *files, "--output_dir", str(tmp_path / "out")])
    assert args.eye_indices == [0, 1]  # inter-ocular NME by default for the 5 CelebA points
    train, test = script.load_records(args, "train"), script.load_records(args, "eval")
    assert len(train) == 6 and names(test) == ["000007.jpg", "000008.jpg"]
    assert train[0]["box"] == [0.0, 0.0, 31.0, 31.0] and train[0]["landmarks"].shape == (5, 2)

    mafl = ["--mafl_train_list", str(tmp_path / "training.txt"), "--mafl_test_list", str(tmp_path / "testing.txt")]
    args = script.parse_args(["--dataset_format", "mafl", *files, *mafl, "--output_dir", str(tmp_path / "out")])
    train, test = script.load_records(args, "train"), script.load_records(args, "eval")
    assert "000005.jpg" not in names(train) and len(train) == 5  # MAFL-test is left out of training
    assert names(r for r in train if "landmarks" in r) == names(train)[:4]  # regression fitted on MAFL-train
    assert names(test) == ["000005.jpg"]
    with pytest.raises(ValueError, match="needs --mafl_train_list --mafl_test_list"):
        script.load_records(script.parse_args(["--dataset_format", "mafl", *files, "--output_dir", "o"]), "train")


def test_aflw_and_ls3d_formats(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    flickr = tmp_path / "flickr"
    flickr.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40)).save(flickr / f"{i}.jpg")
    points = np.random.default_rng(0).uniform(5, 35, size=(3, 19, 2))
    write_aflw_info(tmp_path / "AFLWinfo_release.mat", [f"{i}.jpg" for i in range(3)], points, [[2, 2, 38, 38]] * 3)
    args = script.parse_args(["--dataset_format", "aflw", "--train_dir", str(flickr), "--annotations",
                              str(tmp_path / "AFLWinfo_release.mat"), "--output_dir", str(tmp_path / "out")])
    assert len(script.load_records(args, "train")) == 3  # all 3 of the first 20,000 in ra order
    assert script.load_records(args, "eval") == []
    assert script.load_records(args, "train")[0]["box"] == [2, 2, 38, 38]

    ls3d = tmp_path / "ls3d"
    ls3d.mkdir()
    for i in range(2):
        Image.new("RGB", (40, 40)).save(ls3d / f"{i}.jpg")
        write_pts(ls3d / f"{i}.pts", np.random.default_rng(i).uniform(5, 35, size=(68, 2)))
    args = script.parse_args(["--dataset_format", "ls3d", "--train_dir", str(ls3d), "--validation_dir", str(ls3d),
                              "--output_dir", str(tmp_path / "out")])
    train = script.load_records(args, "train")
    assert len(train) == 2 and train[0]["landmarks"].shape == (68, 2)
    assert len(script.load_records(args, "eval")) == 2


def test_tiny_run_on_mafl_files(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    files = celeba_files(tmp_path, count=10)
    mafl = ["--mafl_train_list", str(tmp_path / "training.txt"), "--mafl_test_list", str(tmp_path / "testing.txt")]
    run = tmp_path / "run"
    out = script.main(script.parse_args([
        "--dataset_format", "mafl", *files, *mafl, "--output_dir", str(run), "--config_overrides", TINY, "--cpu",
        "--stage1_steps", "2", "--stage2_steps", "2", "--warmup_steps", "1", "--round_steps", "2",
        "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "8", "--clustering_restarts", "1",
        "--clustering_iterations", "10", "--lr_scheduler_type", "constant",
    ]))
    assert out["history"]["global_step"] == 2
    results = json.loads((run / "all_results.json").read_text())
    assert results["eval_regression_train_images"] == 4  # the MAFL-train images
    assert np.isfinite(results["eval_forward_nme"]) and np.isfinite(results["eval_backward_nme"])
