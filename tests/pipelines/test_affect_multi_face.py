"""`hfvid-affect` / `hfvid-au-intensity` follow every tracked face, each in its own temporal context."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation, AffectiveProcessVideoProcessor
from hfvid.data.video import iter_frames, write_video
from hfvid.modules.face_detection import box_iou
from hfvid.pipelines.affect import to_csv, to_dataframe

BACKBONE = {"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"}
# Hand-measured face boxes of tests/modules/test_face_detection.py, halved (the photos are used at 256 x 256);
# the cameraman sits right of the astronaut, 256 px further.
ASTRONAUT_FACE = np.array([92, 36, 136, 88])
CAMERAMAN_FACE = np.array([96 + 256, 64, 127 + 256, 97])
STEP = 2  # pixels per frame, to the right


def _save(tmp_path, **overrides):
    # short windows (6, stride 3) so records come both from full windows and from the final flush; weights drawn
    # wider than the default (0.02, whose outputs are ~1e-4) so outputs (~0.1) and their context-dependence
    # (~1e-3) are well above the 1e-5 tolerance
    config = AffectiveProcessConfig(backbone_config=BACKBONE, feature_proj_dim=16, label_embed_dim=8,
                                    encoder_hidden_sizes=[16, 16], latent_hidden_size=16, latent_dim=4,
                                    decoder_hidden_sizes=[16], image_size=32, window_size=6, window_stride=3,
                                    initializer_range=0.2, **overrides)
    torch.manual_seed(0)
    AffectiveProcessForAffectEstimation(config).save_pretrained(tmp_path)
    AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    return str(tmp_path)


def _two_people(num_frames, who=("astronaut", "cameraman"), cameraman_leaves=None, empty_tail=0):
    """The astronaut and the cameraman side by side (256 x 512), moving STEP px per frame; a person not in ``who``
    (or the cameraman from frame ``cameraman_leaves``) is replaced by mid-grey; then ``empty_tail`` grey frames."""
    skdata = pytest.importorskip("skimage.data")
    astronaut = skdata.astronaut()[::2, ::2]
    cameraman = np.repeat(skdata.camera()[::2, ::2, None], 3, axis=2)
    frames = []
    for t in range(num_frames):
        canvas = np.concatenate([astronaut, cameraman], axis=1)
        if "astronaut" not in who:
            canvas[:, :256] = 128
        if "cameraman" not in who or (cameraman_leaves is not None and t >= cameraman_leaves):
            canvas[:, 256:] = 128
        frames.append(np.roll(canvas, STEP * t, axis=1))
    return frames + [np.full_like(frames[0], 128)] * empty_tail


def test_two_people_each_followed_in_their_own_context(tmp_path):
    """A real two-person video file: one face_id per person, boxes on the right person, ids stable, and each
    person's values equal those of a video of that person alone (same crops, so the contexts did not mix)."""
    model_dir = _save(tmp_path / "model")
    pipe = pipeline("hfvid-affect", model=model_dir)
    n, leaves, tail = 12, 8, 2  # the cameraman walks out at frame 8 (a detection frame); two empty frames at the end
    path = write_video(tmp_path / "two.mp4", _two_people(n, cameraman_leaves=leaves, empty_tail=tail), fps=10)
    records = pipe(str(path), detect_every=4)
    json.dumps(records, allow_nan=False)

    # frame order then face_id order; two faces up to frame 7, one after, one no-face record per empty frame
    assert [r["frame"] for r in records] == sorted(r["frame"] for r in records)
    per_frame = [sum(r["frame"] == t for r in records) for t in range(n + tail)]
    assert per_frame == [2] * leaves + [1] * (n - leaves) + [1] * tail
    for t in range(leaves):
        ids = [r["face_id"] for r in records if r["frame"] == t]
        assert ids == sorted(ids)
    faces = [r for r in records if r["success"]]
    assert len(faces) == 2 * leaves + (n - leaves)
    assert {r["face_id"] for r in faces} == {0, 1}

    # each record's box is on the right person (IoU > 0.5 with the hand-measured box moved by the motion), and
    # each person keeps one id throughout
    person_ids = {}
    for r in faces:
        shift = np.array([STEP * r["frame"], 0, STEP * r["frame"], 0])
        overlaps = {name: box_iou(r["box"], face + shift)[0, 0]
                    for name, face in (("astronaut", ASTRONAUT_FACE), ("cameraman", CAMERAMAN_FACE))}
        person = max(overlaps, key=overlaps.get)
        assert overlaps[person] > 0.5, (r["frame"], r["box"], overlaps)
        person_ids.setdefault(person, set()).add(r["face_id"])
    assert len(person_ids["astronaut"]) == 1 and len(person_ids["cameraman"]) == 1
    assert person_ids["astronaut"] != person_ids["cameraman"]
    for r in records[-tail:]:
        assert r == {"frame": r["frame"], "time": r["time"], "face_id": None, "success": False, "box": None,
                     "valence": None, "arousal": None}

    # each person alone: the decoded frames with the other person greyed out give the same values (within float
    # noise of other batch shapes)
    decoded = [frame.image for frame in iter_frames(str(path))]
    for person in ("astronaut", "cameraman"):
        (face_id,) = person_ids[person]
        other = slice(256, 512) if person == "astronaut" else slice(0, 256)
        alone = []
        for t, image in enumerate(decoded):
            image = np.roll(image, -STEP * t, axis=1).copy()
            image[:, other] = 128
            alone.append(np.roll(image, STEP * t, axis=1))
        alone = pipe(alone, detect_every=4)
        alone = [r for r in alone if r["success"]]
        ours = [r for r in faces if r["face_id"] == face_id]
        assert [r["frame"] for r in alone] == [r["frame"] for r in ours]
        np.testing.assert_allclose([r["box"] for r in alone], [r["box"] for r in ours], atol=1e-3)
        for name in ("valence", "arousal"):
            np.testing.assert_allclose([r[name] for r in alone], [r[name] for r in ours], atol=1e-5)

    # OpenFace-style table: one row per frame and face, the box as numbers
    table = to_dataframe(records, "openface")
    assert len(table) == len(records) and list(table.columns[:5]) == ["frame", "timestamp", "face_id",
                                                                      "confidence", "success"]
    assert table["box_x1"].notna().sum() == len(faces) and table["face_id"].isna().sum() == tail
    # at most one face per frame when asked: the best-scoring one (the astronaut, score ~1.0)
    one = pipe(str(path), detect_every=4, max_faces=1)
    assert [r["frame"] for r in one] == list(range(n + tail))
    assert {r["face_id"] for r in one if r["success"]} == person_ids["astronaut"]


