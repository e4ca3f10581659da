"""train_affective_process.py on DISFA / BP4D files: the subject-independent folds of hfvid.data.au_folds, the
subject-overlap check, and out-of-fold pseudo-labels for the temporal model's context."""

import json

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.bp4d import write_bp4d_video
from hfvid.data.formats.disfa import write_disfa_subject
from hfvid.quickstart import load_training_script

TINY = {"feature_proj_dim": 8, "label_embed_dim": 4, "encoder_hidden_sizes": [8], "latent_hidden_size": 8,
        "latent_dim": 4, "decoder_hidden_sizes": [8], "context_min": 2, "context_max": 4, "num_context_eval": 4,
        "window_size": 6, "window_stride": 3, "image_size": 32,
        "backbone_config": {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "layer_type": "basic"}}
# DISFA subjects of folds 0, 0, 1, 1, 2, 2: --fold 0 trains on SN013, SN018, SN003, SN029 and evaluates SN001, SN002
DISFA_SUBJECTS = ("SN001", "SN002", "SN013", "SN018", "SN003", "SN029")


def write_disfa(root, frames: int = 8, length: int = 6):
    rng = np.random.default_rng(0)
    for subject in DISFA_SUBJECTS:
        write_disfa_subject(root / "labels", subject, rng.integers(0, 6, (length, 12)))
        if frames:
            (root / "frames" / subject).mkdir(parents=True)
            for t in range(length):
                pixels = rng.integers(0, 256, (frames, frames, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / "frames" / subject / f"{t + 1:05d}.jpg")


def argv(root, *extra):
    return ["--dataset_format", "disfa", "--task", "au", "--annotations", str(root / "labels"),
            "--train_dir", str(root / "frames"), "--output_dir", str(root / "out"), *extra]


def test_fold_selects_the_protocol_subjects_and_overlap_is_refused(tmp_path):
    script = load_training_script("train_affective_process")
    write_disfa(tmp_path)
    for fold, test in ((0, {"SN001", "SN002"}), (1, {"SN013", "SN018"}), (2, {"SN003", "SN029"})):
        train, evaluation = script.load_splits(script.parse_args(argv(tmp_path, "--fold", str(fold))))
        assert {s["subject_id"] for s in evaluation} == test
        assert {s["subject_id"] for s in train} == set(DISFA_SUBJECTS) - test
    # BP4D: --fold 0 is FERA2015 train / development
    for subject in ("F001", "F003", "F002"):
        write_bp4d_video(tmp_path / "bp4d", subject, "T1", np.zeros((4, 5)))
    args = script.parse_args(["--dataset_format", "bp4d", "--task", "au", "--annotations", str(tmp_path / "bp4d"),
                              "--output_dir", str(tmp_path / "out"), "--fold", "0", "--train_dir", "frames"])
    args.train_dir = None  # labels only (every frame None): the split is what is tested here
    train, evaluation = script.load_splits(args)
    assert [s["subject_id"] for s in train] == ["F001", "F003"] and [s["subject_id"] for s in evaluation] == ["F002"]
    # a user-given split that shares subjects is refused, naming the flags
    args = script.parse_args(argv(tmp_path, "--validation_annotations", str(tmp_path / "labels")))
    with pytest.raises(ValueError, match=r"validation_annotations.*share subjects \['SN001'"):
        script.load_splits(args)
    with pytest.raises(ValueError, match="fold must be 0, 1 or 2"):
        script.parse_args(argv(tmp_path, "--fold", "3"))
    with pytest.raises(ValueError, match="fold must be 0 for BP4D"):
        script.parse_args(["--dataset_format", "bp4d", "--annotations", "x", "--output_dir", "o", "--fold", "1"])
    with pytest.raises(ValueError, match="--fold selects a DISFA / BP4D protocol"):
        script.parse_args(["--dataset_format", "affwild2", "--annotations", "x", "--output_dir", "o", "--fold", "0"])
    with pytest.raises(ValueError, match="pseudo_label_folds"):
        script.parse_args(argv(tmp_path, "--pseudo_label_folds", "2", "--backbone_steps", "0"))


def run_recorded(script, monkeypatch, args):
    """Run ``main``, recording which subjects each stage-1 backbone trained on and what each model predicted."""
    trained, predicted = [], []
    train_backbone, cache_features = script.train_backbone, script.cache_features

    def record_training(accelerator, args, model, processor, sequences, **kwargs):
        trained.append((model, {s["subject_id"] for s in sequences}))
        return train_backbone(accelerator, args, model, processor, sequences, **kwargs)

    def record_prediction(model, processor, sequences, batch_size):
        cached = cache_features(model, processor, sequences, batch_size)
        predicted.append((model, {seq["video_id"]: {key: np.copy(seq[key]) for key in ("features", "pseudo_labels")}
                                  for seq in cached}))  # copies: main() may overwrite the cache's arrays
        return cached

    monkeypatch.setattr(script, "train_backbone", record_training)
    monkeypatch.setattr(script, "cache_features", record_prediction)
    script.main(args)
    return trained, predicted


@pytest.mark.parametrize("folds", [1, 2])
def test_pseudo_labels_of_training_videos_are_out_of_fold(tmp_path, monkeypatch, folds):
    """K=2: every training video's cached pseudo-labels come from a backbone that never saw its subject, its
    features and all evaluation pseudo-labels from the backbone of all training subjects. K=1 (default): one
    backbone, its own predictions (the path the quickstart takes)."""
    script = load_training_script("train_affective_process")
    write_disfa(tmp_path, frames=32, length=8)
    args = script.parse_args(argv(tmp_path, "--fold", "0", "--cpu",
                                  "--config_overrides", json.dumps(TINY), "--backbone_steps", "2",
                                  "--backbone_batch_size", "8", "--max_train_steps", "1",
                                  "--per_device_train_batch_size", "2", "--pseudo_label_folds", str(folds)))
    trained, predicted = run_recorded(script, monkeypatch, args)
    full, full_subjects = trained[0]
    assert full_subjects == {"SN013", "SN018", "SN003", "SN029"}
    if folds == 1:
        assert len(trained) == 1
    else:
        assert len(trained) == 1 + folds and all(len(subjects) == 2 for _, subjects in trained[1:])
    subjects_of = {id(model): subjects for model, subjects in trained}
    full_predictions = next(videos for model, videos in predicted if model is full and "SN013" in videos)
    cache = {seq["video_id"]: seq for seq in script.load_cache(tmp_path / "out" / "feature_cache" / "train")}
    assert set(cache) == full_subjects
    for video, seq in cache.items():
        np.testing.assert_array_equal(seq["features"], full_predictions[video]["features"])
        source = [model for model, videos in predicted
                  if video in videos and np.array_equal(videos[video]["pseudo_labels"], seq["pseudo_labels"])]
        assert source, video
        if folds == 1:
            assert source == [full]
        else:
            assert full not in source and all(video not in subjects_of[id(model)] for model in source)
    for seq in script.load_cache(tmp_path / "out" / "feature_cache" / "eval"):
        eval_predictions = next(videos for model, videos in predicted if model is full and seq["video_id"] in videos)
        np.testing.assert_array_equal(seq["pseudo_labels"], eval_predictions[seq["video_id"]]["pseudo_labels"])
    card = (tmp_path / "out" / "README.md").read_text()
    assert "`--fold 0`" in card and ("out-of-fold: 2 more stage-1 backbones" in card) == (folds > 1)
    assert ("the stage-1 backbone's own predictions" in card) == (folds == 1)
    provenance = tmp_path / "out" / "feature_cache" / "pseudo_label_folds.json"
    assert provenance.is_file() == (folds > 1)
    if folds > 1:
        record = json.loads(provenance.read_text())
        assert sorted(v for fold in record for v in fold["predicted_videos"]) == sorted(full_subjects)
        assert all(not set(fold["predicted_videos"]) & set(fold["train_subjects"]) for fold in record)
