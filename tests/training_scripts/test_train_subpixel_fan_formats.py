"""train_subpixel_fan.py on tiny files in the real COFW, 300W-LP and AFLW (mat and CSV) layouts."""

import json

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from hfvid.data.formats.aflw import write_aflw_info
from hfvid.data.formats.aflw_csv import write_aflw_csv
from hfvid.data.formats.cofw import write_cofw_mat
from hfvid.data.formats.ibug_pts import write_pts
from hfvid.data.synthetic import synthetic_faces
from hfvid.modules.heatmaps import FLIP_PERMUTATIONS
from hfvid.quickstart import load_training_script

TINY = "num_stacks=1,hidden_size=16,hourglass_depth=2,image_size=64,heatmap_size=16,norm_type=group"
SIZE = 96
# pick 29 / 19 / 21 of the synthetic 68 points so the tiny files have plausible faces
SUBSET = {29: list(range(17, 46)), 19: list(range(17, 36)), 21: list(range(17, 38))}


def argv(output_dir, *extra):
    return ["--output_dir", str(output_dir), "--config_overrides", TINY, "--max_train_steps", "2",
            "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2", "--learning_rate", "1e-3",
            "--lr_scheduler_type", "constant", "--cpu", *map(str, extra)]


def save_images(folder, faces, prefix="image"):
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}{i:05d}.jpg" for i in range(len(faces))]
    for name, face in zip(names, faces):
        Image.fromarray(face["image"]).save(folder / name)
    return names


def make_cofw(root):
    root.mkdir()
    for split, seed, count in (("train", 0, 4), ("test", 1, 2)):
        faces = [dict(face, landmarks=face["landmarks"][SUBSET[29]]) for face in synthetic_faces(count, SIZE, seed)]
        write_cofw_mat(root / f"COFW_{split}_color.mat", faces, split)


def make_300w_lp(root, validation):
    (root / "landmarks" / "HELEN").mkdir(parents=True)
    faces = synthetic_faces(4, SIZE, seed=2)
    for name, face in zip(save_images(root / "HELEN", faces, "HELEN_1_"), faces):
        stem = name.removesuffix(".jpg")
        savemat(root / "landmarks" / "HELEN" / f"{stem}_pts.mat",
                {"pts_2d": face["landmarks"].astype(np.float64), "pts_3d": face["landmarks"].astype(np.float64)})
    held_out = synthetic_faces(2, SIZE, seed=3)
    for name, face in zip(save_images(validation, held_out), held_out):
        write_pts(validation / name.replace(".jpg", ".pts"), face["landmarks"])


def run(tmp_path, *extra, evaluated=True):
    script = load_training_script("train_subpixel_fan")
    out = script.main(script.parse_args(argv(tmp_path / "run", *extra)))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    assert out["history"]["global_step"] == 2
    assert np.isfinite(results["eval_nme"]) if evaluated else "eval_nme" not in results
    return config, results


def test_cofw_mat_files(tmp_path):
    make_cofw(tmp_path / "COFW")
    config, _ = run(tmp_path, "--dataset_format", "cofw", "--train_dir", tmp_path / "COFW")
    assert config["num_landmarks"] == 29 and config["landmark_scheme"] == "cofw29"
    assert config["flip_permutation"] == FLIP_PERMUTATIONS["cofw29"] and config["eye_indices"] == [8, 9]


def test_300w_lp_root_with_a_pts_test_folder(tmp_path):
    make_300w_lp(tmp_path / "300W_LP", tmp_path / "300W_test")
    config, _ = run(tmp_path, "--dataset_format", "300w_lp", "--train_dir", tmp_path / "300W_LP",
                    "--validation_dir", tmp_path / "300W_test", "--lp_annotation", "pts_3d")
    assert config["num_landmarks"] == 68 and config["landmark_scheme"] == "ibug68"


def test_aflw_info_mat_with_invisible_points(tmp_path):
    faces = synthetic_faces(6, SIZE, seed=4)
    names = save_images(tmp_path / "flickr" / "3", faces)
    visible = np.ones((6, 19))
    visible[:, 0] = 0  # a brow corner hidden everywhere: excluded from loss and metric
    write_aflw_info(tmp_path / "AFLWinfo_release.mat", [f"3/{n}" for n in names],
                    np.stack([f["landmarks"][SUBSET[19]] for f in faces]), np.stack([f["box"] for f in faces]),
                    visible=visible, order=np.arange(6))
    script = load_training_script("train_subpixel_fan")
    args = script.parse_args(argv(tmp_path / "run", "--dataset_format", "aflw", "--train_dir", tmp_path / "flickr",
                                  "--annotations", tmp_path / "AFLWinfo_release.mat"))
    train = script.load_records(args, "train")
    assert len(train) == 6 and not train[0]["visible"][0]
    assert script.load_records(args, "eval") is None  # AFLWinfo's first 20,000 faces are all training faces
    config, _ = run(tmp_path, "--dataset_format", "aflw", "--train_dir", tmp_path / "flickr",
                    "--annotations", tmp_path / "AFLWinfo_release.mat", evaluated=False)
    assert config["landmark_scheme"] == "aflw19" and config["flip_permutation"] == FLIP_PERMUTATIONS["aflw19"]


def test_aflw_csv_with_21_points(tmp_path):
    splits = {"train": synthetic_faces(4, SIZE, seed=5), "test": synthetic_faces(2, SIZE, seed=6)}
    for split, faces in splits.items():
        names = save_images(tmp_path / "flickr" / split, faces)
        write_aflw_csv(tmp_path / f"face_landmarks_aflw_{split}.csv", [f"{split}/{n}" for n in names],
                       np.stack([f["landmarks"][SUBSET[21]] for f in faces]), np.stack([f["box"] for f in faces]))
    config, _ = run(tmp_path, "--dataset_format", "aflw_csv", "--train_dir", tmp_path / "flickr",
                    "--annotations", tmp_path / "face_landmarks_aflw_train.csv",
                    "--validation_annotations", tmp_path / "face_landmarks_aflw_test.csv")
    assert config["num_landmarks"] == 21 and config["landmark_scheme"] == "custom"
    assert config["flip_permutation"] == FLIP_PERMUTATIONS["aflw21"]


def test_format_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_subpixel_fan")
    with pytest.raises(ValueError, match="--dataset_format cofw: expected COFW_train_color.mat"):
        script.load_records(script.parse_args(argv(tmp_path, "--dataset_format", "cofw", "--train_dir", tmp_path)),
                            "train")
    with pytest.raises(ValueError, match="--dataset_format aflw_csv needs --annotations"):
        script.load_records(script.parse_args(argv(tmp_path, "--dataset_format", "aflw_csv", "--train_dir", tmp_path)),
                            "train")
    with pytest.raises(SystemExit):
        script.parse_args(argv(tmp_path, "--dataset_format", "menpo"))


@pytest.mark.launch
def test_cofw_under_accelerate_launch(tmp_path, launch_script):
    make_cofw(tmp_path / "COFW")
    result = launch_script("train_subpixel_fan", *argv(tmp_path / "run", "--dataset_format", "cofw",
                                                       "--train_dir", tmp_path / "COFW"))
    assert "Num processes: 1" in result.stdout + result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["num_landmarks"] == 29