def test_tracks_end_and_start_without_sharing_context(tmp_path):
    """A scripted detector: face A for frames 0-9, face B from frame 4 on, nothing at 10-11 for A. Each track's
    values equal those of the same crops given alone as `boxes` (its own context), CSV rows per frame and face."""
    names = ["AU01", "AU12"]
    model_dir = _save(tmp_path / "model", num_outputs=2, output_names=names, output_range=[0.0, 5.0])
    pipe = pipeline("hfvid-au-intensity", model=model_dir)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 96, 3), dtype=np.uint8) for _ in range(16)]
    box_a, box_b = [4.0, 4.0, 40.0, 44.0], [52.0, 2.0, 92.0, 46.0]
    calls = []

    def detector(image):  # called on detection frames only (detect_every=2): 0, 2, 4, ...
        t = 2 * len(calls)
        calls.append(t)
        return [box for box, present in ((box_a, t < 10), (box_b, t >= 4)) if present]

    records = pipe(frames, face_detector=detector, detect_every=2, return_std=True, batch_size=3)
    json.dumps(records, allow_nan=False)
    assert [(r["frame"], r["face_id"]) for r in records] == (
        [(t, 0) for t in range(4)] + [(t, i) for t in range(4, 10) for i in (0, 1)] + [(t, 1) for t in range(10, 16)])
    for face_id, box, span in ((0, box_a, range(0, 10)), (1, box_b, range(4, 16))):
        ours = [r for r in records if r["face_id"] == face_id]
        assert all(r["box"] == box and r["success"] for r in ours)
        alone = pipe([frames[t] for t in span], boxes=[box] * len(span), return_std=True)
        for name in (*names, *(f"{n}_std" for n in names)):
            np.testing.assert_allclose([r[name] for r in alone], [r[name] for r in ours], atol=1e-5)
    # the check has teeth: one context fed both faces (A and B crops interleaved, as a single stitcher would see
    # them) gives other values for A
    span = range(4, 10)
    mixed = pipe([frames[t] for t in span for _ in (0, 1)], boxes=[box_a, box_b] * len(span))[::2]
    ours = [r["AU12"] for r in records if r["face_id"] == 0 and r["frame"] in span]
    assert np.abs(np.subtract([r["AU12"] for r in mixed], ours)).max() > 1e-4
    lines = to_csv(records, tmp_path / "out.csv").read_text().splitlines()
    assert len(lines) == 1 + len(records) and lines[5].startswith("5,") and lines[5].split(",")[2] == "0"
    with pytest.raises(ValueError, match="max_faces"):
        pipe(frames, face_detector=detector, max_faces=0)
