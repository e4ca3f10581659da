"""`hfvid-affect` / `hfvid-au-intensity`: video file in, one record per frame out, exports, no-face frames."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation, AffectiveProcessVideoProcessor
from hfvid.data.synthetic_affect import synthetic_affect_videos
from hfvid.data.video import write_video
from hfvid.pipelines.affect import to_csv

BACKBONE = {"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"}


def _save(tmp_path, **overrides):
    config = AffectiveProcessConfig(backbone_config=BACKBONE, feature_proj_dim=16, label_embed_dim=8,
                                    encoder_hidden_sizes=[16, 16], latent_hidden_size=16, latent_dim=4,
                                    decoder_hidden_sizes=[16], image_size=32, window_size=16, window_stride=8,
                                    **overrides)
    torch.manual_seed(0)
    AffectiveProcessForAffectEstimation(config).save_pretrained(tmp_path)
    AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    return str(tmp_path)


def test_video_file_gives_one_record_per_frame_and_openface_csv(tmp_path):
    model_dir = _save(tmp_path / "model")
    video = synthetic_affect_videos(1, 41, "va", image_size=32)[0]
    path = write_video(tmp_path / "clip.mp4", video["frames"], fps=20)
    pipe = pipeline("hfvid-affect", model=model_dir)
    records = pipe(str(path), batch_size=8, face_detector="full_image")  # face-crop video
    assert [r["frame"] for r in records] == list(range(41))
    assert records[1]["time"] == pytest.approx(0.05) and all(r["success"] for r in records)
    assert all(-1 <= r["valence"] <= 1 for r in records)
    frame = pipe(str(path), output_format="pandas", face_detector="full_image")
    np.testing.assert_allclose(frame["valence"].to_numpy(), [r["valence"] for r in records], atol=1e-6)
    with pytest.raises(ValueError, match="no frames"):
        pipe([])


def test_au_pipeline_no_face_frames_are_nan_and_csv_has_openface_names(tmp_path):
    names = ["AU01", "AU06", "AU12"]
    model_dir = _save(tmp_path / "model", num_outputs=3, output_names=names, output_range=[0.0, 5.0])
    frames = list(synthetic_affect_videos(1, 20, "au", image_size=32)[0]["frames"])
    pipe = pipeline("hfvid-au-intensity", model=model_dir)
    detector = lambda image: None if np.asarray(image).mean() < 0 else [0, 0, 32, 32]  # noqa: E731
    boxes = [None if t in (3, 4) else [0, 0, 32, 32] for t in range(20)]
    records = pipe(frames, boxes=boxes, return_std=True)
    assert len(records) == 20 and not records[3]["success"] and records[4]["AU06"] is None  # strict JSON
    json.dumps(records, allow_nan=False)
    assert all(0 <= r["AU12"] <= 5 and r["AU12_std"] > 0 for i, r in enumerate(records) if i not in (3, 4))
    assert len(pipe(frames, face_detector=detector)) == 20
    csv = to_csv(records, tmp_path / "out.csv")
    header = csv.read_text().splitlines()[0].split(",")
    assert header[:5] == ["frame", "timestamp", "face_id", "confidence", "success"] and "AU01_r" in header
    assert csv.read_text().splitlines()[1].startswith("1,")  # OpenFace frames are 1-based


def test_face_found_and_tracked_in_real_photo_frames(tmp_path):
    """Frames of a real photo (the astronaut, moving right, then gone): found with no other argument, one face_id."""
    skdata = pytest.importorskip("skimage.data")
    model_dir = _save(tmp_path / "model")
    photo = skdata.astronaut()[::2, ::2]  # 256 x 256
    frames = [np.roll(photo, 2 * t, axis=1) for t in range(10)] + [np.full_like(photo, 128)] * 4
    pipe = pipeline("hfvid-affect", model=model_dir)
    records = pipe(frames, detect_every=3)
    # detections at t = 0, 3, 6, 9, 12: the face found at t = 9 is carried over to 10 and 11, gone from t = 12
    assert [r["success"] for r in records] == [True] * 12 + [False] * 2
    assert {r["face_id"] for r in records[:12]} == {0}
    assert records[-1]["valence"] is None and records[-1]["arousal"] is None
    json.dumps(records, allow_nan=False)
    # the same face boxes given by hand give the same values
    from hfvid.modules.face_detection import track_faces

    boxes = [faces[0]["box"] if faces else None for faces in track_faces(frames, detect_every=3)]
    by_hand = pipe(frames, boxes=boxes)
    np.testing.assert_allclose([r["valence"] for r in by_hand[:10]], [r["valence"] for r in records[:10]], atol=1e-6)


def test_bad_boxes_raise(tmp_path):
    model_dir = _save(tmp_path / "model")
    frames = list(synthetic_affect_videos(1, 6, "va", image_size=32)[0]["frames"])
    pipe = pipeline("hfvid-affect", model=model_dir)
    with pytest.raises(ValueError, match="NaN"):
        pipe(frames, boxes=[[0, 0, 32, 32]] * 5 + [[float("nan"), 0, 32, 32]])
    with pytest.raises(ValueError, match="got 4 boxes but the video has more frames"):
        pipe(frames, boxes=[[0, 0, 32, 32]] * 4)
    with pytest.raises(ValueError, match="more boxes than the 6 decoded frames"):
        pipe(frames, boxes=[[0, 0, 32, 32]] * 7)
